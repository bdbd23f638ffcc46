"""Hand tools and utensils: a handle and a head, lying on their flat side — spoons, screwdrivers, scissors, clamps,
hammers and wrenches.

Real tabletops hold many of these and they are hard to complete from one view: long thin parts, flat parts 4-8 mm
thick and gaps between parts (a scissors' finger rings, a clamp's open jaw) that a completion must leave empty
(issue 17: tools were filled in between their parts). Every part is at least 4 mm thick (what the sensor and the
meshing voxel resolve) and overlaps the next, so each draw is one watertight body.
"""

from __future__ import annotations

import math

import numpy as np

from implicit3d.geometry.sdf import (
    SDF,
    Capsule,
    ConvexPolytope,
    Cylinder,
    Difference,
    Intersection,
    Rotate,
    RoundedBox,
    SmoothUnion,
    Sphere,
    Translate,
    Union,
    rotation_matrix,
)
from implicit3d.shapes.base import Built, choice, uniform, voxel_for

TOOL_STYLES = ("spoon", "screwdriver", "scissors", "clamp", "hammer", "wrench")
MIN_PART = 0.004  #: m: thinnest part


def _ring(r_out: float, r_in: float, thick: float) -> SDF:
    """A flat ring about z: outer / inner radius, thickness (m), centred at the origin."""
    return Difference(Cylinder(r_out, thick), Cylinder(r_in, 2 * thick))


def _blade(length: float, w0: float, w1: float, thick: float) -> ConvexPolytope:
    """A flat tapered blade along +x from x = 0 (width ``w0``) to ``length`` (width ``w1``), ``thick`` in z."""
    pts = []
    for x, w in ((0.0, w0), (length, w1)):
        for y in (-w / 2, w / 2):
            for z in (-thick / 2, thick / 2):
                pts.append((x, y, z))
    return ConvexPolytope.from_points(np.array(pts))


def _spoon(rng: np.random.Generator, p: dict) -> tuple[SDF, float]:
    length = uniform(rng, 0.10, 0.16)
    width = uniform(rng, 0.008, 0.016)
    thick = uniform(rng, MIN_PART, 0.006)
    r_bowl = uniform(rng, 0.016, 0.03)
    depth = uniform(rng, 0.45, 0.7) * r_bowl
    wall = uniform(rng, MIN_PART, 0.0055)
    handle = Translate(RoundedBox((length / 2, width / 2, thick / 2), min(0.002, 0.45 * thick)), (-length / 2, 0, 0))
    # a spherical cap: the sphere of radius R through the rim circle r_bowl at depth ``depth``
    big = (r_bowl**2 + depth**2) / (2 * depth)
    centre = (r_bowl, 0.0, big - depth + thick / 2)
    shell = Difference(Sphere(big, centre), Sphere(big - wall, centre))
    cap = Intersection(shell, Translate(RoundedBox((r_bowl + 0.01, r_bowl + 0.01, depth / 2 + 0.002)),
                                        (r_bowl, 0.0, thick / 2 - depth / 2)))
    p.update(length=length, handle_width=width, thickness=thick, bowl_radius=r_bowl, bowl_depth=depth, wall=wall)
    return SmoothUnion(handle, cap, 0.003), min(thick, wall)


def _screwdriver(rng: np.random.Generator, p: dict) -> tuple[SDF, float]:
    r_h = uniform(rng, 0.009, 0.018)
    l_h = uniform(rng, 0.07, 0.12)
    r_s = uniform(rng, 0.0025, 0.004)
    l_s = uniform(rng, 0.04, 0.13)
    handle = Capsule((-l_h + r_h, 0, 0), (-r_h, 0, 0), r_h)
    shaft = Capsule((-r_h, 0, 0), (l_s, 0, 0), r_s)
    p.update(handle_radius=r_h, handle_length=l_h, shaft_radius=r_s, shaft_length=l_s)
    return SmoothUnion(handle, shaft, 0.003), 2 * r_s


def _scissors(rng: np.random.Generator, p: dict) -> tuple[SDF, float]:
    blade = uniform(rng, 0.06, 0.11)
    thick = uniform(rng, MIN_PART, 0.006)
    ring_r = uniform(rng, 0.011, 0.018)
    ring_w = uniform(rng, 0.0035, 0.0055)
    opening = math.radians(uniform(rng, 4.0, 25.0))
    parts: list[SDF] = []
    for side in (-1.0, 1.0):
        rot = rotation_matrix((0, 0, 1), side * opening / 2)
        b = Rotate(_blade(blade, uniform(rng, 0.012, 0.02), 0.005, thick), rot)
        # the finger ring behind the pivot, on the far side, joined by a short arm
        ring_c = rot @ np.array([-(ring_r + 0.012), -side * (ring_r * 0.7), 0.0])
        ring = Translate(_ring(ring_r, ring_r - ring_w, thick), ring_c)
        arm = Capsule((0.0, 0.0, 0.0), ring_c * (1 - ring_r / np.linalg.norm(ring_c)), thick / 2 + 0.001)
        parts += [b, ring, arm]
    body = parts[0]
    for q in parts[1:]:
        body = Union(body, q)
    p.update(blade_length=blade, thickness=thick, ring_radius=ring_r, ring_width=ring_w,
             opening_deg=math.degrees(opening))
    return body, min(thick, ring_w)


def _clamp(rng: np.random.Generator, p: dict) -> tuple[SDF, float]:
    reach = uniform(rng, 0.05, 0.10)  # arm length
    span = uniform(rng, 0.06, 0.16)  # between the arms (the gap the jaw closes)
    bar = uniform(rng, 0.008, 0.014)  # bar width
    thick = uniform(rng, 0.008, 0.02)
    edge = min(0.002, 0.4 * bar)
    back = Translate(RoundedBox((bar / 2, span / 2 + bar, thick / 2), edge), (0.0, 0.0, 0.0))
    arm0 = Translate(RoundedBox((reach / 2, bar / 2, thick / 2), edge), (reach / 2, -span / 2 - bar / 2, 0.0))
    arm1 = Translate(RoundedBox((reach / 2, bar / 2, thick / 2), edge), (reach / 2, span / 2 + bar / 2, 0.0))
    screw_r = uniform(rng, 0.003, 0.005)
    jaw = span * uniform(rng, 0.3, 0.8)  # how far the screw reaches into the gap
    screw = Capsule((reach - bar, span / 2 + bar + 0.02, 0.0), (reach - bar, span / 2 - jaw, 0.0), screw_r)
    x_s, y_out = reach - bar, span / 2 + bar + 0.02
    pad = Translate(Rotate(Cylinder(0.009, 0.004), rotation_matrix((1, 0, 0), math.pi / 2)), (x_s, span / 2 - jaw, 0.0))
    t_bar = Capsule((x_s - 0.025, y_out, 0.0), (x_s + 0.025, y_out, 0.0), screw_r)
    body = Union(back, arm0, arm1, screw, pad, t_bar)
    p.update(reach=reach, span=span, bar=bar, thickness=thick, screw_radius=screw_r, jaw=jaw)
    return body, min(2 * screw_r, thick)


def _hammer(rng: np.random.Generator, p: dict) -> tuple[SDF, float]:
    l_h = uniform(rng, 0.12, 0.26)
    r_h = uniform(rng, 0.008, 0.015)
    head = (uniform(rng, 0.035, 0.06), uniform(rng, 0.009, 0.016), uniform(rng, 0.009, 0.016))  # half extents
    handle = Capsule((0.0, 0.0, 0.0), (l_h, 0.0, 0.0), r_h)
    h = Translate(RoundedBox((head[1], head[0], head[2]), 0.002), (l_h, 0.0, 0.0))
    p.update(handle_length=l_h, handle_radius=r_h, head=[2 * x for x in head])
    return Union(handle, h), 2 * r_h


def _wrench(rng: np.random.Generator, p: dict) -> tuple[SDF, float]:
    length = uniform(rng, 0.10, 0.25)
    width = uniform(rng, 0.01, 0.02)
    thick = uniform(rng, MIN_PART, 0.008)
    r_end = width * uniform(rng, 0.9, 1.3)
    bar = RoundedBox((length / 2, width / 2, thick / 2), min(0.002, 0.45 * thick))
    ring = Translate(_ring(r_end, r_end * 0.55, thick), (length / 2, 0.0, 0.0))
    # the open end: a disc with a slot cut out along +x
    slot = Translate(RoundedBox((r_end, r_end * 0.4, thick)), (-length / 2 - r_end * 0.9, 0.0, 0.0))
    jaw = Translate(Cylinder(r_end * 1.1, thick), (-length / 2, 0.0, 0.0))
    p.update(length=length, width=width, thickness=thick, end_radius=r_end)
    return Union(Difference(Union(bar, jaw), slot), ring), thick


_BUILDERS = {"spoon": _spoon, "screwdriver": _screwdriver, "scissors": _scissors, "clamp": _clamp,
             "hammer": _hammer, "wrench": _wrench}


def build_tool(rng: np.random.Generator) -> Built:
    """A hand tool or utensil lying flat, 0.10-0.30 m long: spoon (flat handle, shallow round bowl), screwdriver
    (thick handle, thin shaft), scissors (two tapered blades opened 4-25 degrees, two finger rings), clamp (a C
    frame with a screw and T handle reaching into its gap), hammer (handle, head across it) or wrench (flat bar, a
    ring at one end, an open jaw at the other); parts 4-20 mm thick, in a random turn about z."""
    style = choice(rng, TOOL_STYLES)
    params: dict = {"style": style}
    sdf, finest = _BUILDERS[style](rng, params)
    yaw = uniform(rng, 0.0, 2 * math.pi)
    params["yaw"] = yaw
    sdf = Rotate(sdf, rotation_matrix((0, 0, 1), yaw))
    size = float(np.max(sdf.bounds[1] - sdf.bounds[0]))
    return Built(sdf, params, voxel_for(size, finest, hi=2.5e-3), recentre=True)
