"""The README's static thumbnails (``scripts/thumbnails.py``): PNGs decoded by Pillow, objects where the camera or
the field puts them, colours from the right sources."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from implicit3d.sensing.camera import Intrinsics, invert_pose, look_at
from implicit3d.sensing.project import project

_spec = importlib.util.spec_from_file_location("thumbnails", Path(__file__).parents[1] / "scripts" / "thumbnails.py")
T = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(T)


def _png(tmp_path: Path, image: np.ndarray) -> np.ndarray:
    """Write ``image`` with the module's writer and read it back with Pillow."""
    path = tmp_path / "x.png"
    n = T.write_png(path, image)
    assert n == path.stat().st_size
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        return np.asarray(im)


def _is_red(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., k].astype(int) for k in range(3))
    return (r > 60) & (r > 2 * g) & (r > 2 * b)


def _is_blue(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., k].astype(int) for k in range(3))
    return (b > 70) & (b > r + 40) & (b > g)


def test_write_png_round_trips_and_rejects_float(tmp_path):
    image = np.random.default_rng(3).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_png(tmp_path, image), image)
    with pytest.raises(ValueError, match="uint8"):
        T.write_png(tmp_path / "f.png", image.astype(np.float32))
    assert not (tmp_path / "f.png").exists()


def test_colormap_is_plotly_rdbu_two_slope():
    import plotly.colors as pc

    scale = pc.get_colorscale("RdBu")
    low, mid, high = (np.array(pc.unlabel_rgb(scale[i][1])) / 255 for i in (0, len(scale) // 2, -1))
    c = T.colormap([-0.1, 0.0, 5.0, -7.0, 9.0], -0.1, 5.0, vcenter=0.0)  # asymmetric range: ends and middle hit
    np.testing.assert_allclose(c, [low, mid, high, low, high], atol=1e-9)
    np.testing.assert_allclose(T.colormap([0.5], 0.0, 1.0)[0], mid, atol=1e-9)


def test_contour_mask_follows_the_analytic_circle():
    yy, xx = np.mgrid[0:64, 0:64] - 31.5
    rr = np.hypot(xx, yy)
    line = T.contour_mask(rr, [20.0], width=1)
    assert line.sum() > 100  # the whole circle (perimeter ~126 px)
    assert np.abs(rr[line] - 20.0).max() < 1.0
    assert T.contour_mask(rr, [20.0], width=3).sum() > 2.5 * line.sum()


def test_shaded_sphere_covers_the_analytic_disc_lit_from_the_upper_left():
    r, d = 0.3, 1.5
    intr = Intrinsics.from_fov(35.0, 160, 120)
    pose = look_at((d, 0.0, 0.0), (0.0, 0.0, 0.0))
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=r)
    shaded, depth, faces = T.shade_mesh(mesh, intr, pose, color="#8090a0")
    covered = faces >= 0
    rho = intr.fx * r / math.sqrt(d * d - r * r)  # silhouette of a sphere: a circle of this radius in pixels
    assert abs(covered.mean() / (math.pi * rho * rho / (intr.width * intr.height)) - 1.0) < 0.03
    vv, uu = np.nonzero(covered)
    assert abs(uu.mean() - intr.cx) < 0.5 and abs(vv.mean() - intr.cy) < 0.5
    assert abs(depth[60, 80] - (d - r)) < 2e-3  # nearest point of the sphere straight ahead
    assert (shaded[~covered] == 0).all() and (shaded[covered].max(axis=1) > 0.2).all()
    lum = shaded.sum(axis=2)
    assert lum[60 - 15, 80 - 15] > lum[60 + 15, 80 + 15] + 0.3  # the headlight sits up-left of the camera


def test_splats_keep_the_nearest_point_and_respect_a_depth_image():
    intr = Intrinsics.from_fov(40.0, 40, 30)
    pose = look_at((0.0, -2.0, 0.0), (0.0, 0.0, 0.0))
    near, far = np.array([0.0, -0.5, 0.0]), np.array([0.0, 0.5, 0.0])  # same pixel, 1.5 m and 2.5 m away
    red, blue = T.rgb("#ff0000"), T.rgb("#0000ff")
    uv, _ = project(near[None], intr, invert_pose(pose))
    px = (int(round(uv[0, 1])), int(round(uv[0, 0])))
    for pts, cols in (((near, far), (red, blue)), ((far, near), (blue, red))):  # input order must not matter
        img, cover = T.splat_points(np.stack(pts), np.stack(cols), intr, pose, radius_px=2, edge_darkening=0.0)
        np.testing.assert_allclose(img[px], red)
        assert cover.sum() == 13  # one disc of radius 2 (13 pixel centres), the far one fully hidden
    wall = np.full(intr.shape, 2.0)  # a surface at 2 m: only the near point is in front of it
    both, cols = np.stack([near, far]), np.stack([red, blue])
    front, fc = T.splat_points(both, cols, intr, pose, radius_px=0, depth=wall)
    back, bc = T.splat_points(both, cols, intr, pose, radius_px=0, depth=wall, behind=True)
    np.testing.assert_allclose(front[px], red)
    np.testing.assert_allclose(back[px], blue)
    assert fc.sum() == bc.sum() == 1


def test_fit_camera_frames_the_points_with_z_up():
    intr = Intrinsics.from_fov(30.0, 90, 60)
    pose = T.orbit_camera((0.0, 0.0, 0.0), 2.0, azimuth_deg=90.0, elevation_deg=0.0)
    np.testing.assert_allclose(pose[:3, 3], (0.0, 2.0, 0.0), atol=1e-12)
    (top, bottom), _ = project(np.array([[0, 0, 0.2], [0, 0, -0.2]]), intr, invert_pose(pose))
    assert top[1] < intr.cy < bottom[1]  # +z is up in the image
    pts = np.random.default_rng(0).uniform((-0.05, -0.1, 0.0), (0.05, 0.1, 0.6), (500, 3)) + (3.0, 1.0, 0.0)
    uv, z = project(pts, intr, invert_pose(T.fit_camera(pts, intr, azimuth_deg=-30.0, elevation_deg=20.0)))
    e = np.abs(uv - (intr.cx, intr.cy)) / (np.array([intr.width, intr.height]) / 2)
    assert (z > 0).all() and e.max() <= 1.0  # nothing clipped
    assert e.max() > 0.8  # and the object fills the frame


def test_sphere_thumbnail(tmp_path):
    img = _png(tmp_path, T.sphere_thumbnail(size=(80, 60), gap=4))
    assert img.shape == (60, 164, 3)
    left, right = img[:, :80].astype(int), img[:, 84:]
    assert (img[:, 80:84] == 255).all()  # the gap
    drawn = (left != 255).any(axis=2)
    ys, xs = np.nonzero(drawn)
    assert 0.3 < drawn.mean() < 0.7 and abs(xs.mean() - 40) < 3 and abs(ys.mean() - 30) < 3  # sphere centred
    green = left[drawn]
    assert (green[:, 1] >= green[:, 0]).mean() > 0.95 and (green[:, 1] >= green[:, 2]).mean() > 0.95
    assert _is_red(right[27:33, 37:43]).all()  # the field: negative (red) at the centre, blue in the corners
    assert _is_blue(right[:3, :3]).all() and _is_blue(right[-3:, -3:]).all()


def test_inside_outside_thumbnail_puts_red_points_inside_the_bottle(tmp_path):
    from implicit3d import shapes

    bottle = shapes.generate("bottle", 0).mesh
    img = _png(tmp_path, T.inside_outside_thumbnail(bottle, np.random.default_rng(0), n_points=1500,
                                                    size=(180, 150)))
    assert img.shape == (150, 180, 3)
    red, blue = _is_red(img), _is_blue(img)
    assert red.sum() > 50 and blue.sum() > 200
    assert (img == 255).all(axis=2).mean() > 0.3  # white background
    red_cols = np.nonzero(red.any(axis=0))[0]
    blue_cols = np.nonzero(blue.any(axis=0))[0]
    assert red_cols.min() > 180 * 0.3 and red_cols.max() < 180 * 0.7  # inside: the bottle in the middle
    assert blue_cols.min() < 180 * 0.1 and blue_cols.max() > 180 * 0.9  # outside: across the whole slab


def test_sdf_slice_thumbnail_outlines_a_sphere_in_black(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.1)
    img = _png(tmp_path, T.sdf_slice_thumbnail(sphere, size=(90, 60), supersample=1))
    assert img.shape == (60, 90, 3)
    assert _is_red(img[28:32, 43:47]).all()  # deepest inside
    assert _is_blue(img[:3, :3]).all() and _is_blue(img[-3:, -3:]).all()
    ys, xs = np.nonzero(img.astype(int).sum(axis=2) < 60)
    assert len(ys) > 40
    # the zero level is the sphere's outline: radius 0.1 where the image height spans 2 * 1.3 * 0.1
    rr = np.hypot(xs + 0.5 - 45, ys + 0.5 - 30) * (2 * 1.3 * 0.1 / 60)
    assert np.abs(rr - 0.1).max() < 0.012


def test_completion_thumbnail_draws_points_over_the_completion_only(tmp_path):
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    d = np.random.default_rng(1).normal(size=(400, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    cloud = 0.3 * d[d[:, 0] < 0]  # the half facing -x, where the camera looks from
    out = _png(tmp_path, T.completion_thumbnail(cloud, mesh, gt_mesh=mesh, size=(90, 70), azimuth_deg=180.0,
                                                elevation_deg=10.0, gap=6))
    assert out.shape == (70, 186, 3)
    orange = (out[..., 0] > 200) & (out[..., 1] > 100) & (out[..., 1] < 170) & (out[..., 2] < 90)
    assert orange[:, :90].sum() > 50 and not orange[:, 90:].any()  # points only over the completion
    gt = out[:, 96:].astype(int)
    drawn = (gt != 255).any(axis=2)
    assert 0.2 < drawn.mean() < 0.8 and (gt[drawn][:, 1] > gt[drawn][:, 2]).mean() > 0.95  # green ground truth
    single = T.completion_thumbnail(cloud, mesh, size=(90, 70), azimuth_deg=180.0, elevation_deg=10.0)
    np.testing.assert_array_equal(single, out[:, :90])  # the same camera with or without the ground truth


def test_tile_pads_with_white():
    a, b = np.zeros((4, 3, 3), np.uint8), np.zeros((2, 5, 3), np.uint8)
    out = T.tile([a, b], gap=2)
    assert out.shape == (4, 10, 3)
    assert (out[:, 3:5] == 255).all() and (out[2:, 5:] == 255).all() and (out[:2, 5:] == 0).all()
    assert T.tile([a, b], gap=1, axis=0).shape == (7, 5, 3)
