"""Reading user observations: PCD viewpoints, organized clouds, float TIFF depth, no-data pixels, odd depth."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image

from implicit3d.data.pointcloud_io import (
    CLOSE_RANGE_DEPTH_M,
    PointCloudFileError,
    check_cloud,
    check_sensor_frame,
    pcd_bytes,
    read_depth,
    read_observation,
)
from implicit3d.errors import InputWarning


def _cloud(n=200, centre=(0.0, 0.0, 0.6)):
    return np.random.default_rng(0).normal(size=(n, 3)) * 0.03 + np.asarray(centre)


def test_masks_as_people_save_them(tmp_path) -> None:
    """A mask saved as RGBA or grey + alpha (opaque) is read from its colour, one drawn as transparency from its
    alpha; a JPEG's compression noise around the object is left out, with a note."""
    from implicit3d.data.pointcloud_io import read_mask

    want = np.zeros((40, 50), bool)
    want[10:25, 15:40] = True
    grey = np.where(want, 255, 0).astype(np.uint8)
    Image.fromarray(grey).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(grey).convert("LA").save(tmp_path / "la.png")
    alpha = np.zeros((40, 50, 4), np.uint8)
    alpha[..., 3] = grey  # black everywhere, the object opaque
    Image.fromarray(alpha, "RGBA").save(tmp_path / "alpha.png")
    for name in ("rgba.png", "la.png", "alpha.png"):
        np.testing.assert_array_equal(read_mask(tmp_path / name, want.shape), want, err_msg=name)
    Image.fromarray(grey).save(tmp_path / "m.jpg", quality=60)
    assert (np.array(Image.open(tmp_path / "m.jpg")) != 0).sum() > want.sum()  # JPEG rings around the object
    with pytest.warns(InputWarning, match="a JPEG mask .* faint non-zero pixels"):
        got = read_mask(tmp_path / "m.jpg", want.shape)
    assert (got != want).sum() <= 0.02 * want.sum()


def test_points_as_columns_and_integer_depth(tmp_path) -> None:
    """A (4, N) homogeneous or (3, N) array is refused with the hint to transpose it; an integer .npy depth image is
    a raw sensor image in depth_scale units, a float one metres."""
    pts = _cloud(100)
    for arr in (pts.T, np.vstack([pts.T, np.ones(100)])):
        with pytest.raises(PointCloudFileError, match=r"holds points as columns: .*points\[:3\]\.T"):
            check_cloud(arr, "cloud.npy")
    depth = np.full((8, 10), 0.75)
    np.save(tmp_path / "raw.npy", np.round(depth * 10000).astype(np.uint16))
    np.save(tmp_path / "m.npy", depth)
    np.testing.assert_allclose(read_depth(tmp_path / "raw.npy", 10000.0), 0.75)
    np.testing.assert_allclose(read_depth(tmp_path / "m.npy"), 0.75)
    with pytest.warns(InputWarning, match="a float depth image is metres: depth scale 10000 not used"):
        np.testing.assert_allclose(read_depth(tmp_path / "m.npy", 10000.0), 0.75)
    raw = np.round(depth * 10000).astype(np.uint16)
    raw[0, :3] = 65535  # a driver's "no data", as in a PNG
    np.save(tmp_path / "nodata.npy", raw)
    with pytest.warns(InputWarning, match="3 pixels hold 65535"):
        got = read_depth(tmp_path / "nodata.npy", 10000.0)
    assert (got[0, :3] == 0).all() and np.allclose(got[1:], 0.75)


def test_no_return_zeros_of_an_unorganized_cloud_are_dropped() -> None:
    pts = _cloud(300)
    with pytest.warns(InputWarning, match="100 of 400 points are exactly \\(0, 0, 0\\), a sensor's 'no return'"):
        got, dropped = check_cloud(np.vstack([pts, np.zeros((100, 3))]), "scan.ply")
    assert len(got) == 300 and dropped == 100
    got, dropped = check_cloud(np.vstack([pts, np.zeros((1, 3))]), "scan.ply")  # one point at the origin: kept
    assert len(got) == 301 and dropped == 0
    with pytest.warns(InputWarning, match="2 of 302 points"):  # two are no returns, however few
        got, dropped = check_cloud(np.vstack([pts, np.zeros((2, 3))]), "scan.ply")
    assert len(got) == 300


def test_an_organized_pcd_drops_its_no_return_points_as_an_organized_npy(tmp_path) -> None:
    """PCL / ROS organized clouds (HEIGHT > 1) mark no-returns with NaN: dropped with a note, no --drop-invalid."""
    grid = np.full((6, 8, 3), np.nan)
    grid[1:5, 2:7] = _cloud(20).reshape(4, 5, 3)
    raw = pcd_bytes(grid.reshape(-1, 3)).replace(b"WIDTH 48\nHEIGHT 1", b"WIDTH 8\nHEIGHT 6")
    (tmp_path / "org.pcd").write_bytes(raw)
    with pytest.warns(InputWarning, match="an organized .* 28 invalid"):
        obs = read_observation(tmp_path / "org.pcd")
    assert len(obs.points) == 20 and obs.dropped == 28
    flat = pcd_bytes(grid.reshape(-1, 3))
    (tmp_path / "flat.pcd").write_bytes(flat)
    with pytest.raises(PointCloudFileError, match="NaN"):  # a flat cloud with NaN still asks for --drop-invalid
        read_observation(tmp_path / "flat.pcd")


def test_a_mask_selects_points_of_an_organized_cloud(tmp_path) -> None:
    """An organized cloud (.npy, .npz, .pcd with HEIGHT > 1) takes a mask image as a depth image does: one pixel
    per point, its invalid points left out; a flat cloud, a mask of another size or one selecting nothing is
    refused naming the file."""
    grid = np.full((6, 8, 3), np.nan)
    grid[1:5, 2:7] = _cloud(20).reshape(4, 5, 3)
    mask = np.zeros((6, 8), np.uint8)
    mask[0:3, 0:8] = 255  # rows 0-2: row 0 is all no-return, rows 1-2 hold 10 points
    Image.fromarray(mask).save(tmp_path / "m.png")
    np.save(tmp_path / "org.npy", grid)
    np.savez(tmp_path / "org.npz", points=grid)
    raw = pcd_bytes(grid.reshape(-1, 3)).replace(b"WIDTH 48\nHEIGHT 1", b"WIDTH 8\nHEIGHT 6")
    (tmp_path / "org.pcd").write_bytes(raw)
    for name in ("org.npy", "org.npz", "org.pcd"):
        obs = read_observation(tmp_path / name, mask=tmp_path / "m.png")
        np.testing.assert_allclose(obs.points, grid[1:3, 2:7].reshape(-1, 3))
    np.save(tmp_path / "flat.npy", grid[1:5, 2:7].reshape(-1, 3))
    with pytest.raises(PointCloudFileError, match=r"m\.png: --mask needs an organized cloud .*flat\.npy"):
        read_observation(tmp_path / "flat.npy", mask=tmp_path / "m.png")
    Image.fromarray(np.zeros((6, 9), np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(PointCloudFileError, match=r"wide\.png.*pixels"):
        read_observation(tmp_path / "org.npy", mask=tmp_path / "wide.png")
    only_holes = np.zeros((6, 8), np.uint8)
    only_holes[0] = 1
    Image.fromarray(only_holes).save(tmp_path / "holes.png")
    with pytest.raises(PointCloudFileError, match=r"holes\.png: the mask selects no valid point"):
        read_observation(tmp_path / "org.npy", mask=tmp_path / "holes.png")


def test_obj_vertices_are_a_cloud(tmp_path) -> None:
    from implicit3d.data.pointcloud_io import read_point_cloud

    pts = _cloud(50)
    (tmp_path / "cloud.obj").write_text("# CloudCompare\n" + "".join(f"v {x} {y} {z}\n" for x, y, z in pts))
    got, dropped = read_point_cloud(tmp_path / "cloud.obj")
    np.testing.assert_allclose(got, pts, rtol=1e-12)
    assert dropped == 0
    (tmp_path / "mesh.obj").write_text("v 0 0 0.5\nv 1 0 0.5\nv 0 1 0.5\nv 0 0 1.5\nf 1 2 3\nf 1 2 4\n")
    got, _ = read_point_cloud(tmp_path / "mesh.obj")  # a mesh OBJ: its vertices, faces ignored (as a mesh PLY)
    assert got.shape == (4, 3)
    (tmp_path / "bad.obj").write_text("")
    with pytest.raises(PointCloudFileError, match="bad.obj"):
        read_point_cloud(tmp_path / "bad.obj")


def test_pcd_viewpoint_is_read_unless_identity(tmp_path) -> None:
    raw = pcd_bytes(_cloud())
    (tmp_path / "id.pcd").write_bytes(raw)
    assert read_observation(tmp_path / "id.pcd").viewpoint is None  # the default says nothing
    (tmp_path / "v.pcd").write_bytes(raw.replace(b"VIEWPOINT 0 0 0 1 0 0 0", b"VIEWPOINT 0.5 -1 2 1 0 0 0"))
    obs = read_observation(tmp_path / "v.pcd")
    np.testing.assert_allclose(obs.viewpoint, [0.5, -1.0, 2.0])


def test_organized_cloud_is_flattened_and_invalid_points_dropped() -> None:
    grid = _cloud(12).reshape(3, 4, 3)
    grid[0, 0] = np.nan
    grid[1, 2] = 0.0
    with pytest.warns(InputWarning, match="organized.*2 invalid"):
        pts, dropped = check_cloud(grid, "o.npy")
    assert pts.shape == (10, 3) and dropped == 2


def test_complex_and_huge_clouds_refused() -> None:
    with pytest.raises(PointCloudFileError, match="complex"):
        check_cloud(np.ones((5, 3)) * 1j, "c.npy")
    with pytest.raises(PointCloudFileError, match="too large"):
        check_cloud(np.full((5, 3), 1e300), "h.npy")


def test_sensor_frame_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_sensor_frame(_cloud(), "cam.npy")  # 0.6 m in front of the sensor: fine
    with pytest.warns(InputWarning, match="w.npy.*--viewpoint"):
        assert not check_sensor_frame(_cloud(centre=(0.01, 0.0, 0.02)), "w.npy")


def test_float_tiff_depth_in_metres(tmp_path) -> None:
    depth = np.zeros((30, 40), np.float32)
    depth[10:20, 10:30] = 0.75
    depth[0, 0] = np.nan
    Image.fromarray(depth).save(tmp_path / "d.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sane depth gives no warning
        got = read_depth(tmp_path / "d.tif")
    assert got.dtype == np.float64 and got[15, 15] == pytest.approx(0.75) and got[0, 0] == 0.0
    (tmp_path / "K.json").write_text(json.dumps({"fx": 40, "fy": 40, "cx": 19.5, "cy": 14.5, "width": 40,
                                                 "height": 30}))
    obs = read_observation(tmp_path / "d.tif", intrinsics=tmp_path / "K.json")
    assert obs.kind == "depth" and len(obs.points) == 200 and np.allclose(obs.points[:, 2], 0.75, atol=1e-6)


def test_png_no_data_and_odd_depth(tmp_path) -> None:
    units = np.zeros((30, 40), np.uint16)
    units[10:20, 10:30] = 600
    units[0, :] = 65535
    Image.fromarray(units).save(tmp_path / "d.png")
    with pytest.warns(InputWarning, match="40 pixels hold 65535"):
        got = read_depth(tmp_path / "d.png")
    assert got.max() == pytest.approx(0.6) and (got[0] == 0).all()
    Image.fromarray((units == 600).astype(np.uint16)).save(tmp_path / "m.png")  # metres saved as mm: 0 or 1
    with pytest.warns(InputWarning, match="median depth is 0.001 m.*--depth-scale"):
        read_depth(tmp_path / "m.png")


def test_tabletop_range_names_the_scale_that_fits(tmp_path) -> None:
    """A YCB-Video / PoseCNN frame (1/10000 m units) read as millimetres: 9.6 m is a possible depth for a sensor, so
    the general check is silent, but not for a tabletop frame, and the warning names the scale that fits."""
    units = np.zeros((30, 40), np.uint16)
    units[5:25, 5:35] = 9640
    Image.fromarray(units).save(tmp_path / "ycb.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_depth(tmp_path / "ycb.png")
    with pytest.warns(InputWarning, match=r"9\.6 m, outside the usual 0\.15-3 m of close-range.*--depth-scale 10000.*"
                                          r"0\.964 m"):
        read_depth(tmp_path / "ycb.png", usual=CLOSE_RANGE_DEPTH_M)
    with warnings.catch_warnings():  # read at its own scale: silent
        warnings.simplefilter("error")
        got = read_depth(tmp_path / "ycb.png", 10000.0, usual=CLOSE_RANGE_DEPTH_M)
    assert got.max() == pytest.approx(0.964)
    units[units > 0] = 40000  # 40 m as mm, 4 m at 1/10000 m: no common scale brings it to 0.15-3 m
    Image.fromarray(units).save(tmp_path / "far.png")
    with pytest.warns(InputWarning) as caught:
        read_depth(tmp_path / "far.png", usual=CLOSE_RANGE_DEPTH_M)
    assert "it would be" not in str(caught[0].message)


def test_too_few_points_names_the_file(tmp_path) -> None:
    (tmp_path / "a.xyz").write_text("0 0 1\n1 0 1\n")
    with pytest.raises(PointCloudFileError, match=r"a\.xyz: 2 points: at least 4"):
        read_observation(tmp_path / "a.xyz")



def test_a_cloud_given_as_a_depth_image_is_named_by_its_size_before_any_depth_warning(tmp_path) -> None:
    """A 2-column .npy given with intrinsics is read as a (2253, 2) depth image: the size mismatch is the error, and
    no warning about its 'median depth' comes first."""
    import json
    import warnings

    from implicit3d.data.pointcloud_io import PointCloudFileError, depth_observation

    np.save(tmp_path / "half.npy", np.random.default_rng(0).uniform(0.0, 0.05, (2253, 2)))
    (tmp_path / "K.json").write_text(json.dumps({"fx": 100, "fy": 100, "cx": 80, "cy": 60, "width": 160,
                                                 "height": 120}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PointCloudFileError, match=r"half\.npy: the depth image is 2x2253 pixels but"):
            depth_observation(tmp_path / "half.npy", tmp_path / "K.json")
