"""Tests of the real-object development suite (implicit3d.evaluation.real_objects): units, classes, loading, ground
truth, the table protocol and the per-view rows. Tiny meshes only; the shared real meshes are used by one check that
skips when they are absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from completion_fixtures import tiny_checkpoint, torch_threads
from implicit3d.completion import load_model
from implicit3d.errors import UserError
from implicit3d.evaluation import real_objects as R
from implicit3d.evaluation.scans import ScanError, object_rng

SOURCES = """# Sources

Some text | with a pipe.

| file | source | object | units | watertight |
|---|---|---|---|---|
| a_box.obj | some/repo | a box | metres | yes |
| b_can.obj | `other/repo` | a can | centimetres | no |
| c_mug.obj | x | a mug | mm | no |
| d_none.obj | x | no unit given |  | no |

## Check

| file | MB | extents |
| --- | ---: | --- |
| a_box.obj | 1.0 | 0.1 x 0.1 |
| b_can.obj | 2.0 | 8 x 8 |
"""

SHARED = Path(__file__).resolve().parents[2] / "shared" / "realobjects" / "meshes"


def _split_box(extents: tuple[float, float, float]) -> trimesh.Trimesh:
    """A box whose faces share no vertex (as a textured OBJ with split UV seams): open until welded."""
    box = trimesh.creation.box(extents)
    tris = box.vertices[box.faces].reshape(-1, 3)
    return trimesh.Trimesh(tris, np.arange(len(tris)).reshape(-1, 3), process=False)


def _write_obj(mesh: trimesh.Trimesh, path: Path) -> None:
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices]
    lines += [f"vt {i % 2} {i // 2 % 2}" for i in range(len(mesh.vertices))]  # distinct UVs: a split seam everywhere
    lines += [f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in mesh.faces]
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------ SOURCES.md, classes


def test_units_from_a_sources_table():
    rows = R.read_sources_table(SOURCES)
    assert set(rows) == {"a_box.obj", "b_can.obj", "c_mug.obj", "d_none.obj"}
    assert rows["b_can.obj"]["source"] == "other/repo"  # backticks stripped
    assert rows["a_box.obj"]["mb"] == "1.0"  # merged from the second table
    units = R.units_from_sources(SOURCES)
    assert units == {"a_box.obj": 1.0, "b_can.obj": 0.01, "c_mug.obj": 0.001}
    with pytest.raises(ValueError, match="furlongs"):
        R.units_from_sources(SOURCES.replace("| mm |", "| furlongs |"))
    assert R.units_from_sources("no table here\n| a | b |\n") == {}


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("ocrtoc_glue_2.obj", "bottle"), ("ocrtoc_suger_1", "bottle"), ("ocrtoc_toothpaste_1", "bottle"),
        ("ocrtoc_correction_fluid", "bottle"), ("ycb_007_tuna_fish_can", "can"), ("hope_alphabet_soup", "can"),
        ("ocrtoc_potato_chip_1", "can"), ("ycb_004_sugar_box", "box"), ("ocrtoc_lipton_tea", "box"),
        ("hope_cream_cheese", "box"), ("ycb_036_wood_block", "box"), ("ycb_061_foam_brick", "box"),
        ("hoi4d_mug_0008", "dish"), ("gso_bowl", "dish"), ("gso_chefmate_8_frypan", "dish"),
        ("ocrtoc_soap_dish", "dish"), ("ycb_029_plate", "dish"), ("ycb_013_apple", "fruit"),
        ("ycb_016_pear", "fruit"), ("ycb_037_scissors", "tool"), ("ycb_040_large_marker", "tool"),
        ("ocrtoc_mini_claw_hammer_1", "tool"), ("ycb_043_phillips_screwdriver", "tool"),
        ("ocrtoc_soap", "other"), ("ocrtoc_remote_controller_1", "other"), ("duck", "other"),
        ("two_bowls.ply", "dish"), ("canister", "other"), ("teapot", "other"),
    ],
)
def test_object_class_from_file_name(name, cls):
    assert R.object_class(name) == cls


def test_object_class_overrides_and_classes_csv(tmp_path):
    csv_path = tmp_path / "classes.csv"
    csv_path.write_text("name,class\nocrtoc_soap.obj,box\nduck,toy\n")
    overrides = R.read_classes_csv(csv_path)
    assert R.object_class("ocrtoc_soap.obj", overrides) == "box"
    assert R.object_class("ocrtoc_soap", overrides) == "box"  # the file's name, looked up by stem too
    assert R.object_class("duck.obj", overrides) == "toy"
    assert R.object_class("gso_bowl", overrides) == "dish"  # not listed: keywords
    (tmp_path / "bad.csv").write_text("file,kind\na,b\n")
    with pytest.raises(ValueError, match="name"):
        R.read_classes_csv(tmp_path / "bad.csv")


# ------------------------------------------------------------------------------------------------ loading


def test_load_real_objects_welds_scales_classifies_and_skips(tmp_path):
    folder = tmp_path / "meshes"
    folder.mkdir()
    (tmp_path / "SOURCES.md").write_text(SOURCES)
    _write_obj(_split_box((8.0, 8.0, 10.0)), folder / "b_can.obj")  # centimetres
    _write_obj(_split_box((0.1, 0.05, 0.04)), folder / "a_box.obj")  # metres
    trimesh.creation.icosphere(1, 0.05).export(folder / "e_ball.ply")  # not listed: metres assumed
    trimesh.creation.box((0.1, 0.1, 0.001)).export(folder / "f_sheet.stl")  # flat: skipped
    (folder / "notes.txt").write_text("not a mesh")
    (folder / "classes.csv").write_text("name,class\ne_ball.ply,fruit\n")
    skipped: list[tuple[str, str]] = []
    objs = R.load_real_objects(folder, skipped)
    assert [o.name for o in objs] == ["a_box", "b_can", "e_ball"]
    assert [s[0] for s in skipped] == ["f_sheet"] and "flat" in skipped[0][1]
    box, can, ball = objs
    assert np.allclose(np.sort(can.mesh.extents), [0.08, 0.08, 0.10])  # cm -> m
    assert (can.scale, can.units) == (0.01, "centimetres")
    assert (box.scale, box.units) == (1.0, "metres")
    assert ball.units == "metres (assumed)" and ball.category == "fruit"
    assert (box.category, can.category) == ("box", "can")
    assert can.mesh.is_watertight and len(can.mesh.vertices) == 8  # the split seams are welded
    assert R.gt_rule(can.mesh) == "signed"
    assert [n for n, _ in R.load_meshes(folder)] == ["a_box", "b_can", "e_ball"]
    with pytest.raises(UserError, match="not found"):
        R.load_real_objects(tmp_path / "missing")
    with pytest.raises(UserError, match="no mesh files"):
        R.load_real_objects(tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/realobjects is absent")
def test_shared_real_meshes_hope_is_centimetres():
    sources = (SHARED.parent / "SOURCES.md").read_text()
    units = R.units_from_sources(sources)
    assert units["hope_alphabet_soup.obj"] == 0.01 and units["ycb_013_apple.obj"] == 1.0
    assert len(units) == len(list(SHARED.glob("*.obj")))


# ------------------------------------------------------------------------------------------------ ground truth


def test_gt_rule_and_ground_truth_check():
    box = trimesh.creation.box((0.1, 0.06, 0.04))
    assert R.gt_rule(box) == "signed"
    flipped = box.copy()
    flipped.faces[0] = flipped.faces[0][::-1]
    assert R.gt_rule(flipped) == "parity"
    open_box = trimesh.Trimesh(box.vertices, box.faces[2:], process=False)
    assert R.gt_rule(open_box) == "vote"
    check = R.ground_truth_check(box, 0, 20_000)
    assert check["rule"] == "signed" and check["watertight"]
    assert check["volume_cm3"] == pytest.approx(240.0, rel=0.05)
    assert check["volume_vs_hull"] == pytest.approx(1.0, abs=0.05)
    assert check["winding_agreement"] > 0.99 and not check["suspect"]
    assert 0.0 < check["volume_rel_std"] < 0.05
    # an open box (two faces missing) still bounds the same volume by the vote
    assert R.ground_truth_check(open_box, 0, 20_000)["volume_cm3"] == pytest.approx(240.0, rel=0.05)


# ------------------------------------------------------------------------------------------------ table protocol


def test_scan_on_table_real_size_no_table_points_and_up():
    mesh = trimesh.creation.box((0.12, 0.08, 0.05))
    scan = R.scan_on_table(mesh, np.random.default_rng(0), noise="none", name="box")
    assert scan.size_m == pytest.approx(0.12)  # real size
    assert 0.4 <= scan.distance_m <= 1.2 and 20.0 <= scan.elevation_deg <= 80.0
    assert np.linalg.norm(scan.up) == pytest.approx(1.0)
    heights = scan.cloud @ scan.up + scan.plane_d
    assert heights.min() >= 0.008 - 1e-6  # the table and the lowest 8 mm are gone
    assert scan.removed_low > 0
    gt_heights = scan.mesh.vertices @ scan.up + scan.plane_d
    assert gt_heights.min() == pytest.approx(0.0, abs=1e-9)  # resting on the plane
    assert round(float(np.ptp(gt_heights)), 4) in (0.05, 0.08, 0.12)  # a face down
    # noise-free points lie on the object, which faces the camera at the origin
    _, d, _ = trimesh.proximity.closest_point(scan.mesh, scan.cloud[::10].astype(np.float64))
    assert np.quantile(d, 0.99) < 1e-3
    assert (scan.cloud[:, 2] > 0).all()
    again = R.scan_on_table(mesh, np.random.default_rng(0), noise="none")
    assert np.array_equal(again.cloud, scan.cloud)
    rescaled = R.scan_on_table(mesh, np.random.default_rng(1), noise="none", size_range=(0.3, 0.3))
    assert rescaled.size_m == pytest.approx(0.3)
    assert round(float(np.ptp(rescaled.mesh.vertices @ rescaled.up)), 4) in (0.125, 0.2, 0.3)  # x 2.5
    with pytest.raises(ScanError, match="fewer than"):  # 6 mm tall: all of it within 8 mm of the table
        R.scan_on_table(trimesh.creation.box((0.03, 0.02, 0.006)), np.random.default_rng(0), noise="none",
                        max_attempts=2)


def test_scan_on_table_drops_flying_pixels_against_the_table():
    mesh = trimesh.creation.box((0.12, 0.08, 0.05))
    far = []
    for outliers in (False, True):  # this view sees the box against the table behind it
        scan = R.scan_on_table(mesh, np.random.default_rng(5), outliers=outliers)
        _, d, _ = trimesh.proximity.closest_point(scan.mesh, scan.cloud.astype(np.float64))
        far.append(int((d > 0.02).sum()))
    assert far[0] > 20 and far[1] == 0


def test_view_rng_streams():
    a = R.view_rng(0, "duck", "free", 0, 1).uniform(size=3)
    assert np.array_equal(a, object_rng(0, "duck", 1).uniform(size=3))  # draw 0 of free = the old single draw
    others = [R.view_rng(0, "duck", p, d, 1).uniform(size=3) for p, d in (("free", 1), ("table", 0), ("table", 1))]
    assert all(not np.array_equal(a, o) for o in others)
    assert not np.array_equal(others[1], others[2])
    assert np.array_equal(R.view_rng(0, "duck", "table", 1, 1).uniform(size=3), others[2])
    with pytest.raises(ValueError, match="protocol"):
        R.view_rng(0, "duck", "shelf", 0)


def test_evaluate_real_objects_rows(tmp_path_factory):
    model, meta = load_model(tiny_checkpoint(tmp_path_factory))
    obj = R.RealObject("box", trimesh.creation.box((0.12, 0.08, 0.06)), "box", 1.0, "metres")
    seen: list[dict] = []
    with torch_threads(1):
        rows = R.evaluate_real_objects(model, meta, [obj], draws=2, resolution=16, n_points=5_000,
                                       chamfer_points=2_000, on_row=seen.append)
    assert [(r["protocol"], r["draw"]) for r in rows] == [("free", 0), ("free", 1), ("table", 0), ("table", 1)]
    assert seen == rows
    for r in rows:
        assert set(R.ROW_FIELDS) - set(r) == {"error", "hull_error"}
        assert r["category"] == "box" and r["gt_rule"] == "signed"
        assert r["undecided_ratio"] is None or r["undecided_ratio"] >= 0.0  # None: the tiny model completed nothing
        assert 0.0 < r["hull_iou"] <= min(r["hull_precision"], r["hull_recall"]) + 1e-12
        for k in ("model", "hull"):
            assert r[f"{k}_shell"] == float(r[f"{k}_volume_ratio"] < 0.5)
            assert r[f"{k}_overfill"] == float(r[f"{k}_volume_ratio"] > 1.5)
            assert 0.0 <= r[f"{k}_fscore_5mm"] <= r[f"{k}_fscore_10mm"] <= 1.0
            assert r[f"{k}_chamfer_mm"] > 0
    assert [r["size_m"] for r in rows[2:]] == pytest.approx([0.12, 0.12])  # table: real size
    assert all(0.10 <= r["size_m"] <= 0.30 for r in rows[:2])  # free: rescaled
    assert rows[2]["true_volume_cm3"] == pytest.approx(576.0, rel=0.2)  # 5k samples of a tilted cube
    with pytest.raises(ValueError, match="draws"):
        R.evaluate_real_objects(model, meta, [obj], draws=0)
    with pytest.raises(ValueError, match="protocols"):
        R.evaluate_real_objects(model, meta, [obj], protocols=("shelf",))
    with torch_threads(1):
        thin = R.evaluate_real_objects(model, meta, [obj], protocols=("free",), draws=2, resolution=16,
                                       n_points=5_000, chamfer_points=2_000, max_points=40)
    assert [r["n_points"] for r in thin] == [40, 40] and all(r["n_points"] > 40 for r in rows[:2])
    assert [r["size_m"] for r in thin] == [r["size_m"] for r in rows[:2]]  # the same views, thinned
    with pytest.raises(ValueError, match="max_points"):
        R.evaluate_real_objects(model, meta, [obj], max_points=0)
