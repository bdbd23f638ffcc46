"""Closed packaging: bottles (five body styles, three shoulders, three closures), cans and jars.

All are solids standing on ``z = 0``, centred on the z axis, metres. Bottles are revolved ``(r, z)`` profiles
(plus a rounded box for square bodies, a slab for flat ones); cans and jars are single revolved profiles.
"""

from __future__ import annotations

import math

import numpy as np

from implicit3d.geometry.sdf import Intersection, Revolve, RoundedBox, SmoothUnion, Translate
from implicit3d.shapes.base import Built, choice, uniform, voxel_for
from implicit3d.shapes.profiles import Outline, sample

BODY_STYLES = ("round", "square", "waisted", "flask", "flat")
SHOULDERS = ("dome", "cone", "ogee")
CLOSURES = ("screw", "sport", "cork")


def _shoulder(style: str, r0: float, r1: float, z0: float, z1: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Shoulder curve from radius ``r0`` at ``z0`` to ``r1`` at ``z1``: sampled ``(r, z)``, ends excluded."""

    def fn(z: np.ndarray) -> np.ndarray:
        s = np.clip((z - z0) / (z1 - z0), 0.0, 1.0)
        if style == "dome":
            return r1 + (r0 - r1) * np.sqrt(np.clip(1.0 - s**2, 0.0, 1.0))
        if style == "ogee":
            return r1 + (r0 - r1) * (1.0 - (3 * s**2 - 2 * s**3))
        return r0 + (r1 - r0) * s

    return sample(fn, z0, z1, step)


def _closure(o: Outline, rng: np.random.Generator, rn: float, z: float, height: float) -> dict:
    """Neck ring and closure from ``z`` (top of the plain neck) to the bottle top ``height``; returns params."""
    style = choice(rng, CLOSURES, p=(0.6, 0.2, 0.2))
    fillet = uniform(rng, 0.0008, 0.003)
    params: dict = {"closure": style}
    if style == "screw":
        rc = rn + uniform(rng, 0.0015, 0.004)
        o.to(rn, z).to(rc, z, fillet=0.0005).to(rc, height, fillet=fillet).to(0.0, height)
        params["cap_radius"] = rc
    elif style == "sport":
        rc = rn + uniform(rng, 0.0015, 0.004)
        tip_r = rc * uniform(rng, 0.45, 0.65)
        tip_h = min(uniform(rng, 0.006, 0.012), 0.5 * (height - z))
        zt = height - tip_h
        o.to(rn, z).to(rc, z, fillet=0.0005).to(rc, zt, fillet=fillet)
        o.to(tip_r, zt, fillet=0.001).to(tip_r, height, fillet=0.0015).to(0.0, height)
        params.update(cap_radius=rc, tip_radius=tip_r, tip_height=tip_h)
    else:  # cork: a lip at the top of the neck, a narrower stopper above it
        lip_r = rn + uniform(rng, 0.001, 0.0025)
        lip_h = min(uniform(rng, 0.004, 0.007), 0.4 * (height - z))
        cork_r = rn - uniform(rng, 0.001, 0.0025)
        zl = z + lip_h
        o.to(rn, z).to(lip_r, z, fillet=0.0008).to(lip_r, zl, fillet=0.001)
        o.to(cork_r, zl).to(cork_r, height, fillet=fillet).to(0.0, height)
        params.update(cap_radius=cork_r, lip_radius=lip_r)
    params["closure_height"] = height - z
    return params


def build_bottle(rng: np.random.Generator) -> Built:
    """A bottle 0.15-0.35 m tall: body style, shoulder, neck, optional neck ring and punt, closure (see docs)."""
    height = uniform(rng, 0.15, 0.35)
    style = choice(rng, BODY_STYLES, p=(0.32, 0.2, 0.2, 0.14, 0.14))
    voxel = voxel_for(height, 1.0, hi=3.0e-3)
    step, tol = voxel / 2, voxel / 10
    closure_h = uniform(rng, 0.014, 0.032)
    top = height - closure_h  # top of the plain neck
    params: dict = {"height": height, "body": style}
    if style == "flask":
        radius = min(height * uniform(rng, 0.2, 0.27), 0.075)
    else:
        radius = float(np.clip(height * uniform(rng, 0.11, 0.19), 0.022, 0.05))
    rn = float(min(uniform(rng, 0.009, 0.019), 0.55 * radius))
    params.update(radius=radius, neck_radius=rn)

    if style == "flask":
        # elliptic bulb, cut flat at z = 0, then a straight neck
        c = min(radius * uniform(rng, 0.85, 1.3), (top - 0.03) / 1.9)
        zc = c * uniform(rng, 0.5, 0.8)
        z_neck = zc + c * math.sqrt(1.0 - (rn / radius) ** 2)
        r_base = radius * math.sqrt(1.0 - (zc / c) ** 2)
        o = Outline(0.0, 0.0).to(r_base, 0.0, fillet=uniform(rng, 0.002, 0.006))
        o.curve(*sample(lambda z: radius * np.sqrt(np.clip(1 - ((z - zc) / c) ** 2, 0, 1)), 0.0, z_neck, step))
        o.to(rn, z_neck, fillet=uniform(rng, 0.002, 0.006))
        params.update(bulb_half_height=c, bulb_centre=zc)
        body_top = z_neck
    else:
        rest = top
        hb = rest * uniform(rng, 0.42, 0.65)
        hs = rest * uniform(rng, 0.12, 0.3)
        hs = min(hs, rest - hb - 0.015)
        shoulder = choice(rng, SHOULDERS)
        params.update(body_height=hb, shoulder_height=hs, shoulder=shoulder)
        punt = style in ("round", "waisted") and rng.random() < 0.3
        base_fillet = uniform(rng, 0.003, 0.3 * radius)
        if punt:
            ph, pr = uniform(rng, 0.005, 0.02), radius * uniform(rng, 0.55, 0.8)
            o = Outline(0.0, ph)
            o.curve(*sample(lambda z: pr * np.sqrt(1 - z / ph), ph, 0.0, step))  # paraboloid dome, points inward
            o.to(pr, 0.0, fillet=0.002)
            params.update(punt_height=ph, punt_radius=pr)
        else:
            o = Outline(0.0, 0.0)
        params["base_fillet"] = base_fillet
        if style == "waisted":
            w = uniform(rng, 0.08, 0.2)
            z0, z1 = hb * uniform(rng, 0.1, 0.3), hb * uniform(rng, 0.7, 0.95)

            def body(z: np.ndarray) -> np.ndarray:
                s = np.clip((z - z0) / (z1 - z0), 0.0, 1.0)
                return radius * (1.0 - w * np.sin(np.pi * s) ** 2)

            params.update(waist=w)
        else:
            taper = uniform(rng, -0.08, 0.08)

            def body(z: np.ndarray) -> np.ndarray:
                return radius * (1.0 + taper * (z / hb - 0.5))

            params.update(taper=taper)
        r0 = float(body(np.array([0.0]))[0])
        r_top = float(body(np.array([hb]))[0])
        if style == "square":
            hx = radius * uniform(rng, 0.9, 1.1)
            hy = hx * uniform(rng, 0.6, 1.0)
            edge = uniform(rng, 0.003, 0.45 * hy)
            r_top = min(hx, hy) * uniform(rng, 0.8, 0.98)
            o = Outline(0.0, hb - 0.6 * r_top).to(r_top, hb - 0.6 * r_top).to(r_top, hb)
            params.update(half_x=hx, half_y=hy, edge_radius=edge)
        else:
            o.to(r0, 0.0, fillet=base_fillet)
            o.curve(*sample(body, 0.0, hb, step))
            o.to(r_top, hb)
        o.curve(*_shoulder(shoulder, r_top, rn, hb, hb + hs, step))
        o.to(rn, hb + hs, fillet=uniform(rng, 0.002, 0.008) if shoulder != "dome" else 0.002)
        body_top = hb + hs
    # neck (slight taper), optional support ring, closure
    if rng.random() < 0.4 and top - body_top > 0.02:
        ring_r, ring_h = rn + uniform(rng, 0.002, 0.004), uniform(rng, 0.003, 0.005)
        zr = top - uniform(rng, 0.002, 0.006) - ring_h
        o.to(rn, zr).to(ring_r, zr, fillet=0.001).to(ring_r, zr + ring_h, fillet=0.001).to(rn, zr + ring_h)
        params.update(ring_radius=ring_r, ring_height=ring_h)
    params["neck_height"] = top - body_top
    params.update(_closure(o, rng, rn, top, height))
    profile = o.build(tol=tol, step=step)
    sdf = Revolve(profile)
    if style == "square":
        box = Translate(
            RoundedBox((params["half_x"], params["half_y"], params["body_height"] / 2), params["edge_radius"]),
            (0.0, 0.0, params["body_height"] / 2),
        )
        k = uniform(rng, 0.004, 0.012)
        sdf = SmoothUnion(box, sdf, k)
        params["blend"] = k
    elif style == "flat":
        cap_r = max(params.get("cap_radius", rn), params.get("lip_radius", 0.0), params.get("ring_radius", 0.0))
        t = max(radius * uniform(rng, 0.5, 0.8), cap_r + 0.002)
        slab = RoundedBox((radius + 0.01, t, height / 2 + 0.01), 0.0)
        sdf = Intersection(sdf, Translate(slab, (0.0, 0.0, height / 2)))
        params["half_thickness"] = t
    return Built(sdf, params, voxel)


CAN_STYLES = ("beverage", "food", "tube")


def build_can(rng: np.random.Generator) -> Built:
    """A can: beverage (0.10-0.16 m; domed base, tapered neck, recessed lid), food (0.10-0.155 m; seamed rims) or
    tube (0.12-0.28 m, 1.5-4 times as tall as wide: crisps and tennis-ball tubes, cocoa and oat canisters; rolled
    rims, a lid that overhangs slightly)."""
    style = choice(rng, CAN_STYLES, p=(0.4, 0.3, 0.3))
    if style == "tube":
        radius = uniform(rng, 0.03, 0.05)
        height = float(np.clip(2.0 * radius * uniform(rng, 1.5, 4.0), 0.12, 0.28))
    elif style == "beverage":
        height = uniform(rng, 0.10, 0.16)
        radius = float(np.clip(uniform(rng, 0.026, 0.034) * (1.2 - (height - 0.10) / 0.3), 0.026, 0.034))
    else:
        height = uniform(rng, 0.10, 0.155)
        radius = uniform(rng, 0.032, 0.05)
    voxel = voxel_for(height, 1.0, hi=2.0e-3)
    step, tol = voxel / 2, voxel / 10
    params: dict = {"height": height, "radius": radius, "style": style}
    if style == "beverage":
        dome = uniform(rng, 0.006, 0.012)
        ring = radius - uniform(rng, 0.005, 0.008)
        neck = uniform(rng, 0.008, 0.016)
        lid_r = radius - uniform(rng, 0.003, 0.005)
        recess = uniform(rng, 0.003, 0.006)
        o = Outline(0.0, dome)
        o.curve(*sample(lambda z: ring * np.sqrt(1 - z / dome), dome, 0.0, step))
        o.to(ring, 0.0, fillet=0.001).to(ring + 0.004, 0.0, fillet=0.001).to(
            radius, uniform(rng, 0.006, 0.012), fillet=0.003
        )
        o.to(radius, height - neck, fillet=0.004).to(lid_r + 0.001, height - 0.002, fillet=0.001)
        o.to(lid_r + 0.001, height, fillet=0.0008).to(lid_r - 0.0015, height, fillet=0.0008)
        o.to(lid_r - 0.002, height - recess, fillet=0.001).to(0.0, height - recess)
        params.update(dome=dome, neck=neck, lid_radius=lid_r, recess=recess)
    elif style == "tube":
        rim = uniform(rng, 0.001, 0.0025)
        lid_h = uniform(rng, 0.008, 0.02)
        o = Outline(0.0, 0.0).to(radius, 0.0, fillet=uniform(rng, 0.001, 0.003))
        o.to(radius, height - lid_h).to(radius + rim, height - lid_h, fillet=0.0006)
        o.to(radius + rim, height, fillet=0.001).to(0.0, height)
        params.update(rim=rim, lid_height=lid_h)
    else:
        seam = uniform(rng, 0.0012, 0.002)
        seam_h = uniform(rng, 0.003, 0.005)
        recess = uniform(rng, 0.002, 0.004)
        o = Outline(0.0, recess).to(radius - 0.004, recess, fillet=0.001).to(radius - 0.003, 0.0, fillet=0.0005)
        o.to(radius + seam, 0.0, fillet=0.0008).to(radius + seam, seam_h, fillet=0.001).to(radius, seam_h + 0.002)
        n_beads = int(rng.integers(0, 4))
        if n_beads:
            zs = np.linspace(seam_h + 0.01, height - seam_h - 0.01, n_beads + 2)[1:-1]
            for zb in zs:
                o.to(radius, zb - 0.003).to(radius - 0.0015, zb, fillet=0.001).to(radius, zb + 0.003)
        o.to(radius, height - seam_h - 0.002).to(radius + seam, height - seam_h, fillet=0.001)
        o.to(radius + seam, height, fillet=0.001).to(radius - 0.001, height, fillet=0.0006)
        o.to(radius - 0.002, height - recess, fillet=0.001).to(0.0, height - recess)
        params.update(seam=seam, seam_height=seam_h, recess=recess, beads=n_beads)
    return Built(Revolve(o.build(tol=tol, step=step)), params, voxel)


def build_jar(rng: np.random.Generator) -> Built:
    """A jar 0.07-0.20 m tall and 0.06-0.12 m wide: body, short shoulder and neck, screw lid (closed solid)."""
    radius = uniform(rng, 0.03, 0.06)
    height = float(np.clip(radius * uniform(rng, 1.6, 3.6), 0.07, 0.20))
    voxel = voxel_for(max(height, 2 * radius), 1.0, hi=2.5e-3)
    step, tol = voxel / 2, voxel / 10
    lid_h = uniform(rng, 0.01, 0.025)
    neck_r = radius * uniform(rng, 0.72, 0.92)
    lid_r = neck_r + uniform(rng, 0.002, 0.005)
    shoulder_h = min(uniform(rng, 0.3, 1.0) * (radius - neck_r) + 0.004, 0.25 * height)
    neck_h = uniform(rng, 0.004, 0.01)
    hb = height - lid_h - neck_h - shoulder_h
    bulge = uniform(rng, -0.04, 0.1)
    base_fillet = uniform(rng, 0.003, 0.012)

    def body(z: np.ndarray) -> np.ndarray:
        return radius * (1.0 + bulge * np.sin(np.pi * np.clip(z / hb, 0, 1)))

    o = Outline(0.0, 0.0).to(radius, 0.0, fillet=base_fillet)
    o.curve(*sample(body, 0.0, hb, step)).to(radius, hb)
    o.curve(*_shoulder("dome", radius, neck_r, hb, hb + shoulder_h, step))
    z = hb + shoulder_h
    o.to(neck_r, z, fillet=0.002).to(neck_r, z + neck_h)
    o.to(lid_r, z + neck_h, fillet=0.0008).to(lid_r, height, fillet=uniform(rng, 0.001, 0.005)).to(0.0, height)
    params = {
        "height": height,
        "radius": radius,
        "bulge": bulge,
        "neck_radius": neck_r,
        "lid_radius": lid_r,
        "lid_height": lid_h,
        "shoulder_height": shoulder_h,
        "base_fillet": base_fillet,
    }
    return Built(Revolve(o.build(tol=tol, step=step)), params, voxel)
