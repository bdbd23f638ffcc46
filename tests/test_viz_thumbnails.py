"""Static thumbnails: PNG bytes decoded independently, shading/splat geometry checked against analytic answers."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
import trimesh

from implicit3d.sensing.camera import Intrinsics, look_at
from implicit3d.viz.thumbnails import (
    Layer,
    as_rgb,
    colormap,
    completion_thumbnail,
    compose,
    encode_png,
    fit_camera,
    heatmap_image,
    inside_outside_thumbnail,
    level_lines,
    orbit_camera,
    project_points,
    sdf_slice_thumbnail,
    shade_mesh,
    side_by_side,
    sphere_thumbnail,
    splat_points,
    to_uint8,
    write_png,
)

# ----------------------------------------------------------------------------------------------------------------
# an independent PNG decoder (the spec's unfiltering, byte by byte; small images only)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> tuple[np.ndarray, int, list[int]]:
    """``(pixels (H, W, C) uint8, colour type, filter type per row)`` of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, f"bad CRC in {tag!r}"
        chunks.append((tag, body))
        pos += 12 + n
    assert [t for t, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, comp, filt, interlace) == (8, 0, 0, 0)
    c = {2: 3, 6: 4}[ctype]
    raw = zlib.decompress(b"".join(body for t, body in chunks if t == b"IDAT"))
    stride = w * c
    assert len(raw) == h * (stride + 1)
    out = np.zeros((h, stride), dtype=np.int64)
    types = []
    for y in range(h):  # test decoder: plain loops, as the spec describes it
        ft = raw[y * (stride + 1)]
        types.append(ft)
        line = raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        for i in range(stride):
            a = out[y, i - c] if i >= c else 0
            b = out[y - 1, i] if y > 0 else 0
            cc = out[y - 1, i - c] if (y > 0 and i >= c) else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, cc)][ft]
            out[y, i] = (line[i] + pred) & 0xFF
    return out.reshape(h, w, c).astype(np.uint8), ctype, types


def _test_images() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    noisy = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:12, 0:17]
    smooth = np.stack([xx * 15, yy * 20, (xx + yy) * 9, 255 - xx * 3], -1).astype(np.uint8)  # RGBA ramps
    flat = np.full((6, 5, 3), 255, dtype=np.uint8)
    flat[2:4, 1:3] = (10, 200, 30)
    return [noisy, smooth, flat]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_png_round_trips_through_an_independent_decoder(tmp_path, index):
    image = _test_images()[index]
    path = tmp_path / "x.png"
    n = write_png(path, image)
    data = path.read_bytes()
    assert n == len(data)
    assert data == encode_png(image)  # deterministic bytes
    pixels, ctype, _ = decode_png(data)
    assert ctype == (2 if image.shape[2] == 3 else 6)
    assert pixels.shape == image.shape
    np.testing.assert_array_equal(pixels, image)


def test_png_uses_several_filters_and_pillow_reads_it(tmp_path):
    from PIL import Image

    images = _test_images()
    used = set()
    for image in images:
        used.update(decode_png(encode_png(image))[2])
    assert len(used) >= 2  # adaptive filtering really happens (and each kind decodes correctly above)
    big = sphere_thumbnail(size=(64, 48), supersample=1)
    write_png(tmp_path / "s.png", big)
    with Image.open(tmp_path / "s.png") as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), big)


def test_png_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        write_png(tmp_path / "a.png", np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        write_png(tmp_path / "a.png", np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="empty"):
        encode_png(np.zeros((0, 4, 3), dtype=np.uint8))
    assert not (tmp_path / "a.png").exists()


# ----------------------------------------------------------------------------------------------------------------
# shading, splats, compositing


def test_shaded_sphere_covers_the_analytic_disc():
    r, d = 0.3, 1.5
    intr = Intrinsics.from_fov(35.0, 160, 120)
    pose = look_at((d, 0.0, 0.0), (0.0, 0.0, 0.0))
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=r)
    rgb, depth, mask = shade_mesh(mesh, intr, pose, color=(0.5, 0.6, 0.7))
    img = to_uint8(compose([Layer.from_mask(rgb, mask)]))
    covered = (img != 255).any(axis=2)
    rho = intr.fx * r / math.sqrt(d * d - r * r)  # silhouette of a sphere: a circle of this radius in pixels
    expected = math.pi * rho * rho / (intr.width * intr.height)
    assert abs(covered.mean() / expected - 1.0) < 0.03
    np.testing.assert_array_equal(covered, mask)
    assert abs(depth[60, 80] - (d - r)) < 2e-3  # nearest point of the sphere straight ahead
    # headlight from up-left: the upper-left of the disc is brighter than the lower-right
    lum = rgb.sum(axis=2)
    assert lum[60 - 15, 80 - 15] > lum[60 + 15, 80 + 15]


def test_splats_respect_depth_order():
    intr = Intrinsics.from_fov(40.0, 40, 30)
    pose = look_at((0.0, -2.0, 0.0), (0.0, 0.0, 0.0))
    near, far = np.array([0.0, -0.5, 0.0]), np.array([0.0, 0.5, 0.0])  # same pixel, 1.5 m and 2.5 m away
    red, blue = as_rgb("#ff0000"), as_rgb("#0000ff")
    uv, _ = project_points(near[None], intr, pose)
    px = (int(round(uv[0, 1])), int(round(uv[0, 0])))
    for pts, cols in (((near, far), (red, blue)), ((far, near), (blue, red))):  # input order must not matter
        layer = splat_points(np.stack(pts), np.stack(cols), intr, pose, radius_px=2, edge_darkening=0.0)
        np.testing.assert_allclose(layer.rgb[px], red)
        assert layer.alpha[px] == 1.0
        assert layer.alpha.sum() == 13  # one disc of radius 2 (13 pixel centres), the far one fully hidden
    # occlusion against a depth image at 2 m: only the near point survives; behind=True keeps only the far one
    wall = np.full(intr.shape, 2.0)
    both = np.stack([near, far])
    front = splat_points(both, np.stack([red, blue]), intr, pose, radius_px=0, depth=wall)
    back = splat_points(both, np.stack([red, blue]), intr, pose, radius_px=0, depth=wall, behind=True)
    np.testing.assert_allclose(front.rgb[px], red)
    np.testing.assert_allclose(back.rgb[px], blue)
    assert front.alpha.sum() == back.alpha.sum() == 1


def test_compose_paints_layers_in_order():
    a = Layer.from_mask(np.ones((2, 2, 3)) * (1.0, 0.0, 0.0), np.array([[1, 1], [0, 0]], bool))
    b = Layer.from_mask(np.ones((2, 2, 3)) * (0.0, 0.0, 1.0), np.array([[1, 0], [1, 0]], bool), opacity=0.5)
    out = compose([a, b], background=(0.0, 1.0, 0.0))
    np.testing.assert_allclose(out[0, 0], (0.5, 0.0, 0.5))
    np.testing.assert_allclose(out[0, 1], (1.0, 0.0, 0.0))
    np.testing.assert_allclose(out[1, 0], (0.0, 0.5, 0.5))
    np.testing.assert_allclose(out[1, 1], (0.0, 1.0, 0.0))
    with pytest.raises(ValueError, match="at least one"):
        compose([])


def test_orbit_camera_puts_z_up_and_fit_camera_frames_the_points():
    pose = orbit_camera((0.0, 0.0, 0.0), 2.0, azimuth_deg=90.0, elevation_deg=0.0)
    np.testing.assert_allclose(pose[:3, 3], (0.0, 2.0, 0.0), atol=1e-12)
    intr = Intrinsics.from_fov(30.0, 90, 60)
    (top, bottom), _ = project_points(np.array([[0, 0, 0.2], [0, 0, -0.2]]), intr, pose)
    assert top[1] < intr.cy < bottom[1]  # +z is up in the image
    pts = np.random.default_rng(0).uniform((-0.05, -0.1, 0.0), (0.05, 0.1, 0.6), (500, 3)) + (3.0, 1.0, 0.0)
    pose = fit_camera(pts, intr, azimuth_deg=-30.0, elevation_deg=20.0, margin=0.1)
    uv, z = project_points(pts, intr, pose)
    assert (z > 0).all()
    ex = np.abs(uv[:, 0] - intr.cx) / (intr.width / 2)
    ey = np.abs(uv[:, 1] - intr.cy) / (intr.height / 2)
    assert max(ex.max(), ey.max()) <= 1.0  # nothing clipped
    assert max(ex.max(), ey.max()) > 0.8  # and the object fills the frame


# ----------------------------------------------------------------------------------------------------------------
# colour maps and level lines


def test_colormap_ends_reverse_and_two_slope():
    lo, hi = colormap([-1.0, 1.0], -1.0, 1.0)
    np.testing.assert_allclose(lo, np.array([59, 76, 192]) / 255, atol=1e-6)
    np.testing.assert_allclose(hi, np.array([180, 4, 38]) / 255, atol=1e-6)
    np.testing.assert_allclose(colormap([-1.0], -1.0, 1.0, reverse=True)[0], hi, atol=1e-6)
    # two-slope: vmin, vcenter and vmax hit the table's ends and middle even for an asymmetric range
    c = colormap([-0.1, 0.0, 5.0], -0.1, 5.0, vcenter=0.0)
    np.testing.assert_allclose(c[1], np.array([221, 221, 221]) / 255, atol=1e-6)
    np.testing.assert_allclose(c[[0, 2]], np.stack([lo, hi]), atol=1e-6)
    assert colormap(np.zeros((4, 5)), 0, 1, name="viridis").shape == (4, 5, 3)
    with pytest.raises(ValueError, match="unknown colormap"):
        colormap([0.0], 0, 1, name="jet")
    with pytest.raises(ValueError, match="vmin < vmax"):
        colormap([0.0], 1, 1)


def test_heatmap_draws_a_contour_line_where_the_field_crosses_the_level():
    h, w = 20, 31
    field = np.broadcast_to(np.linspace(-1.0, 1.0, w), (h, w)) + 0.013  # crosses 0.25 between columns 18 and 19
    crossing = int(np.nonzero(np.diff(np.sign(field[0] - 0.25)))[0][0])
    img = heatmap_image(field, contours=[0.25], line_color=(0.0, 0.0, 0.0), line_alpha=1.0)
    plain = heatmap_image(field)
    dark = (np.abs(img - plain).sum(axis=2) > 1e-6)
    cols = np.nonzero(dark.any(axis=0))[0]
    assert len(cols) == 1 and cols[0] in (crossing, crossing + 1)  # a one-pixel line at the crossing
    assert dark[:, cols[0]].all()  # along the whole height
    np.testing.assert_allclose(img[:, cols[0]], 0.0)
    bold = heatmap_image(field, bold_levels=[0.25], bold_width=2)
    assert (bold.sum(axis=2) == 0).sum() == 2 * h  # a black line two pixels wide
    # on a radial field, the level line sits within a pixel of the analytic circle
    yy, xx = np.mgrid[0:64, 0:64] - 31.5
    rr = np.hypot(xx, yy)
    line = level_lines(rr, 20.0)
    assert line.sum() > 100
    assert np.abs(rr[line] - 20.0).max() < 1.0


# ----------------------------------------------------------------------------------------------------------------
# thumbnails


def _is_red(img: np.ndarray) -> np.ndarray:
    return (img[..., 0] > 140) & (img[..., 1] < 90) & (img[..., 2] < 90)


def _is_blue(img: np.ndarray) -> np.ndarray:
    return (img[..., 2] > 120) & (img[..., 0] < 90)


def test_inside_outside_thumbnail_has_red_and_blue_points():
    from implicit3d import shapes

    bottle = shapes.generate("bottle", 0).mesh
    img = inside_outside_thumbnail(bottle, np.random.default_rng(0), n_points=1500, size=(180, 150))
    assert img.shape == (150, 180, 3) and img.dtype == np.uint8
    assert _is_red(img).sum() > 50
    assert _is_blue(img).sum() > 200
    assert (img == 255).all(axis=2).mean() > 0.3  # white background
    # red (inside) points lie within the bottle's columns, in the middle of the picture
    red_cols = np.nonzero(_is_red(img).any(axis=0))[0]
    assert red_cols.min() > 180 * 0.25 and red_cols.max() < 180 * 0.75


def test_sdf_slice_thumbnail_is_red_inside_blue_outside_with_a_black_outline():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.1)
    img = sdf_slice_thumbnail(sphere, size=(90, 60), supersample=1)
    assert img.shape == (60, 90, 3)
    centre = img[28:32, 43:47].astype(int)  # deepest inside: red (darkened where an inner level line passes)
    r, g, b = centre[..., 0], centre[..., 1], centre[..., 2]
    assert ((r > 100) & (r > 2 * g) & (r > 2 * b)).all()
    assert _is_blue(img[:3, :3]).all() and _is_blue(img[-3:, -3:]).all()
    black = (img.astype(int).sum(axis=2) < 60)
    ys, xs = np.nonzero(black)
    assert len(ys) > 40
    # the zero level is the sphere's outline: a circle of radius ~0.1 in units where the height spans 2.6 * 0.1
    rr = np.hypot(xs + 0.5 - 45, ys + 0.5 - 30) * (2 * 1.3 * 0.1 / 60)
    assert np.abs(rr - 0.1).max() < 0.012


def test_sphere_and_completion_thumbnails_shapes_and_colours():
    img = sphere_thumbnail(size=(80, 60), gap=4)
    assert img.shape == (60, 164, 3) and img.dtype == np.uint8
    assert _is_red(img[:, 84:]).any() and _is_blue(img[:, 84:]).any()  # the field panel
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    rng = np.random.default_rng(1)
    d = rng.normal(size=(400, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    cloud = 0.3 * d[d[:, 0] < 0]  # the half facing -x
    out = completion_thumbnail(cloud, mesh, gt_mesh=mesh, size=(90, 70), azimuth_deg=180.0, elevation_deg=10.0,
                               gap=6)
    assert out.shape == (70, 186, 3)
    orange = (out[..., 0] > 200) & (out[..., 1] > 100) & (out[..., 1] < 170) & (out[..., 2] < 90)
    assert orange[:, :90].sum() > 50 and not orange[:, 96:].any()  # points only over the completion
    assert (out[:, 96:] != 255).any()  # ground truth drawn


def test_side_by_side_pads_and_rejects_mixed_dtypes():
    a = np.zeros((4, 3, 3), np.uint8)
    b = np.zeros((2, 5, 3), np.uint8)
    out = side_by_side([a, b], gap=2)
    assert out.shape == (4, 10, 3)
    assert (out[:, 3:5] == 255).all() and (out[0, 5:] == 255).all() and (out[1, 5:] == 0).all()
    with pytest.raises(TypeError, match="dtype"):
        side_by_side([a, b.astype(np.float32)])
