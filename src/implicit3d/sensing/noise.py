"""Depth-sensor noise: what structured-light and active-stereo cameras do to a clean depth image.

Each effect is a field of :class:`NoiseModel` (0 / disabled by default) and is applied in this order:

1. **Lateral noise** — every pixel reads the depth of a neighbour displaced by a Gaussian pixel shift of std
   ``lateral_sigma_px + lateral_sigma_angle * theta / (pi/2 - theta)`` (edges become jagged). Form and Kinect v1
   values (0.8 px, 0.035) from C. V. Nguyen, S. Izadi, D. Lovell, "Modeling Kinect Sensor Noise for Improved 3D
   Reconstruction and Tracking", 3DIMPVT 2012.
2. **Flying pixels** — a valid pixel on a depth discontinuity (its 3x3 neighbourhood spans more than
   ``flying_edge_rel * z``) takes, with probability ``flying_prob``, a depth drawn uniformly between the near and
   far side of the edge: the mixed returns of pixels straddling foreground and background, reported for
   time-of-flight (Lefloch et al., "Technical foundation and calibration methods for time-of-flight cameras", LNCS
   8200, 2013) and stereo/structured light (matching windows straddling an edge). Against empty background (no
   return) the far side is ``flying_tail_m`` behind the foreground. Never applied away from edges.
3. **Axial noise** — additive Gaussian with std ``sigma_z(z, theta) = a + b (z - z0)^2 + c / sqrt(z) *
   theta^2 / (pi/2 - theta)^2`` metres (``sigma_z_const``, ``sigma_z_quad``, ``sigma_z_offset``,
   ``sigma_z_angle``). Kinect v1: ``a = 0.0012, b = 0.0019, z0 = 0.4, c = 0.0001`` (Nguyen et al. 2012); the
   pure ``b z^2`` form with ``b = 1.425e-3`` is Khoshelham & Elberink, "Accuracy and Resolution of Kinect Depth
   Data for Indoor Mapping Applications", Sensors 12(2), 2012 (``sigma_Z = (m / f) Z^2 sigma_d``, 4 cm at 5 m).
   RealSense D400: RMS error ``= z^2 * subpixel / (f * baseline)`` (A. Grunnet-Jepsen et al., Intel white paper
   "Tuning depth cameras for best performance", with subpixel ~0.08 px, baseline 50 mm, ``f = 0.5 Xres /
   tan(HFOV / 2)``, HFOV 90 deg for D435, i.e. f = 424 px at 848x480), i.e. ``b = 0.08 / (424 * 0.05)``.
4. **Disparity quantization** — depth is recovered from a disparity measured in steps of ``disparity_step_px``
   pixels: ``z' = f b / (round(f b / (z s)) s)`` with ``f = focal_px``, ``b = baseline_m``, ``s`` the step, so
   depth steps grow as ``z^2 s / (f b)``. Kinect v1 reports disparity in 1/8 px (K. Konolige, P. Mihelich,
   "Technical description of Kinect calibration", ROS wiki 2011; Khoshelham & Elberink 2012, baseline 7.5 cm,
   f ~ 580 px); the D400 ASIC in 1/32 px (Grunnet-Jepsen et al., "Subpixel linearity improvement for Intel
   RealSense depth cameras", Intel white paper). Then depth is rounded to ``depth_unit_m`` (1 mm: 16-bit output).
5. **Range** — depths outside ``[min_depth_m, max_depth_m]`` become 0 (no return).
6. **Holes** — (a) grazing angles: a pixel whose incidence angle theta (between the surface normal and the
   viewing ray) exceeds ``grazing_start_deg`` is dropped with probability rising linearly to 1 at
   ``grazing_end_deg`` (Nguyen et al. 2012 observe the noise exploding and data vanishing beyond ~70-80 deg);
   (b) reflective regions: pixels of the caller's ``reflective_mask`` are dropped with probability
   ``reflective_hole_prob`` (specular surfaces send the projected pattern away: no return); (c) random dropout
   with probability ``dropout_prob`` per pixel.

Normals (for theta) come from the renderer (``normals_cam``) or, when not given, are estimated from the depth image
itself by finite differences of the back-projected points. Invalid pixels (0) stay 0. The preset probabilities for
holes/flying pixels and the D435 lateral sigma are plausible settings, not fitted values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from implicit3d.sensing.camera import Intrinsics

_MAX_SIGMA_PX = 3.0  # lateral noise std is capped here (the angle term diverges at 90 deg)
_MAX_SHIFT_PX = 12  # and shifts are clipped to 4 sigma


@dataclass(frozen=True)
class NoiseModel:
    """Parameters of the depth-sensor model (see the module docstring for the physics and the citations).

    Lengths in metres, angles in degrees, probabilities in [0, 1]. A default ``NoiseModel()`` changes nothing.
    ``focal_px`` is the sensor's native focal length in pixels, used for disparity quantization (independent of
    the resolution of the image being corrupted).
    """

    name: str = "custom"
    sigma_z_const: float = 0.0
    sigma_z_quad: float = 0.0
    sigma_z_offset: float = 0.0
    sigma_z_angle: float = 0.0
    lateral_sigma_px: float = 0.0
    lateral_sigma_angle: float = 0.0
    focal_px: float = 0.0
    baseline_m: float = 0.0
    disparity_step_px: float = 0.0
    depth_unit_m: float = 0.0
    min_depth_m: float = 0.0
    max_depth_m: float = math.inf
    dropout_prob: float = 0.0
    grazing_start_deg: float = 90.0
    grazing_end_deg: float = 90.0
    reflective_hole_prob: float = 1.0
    flying_prob: float = 0.0
    flying_edge_rel: float = 0.05
    flying_tail_m: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f"NoiseModel.name must be a string, got {self.name!r}")
        for f in fields(self):
            if f.name == "name":
                continue
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or math.isnan(v):
                raise ValueError(f"NoiseModel.{f.name} must be a number, got {v!r}")
            if v < 0:
                raise ValueError(f"NoiseModel.{f.name} must be >= 0, got {v}")
            if math.isinf(v) and f.name != "max_depth_m":  # only the range may be unbounded
                raise ValueError(f"NoiseModel.{f.name} must be finite, got {v}")
        for p in ("dropout_prob", "reflective_hole_prob", "flying_prob"):
            if getattr(self, p) > 1:
                raise ValueError(f"NoiseModel.{p} must be a probability in [0, 1], got {getattr(self, p)}")
        if not self.grazing_start_deg <= self.grazing_end_deg <= 90.0:
            raise ValueError("NoiseModel needs grazing_start_deg <= grazing_end_deg <= 90")
        if self.min_depth_m > self.max_depth_m:
            raise ValueError("NoiseModel needs min_depth_m <= max_depth_m")
        if self.disparity_step_px > 0 and (self.focal_px <= 0 or self.baseline_m <= 0):
            raise ValueError("NoiseModel: disparity quantization needs focal_px > 0 and baseline_m > 0")

    def replace(self, **changes: Any) -> NoiseModel:
        """A copy with some parameters changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    def sigma_z(self, z: Any, theta: Any | None = None) -> np.ndarray:
        """Axial noise std (metres) at depth ``z`` (metres) and incidence angle ``theta`` (radians, optional)."""
        z = np.asarray(z, dtype=np.float64)
        s = self.sigma_z_const + self.sigma_z_quad * (z - self.sigma_z_offset) ** 2
        if theta is not None and self.sigma_z_angle > 0:
            th = np.minimum(np.asarray(theta, dtype=np.float64), np.radians(89.0))
            s = s + self.sigma_z_angle / np.sqrt(np.maximum(z, 1e-6)) * th**2 / (np.pi / 2 - th) ** 2
        return s

    def quantize(self, depth: Any) -> np.ndarray:
        """Disparity quantization then rounding to ``depth_unit_m``; 0 stays 0. ``(H, W)`` -> ``float64``."""
        d = np.asarray(depth, dtype=np.float64).copy()
        valid = d > 0
        if self.disparity_step_px > 0:
            fb = self.focal_px * self.baseline_m
            steps = np.rint(fb / (d[valid] * self.disparity_step_px))
            dq = np.zeros_like(steps)
            nz = steps > 0
            dq[nz] = fb / (steps[nz] * self.disparity_step_px)
            d[valid] = dq
        if self.depth_unit_m > 0:
            d = np.rint(d / self.depth_unit_m) * self.depth_unit_m
        return d

    def apply(
        self,
        depth: Any,
        rng: np.random.Generator | int | None,
        normals: Any | None = None,
        reflective_mask: Any | None = None,
        intrinsics: Intrinsics | None = None,
    ) -> np.ndarray:
        """Corrupt a clean ``depth (H, W)`` image (metres, 0 = no return); returns ``(H, W) float32``.

        ``normals (H, W, 3)``: camera-frame surface normals (e.g. ``RenderResult.normals_cam``); estimated from the
        depth when needed and not given. ``reflective_mask (H, W) bool``: pixels of reflective surfaces.
        ``intrinsics`` give the viewing rays for incidence angles (default: centred principal point, ``focal_px``
        or 525 px).
        """
        rng = np.random.default_rng(rng)
        d = np.asarray(depth, dtype=np.float64)
        if d.ndim != 2:
            raise ValueError(f"depth must be an (H, W) image, got shape {d.shape}")
        h, w = d.shape
        d = np.where(np.isfinite(d) & (d > 0), d, 0.0)
        if intrinsics is not None:
            if not isinstance(intrinsics, Intrinsics):
                raise TypeError(f"intrinsics must be an Intrinsics, got {type(intrinsics).__name__}")
            if intrinsics.shape != (h, w):
                raise ValueError(f"depth shape {(h, w)} does not match intrinsics {intrinsics.shape}")
        else:
            f = self.focal_px if self.focal_px > 0 else 525.0
            intrinsics = Intrinsics(fx=f, fy=f, cx=(w - 1) / 2.0, cy=(h - 1) / 2.0, width=w, height=h)
        refl = None
        if reflective_mask is not None:
            refl = np.asarray(reflective_mask, dtype=bool)
            if refl.shape != (h, w):
                raise ValueError(f"reflective_mask shape {refl.shape} does not match depth shape {(h, w)}")
        if normals is not None:
            normals = np.asarray(normals, dtype=np.float64)
            if normals.shape != (h, w, 3):
                raise ValueError(f"normals must be shaped (H, W, 3) = {(h, w, 3)}, got {normals.shape}")
        out = np.zeros((h, w), dtype=np.float32)
        rows, cols = np.nonzero(d.any(axis=1))[0], np.nonzero(d.any(axis=0))[0]
        if rows.size == 0:
            return out
        # work on the bounding box of the valid pixels plus a margin wider than any lateral shift or 3x3 window
        m = _MAX_SHIFT_PX + 2
        v0, v1 = max(rows[0] - m, 0), min(rows[-1] + m + 1, h)
        u0, u1 = max(cols[0] - m, 0), min(cols[-1] + m + 1, w)
        crop_intr = Intrinsics(
            fx=intrinsics.fx,
            fy=intrinsics.fy,
            cx=intrinsics.cx - u0,
            cy=intrinsics.cy - v0,
            width=u1 - u0,
            height=v1 - v0,
        )
        out[v0:v1, u0:u1] = self._apply_crop(
            d[v0:v1, u0:u1],
            rng,
            None if normals is None else normals[v0:v1, u0:u1],
            None if refl is None else refl[v0:v1, u0:u1],
            crop_intr,
        )
        return out

    def _apply_crop(
        self,
        d: np.ndarray,
        rng: np.random.Generator,
        normals: np.ndarray | None,
        refl: np.ndarray | None,
        intrinsics: Intrinsics,
    ) -> np.ndarray:
        h, w = d.shape
        d = d.copy()
        needs_theta = self.sigma_z_angle > 0 or self.lateral_sigma_angle > 0 or self.grazing_start_deg < 90.0
        theta = None
        if needs_theta:
            if normals is None:
                normals = estimate_normals(d, intrinsics)
            theta = incidence_angle(normals, intrinsics)

        # 1. lateral noise: read a displaced neighbour (depth, angle and mask travel together)
        if self.lateral_sigma_px > 0 or self.lateral_sigma_angle > 0:
            sig = np.full((h, w), self.lateral_sigma_px)
            if theta is not None and self.lateral_sigma_angle > 0:
                th = np.minimum(theta, np.radians(89.0))
                sig = sig + self.lateral_sigma_angle * th / (np.pi / 2 - th)
            vv, uu = np.mgrid[0:h, 0:w]
            sig = np.minimum(sig, _MAX_SIGMA_PX)
            du = np.clip(np.rint(sig * rng.standard_normal((h, w))), -_MAX_SHIFT_PX, _MAX_SHIFT_PX)
            dv = np.clip(np.rint(sig * rng.standard_normal((h, w))), -_MAX_SHIFT_PX, _MAX_SHIFT_PX)
            su = np.clip(uu + du, 0, w - 1).astype(np.intp)
            sv = np.clip(vv + dv, 0, h - 1).astype(np.intp)
            d = d[sv, su]
            theta = None if theta is None else theta[sv, su]
            refl = None if refl is None else refl[sv, su]

        # 2. flying pixels at depth discontinuities
        if self.flying_prob > 0:
            d = self._flying_pixels(d, rng)

        valid = d > 0
        # 3. axial noise
        if self.sigma_z_const > 0 or self.sigma_z_quad > 0 or self.sigma_z_angle > 0:
            sig = self.sigma_z(d[valid], None if theta is None else theta[valid])
            d[valid] = np.maximum(d[valid] + sig * rng.standard_normal(int(valid.sum())), 1e-6)
        # 4. quantization
        d = self.quantize(d)
        # 5. range
        d[(d < self.min_depth_m) | (d > self.max_depth_m)] = 0.0
        # 6. holes
        drop = np.zeros((h, w), dtype=bool)
        if theta is not None and self.grazing_start_deg < 90.0:
            lo, hi = np.radians(self.grazing_start_deg), np.radians(self.grazing_end_deg)
            p = np.clip((theta - lo) / max(hi - lo, 1e-12), 0.0, 1.0) if hi > lo else (theta >= lo).astype(float)
            drop |= rng.random((h, w)) < p
        if refl is not None and self.reflective_hole_prob > 0:
            drop |= refl & (rng.random((h, w)) < self.reflective_hole_prob)
        if self.dropout_prob > 0:
            drop |= rng.random((h, w)) < self.dropout_prob
        d[drop] = 0.0
        return d.astype(np.float32)

    def __call__(
        self,
        depth: Any,
        intrinsics: Intrinsics | None = None,
        rng: np.random.Generator | int | None = None,
        normals: Any | None = None,
        reflective_mask: Any | None = None,
    ) -> np.ndarray:
        """``noise(depth, intrinsics, rng)``: same as :meth:`apply` with the intrinsics first."""
        return self.apply(depth, rng, normals=normals, reflective_mask=reflective_mask, intrinsics=intrinsics)

    def _flying_pixels(self, d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = d.shape
        pad = np.pad(d, 1, mode="edge")  # replicated borders add no new neighbour values
        big = np.where(pad > 0, pad, np.inf)
        near = np.full((h, w), np.inf)
        far = np.zeros((h, w))
        empty_nb = np.zeros((h, w), dtype=bool)
        for dv in range(3):
            for du in range(3):
                win = pad[dv : dv + h, du : du + w]
                near = np.minimum(near, big[dv : dv + h, du : du + w])
                far = np.maximum(far, win)
                empty_nb |= win <= 0
        valid = d > 0
        edge = valid & (far - near > self.flying_edge_rel * d)
        if self.flying_tail_m > 0:
            silhouette = valid & empty_nb & ~edge
            far = np.where(silhouette, near + self.flying_tail_m, far)
            edge |= silhouette
        pick = edge & (rng.random((h, w)) < self.flying_prob)
        t = rng.random((h, w))
        out = d.copy()
        out[pick] = near[pick] + t[pick] * (far[pick] - near[pick])
        return out


def _rays(intrinsics: Intrinsics) -> np.ndarray:
    vv, uu = np.mgrid[0 : intrinsics.height, 0 : intrinsics.width]
    r = np.stack([(uu - intrinsics.cx) / intrinsics.fx, (vv - intrinsics.cy) / intrinsics.fy, np.ones(uu.shape)], -1)
    return r / np.linalg.norm(r, axis=-1, keepdims=True)


def incidence_angle(normals: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """``(H, W) float64`` angle (radians, in [0, pi/2]) between each pixel's viewing ray and ``normals (H, W, 3)``
    (camera frame, either orientation); pixels with a zero normal get 0."""
    n = np.asarray(normals, dtype=np.float64)
    norm = np.linalg.norm(n, axis=-1)
    cos = np.abs(np.einsum("hwc,hwc->hw", n, _rays(intrinsics))) / np.where(norm > 0, norm, 1.0)
    cos = np.where(norm > 0, cos, 1.0)
    return np.arccos(np.clip(cos, 0.0, 1.0))


def estimate_normals(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """``(H, W, 3) float64`` camera-frame unit normals from a depth image by finite differences of back-projected
    points (per axis the one-sided difference with the smaller depth jump to a valid neighbour); zeros where a
    pixel has no valid neighbour along an axis or no return."""
    d = np.asarray(depth, dtype=np.float64)
    h, w = d.shape
    vv, uu = np.mgrid[0:h, 0:w]
    pts = np.stack([(uu - intrinsics.cx) / intrinsics.fx * d, (vv - intrinsics.cy) / intrinsics.fy * d, d], -1)
    valid = d > 0

    def tangent(axis: int) -> tuple[np.ndarray, np.ndarray]:
        fwd = np.zeros_like(pts)
        bwd = np.zeros_like(pts)
        ok_f = np.zeros((h, w), dtype=bool)
        ok_b = np.zeros((h, w), dtype=bool)
        sl_a = [slice(None)] * 2
        sl_b = [slice(None)] * 2
        sl_a[axis], sl_b[axis] = slice(0, -1), slice(1, None)
        a, b = tuple(sl_a), tuple(sl_b)
        diff = pts[b] - pts[a]
        both = valid[a] & valid[b]
        fwd[a] = diff
        ok_f[a] = both
        bwd[b] = diff
        ok_b[b] = both
        use_f = ok_f & (~ok_b | (np.abs(fwd[..., 2]) <= np.abs(bwd[..., 2])))
        t = np.where(use_f[..., None], fwd, bwd)
        return t, ok_f | ok_b

    tu, oku = tangent(1)
    tv, okv = tangent(0)
    n = np.cross(tu, tv)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    good = valid & oku & okv & (norm[..., 0] > 0)
    return np.where(good[..., None], n / np.where(norm > 0, norm, 1.0), 0.0)


NOISE_PRESETS: dict[str, NoiseModel] = {
    "none": NoiseModel(name="none"),
    "kinect_v1": NoiseModel(
        name="kinect_v1",
        sigma_z_const=0.0012,
        sigma_z_quad=0.0019,
        sigma_z_offset=0.4,
        sigma_z_angle=0.0001,
        lateral_sigma_px=0.8,
        lateral_sigma_angle=0.035,
        focal_px=580.0,
        baseline_m=0.075,
        disparity_step_px=1.0 / 8.0,
        depth_unit_m=0.001,
        min_depth_m=0.4,
        max_depth_m=5.0,
        dropout_prob=0.005,
        grazing_start_deg=70.0,
        grazing_end_deg=85.0,
        reflective_hole_prob=1.0,
        flying_prob=0.3,
        flying_edge_rel=0.05,
        flying_tail_m=0.03,
    ),
    "realsense_d435": NoiseModel(
        name="realsense_d435",
        sigma_z_quad=0.08 / (424.0 * 0.050),
        lateral_sigma_px=0.5,
        focal_px=424.0,
        baseline_m=0.050,
        disparity_step_px=1.0 / 32.0,
        depth_unit_m=0.001,
        min_depth_m=0.17,
        max_depth_m=10.0,
        dropout_prob=0.01,
        grazing_start_deg=75.0,
        grazing_end_deg=88.0,
        reflective_hole_prob=0.8,
        flying_prob=0.5,
        flying_edge_rel=0.05,
        flying_tail_m=0.05,
    ),
}


def noise_preset(name: str | NoiseModel | None) -> NoiseModel:
    """The :class:`NoiseModel` called ``name`` (``none``, ``kinect_v1``, ``realsense_d435``); a ``NoiseModel`` is
    returned unchanged and ``None`` means ``none``. Unknown names raise ``ValueError`` listing the presets."""
    if isinstance(name, NoiseModel):
        return name
    if name is None:
        return NOISE_PRESETS["none"]
    try:
        return NOISE_PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown noise preset {name!r}; choose from {', '.join(NOISE_PRESETS)}") from None
