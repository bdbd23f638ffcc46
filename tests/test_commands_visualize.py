"""`implicit3d visualize`: figures from mesh files, dataset entries and completion results; clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from conftest import pybullet_data_dir
from implicit3d.cli import main
from plotly_html import figures_in_html


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from implicit3d.data.prepare import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("ds") / "bottles"
    cfg = PrepareConfig(n_uniform=2000, n_near=2000, n_surface=2000, n_views=2)
    with pytest.warns(UserWarning, match="the val and test splits are empty"):  # one shape: all in train
        prepare("catalogue:bottle", root, count=1, config=cfg, seed=0, progress=False)
    return root


def _traces(path):
    figs = figures_in_html(path.read_text(encoding="utf-8"))
    assert len(figs) == 1
    return figs[0]


def test_mesh_figures(tmp_path, duck):
    src = str(pybullet_data_dir() / "duck.obj")
    out = tmp_path / "io.html"
    assert main(["visualize", src, "--figure", "inside-outside", "--points", "800", "-o", str(out)]) == 0
    traces = _traces(out)
    assert traces[0]["type"] == "mesh3d" and len(traces[0]["x"]) == len(duck.vertices)
    assert sum(len(t["x"]) for t in traces[1:]) == 800
    inside_pts = next(t for t in traces if t["name"].startswith("inside"))
    pts = np.c_[inside_pts["x"], inside_pts["y"], inside_pts["z"]]
    assert np.all((pts >= duck.bounds[0]) & (pts <= duck.bounds[1]))  # inside points lie in the duck's box

    out = tmp_path / "slice.html"
    assert main(["visualize", src, "--figure", "sdf-slice", "--axis", "z", "--resolution", "40", "-o", str(out)]) == 0
    fill, zero = _traces(out)
    z = np.asarray(fill["z"], dtype=float)
    assert z.shape == (40, 40) and z.min() < 0 < z.max()
    assert zero["contours"]["start"] == 0

    out = tmp_path / "rep.html"
    assert main(["visualize", src, "--figure", "representations", "--points", "300", "--resolution", "10",
                 "-o", str(out)]) == 0
    traces = _traces(out)
    assert [t["type"] for t in traces] == ["heatmap", "scatter3d", "mesh3d", "mesh3d"]
    assert len(traces[1]["x"]) == 300

    out = tmp_path / "view.html"
    assert main(["visualize", src, "--figure", "partial-view", "-o", str(out)]) == 0
    traces = _traces(out)
    assert [t["type"] for t in traces] == ["heatmap", "scatter3d", "mesh3d", "scatter3d"]
    cloud = np.c_[traces[1]["x"], traces[1]["y"], traces[1]["z"]]
    assert len(cloud) > 100 and np.ptp(cloud, axis=0).max() < 0.3  # rendered at 0.25 m (duck units unknown)


def test_default_output_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["visualize", str(pybullet_data_dir() / "bunny.obj"), "--figure", "points", "--points", "50"]) == 0
    assert (tmp_path / "bunny_points.html").is_file()
    assert "bunny_points.html" in capsys.readouterr().out


def test_dataset_figures(tmp_path, dataset):
    out = tmp_path / "pts.html"
    assert main(["visualize", str(dataset), "--shape", "bottle_00000", "--points", "500", "-o", str(out)]) == 0
    traces = _traces(out)  # default figure for a dataset: points
    assert traces[0]["type"] == "scatter3d" and len(traces[0]["x"]) == 500
    assert np.all(np.abs(np.c_[traces[0]["x"], traces[0]["y"], traces[0]["z"]]) <= 0.5)  # normalized units

    from implicit3d.data import formats

    entry = dataset / "bottle" / "bottle_00000"
    views = formats.load_npz(entry / formats.VIEWS)
    out = tmp_path / "view.html"
    assert main(["visualize", str(dataset), "--shape", "bottle/bottle_00000", "--figure", "partial-view",
                 "--view", "1", "-o", str(out)]) == 0
    traces = _traces(out)
    n1 = int(views["offsets"][2] - views["offsets"][1])
    assert traces[1]["name"] == f"observed points ({n1})"
    cam = np.asarray(views["cam_to_world"][1])
    np.testing.assert_allclose([traces[3]["x"][0], traces[3]["y"][0], traces[3]["z"][0]], cam[:3, 3], rtol=1e-6)

    out = tmp_path / "io.html"
    assert main(["visualize", str(dataset), "--figure", "inside-outside", "--points", "700", "-o", str(out)]) == 0
    traces = _traces(out)
    stored = formats.read_points_npz(entry / formats.POINTS)
    inside_trace = next(t for t in traces if t["name"].startswith("inside"))
    frac = len(inside_trace["x"]) / 700
    assert abs(frac - stored["occupancies"].mean()) < 0.06  # a subsample of the stored labels

    for fig in ("representations", "sdf-slice"):
        out = tmp_path / f"{fig}.html"
        assert main(["visualize", str(dataset), "--figure", fig, "--resolution", "12", "-o", str(out)]) == 0
        assert out.is_file()


def test_completion_figure(tmp_path):
    rng = np.random.default_rng(0)
    scan = rng.normal(size=(200, 3))
    trimesh.PointCloud(scan).export(tmp_path / "scan.ply")
    trimesh.creation.icosphere(subdivisions=2).export(tmp_path / "done.ply")
    trimesh.creation.box().export(tmp_path / "gt.obj")
    out = tmp_path / "c.html"
    assert main(["visualize", "--input", str(tmp_path / "scan.ply"), "--mesh", str(tmp_path / "done.ply"),
                 "--gt", str(tmp_path / "gt.obj"), "-o", str(out)]) == 0
    traces = _traces(out)
    assert [t["type"] for t in traces] == ["scatter3d", "mesh3d", "mesh3d"]
    np.testing.assert_allclose(np.c_[traces[0]["x"], traces[0]["y"], traces[0]["z"]], scan, rtol=1e-6)
    assert traces[2]["visible"] == "legendonly"


def test_a_scan_alone_is_drawn_coloured_by_height(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    scan = rng.normal(size=(300, 3))
    (tmp_path / "scan.obj").write_text("".join(f"v {x} {y} {z}\n" for x, y, z in scan))  # vertex-only OBJ
    np.save(tmp_path / "scan.npy", scan)
    out = tmp_path / "a.html"
    assert main(["visualize", "--input", str(tmp_path / "scan.obj"), "--points", "100", "-o", str(out)]) == 0
    (trace,) = _traces(out)
    shown = np.c_[trace["x"], trace["y"], trace["z"]]
    assert shown.shape == (100, 3)
    assert np.isin(shown[:, 0], scan[:, 0]).all()  # a subset of the file's points
    np.testing.assert_allclose(trace["marker"]["color"], shown[:, 2])
    monkeypatch.chdir(tmp_path)  # a cloud file as SOURCE: the same figure, named after the file
    assert main(["visualize", "scan.npy"]) == 0
    (trace,) = _traces(tmp_path / "scan_points.html")
    assert len(trace["x"]) == 300


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "nothing to show"),
        (["{tmp}/missing.obj"], "not found"),
        (["{tmp}/notes.dat"], "unsupported mesh format"),
        (["{tmp}/notes.txt"], "notes.txt: not a text point list"),
        (["{tmp}/empty.obj"], "empty.obj: the point cloud is empty"),
        (["{tmp}/scan.xyz", "--figure", "sdf-slice"], "scan.xyz is a point cloud: it makes the points figure"),
        (["--input", "{tmp}/scan.xyz", "--gt", "{duck}"], "--gt goes with --mesh"),
        (["{tmp}"], "not a dataset"),
        (["{ds}", "--shape", "nope"], "no shape 'nope'"),
        (["{ds}", "--figure", "partial-view", "--view", "7"], "--view must be in 0..1"),
        (["{ds}", "--figure", "completion"], "give --input SCAN --mesh COMPLETED instead of"),
        (["--input", "{tmp}/missing.ply", "--mesh", "{tmp}/m.ply"], "not found"),
        (["--mesh", "{tmp}/m.ply"], "needs both"),
        (["{duck}", "--shape", "x"], "--shape selects a dataset entry"),
        (["{duck}", "-o", "{tmp}/fig.png"], "must end in .html"),
        (["{duck}", "--points", "0"], "--points must be >= 1"),
    ],
)
def test_errors_are_one_line_user_errors(tmp_path, dataset, capsys, argv, message):
    import re

    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "notes.dat").write_text("hello")
    (tmp_path / "scan.xyz").write_text("0 0 0\n1 0 0\n0 1 0\n0 0 1\n")
    (tmp_path / "empty.obj").write_text("# nothing\n")
    subs = {"{tmp}": str(tmp_path), "{ds}": str(dataset), "{duck}": str(pybullet_data_dir() / "duck.obj")}
    args = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        args.append(a)
    assert main(["visualize", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("implicit3d visualize: error:") and "\n" not in err
    assert re.search(message, err), err


def test_unknown_figure_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["visualize", "x.obj", "--figure", "nope"])
    assert exc.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_help_explains_every_figure(capsys):
    from implicit3d.commands.visualize import FIGURES

    with pytest.raises(SystemExit):
        main(["visualize", "--help"])
    out = capsys.readouterr().out
    for name, (_, text) in FIGURES.items():
        assert name in out and text.split()[0] in out



def test_completion_figure_of_a_depth_image_points_to_complete_html(tmp_path, capsys) -> None:
    from PIL import Image

    Image.fromarray(np.full((4, 4), 800, np.uint16)).save(tmp_path / "depth.png")
    trimesh.creation.box().export(tmp_path / "m.ply")
    rc = main(["visualize", "--input", str(tmp_path / "depth.png"), "--mesh", str(tmp_path / "m.ply"), "-o",
               str(tmp_path / "f.html")])
    err = capsys.readouterr().err
    assert rc == 2 and "a depth image" in err and "complete DEPTH --intrinsics K.json --html" in err
    assert "--intrinsics\n" not in err and not (tmp_path / "f.html").exists()
