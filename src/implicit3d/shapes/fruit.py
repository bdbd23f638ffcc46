"""Fruit and vegetables: smooth, rounded solids — apples, oranges, peaches and plums, lemons and limes, pears,
strawberries and bananas.

Real tabletops hold many of these, and the rest of the catalogue has no smooth convex blob: rocks and clusters are
faceted, jars and cans have flat ends. One view of a round fruit shows a cap about as deep as a third of its width;
the completion must know the back bulges out as much again (issue 17: fruit came out too thin behind what was seen).

Round styles are solids of revolution (:class:`implicit3d.geometry.sdf.Revolve`) of a profile ``(r(t), z(t))``,
``t`` in ``[0, pi]`` from the bottom pole to the top: a sphere's, made fuller or more pointed, with dimples at the
poles (apples), tips (lemons), a waist (pears) or a pointed bottom (strawberries); a banana is a smooth union of
tapered capsules along an arc. A fruit stands on its bottom: z up, on z = 0 after recentring.
"""

from __future__ import annotations

import math

import numpy as np

from implicit3d.geometry.sdf import SDF, Capsule, Revolve, Rotate, SmoothUnion, rotation_matrix
from implicit3d.shapes.base import Built, choice, uniform, voxel_for

FRUIT_STYLES = ("round", "apple", "lemon", "pear", "strawberry", "banana")
PROFILE_POINTS = 48  #: vertices of a round fruit's half profile


def _bump(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A Gaussian bump of ``t`` about ``centre`` (radians), 1 at its peak."""
    return np.exp(-(((t - centre) / width) ** 2))


def _profile(rng: np.random.Generator, style: str, width: float) -> tuple[np.ndarray, dict]:
    """The ``(r, z)`` half profile (``(PROFILE_POINTS, 2)``, metres, bottom pole first) of a round ``style`` of
    fruit ``width`` metres across, and its parameters."""
    t = np.linspace(0.0, math.pi, PROFILE_POINTS)
    half = width / 2.0
    params: dict = {"style": style, "width": width}
    if style == "round":  # orange, peach, plum, tomato, onion: squat to slightly tall
        aspect = uniform(rng, 0.8, 1.15)
        fullness = uniform(rng, 0.8, 1.0)  # r ~ sin(t) ** fullness: < 1 is boxier at the equator
        r = half * np.sin(t) ** fullness
        z = aspect * half * (1.0 - np.cos(t))
        params.update(aspect=aspect, fullness=fullness)
    elif style == "apple":  # dimpled at both poles, a little wider above the middle
        aspect = uniform(rng, 0.8, 1.0)
        top, bottom = uniform(rng, 0.06, 0.16), uniform(rng, 0.03, 0.10)
        shoulder = uniform(rng, 0.0, 0.12)
        r = half * np.sin(t) ** 0.85 * (1.0 + shoulder * (t / math.pi - 0.5))
        z = aspect * half * (1.0 - np.cos(t))
        z = z - 2 * half * top * _bump(t, math.pi, 0.35) + 2 * half * bottom * _bump(t, 0.0, 0.3)
        params.update(aspect=aspect, dimple_top=top, dimple_bottom=bottom, shoulder=shoulder)
    elif style == "lemon":  # lemon, lime, mango, kiwi, potato: elongated, sometimes with tips
        aspect = uniform(rng, 1.15, 1.6)
        tip = uniform(rng, 0.0, 0.12) if rng.random() < 0.6 else 0.0
        r = half * np.sin(t) ** uniform(rng, 0.85, 1.1)
        z = aspect * half * (1.0 - np.cos(t))
        z = z - 2 * half * tip * _bump(t, 0.0, 0.25) + 2 * half * tip * _bump(t, math.pi, 0.25)
        params.update(aspect=aspect, tip=tip)
    elif style == "pear":  # a wide bulb below, a narrow neck above
        aspect = uniform(rng, 1.2, 1.7)
        waist = uniform(rng, 0.25, 0.5)
        r = half * np.sin(t) ** 0.8 * (1.0 - waist * _bump(t, 0.72 * math.pi, 0.45))
        z = aspect * half * (1.0 - np.cos(t))
        params.update(aspect=aspect, waist=waist)
    else:  # strawberry: flat shoulders on top, a rounded point below
        aspect = uniform(rng, 0.9, 1.3)
        r = half * np.sin(t) ** 0.7 * (0.45 + 0.55 * (t / math.pi) ** 0.7)
        z = aspect * half * (1.0 - np.cos(t))
        params.update(aspect=aspect)
    r[0] = r[-1] = 0.0
    return np.stack([r, z - z.min()], axis=1), params


def _banana(rng: np.random.Generator, length: float) -> tuple[SDF, dict]:
    """A banana (or cucumber, carrot, courgette when nearly straight) ``length`` metres along its arc: tapered
    capsules along an arc in the x-z plane, blended."""
    bend = uniform(rng, 0.3, 1.6)  # radians of arc
    radius = length * uniform(rng, 0.09, 0.14)
    n = 6
    s = np.linspace(-0.5, 0.5, n + 1)  # arc length / length of the capsules' ends
    arc_r = length / bend
    pts = np.stack([arc_r * np.sin(s * bend), np.zeros_like(s), arc_r * (1.0 - np.cos(s * bend))], axis=1)
    taper = 1.0 - 0.55 * np.abs(s[:-1] + s[1:]) ** 1.5  # thinner towards both ends (|s| of a capsule's middle x 2)
    sdf: SDF = Capsule(pts[0], pts[1], max(radius * taper[0], 0.004))
    for i in range(1, n):
        sdf = SmoothUnion(sdf, Capsule(pts[i], pts[i + 1], max(radius * taper[i], 0.004)), 0.3 * radius)
    # lying on its side, as bananas do: the curve rises in z; turn it by a random amount about its long axis
    roll = uniform(rng, -0.6, 0.6)
    return Rotate(sdf, matrix=rotation_matrix((1.0, 0.0, 0.0), roll)), {
        "style": "banana", "length": length, "bend": bend, "radius": radius, "roll": roll,
    }


def build_fruit(rng: np.random.Generator) -> Built:
    """A fruit or vegetable (style from :data:`FRUIT_STYLES`): round ones 0.04-0.12 m across (strawberries
    0.03-0.06), bananas 0.12-0.24 m along their arc."""
    style = choice(rng, FRUIT_STYLES, (0.25, 0.2, 0.2, 0.13, 0.1, 0.12))
    if style == "banana":
        sdf, params = _banana(rng, uniform(rng, 0.12, 0.24))
        return Built(sdf, params, voxel_for(params["length"], 2 * 0.004), recentre=True)
    width = uniform(rng, 0.03, 0.06) if style == "strawberry" else uniform(rng, 0.04, 0.12)
    profile, params = _profile(rng, style, width)
    height = float(profile[:, 1].max())
    return Built(Revolve(profile), params, voxel_for(max(width, height), width / 4), recentre=True)
