"""Open containers modelled as watertight solids with a real cavity: mugs, cups, bowls, vases.

Each is one revolved profile (outer wall, rounded rim, inner wall at perpendicular thickness >= 4 mm, floor) so the
opening is visible in depth views and occupancy is well defined; mugs (and some cups) add a handle — half a torus or
a chain of capsules — whose ends are buried in the wall without reaching the cavity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from implicit3d.geometry.sdf import (
    SDF,
    Capsule,
    Difference,
    Intersection,
    Revolve,
    RoundedBox,
    SmoothUnion,
    Torus,
    Translate,
)
from implicit3d.shapes.base import Built, choice, uniform, voxel_for
from implicit3d.shapes.profiles import cavity_profile, hollow_profile

MIN_WALL = 0.004  # m: thinnest wall; the meshing voxel is at most wall / 2.2


def _profile_resolution(voxel: float) -> dict[str, float]:
    """``step`` and ``tol`` (metres) of a revolved profile for a shape meshed at ``voxel``: samples every half
    voxel, simplified to a tenth of one."""
    return {"step": voxel / 2, "tol": voxel / 10}


def _flared(r_bot: float, r_top: float, height: float, power: float) -> Callable[[np.ndarray], np.ndarray]:
    """Outer radius (m) of a flared wall at heights ``z (n,)``: ``r_bot + (r_top - r_bot) * (z / height) ** power``
    (bowls, teacups, plates; ``power < 1`` flares fast near the foot)."""

    def r_out(z: np.ndarray) -> np.ndarray:
        return r_bot + (r_top - r_bot) * (z / height) ** power

    return r_out


def _handle(rng: np.random.Generator, r_out: float, wall: float, z_lo: float, z_hi: float) -> tuple[SDF, dict]:
    """A closed handle on the +x side between heights ``z_lo`` and ``z_hi`` (m), its ends buried in the wall.

    The ends stop at ``x = r_out - wall / 2`` (mid-wall), so the handle never reaches the cavity.
    """
    style = choice(rng, ("ring", "square"))
    thick = uniform(rng, 0.004, 0.0065)  # tube radius
    x_end = r_out - wall / 2
    span = z_hi - z_lo
    reach = min(uniform(rng, 0.022, 0.04), 0.8 * (z_hi - z_lo))  # how far the handle stands out from the wall
    params = {"handle": style, "handle_radius": thick, "handle_reach": reach, "handle_span": span}
    if style == "ring":
        # half an elliptic-looking ring: a torus about y, cut at x = x_end, scaled by choosing its major radius
        major = span / 2
        cx = x_end + max(reach - major, -0.5 * major)
        torus = Translate(_TorusY(major, thick), (cx, 0.0, (z_lo + z_hi) / 2))
        keep = Translate(
            RoundedBox((major + thick + 0.05, major + thick + 0.01, major + thick + 0.01)),
            (x_end + major + thick + 0.05, 0.0, (z_lo + z_hi) / 2),
        )
        return Intersection(torus, keep), params
    # square: three capsules (out, down, in), corners blended
    x_far = x_end + reach
    a = Capsule((x_end, 0, z_hi), (x_far, 0, z_hi - 0.15 * span), thick)
    b = Capsule((x_far, 0, z_hi - 0.15 * span), (x_far, 0, z_lo + 0.15 * span), thick)
    c = Capsule((x_far, 0, z_lo + 0.15 * span), (x_end, 0, z_lo), thick)
    return SmoothUnion(SmoothUnion(a, b, 0.004), c, 0.004), params


class _TorusY(Torus):
    """Torus whose axis is y (ring in the xz plane), centred at the origin."""

    def _eval(self, p, ops):  # type: ignore[no-untyped-def]
        return super()._eval(p[:, [0, 2, 1]], ops)

    @property
    def bounds(self) -> np.ndarray:
        b = super().bounds
        return b[:, [0, 2, 1]]


def _attach(body: SDF, handle: SDF, cavity: SDF, rng: np.random.Generator, params: dict) -> SDF:
    """Blend ``handle`` onto ``body``, the handle first clipped by ``cavity`` so the opening stays clear."""
    k = uniform(rng, 0.002, 0.004)
    params["handle_blend"] = k
    return SmoothUnion(body, Difference(handle, cavity), k)


def build_mug(rng: np.random.Generator) -> Built:
    """A mug 0.075-0.12 m tall, 0.07-0.10 m across, walls 4-7 mm, with a closed handle."""
    radius = uniform(rng, 0.035, 0.05)
    height = uniform(rng, 0.075, 0.12)
    wall = uniform(rng, MIN_WALL, 0.007)
    floor = uniform(rng, 0.006, 0.012)
    taper = uniform(rng, -0.12, 0.08)
    belly = uniform(rng, -0.03, 0.06) if rng.random() < 0.5 else 0.0

    def r_out(z: np.ndarray) -> np.ndarray:
        s = z / height
        return radius * (1.0 + taper * (s - 1.0) + belly * np.sin(np.pi * s))

    inner_fillet = uniform(rng, 0.003, 0.01)
    voxel = voxel_for(height + 2 * radius, wall)
    res = _profile_resolution(voxel)
    profile = hollow_profile(r_out, height, wall, floor, uniform(rng, 0.002, 0.008), inner_fillet, **res)
    cavity = Revolve(cavity_profile(r_out, height, wall, floor, inner_fillet, **res))
    z_lo = height * uniform(rng, 0.15, 0.3)
    z_hi = height * uniform(rng, 0.72, 0.85)
    r_mid = float(r_out(np.array([(z_lo + z_hi) / 2]))[0])
    params = {"height": height, "radius": radius, "wall": wall, "floor": floor, "taper": taper, "belly": belly}
    handle, hp = _handle(
        rng, min(float(r_out(np.array([z_lo]))[0]), float(r_out(np.array([z_hi]))[0]), r_mid), wall, z_lo, z_hi
    )
    params.update(hp)
    sdf = _attach(Revolve(profile), handle, cavity, rng, params)
    return Built(sdf, params, voxel)


CUP_STYLES = ("tumbler", "paper", "teacup")


def build_cup(rng: np.random.Generator) -> Built:
    """A cup: tumbler or paper cup (tapered, 0.08-0.15 m tall) or a teacup (wide, 0.05-0.08 m, small handle)."""
    style = choice(rng, CUP_STYLES, p=(0.4, 0.35, 0.25))
    wall = uniform(rng, MIN_WALL, 0.0055)
    if style == "teacup":
        height = uniform(rng, 0.05, 0.08)
        r_top = uniform(rng, 0.04, 0.055)
        r_bot = r_top * uniform(rng, 0.45, 0.65)
        power = uniform(rng, 0.45, 0.8)

        r_out = _flared(r_bot, r_top, height, power)
        foot = (r_bot * uniform(rng, 0.8, 0.95), uniform(rng, 0.004, 0.008))
    else:
        height = uniform(rng, 0.08, 0.15)
        r_top = uniform(rng, 0.03, 0.045)
        r_bot = r_top * uniform(rng, 0.65, 0.85 if style == "paper" else 0.98)

        def r_out(z: np.ndarray) -> np.ndarray:
            return r_bot + (r_top - r_bot) * (z / height)

        foot = None
    floor = uniform(rng, 0.005, 0.012) + (foot[1] if foot else 0.0)
    inner_fillet = uniform(rng, 0.002, 0.008)
    voxel = voxel_for(max(height, 2 * r_top), wall)
    res = _profile_resolution(voxel)
    profile = hollow_profile(r_out, height, wall, floor, uniform(rng, 0.001, 0.004), inner_fillet, foot=foot, **res)
    params = {
        "height": height,
        "style": style,
        "top_radius": r_top,
        "bottom_radius": r_bot,
        "wall": wall,
        "floor": floor,
    }
    sdf: SDF = Revolve(profile)
    if style == "paper":
        # rolled rim: a small torus at the top of the wall
        bead = uniform(rng, 0.0025, 0.0035)
        sdf = SmoothUnion(sdf, Translate(Torus(r_top - wall / 2, bead), (0, 0, height - bead)), 0.001)
        params["rim_bead"] = bead
    if style == "teacup":
        z_lo, z_hi = height * 0.3, height * 0.85
        handle, hp = _handle(rng, float(r_out(np.array([0.5 * (z_lo + z_hi)]))[0]), wall, z_lo, z_hi)
        params.update(hp)
        cavity = Revolve(cavity_profile(r_out, height, wall, floor, inner_fillet, **res))
        sdf = _attach(sdf, handle, cavity, rng, params)
    return Built(sdf, params, voxel)


def build_bowl(rng: np.random.Generator) -> Built:
    """A bowl 0.12-0.26 m across and 0.045-0.11 m tall, walls 4-7 mm, with or without a foot ring."""
    r_top = uniform(rng, 0.06, 0.13)
    height = float(np.clip(r_top * uniform(rng, 0.55, 0.95), 0.045, 0.11))
    wall = uniform(rng, MIN_WALL + 0.0005, 0.007)
    r_bot = r_top * uniform(rng, 0.35, 0.6)
    power = uniform(rng, 0.35, 0.75)
    r_out = _flared(r_bot, r_top, height, power)
    foot = (r_bot * uniform(rng, 0.75, 0.95), uniform(rng, 0.004, 0.01)) if rng.random() < 0.6 else None
    floor = uniform(rng, 0.005, 0.01) + (foot[1] if foot else 0.0)
    voxel = voxel_for(2 * r_top, wall, hi=2.2e-3)
    fillets = uniform(rng, 0.002, 0.008), uniform(rng, 0.005, 0.02)  # base, inner
    profile = hollow_profile(r_out, height, wall, floor, *fillets, foot=foot, **_profile_resolution(voxel))
    params = {
        "height": height,
        "top_radius": r_top,
        "bottom_radius": r_bot,
        "power": power,
        "wall": wall,
        "floor": floor,
        "foot": list(foot) if foot else None,
    }
    return Built(Revolve(profile), params, voxel)


def build_vase(rng: np.random.Generator) -> Built:
    """A vase 0.15-0.35 m tall with a wavy profile (belly, waves, flared lip), hollow, walls 4-7 mm."""
    height = uniform(rng, 0.15, 0.35)
    wall = uniform(rng, MIN_WALL + 0.0005, 0.007)
    for _ in range(50):
        r_base = height * uniform(rng, 0.1, 0.2)
        r_top = height * uniform(rng, 0.06, 0.2)
        belly = height * uniform(rng, -0.03, 0.14)
        belly_at = uniform(rng, 0.2, 0.65)
        belly_width = uniform(rng, 0.15, 0.4)
        flare = height * uniform(rng, 0.0, 0.05) if rng.random() < 0.4 else 0.0
        waves = int(rng.integers(0, 5))
        amp = height * uniform(rng, 0.0, 0.03) if waves else 0.0
        phase = uniform(rng, 0.0, 2 * math.pi)
        shape = (r_base, r_top, belly, belly_at, belly_width, flare, waves, amp, phase)

        def r_out(z: np.ndarray, shape: tuple = shape) -> np.ndarray:
            r_base, r_top, belly, belly_at, belly_width, flare, waves, amp, phase = shape
            s = z / height
            bump = belly * np.exp(-(((s - belly_at) / belly_width) ** 2))
            t = np.clip((s - 0.8) / 0.2, 0.0, 1.0)
            lip = flare * t * t * (3 - 2 * t)
            wave = 4 * amp * np.sin(2 * np.pi * waves * s + phase) * s * (1 - s)
            return r_base + (r_top - r_base) * s + bump + lip + wave

        z = np.linspace(0, height, 400)
        r = r_out(z)
        curv = np.abs(np.gradient(np.gradient(r, z), z))
        inner = r - wall * np.sqrt(1 + np.gradient(r, z) ** 2)
        # keep an opening >= 10 mm radius, and wall curvature radius >= 2 walls (no folded inner wall)
        if inner[z > 0.02].min() >= 0.01 and curv.max() * 2 * wall < 1 and r.max() < 0.12:
            break
    else:  # pragma: no cover - 50 rejections in a row are not expected
        raise RuntimeError("could not sample a valid vase profile")
    floor = uniform(rng, 0.008, 0.02)
    voxel = voxel_for(height, wall, hi=2.5e-3)
    fillets = uniform(rng, 0.002, 0.008), uniform(rng, 0.003, 0.01)  # base, inner
    profile = hollow_profile(r_out, height, wall, floor, *fillets, **_profile_resolution(voxel))
    params = {
        "height": height,
        "wall": wall,
        "floor": floor,
        "base_radius": r_base,
        "top_radius": r_top,
        "belly": belly,
        "belly_at": belly_at,
        "belly_width": belly_width,
        "flare": flare,
        "waves": waves,
        "wave_amplitude": amp,
        "wave_phase": phase,
    }
    return Built(Revolve(profile), params, voxel)


def build_bin(rng: np.random.Generator) -> Built:
    """An open rectangular container, from a flat tray to a deep bin: 0.10-0.30 m long, 40-100 % as wide, 8-90 %
    of its length tall (at least 2 cm), straight walls 4-8 mm, floor 4-10 mm, rounded outer edges and inner corners.

    Trays, storage bins, drawers and open boxes: thin walls around a large cavity seen from any side.
    """
    hx = uniform(rng, 0.05, 0.15)
    hy = hx * uniform(rng, 0.4, 1.0)
    height = max(2 * hx * uniform(rng, 0.08, 0.9), 0.02)
    wall = uniform(rng, MIN_WALL, 0.008)
    floor = uniform(rng, MIN_WALL, 0.01)
    edge = uniform(rng, 0.0, min(0.012, 0.45 * min(hy, height / 2)))
    outer = Translate(RoundedBox((hx, hy, height / 2), edge), (0.0, 0.0, height / 2))
    # the cavity: inset by the wall on the sides, from the floor up through the rim (its top lies above the rim)
    inner_half = (hx - wall, hy - wall, height / 2)
    inner_edge = min(max(edge - wall, 0.0) + uniform(rng, 0.0, 0.01), 0.45 * min(inner_half))
    cavity = Translate(RoundedBox(inner_half, inner_edge), (0.0, 0.0, floor + height / 2))
    params = {
        "size": [2 * hx, 2 * hy, height],
        "wall": wall,
        "floor": floor,
        "edge_radius": edge,
        "inner_radius": inner_edge,
    }
    return Built(Difference(outer, cavity), params, voxel_for(2 * hx, min(wall, floor), hi=2.2e-3))


PLATE_STYLES = ("plate", "dish", "pan")


def build_plate(rng: np.random.Generator) -> Built:
    """Flat, wide tableware: a plate or saucer (0.12-0.30 m across, 1.5-3.5 cm tall, a flat well and a wide flared
    rim), a shallow serving dish (0.10-0.24 m, 3-5 cm), or a frying pan (0.18-0.28 m, 3.5-6 cm, straight flared wall,
    a long handle 0.10-0.18 m rising 5-20 degrees); walls 4-6 mm.

    Real kitchens hold many of these and they are the hardest views to complete: a thin shell seen from above, the
    space under it empty (issue 17: plates and pans were completed as solid discs).
    """
    style = choice(rng, PLATE_STYLES, p=(0.5, 0.25, 0.25))
    wall = uniform(rng, MIN_WALL + 0.0003, 0.006)
    if style == "plate":
        r_top = uniform(rng, 0.06, 0.15)
        height = uniform(rng, 0.015, 0.035)
        r_bot = r_top * uniform(rng, 0.45, 0.75)
        power = uniform(rng, 0.3, 0.6)
    elif style == "dish":
        r_top = uniform(rng, 0.05, 0.12)
        height = uniform(rng, 0.03, 0.05)
        r_bot = r_top * uniform(rng, 0.55, 0.85)
        power = uniform(rng, 0.4, 0.9)
    else:
        r_top = uniform(rng, 0.09, 0.14)
        height = uniform(rng, 0.035, 0.06)
        r_bot = r_top * uniform(rng, 0.7, 0.85)
        power = uniform(rng, 0.8, 1.2)
    r_out = _flared(r_bot, r_top, height, power)
    has_foot = style != "pan" and rng.random() < 0.6
    foot = (r_bot * uniform(rng, 0.7, 0.95), uniform(rng, 0.003, 0.006)) if has_foot else None
    floor = uniform(rng, MIN_WALL, 0.007) + (foot[1] if foot else 0.0)
    voxel = voxel_for(2 * r_top, wall, hi=2.2e-3)
    fillets = uniform(rng, 0.002, 0.005), uniform(rng, 0.003, 0.01)  # base, inner
    res = _profile_resolution(voxel)
    profile = hollow_profile(r_out, height, wall, floor, *fillets, foot=foot, **res)
    params = {
        "style": style,
        "height": height,
        "top_radius": r_top,
        "bottom_radius": r_bot,
        "power": power,
        "wall": wall,
        "floor": floor,
        "foot": list(foot) if foot else None,
    }
    sdf: SDF = Revolve(profile)
    if style == "pan":
        length = uniform(rng, 0.10, 0.18)
        thick = uniform(rng, 0.007, 0.012)
        rise = math.radians(uniform(rng, 5.0, 20.0))
        z0 = height - thick - 0.003
        start = (r_top - wall / 2, 0.0, z0)
        end = (r_top + length * math.cos(rise), 0.0, z0 + length * math.sin(rise))
        cavity = Revolve(cavity_profile(r_out, height, wall, floor, fillets[1], **res))
        params.update({"handle_length": length, "handle_radius": thick, "handle_rise_deg": math.degrees(rise)})
        sdf = _attach(sdf, Capsule(start, end, thick), cavity, rng, params)
    return Built(sdf, params, voxel)
