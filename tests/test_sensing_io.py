"""Depth images and intrinsics as people have them: BOP's per-image entries and depth scale."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from implicit3d.errors import InputWarning
from implicit3d.sensing.camera import Intrinsics
from implicit3d.sensing.io import SensingFileError, read_depth_scale, read_intrinsics, write_depth_png

K0 = [[600.0, 0, 320.0], [0, 601.0, 240.0], [0, 0, 1]]
K7 = [[1066.0, 0, 312.0], [0, 1067.0, 241.0], [0, 0, 1]]


def _bop(tmp_path, scale7=0.1):
    path = tmp_path / "scene_camera.json"
    path.write_text(json.dumps({"0": {"cam_K": list(np.reshape(K0, -1)), "depth_scale": 1.0},
                                "7": {"cam_K": list(np.reshape(K7, -1)), "depth_scale": scale7}}))
    return path


def test_bop_entry_of_the_depth_image_by_its_number(tmp_path) -> None:
    path = _bop(tmp_path)
    with pytest.warns(InputWarning, match="2 frames have different cam_K; no depth image named"):
        first = read_intrinsics(path, size=(480, 640))
    assert (first.fx, first.cx) == (600.0, 320.0)
    mine = read_intrinsics(path, size=(480, 640), image=tmp_path / "depth" / "000007.png")
    assert mine == Intrinsics(fx=1066.0, fy=1067.0, cx=312.0, cy=241.0, width=640, height=480)
    # a file name that is not a BOP number, or a number the file lacks: the first entry, with a warning
    with pytest.warns(InputWarning, match="no entry for frame.png, so the cam_K of frame '0' is used"):
        assert read_intrinsics(path, size=(480, 640), image="frame.png") == first
    with pytest.warns(InputWarning, match="no entry for 000003.png"):
        assert read_intrinsics(path, size=(480, 640), image="000003.png") == first
    # BOP: millimetres per depth unit; here: depth units per metre
    assert read_depth_scale(path, image="000007.png") == pytest.approx(10000.0)
    assert read_depth_scale(path) == pytest.approx(1000.0)
    k_json = tmp_path / "K.json"
    k_json.write_text(json.dumps({"fx": 600, "fy": 600, "cx": 320, "cy": 240, "width": 640, "height": 480}))
    assert read_depth_scale(k_json) is None
    np.savetxt(tmp_path / "K.txt", K0)
    assert read_depth_scale(tmp_path / "K.txt") is None
    with pytest.raises(SensingFileError, match="depth_scale"):
        read_depth_scale(_bop(tmp_path, scale7=-1), image="7.png")


def test_depth_png_scale_and_the_no_data_value(tmp_path) -> None:
    """A depth scale must be a positive number; a depth that would be stored as 65535 (the drivers' "no data") is
    refused at writing, so what is written reads back."""
    from implicit3d.sensing.io import read_depth_png

    d = np.full((2, 2), 1.5)
    for scale in (0, -1000, float("nan"), "mm"):
        with pytest.raises(ValueError, match="depth_scale is the PNG's units per metre"):
            write_depth_png(tmp_path / "d.png", d, depth_scale=scale)
    with pytest.raises(ValueError, match="overflows a 16-bit PNG"):
        write_depth_png(tmp_path / "d.png", np.full((2, 2), 65.535))
    write_depth_png(tmp_path / "d.png", np.full((2, 2), 65.534))
    np.testing.assert_allclose(read_depth_png(tmp_path / "d.png"), 65.534, rtol=1e-6)
    with pytest.raises(ValueError, match="depth_scale"):
        read_depth_png(tmp_path / "d.png", depth_scale=0)


def test_depth_scale_option_takes_the_bop_scale_unless_given(tmp_path, capsys) -> None:
    from implicit3d.commands.options import depth_scale
    from implicit3d.data.pointcloud_io import depth_observation
    from implicit3d.errors import UserError

    path = _bop(tmp_path)
    depth = np.zeros((480, 640), np.float32)
    depth[200:280, 300:340] = 0.75  # metres
    png = tmp_path / "000007.png"
    write_depth_png(png, depth, depth_scale=10000.0)  # YCB-Video's 0.1 mm units
    scale = depth_scale(argparse.Namespace(depth_scale=None, quiet=False), png, path)
    said = capsys.readouterr().out.strip().splitlines()
    assert scale == pytest.approx(10000.0) and len(said) == 1 and "scene_camera.json" in said[0]
    assert depth_scale(argparse.Namespace(depth_scale=None, quiet=True), png, path) == scale
    assert capsys.readouterr().out == ""  # --quiet: nothing said
    pts = depth_observation(png, path, depth_scale=scale)
    np.testing.assert_allclose(pts[:, 2], 0.75, atol=1e-4)  # read as millimetres it would be 7.5 m
    assert depth_scale(argparse.Namespace(depth_scale=5000.0), png, path) == 5000.0
    assert depth_scale(argparse.Namespace(depth_scale=None), png, None) == 1000.0
    with pytest.raises(UserError, match="--depth-scale"):
        depth_scale(argparse.Namespace(depth_scale=0.0), png, path)
    # a bare 3x3 matrix takes its image size from the depth image (complete as well as scene)
    np.savetxt(tmp_path / "K.txt", K7)
    pts_txt = depth_observation(png, tmp_path / "K.txt", depth_scale=scale)
    np.testing.assert_allclose(pts_txt, pts, atol=1e-9)


def test_the_stated_depth_scale_applies_to_every_integer_depth_image(tmp_path, capsys) -> None:
    """A BOP depth_scale is the units of a 16-bit TIFF or an integer .npy as of a PNG; float metres take none."""
    from PIL import Image

    from implicit3d.commands.options import depth_scale
    from implicit3d.sensing.io import depth_has_units

    path = _bop(tmp_path)
    units = np.full((480, 640), 7500, np.uint16)  # 0.75 m in 0.1 mm units
    Image.fromarray(units).save(tmp_path / "000007.tif")
    np.save(tmp_path / "000007.npy", units)
    np.save(tmp_path / "metres.npy", np.full((4, 4), 0.75, np.float32))
    Image.fromarray(np.full((4, 4), 0.75, np.float32)).save(tmp_path / "metres.tif")
    args = argparse.Namespace(depth_scale=None, quiet=True)
    for name in ("000007.tif", "000007.npy"):
        assert depth_has_units(tmp_path / name)
        assert depth_scale(args, tmp_path / name, path) == pytest.approx(10000.0)
    for name in ("metres.npy", "metres.tif", "missing.tif", "cloud.ply"):
        assert not depth_has_units(tmp_path / name)
        assert depth_scale(args, tmp_path / name, path) == 1000.0
    assert capsys.readouterr().out == ""


def test_a_folder_given_as_intrinsics_is_named_as_one(tmp_path) -> None:
    with pytest.raises(SensingFileError, match=r"is a folder; the intrinsics file was expected"):
        read_intrinsics(tmp_path)


def test_ycb_video_meta_mat_gives_k_and_the_depth_scale(tmp_path, capsys) -> None:
    """A YCB-Video ``*-meta.mat``: ``intrinsic_matrix`` (3x3) and ``factor_depth`` (units per metre), as MATLAB v5."""
    from scipy.io import savemat

    from implicit3d.commands.options import depth_scale

    k = np.array([[1066.778, 0, 312.9869], [0, 1067.487, 241.3109], [0, 0, 1]])
    savemat(tmp_path / "000001-meta.mat", {"intrinsic_matrix": k, "factor_depth": np.array([[10000]]),
                                           "cls_indexes": np.array([[1], [4]])})
    got = read_intrinsics(tmp_path / "000001-meta.mat", size=(480, 640))
    assert (got.fx, got.fy, got.cx, got.cy, got.width, got.height) == (1066.778, 1067.487, 312.9869, 241.3109, 640,
                                                                       480)
    assert read_depth_scale(tmp_path / "000001-meta.mat") == 10000.0
    write_depth_png(tmp_path / "000001-depth.png", np.full((480, 640), 0.9, np.float32), depth_scale=10000.0)
    args = argparse.Namespace(depth_scale=None, quiet=False)
    assert depth_scale(args, tmp_path / "000001-depth.png", tmp_path / "000001-meta.mat") == 10000.0
    assert "from the factor_depth of" in capsys.readouterr().out
    savemat(tmp_path / "other.mat", {"poses": np.eye(4)})
    with pytest.raises(SensingFileError, match="no intrinsic_matrix"):
        read_intrinsics(tmp_path / "other.mat", size=(480, 640))
    assert read_depth_scale(tmp_path / "other.mat") is None
    (tmp_path / "bad.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(SensingFileError, match="not a readable .mat file"):
        read_intrinsics(tmp_path / "bad.mat")


def _rig(cameras: list[tuple[list[str], list[float]]]) -> dict:
    return {"rig": {"camera": [{"camera_model": {"type": "Poly3", "width": 640, "height": 480, "param_names": names,
                                                 "params": params}, "pose": np.eye(4)[:3].tolist()}
                               for names, params in cameras]}}


def test_posecnn_rig_gives_its_first_camera_and_says_so(tmp_path) -> None:
    """PoseCNN's ``camera.json``: a rig of an RGB camera (first; the depth is registered to it) and a depth camera."""
    from implicit3d.errors import InputWarning

    path = tmp_path / "camera.json"
    path.write_text(json.dumps(_rig([(["fu", "fv", "u0", "v0", "k1", "k2", "k3"],
                                      [1066.778, 1067.487, 312.9869, 241.3109, 0.04, -0.48, 1.89]),
                                     (["fu", "fv", "u0", "v0"], [567.6, 568.2, 310.1, 242.8])])))
    with pytest.warns(InputWarning, match="a rig of 2 cameras; the first is used"):
        got = read_intrinsics(path)
    assert got == Intrinsics(fx=1066.778, fy=1067.487, cx=312.9869, cy=241.3109, width=640, height=480)
    one = tmp_path / "one.json"
    one.write_text(json.dumps(_rig([(["fx", "fy", "cx", "cy"], [600.0, 601.0, 320.0, 240.0])])))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one camera: nothing to say
        assert read_intrinsics(one) == Intrinsics(fx=600.0, fy=601.0, cx=320.0, cy=240.0, width=640, height=480)
        twins = tmp_path / "twins.json"  # PoseCNN's RGBDScene rig: two identical cameras
        twins.write_text(json.dumps(_rig([(["fx", "fy", "cx", "cy"], [600.0, 601.0, 320.0, 240.0])] * 2)))
        assert read_intrinsics(twins) == read_intrinsics(one)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_rig([(["fu", "fv", "u0"], [600.0, 601.0, 320.0])])))
    with pytest.raises(SensingFileError, match=r"bad.json: the rig's first camera has no v0 or cy"):
        read_intrinsics(bad)
    bad.write_text(json.dumps({"rig": {"camera": []}}))
    with pytest.raises(SensingFileError, match="lists no camera"):
        read_intrinsics(bad)


def test_a_colour_image_is_read_as_rgb_whatever_its_mode(tmp_path) -> None:
    """`scene --color` takes what cameras and tools save: RGB, RGBA (alpha dropped), grey (repeated), palette; a
    missing or unreadable file is named."""
    from PIL import Image

    from implicit3d.sensing.io import read_label_image

    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full((6, 8), 128, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    for name in ("rgb", "rgba"):
        got = read_label_image(tmp_path / f"{name}.png", color=True)
        assert got.dtype == np.uint8 and got.shape == (6, 8, 3)
        np.testing.assert_array_equal(got, rgb)
    np.testing.assert_array_equal(read_label_image(tmp_path / "grey.png", color=True), np.repeat(rgb[..., :1], 3, 2))
    assert read_label_image(tmp_path / "palette.png", color=True).shape == (6, 8, 3)
    (tmp_path / "bad.png").write_text("not a picture")
    for name in ("bad.png", "missing.png"):
        with pytest.raises(SensingFileError, match=name.replace(".", r"\.")):
            read_label_image(tmp_path / name, color=True)


def test_depth_and_intrinsics_as_other_tools_save_them(tmp_path) -> None:
    """A 16-bit TIFF is depth in --depth-scale units like a PNG; an (H, W, 1) .npy is an image; a float depth in
    millimetres is named as such; a pyrealsense2 intrinsics dict (ppx, ppy) is read; 12 numbers get the
    projection-matrix hint."""
    from PIL import Image

    from implicit3d.data.pointcloud_io import read_depth
    from implicit3d.sensing.io import as_intrinsics

    mm = np.full((6, 8), 800, np.uint16)
    mm[0, 0] = 0
    Image.fromarray(mm).save(tmp_path / "d16.tif")
    got = read_depth(tmp_path / "d16.tif", 1000.0, usual=None)
    assert got[0, 0] == 0 and np.allclose(got[1:, 1:], 0.8)
    np.testing.assert_allclose(read_depth(tmp_path / "d16.tif", 10000.0, usual=None)[1, 1], 0.08)
    np.save(tmp_path / "d1.npy", np.full((6, 8, 1), 0.8))
    assert read_depth(tmp_path / "d1.npy", usual=None).shape == (6, 8)
    np.save(tmp_path / "mm.npy", np.full((6, 8), 800.0))
    with pytest.warns(InputWarning, match=r"mm\.npy: the median depth is 800 m.*looks like millimetres"):
        read_depth(tmp_path / "mm.npy", usual=(0.15, 3.0))
    rs = {"width": 640, "height": 480, "ppx": 321.5, "ppy": 238.9, "fx": 615.3, "fy": 615.1, "model": "brown_conrady",
          "coeffs": [0.0] * 5}
    k = as_intrinsics(rs, (480, 640))
    assert (k.cx, k.cy, k.fx, k.width) == (321.5, 238.9, 615.3, 640)
    assert as_intrinsics({**rs, "cx": 300.0, "cy": 200.0}, (480, 640)).cx == 300.0  # cx/cy given: they count
    (tmp_path / "P.txt").write_text("615 0 320 0\n0 615 240 0\n0 0 1 0\n")
    with pytest.raises(SensingFileError, match=r"P\.txt: .*12 numbers are a 3x4 projection matrix P"):
        read_intrinsics(tmp_path / "P.txt", size=(480, 640))


def test_a_k_for_another_resolution_is_warned_about(tmp_path) -> None:
    """A bare 3x3 K (no image size) whose principal point lies far from the depth image's centre was made for
    another resolution (a 640x480 K with a 320x240 image puts the objects at half size): a one-line warning; a K
    that fits says nothing."""
    import warnings

    (tmp_path / "K.txt").write_text("525 0 319.5\n0 525 239.5\n0 0 1\n")
    with pytest.warns(InputWarning, match=r"K\.txt: the principal point \(319\.5, 239\.5\) lies far from the centre"):
        read_intrinsics(tmp_path / "K.txt", size=(240, 320))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        assert read_intrinsics(tmp_path / "K.txt", size=(480, 640)).cx == 319.5
