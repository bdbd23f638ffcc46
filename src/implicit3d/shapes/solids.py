"""Boxes (rounded, optionally with a lid), slabs and bars (closed flat or elongated prisms), random CSG solids of
primitives and irregular rocks and clusters (convex-hull pieces), for generality training."""

from __future__ import annotations

import numpy as np

from implicit3d.geometry.sdf import (
    SDF,
    Capsule,
    Cone,
    ConvexPolytope,
    Cylinder,
    Difference,
    Intersection,
    Rotate,
    RoundedBox,
    Scale,
    SmoothUnion,
    Sphere,
    Torus,
    Translate,
    Union,
    rotation_matrix,
)
from implicit3d.shapes.base import Built, choice, uniform, voxel_for


def build_box(rng: np.random.Generator) -> Built:
    """A rounded box 0.06-0.30 x 0.04-0.20 x 0.03-0.20 m (x >= y), edge radius 2-15 mm, sometimes a lid."""
    hx = uniform(rng, 0.03, 0.15)
    hy = min(uniform(rng, 0.02, 0.10), hx)
    hz = uniform(rng, 0.015, 0.10)
    edge = uniform(rng, 0.002, min(0.015, 0.45 * min(hx, hy, hz)))
    params: dict = {"size": [2 * hx, 2 * hy, 2 * hz], "edge_radius": edge, "lid": False}
    sdf: SDF = Translate(RoundedBox((hx, hy, hz), edge), (0.0, 0.0, hz))
    finest = 1.0
    if rng.random() < 0.35:
        lip = uniform(rng, 0.0015, 0.003)
        lid_h = min(uniform(rng, 0.01, 0.04), hz)
        lid_edge = min(edge + lip, 0.45 * lid_h)
        lid = RoundedBox((hx + lip, hy + lip, lid_h / 2), lid_edge)
        sdf = Union(sdf, Translate(lid, (0.0, 0.0, 2 * hz - lid_h / 2)))
        params.update(lid=True, lid_height=lid_h, lid_overhang=lip)
        finest = 2 * lip + 0.004
    return Built(sdf, params, voxel_for(2 * max(hx, hy, hz), finest, hi=3.0e-3))


SLAB_FORMS = ("plate", "bar")
SLAB_SECTIONS = ("rectangle", "round", "polygon")
MIN_SLAB_THICKNESS = 0.005  #: m: thinner parts are below what the sensor and the meshing voxel resolve


def _prism(n_sides: int, radius: float, length: float) -> ConvexPolytope:
    """A regular ``n_sides``-gon of circumradius ``radius`` (m) extruded ``length`` (m) along z, centred, one vertex
    on +x."""
    angles = 2 * np.pi * np.arange(n_sides) / n_sides
    ring = np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
    z = np.full((n_sides, 1), length / 2)
    return ConvexPolytope.from_points(np.concatenate([np.hstack([ring, -z]), np.hstack([ring, z])]))


def build_slab(rng: np.random.Generator) -> Built:
    """A closed flat or elongated solid, 0.10-0.30 m long, lying on its widest face: a *plate* (board, tile,
    domino, book, lid, coaster: 30-100 % as wide as long, at least 5 mm and at most a quarter of its width thick) or
    a *bar* (stick, rod, pencil, handle, beam: 6-35 % as wide as long; a rectangular one 40-100 % as thick as wide,
    a round or polygonal one as thick as wide).

    Cross-section: rectangle (60 %, sharp or rounded edges up to 4 mm), round (25 %: a disc or a rod) or a regular
    3-8-gon (15 %: a polygon tile or a hexagonal pencil). Closed solids with no cavity, the counterpart of ``bin``: a
    flat box seen from below looks like a tray seen from below.
    """
    length = uniform(rng, 0.10, 0.30)
    form = choice(rng, SLAB_FORMS)
    section = choice(rng, SLAB_SECTIONS, p=(0.6, 0.25, 0.15))
    if form == "plate":
        width = length * uniform(rng, 0.3, 1.0)
        thick = uniform(rng, MIN_SLAB_THICKNESS, max(0.25 * width, 1.2 * MIN_SLAB_THICKNESS))
    else:
        width = max(length * uniform(rng, 0.06, 0.35), MIN_SLAB_THICKNESS / 0.4)
        thick = max(width * uniform(rng, 0.4, 1.0), MIN_SLAB_THICKNESS)
    params: dict = {"form": form, "section": section, "length": length}
    sdf: SDF
    finest = thick  # thinnest part, for the meshing voxel
    if section == "rectangle":
        edge = uniform(rng, 0.0, min(0.004, 0.45 * thick / 2)) if rng.random() < 0.7 else 0.0
        sdf = RoundedBox((length / 2, width / 2, thick / 2), edge)
        params.update(width=width, thickness=thick, edge_radius=edge)
    elif form == "plate":  # a disc (its width is its length) or a regular polygon tile, flat on z
        if section == "round":
            sdf = Cylinder(length / 2, thick)
        else:
            sides = int(rng.integers(3, 9))
            sdf = _prism(sides, length / 2, thick)
            params["sides"] = sides
        params.update(thickness=thick)
    else:  # a rod or a polygonal bar along x, resting on a side
        if section == "round":
            sdf = Rotate(Cylinder(width / 2, length), axis=(0.0, 1.0, 0.0), angle=np.pi / 2)
        else:
            sides = int(rng.integers(3, 9))
            sdf = Rotate(_prism(sides, width / 2, length), axis=(0.0, 1.0, 0.0), angle=np.pi / 2)
            params["sides"] = sides
        params.update(width=width)
        finest = width * (0.5 if section == "polygon" else 1.0)  # a triangle's inradius is half its circumradius
    return Built(sdf, params, voxel_for(length, finest, hi=3.0e-3), recentre=True)


PRIMITIVES = ("sphere", "box", "cylinder", "capsule", "cone", "torus")
OPERATIONS = ("union", "smooth_union", "difference", "intersection")


def _primitive(rng: np.random.Generator, size: float) -> tuple[SDF, dict]:
    kind = choice(rng, PRIMITIVES)
    s = size
    if kind == "sphere":
        shape: SDF = Sphere(s * uniform(rng, 0.35, 0.5))
    elif kind == "box":
        half = [s * uniform(rng, 0.2, 0.5) for _ in range(3)]
        shape = RoundedBox(half, min(half) * uniform(rng, 0.0, 0.5))
    elif kind == "cylinder":
        shape = Cylinder(s * uniform(rng, 0.15, 0.45), s * uniform(rng, 0.4, 1.0))
    elif kind == "capsule":
        length = s * uniform(rng, 0.3, 0.8)
        shape = Capsule((0, 0, -length / 2), (0, 0, length / 2), s * uniform(rng, 0.12, 0.3))
    elif kind == "cone":
        shape = Cone(s * uniform(rng, 0.2, 0.5), s * uniform(rng, 0.0, 0.3), s * uniform(rng, 0.4, 1.0))
    else:
        major = s * uniform(rng, 0.25, 0.4)
        shape = Torus(major, major * uniform(rng, 0.25, 0.6))
    axis = rng.normal(size=3)
    angle = uniform(rng, 0.0, np.pi)
    offset = rng.normal(scale=0.18 * s, size=3)
    placed = Translate(Rotate(shape, rotation_matrix(axis, angle)), offset)
    return placed, {
        "kind": kind,
        "axis": [float(a) for a in axis],
        "angle": angle,
        "offset": [float(o) for o in offset],
    }


def _draw_csg(rng: np.random.Generator) -> tuple[SDF, dict]:
    size = uniform(rng, 0.06, 0.25)
    n = int(rng.integers(2, 6))
    sdf, first = _primitive(rng, size)
    parts = [first]
    ops = []
    for _ in range(n - 1):
        prim, pp = _primitive(rng, size * uniform(rng, 0.5, 1.0))
        op = choice(rng, OPERATIONS, p=(0.4, 0.25, 0.25, 0.1))
        if op == "union":
            sdf = Union(sdf, prim)
        elif op == "smooth_union":
            k = size * uniform(rng, 0.05, 0.2)
            sdf = SmoothUnion(sdf, prim, k)
            pp["k"] = k
        elif op == "difference":
            sdf = Difference(sdf, prim)
        else:
            sdf = Intersection(sdf, prim)
        parts.append(pp)
        ops.append(op)
    return sdf, {"size": size, "primitives": parts, "operations": ops}


def build_csg(rng: np.random.Generator, coarse_res: int = 24, max_draws: int = 60) -> Built:
    """A random CSG solid: 2-5 primitives of 0.06-0.25 m combined by union / smooth union / difference /
    intersection, 0.05-0.35 m overall.

    Draws are screened on a coarse grid (``coarse_res`` per axis over the analytic bounds): the solid must be one
    connected component of at least 30 inside samples; its inside samples give a tight meshing box. The caller
    still checks the final mesh (one watertight component) and draws again otherwise.
    """
    from scipy import ndimage

    from implicit3d.geometry.grid import evaluate_grid

    for _ in range(max_draws):
        sdf, params = _draw_csg(rng)
        box = sdf.bounds
        extent = box[1] - box[0]
        if extent.min() <= 0:
            continue
        step = extent.max() / (coarse_res - 3)
        res = np.ceil(extent / step).astype(int) + 3
        lo = (box[0] + box[1]) / 2 - (res - 1) * step / 2
        grid_box = np.stack([lo, lo + (res - 1) * step])
        inside = evaluate_grid(sdf, grid_box, res) < 0
        if inside.sum() < 30:
            continue
        _, n_parts = ndimage.label(inside)
        if n_parts != 1:
            continue
        idx = np.argwhere(inside)
        tight = np.stack([lo + (idx.min(0) - 1) * step, lo + (idx.max(0) + 1) * step])
        longest = float((tight[1] - tight[0]).max())
        if not 0.05 <= longest - 2 * step <= 0.35:
            continue
        return Built(sdf, params, float(np.clip(longest / 70, 1.5e-3, 4.5e-3)), recentre=True, bounds=tight)
    raise RuntimeError(f"no connected csg solid in {max_draws} draws")  # pragma: no cover - not expected


def _rock_piece(rng: np.random.Generator, half: float) -> tuple[ConvexPolytope, dict]:
    """Convex hull of 8-24 points on a random ellipsoid (semi-axes ``half`` x (1, 0.25-1, 0.1-1) in random order,
    randomly turned), each pulled in by up to 30 %: a faceted pebble, block or slab about the origin."""
    k = int(rng.integers(8, 25))
    axes = half * rng.permutation([1.0, uniform(rng, 0.25, 1.0), uniform(rng, 0.1, 1.0)])
    directions = rng.normal(size=(k, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = directions * rng.uniform(0.7, 1.0, size=(k, 1)) * axes
    turn = rotation_matrix(rng.normal(size=3), uniform(rng, 0.0, np.pi))
    return ConvexPolytope.from_points(points @ turn.T), {"points": k, "axes": [float(a) for a in axes]}


def _union_scaled_to_size(pieces: list[SDF], size: float, params: dict) -> tuple[SDF, np.ndarray]:
    """The union of ``pieces`` (a chained smooth union when ``params["blend"] > 0``, in metres before scaling),
    scaled so the longest edge of the pieces' box is ``size``, and a meshing box (2, 3) around it padded by 2 % of
    the size plus the scaled blend radius. Records ``params["scale"]``.

    The hull points lie inside their ellipsoids, so the pieces' box is what the solid spans, not the draw's size.
    """
    sdf: SDF = pieces[0]
    if params["blend"] > 0:
        for piece in pieces[1:]:
            sdf = SmoothUnion(sdf, piece, params["blend"])
    elif len(pieces) > 1:
        sdf = Union(*pieces)
    box = np.stack([np.min([p.bounds[0] for p in pieces], 0), np.max([p.bounds[1] for p in pieces], 0)])
    factor = size / float((box[1] - box[0]).max())
    params["scale"] = factor
    pad = 0.02 * size + params["blend"] * factor
    return Scale(sdf, factor), np.stack([box[0] * factor - pad, box[1] * factor + pad])


def build_rock(rng: np.random.Generator) -> Built:
    """An irregular faceted solid (rock, pebble, chunk, slab): 1-3 overlapping convex-hull pieces, sometimes
    blended, 0.05-0.30 m overall.

    Each piece is the convex hull of a few points on a random ellipsoid (aspect ratios down to 0.1, so flat and
    elongated ones occur). Every further piece is centred near the middle of an earlier one's box, so the pieces
    almost always overlap; the caller checks that the mesh is one body and draws again otherwise.
    """
    size = uniform(rng, 0.05, 0.30)
    n = int(rng.choice(3, p=(0.55, 0.3, 0.15))) + 1
    first, info = _rock_piece(rng, size / 2)
    pieces: list[SDF] = [first]
    params: dict = {"size": size, "pieces": [info], "blend": 0.0}
    for _ in range(n - 1):
        anchor = pieces[int(rng.integers(len(pieces)))]
        lo, hi = anchor.bounds
        piece, info = _rock_piece(rng, size / 2 * uniform(rng, 0.4, 0.8))
        centre = (lo + hi) / 2 + rng.uniform(-0.3, 0.3, size=3) * (hi - lo)  # inside the anchor's middle
        pieces.append(Translate(piece, centre))
        info["centre"] = [float(c) for c in centre]
        params["pieces"].append(info)
    if n > 1 and rng.random() < 0.4:
        params["blend"] = size * uniform(rng, 0.03, 0.12)
    sdf, bounds = _union_scaled_to_size(pieces, size, params)
    return Built(sdf, params, float(np.clip(size / 70, 1.5e-3, 4.5e-3)), recentre=True, bounds=bounds)


def build_cluster(rng: np.random.Generator) -> Built:
    """A lumpy assembly of 3-10 faceted convex pieces (toy, knick-knack, debris, gnarled branch), 0.05-0.30 m.

    Unlike :func:`build_rock` (pieces buried in each other's middles: a compact chunk), each further piece sits on
    the edge of an earlier one — its centre 50-90 % of the way from the anchor's centre to its box face along a
    random direction — so the pieces form arms, branches and bumps with real concavities between them (solid volume
    often a third to two thirds of the convex hull's). The caller checks that the mesh is one body and draws again
    otherwise.
    """
    size = uniform(rng, 0.05, 0.30)
    n = int(rng.integers(3, 11))
    first, info = _rock_piece(rng, size / 2 * uniform(rng, 0.35, 0.6))
    pieces: list[SDF] = [first]
    params: dict = {"size": size, "pieces": [info], "blend": 0.0}
    for _ in range(n - 1):
        anchor = pieces[int(rng.integers(len(pieces)))]
        lo, hi = anchor.bounds
        direction = rng.normal(size=3)
        direction /= np.abs(direction).max()  # on the unit cube's surface: reaches the anchor's box face
        centre = (lo + hi) / 2 + direction * (hi - lo) / 2 * uniform(rng, 0.5, 0.9)
        piece, info = _rock_piece(rng, size / 2 * uniform(rng, 0.2, 0.5))
        pieces.append(Translate(piece, centre))
        info["centre"] = [float(c) for c in centre]
        params["pieces"].append(info)
    if rng.random() < 0.3:
        params["blend"] = size * uniform(rng, 0.01, 0.05)
    sdf, bounds = _union_scaled_to_size(pieces, size, params)
    return Built(sdf, params, float(np.clip(size / 80, 1.5e-3, 4.0e-3)), recentre=True, bounds=bounds)
