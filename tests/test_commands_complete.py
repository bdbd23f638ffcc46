"""`implicit3d complete` end to end: depth image / point cloud files -> mesh in the input frame; error cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from completion_fixtures import object_mesh, render_view
from implicit3d.cli import main
from implicit3d.data.pointcloud_io import pcd_bytes, read_observation
from implicit3d.sensing import depth_to_points, write_depth_png, write_intrinsics_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    """Depth PNG + intrinsics JSON of a bottle-like mesh, and the camera-frame cloud they back-project to."""
    d = tmp_path_factory.mktemp("view")
    depth, intr, _ = render_view(object_mesh())
    write_depth_png(d / "depth.png", depth)
    write_intrinsics_json(d / "K.json", intr)
    np.save(d / "depth.npy", depth)
    depth_mm = np.rint(depth * 1000.0) / 1000.0
    cloud = np.asarray(depth_to_points(depth_mm.astype(np.float64), intr), dtype=np.float64)
    return {"dir": d, "png": d / "depth.png", "K": d / "K.json", "npy": d / "depth.npy", "cloud": cloud,
            "depth": depth}


def _overlap(a_lo, a_hi, b_lo, b_hi) -> bool:
    return bool(np.all(np.minimum(a_hi, b_hi) > np.maximum(a_lo, b_lo)))


def test_depth_png_round_trip_with_html(run_dir, view, tmp_path, capsys) -> None:
    out, html = tmp_path / "mesh.ply", tmp_path / "view.html"
    # one pass (--turns 1): this checks the framing of a single view, which an ensemble of turned copies blurs
    rc = main(["complete", str(view["png"]), "--intrinsics", str(view["K"]), "-o", str(out), "--turns", "1",
               "--checkpoint", str(run_dir), "--resolution", "32", "--html", str(html)])
    assert rc == 0, capsys.readouterr().err
    assert "faces" in capsys.readouterr().out
    mesh = trimesh.load(out, process=False)
    assert isinstance(mesh, trimesh.Trimesh) and len(mesh.faces) > 10
    cloud = view["cloud"]
    # the mesh lies in the camera frame (metres, ~0.5 m in front of the camera), around the observed points
    assert _overlap(mesh.bounds[0], mesh.bounds[1], cloud.min(0), cloud.max(0))
    assert np.linalg.norm(mesh.bounds.mean(0) - cloud.mean(0)) < 0.1
    assert np.ptp(mesh.vertices, axis=0).max() < 2 * np.ptp(cloud, axis=0).max()
    # by default the object is assumed as deep as wide behind the visible front: the mesh reaches further back
    assert mesh.bounds[1][2] > cloud[:, 2].max()
    out2 = tmp_path / "bbox.ply"
    assert main(["complete", str(view["png"]), "--intrinsics", str(view["K"]), "-o", str(out2), "--checkpoint",
                 str(run_dir), "--resolution", "32", "--viewpoint", "none", "--quiet", "--turns", "1"]) == 0
    assert trimesh.load(out2).bounds.mean(0)[2] < mesh.bounds.mean(0)[2]
    text = html.read_text()
    assert "plotly" in text.lower() and f"observed points ({len(cloud)})" in text and "completed mesh" in text
    # a depth image is in metres: the uncertainty is the softness ramped in over 12 mm from the measured points
    raw = mesh.metadata["_ply_raw"]["vertex"]["data"]
    soft, unc = np.asarray(raw["softness"], float), np.asarray(raw["uncertainty"], float)
    from scipy.spatial import cKDTree

    ramp = np.minimum(1.0, cKDTree(cloud).query(mesh.vertices)[0] / 0.012)
    assert np.allclose(unc, soft * ramp, atol=2e-3) and (unc < soft - 0.01).any()
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temp files


def test_cloud_formats_read_identically(view, tmp_path) -> None:
    cloud = view["cloud"].astype(np.float32).astype(np.float64)
    files = {
        "c.npy": lambda p: np.save(p, cloud),
        "c.npz": lambda p: np.savez(p, points=cloud, colors=np.zeros_like(cloud)),
        "c.xyz": lambda p: np.savetxt(p, cloud, fmt="%.9g", header="x y z"),
        "c.txt": lambda p: np.savetxt(p, np.c_[cloud, np.ones(len(cloud))], fmt="%.9g", delimiter=","),
        "c_bin.pcd": lambda p: p.write_bytes(pcd_bytes(cloud, binary=True)),
        "c_ascii.pcd": lambda p: p.write_bytes(pcd_bytes(cloud, binary=False)),
        "c_bin.ply": lambda p: trimesh.PointCloud(cloud).export(p, encoding="binary"),
        "c_ascii.ply": lambda p: trimesh.PointCloud(cloud).export(p, encoding="ascii"),
        "c_mesh.ply": lambda p: trimesh.Trimesh(cloud[:3 * (len(cloud) // 3)], np.arange(3 * (len(cloud) // 3))
                                                .reshape(-1, 3), process=False).export(p),
    }
    for name, write in files.items():
        path = tmp_path / name
        write(path)
        obs = read_observation(path)
        assert obs.kind == "cloud"
        expected = cloud[: 3 * (len(cloud) // 3)] if name == "c_mesh.ply" else cloud
        np.testing.assert_allclose(obs.points, expected, atol=1e-6, err_msg=name)


def test_pcd_with_extra_fields(tmp_path) -> None:
    """Binary PCD with x y z rgb + a 3-count normal field; ASCII with NaN rows refused / dropped."""
    pts = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    rec = np.zeros(50, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4"), ("n", "<f4", (3,))])
    rec["x"], rec["y"], rec["z"] = pts.T
    header = (b"VERSION 0.7\nFIELDS x y z rgb normal\nSIZE 4 4 4 4 4\nTYPE F F F U F\nCOUNT 1 1 1 1 3\n"
              b"WIDTH 50\nHEIGHT 1\nPOINTS 50\nDATA binary\n")
    (tmp_path / "a.pcd").write_bytes(header + rec.tobytes())
    np.testing.assert_allclose(read_observation(tmp_path / "a.pcd").points, pts, atol=0)
    (tmp_path / "t.pcd").write_bytes(header[:-7] + b"binary\n" + rec.tobytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_observation(tmp_path / "t.pcd")
    (tmp_path / "n.pcd").write_bytes(pcd_bytes(pts, binary=False).replace(b"\n" + f"{pts[0, 0]:.9g}".encode(),
                                                                         b"\nnan", 1))
    with pytest.raises(ValueError, match="NaN"):
        read_observation(tmp_path / "n.pcd")
    assert len(read_observation(tmp_path / "n.pcd", drop_invalid=True).points) == 49


def test_cloud_cli_outputs_and_depth_npy(run_dir, view, tmp_path, capsys) -> None:
    cloud = view["cloud"]
    np.save(tmp_path / "scan.npy", cloud)
    for ext in ("obj", "glb", "ply"):
        out = tmp_path / f"mesh.{ext}"
        rc = main(["complete", str(tmp_path / "scan.npy"), "-o", str(out), "--checkpoint", str(run_dir),
                   "--resolution", "16", "--up=-y", "--turns", "2"])
        assert rc == 0, capsys.readouterr().err
        printed = capsys.readouterr().out
        assert "mean of 2 turned copies" in printed and "undecided ratio" in printed
        mesh = trimesh.load(out, force="mesh")
        assert len(mesh.faces) > 0
        assert _overlap(mesh.bounds[0], mesh.bounds[1], cloud.min(0), cloud.max(0))
        if ext == "ply":  # a cloud's units are unknown: its uncertainty is the softness alone, no second property
            names = trimesh.load(out).metadata["_ply_raw"]["vertex"]["data"].dtype.names
            assert "uncertainty" in names and "softness" not in names
    # metres depth .npy + intrinsics, with a mask keeping the left half of the object
    mask = np.zeros(view["depth"].shape, np.uint8)
    mask[:, :80] = 255
    from PIL import Image

    Image.fromarray(mask).save(tmp_path / "mask.png")
    masked = read_observation(view["npy"], view["K"], tmp_path / "mask.png")
    full = read_observation(view["npy"], view["K"])
    assert masked.kind == "depth" and 0 < len(masked.points) < len(full.points)
    np.testing.assert_allclose(full.points, depth_to_points(view["depth"].astype(np.float64), _intr(view)), atol=1e-9)
    out = tmp_path / "masked.ply"
    assert main(["complete", str(view["npy"]), "--intrinsics", str(view["K"]), "--mask", str(tmp_path / "mask.png"),
                 "-o", str(out), "--checkpoint", str(run_dir), "--resolution", "16", "--quiet"]) == 0
    assert trimesh.load(out).bounds[0][0] < masked.points[:, 0].max()


def _intr(view):
    from implicit3d.sensing import read_intrinsics_json

    return read_intrinsics_json(view["K"])


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("implicit3d complete: error:")
    return err


def test_bad_inputs_are_one_line_errors(run_dir, view, tmp_path, capsys) -> None:
    ck = ["--checkpoint", str(run_dir), "--resolution", "16"]
    out = str(tmp_path / "m.ply")

    def cli(path, *extra):
        return ["complete", str(path), "-o", out, *ck, *extra]

    assert "not found" in _error(cli(tmp_path / "missing.ply"), capsys)
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    assert "empty" in _error(cli(tmp_path / "empty.npy"), capsys)
    bad = view["cloud"].copy()
    bad[::7] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert "NaN" in _error(cli(tmp_path / "nan.npy"), capsys)
    assert main(cli(tmp_path / "nan.npy", "--drop-invalid", "--quiet")) == 0
    np.save(tmp_path / "flat.npy", np.zeros((10, 2)))
    assert "(N, 3)" in _error(cli(tmp_path / "flat.npy"), capsys)
    np.save(tmp_path / "img.npy", np.ones((48, 64)))
    assert "--intrinsics" in _error(cli(tmp_path / "img.npy"), capsys)
    np.savez(tmp_path / "nokey.npz", xyz=view["cloud"])
    assert "'points'" in _error(cli(tmp_path / "nokey.npz"), capsys)
    write_depth_png(tmp_path / "zeros.png", np.zeros_like(view["depth"]))
    assert "no valid pixels" in _error(cli(tmp_path / "zeros.png", "--intrinsics", str(view["K"])), capsys)
    assert "turns must be >= 1" in _error(cli(tmp_path / "nan.npy", "--drop-invalid", "--turns", "0"), capsys)
    assert "--intrinsics" in _error(cli(view["png"]), capsys)
    (tmp_path / "K_bad.json").write_text(json.dumps({"fx": 1.0}))
    assert "missing key" in _error(cli(view["png"], "--intrinsics", str(tmp_path / "K_bad.json")), capsys)
    (tmp_path / "K_small.json").write_text(json.dumps({"fx": 50, "fy": 50, "cx": 10, "cy": 10, "width": 20,
                                                       "height": 20}))
    assert "20x20" in _error(cli(view["png"], "--intrinsics", str(tmp_path / "K_small.json")), capsys)
    (tmp_path / "scan.foo").write_text("1 2 3\n")
    assert "unknown point cloud extension" in _error(cli(tmp_path / "scan.foo"), capsys)
    np.save(tmp_path / "ok.npy", view["cloud"])
    assert "unknown mesh extension" in _error(["complete", str(tmp_path / "ok.npy"), "-o", "m.xyz", *ck], capsys)
    assert "--up" in _error(cli(tmp_path / "ok.npy", "--up", "sideways"), capsys)
    assert "--viewpoint" in _error(cli(tmp_path / "ok.npy", "--viewpoint", "1,2"), capsys)
    assert "--mask needs an organized cloud" in _error(cli(tmp_path / "ok.npy", "--mask", str(view["png"])), capsys)
    assert "is a point cloud" in _error(cli(tmp_path / "ok.npy", "--depth-scale", "1000"), capsys)
    # model selection
    missing_ck = ["complete", str(tmp_path / "ok.npy"), "-o", out, "--checkpoint", str(tmp_path / "nope")]
    assert "not found" in _error(missing_ck, capsys)
    from implicit3d.training import weights

    with pytest.MonkeyPatch.context() as mp:  # a build without weights
        mp.setattr(weights, "bundled_weights", lambda: None)
        err = _error(["complete", str(tmp_path / "ok.npy"), "-o", out], capsys)
    assert "no bundled model" in err and "--checkpoint" in err and "implicit3d train" in err
    assert not (tmp_path / "m.ply").exists() or (tmp_path / "m.ply").stat().st_size > 0


def test_an_unmasked_frame_is_said_to_be_completed_as_one_object(run_dir, tmp_path, capsys) -> None:
    """`complete` on a whole depth frame without --mask completes everything as one blob: it says so and points to
    --mask and `scene`; a figure of a depth input opens as the sensor saw it (y down, looking along +z)."""
    from implicit3d.sensing import Intrinsics

    k = Intrinsics(fx=40.0, fy=40.0, cx=31.5, cy=23.5, width=64, height=48)
    depth = np.full((48, 64), 0.9)
    depth[15:30, 20:40] = 0.7  # a box on a wall 1.4 m across
    write_depth_png(tmp_path / "frame.png", depth)
    write_intrinsics_json(tmp_path / "K.json", k)
    rc = main(["complete", str(tmp_path / "frame.png"), "--intrinsics", str(tmp_path / "K.json"), "-o",
               str(tmp_path / "m.ply"), "--checkpoint", str(run_dir), "--resolution", "16", "--quiet", "--html",
               str(tmp_path / "f.html")])
    err = capsys.readouterr().err
    assert "without --mask every valid pixel is completed as one object" in err and "implicit3d scene" in err
    assert rc == 0, err
    assert '"up":{"x":0,"y":-1,"z":0}' in (tmp_path / "f.html").read_text().replace(" ", "")


def test_the_undecided_ratio_is_read_against_the_suites_thirds() -> None:
    from implicit3d.commands.complete import TRUST_THIRDS, _trust

    lo, hi = TRUST_THIRDS
    assert "surest third" in _trust({"turns": 8, "undecided_ratio": lo - 0.01})
    assert "middle third" in _trust({"turns": 8, "undecided_ratio": lo})
    assert "least sure third" in _trust({"turns": 8, "undecided_ratio": hi + 1.0})
    assert _trust({"turns": 1, "undecided_ratio": hi + 1.0}) == "lower is surer"  # other settings: other scales


def test_precision_bf16_reaches_the_completion(run_dir, view, tmp_path, capsys, monkeypatch) -> None:
    """``--precision bf16`` completes under bf16 autocast (said in the summary line);
    ``fp32`` (the default) does not."""
    import implicit3d.training.trainer as trainer

    monkeypatch.setattr(trainer, "cpu_bf16_capability", lambda: "avx512_bf16")  # no warning either way
    np.save(tmp_path / "scan.npy", view["cloud"])
    common = [str(tmp_path / "scan.npy"), "--checkpoint", str(run_dir), "--resolution", "16", "--up=-y"]
    assert main(["complete", *common, "-o", str(tmp_path / "a.ply"), "--precision", "bf16"]) == 0
    captured = capsys.readouterr()
    assert ", bf16)" in captured.out and captured.err == ""
    assert main(["complete", *common, "-o", str(tmp_path / "b.ply")]) == 0
    assert ", bf16)" not in capsys.readouterr().out
    a, b = trimesh.load(tmp_path / "a.ply"), trimesh.load(tmp_path / "b.ply")
    assert len(a.faces) > 0 and len(b.faces) > 0


def test_a_sparse_view_is_said_to_be_a_rough_guess(run_dir, view, tmp_path, capsys) -> None:
    """A view of fewer than 100 points (the models train on 200 or more) completes with a one-line warning; a denser
    one completes without it."""
    cloud = view["cloud"]
    for n, warned in ((40, True), (400, False)):
        path = tmp_path / f"c{n}.npy"
        np.save(path, cloud[np.random.default_rng(0).choice(len(cloud), n, replace=False)])
        rc = main(["complete", str(path), "-o", str(tmp_path / f"m{n}.ply"), "--checkpoint", str(run_dir),
                   "--resolution", "16", "--quiet", "--turns", "1"])
        err = capsys.readouterr().err
        assert rc == 0, err
        assert (f"only {n} observed points" in err) is warned, err
