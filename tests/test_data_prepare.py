import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from implicit3d.data import formats
from implicit3d.data import prepare as prep
from implicit3d.data.prepare import PrepareConfig, make_splits, prepare
from implicit3d.errors import InputWarning, UserError

TINY = PrepareConfig(
    n_uniform=2000,
    n_near=1500,
    n_surface=2000,
    n_views=1,
    image_size=(80, 60),
    focal=(70.0, 70.0),
    noise="none",
)


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "bottles"
    result = prepare("catalogue:bottle", root, count=3, config=TINY, seed=7, progress=False)
    return root, result


def test_layout_and_arrays(built):
    root, result = built
    assert result.built == [f"bottle/bottle_{i:05d}" for i in range(3)] and not result.broken
    man = json.loads((root / "manifest.json").read_text())
    assert man["complete"] and man["seed"] == 7 and man["shapes"] == result.built
    assert man["settings"]["n_uniform"] == 2000 and man["broken"] == []
    for key in result.built:
        d = root / key
        info = json.loads((d / "shape.json").read_text())
        assert info["watertight"]
        with np.load(d / "points.npz") as z:
            assert z["points"].shape == (2000, 3) and z["points"].dtype == np.float16
            assert z["occupancies"].shape == (250,) and z["sdf"].dtype == np.float16
            np.testing.assert_allclose(z["loc"], info["loc"])
        near = formats.read_points_npz(d / "points_near.npz")
        assert near["points"].shape == (1500, 3)
        np.testing.assert_array_equal(np.bincount(near["sigma_index"]), [500, 500, 500])
        pc = formats.read_pointcloud_npz(d / "pointcloud.npz")
        assert pc["points"].shape == (2000, 3) and pc["normals"].shape == (2000, 3)
        v = formats.load_npz(d / "views.npz")
        assert v["cam_to_world"].shape == (1, 4, 4) and v["offsets"].shape == (2,)
        assert v["points"].shape == (v["offsets"][-1], 3) and v["offsets"][-1] > 50
        assert (d / "depth" / "000.png").is_file() and (d / "mesh.ply").is_file()
    splits = {s: (root / f"{s}.lst").read_text().split() for s in formats.SPLITS}
    assert sorted(sum(splits.values(), [])) == result.built
    assert (root / "bottle" / "train.lst").read_text().split() == [k.split("/")[1] for k in splits["train"]]
    assert not list(root.rglob(".tmp-*"))


def test_labels_agree_with_mesh(built):
    root, result = built
    for key in result.built:
        mesh = trimesh.load(root / key / "mesh.ply", process=False)
        info = json.loads((root / key / "shape.json").read_text())
        extent = mesh.extents.max()
        assert extent == pytest.approx(0.9, abs=1e-6)  # 1 - padding
        for fname in ("points.npz", "points_near.npz"):
            d = formats.read_points_npz(root / key / fname)
            pts = d["points"].astype(np.float64)
            ref_occ = mesh.contains(pts)  # reference: trimesh's ray test
            _, ref_dist, _ = trimesh.proximity.closest_point(mesh, pts)
            far = ref_dist > 1e-3  # the float32 ply and the labels may differ right at the surface
            assert np.mean(d["occupancies"][far] == ref_occ[far]) > 0.999
            np.testing.assert_array_equal(d["sdf"] < 0, d["occupancies"])
            np.testing.assert_allclose(np.abs(d["sdf"]), ref_dist, atol=1e-3, rtol=2e-3)
        assert 0 < info["occupancy_fraction"] < 1
        # surface points on the mesh, normals outward (point + eps * n is outside)
        pc = formats.read_pointcloud_npz(root / key / "pointcloud.npz")
        _, dist, _ = trimesh.proximity.closest_point(mesh, pc["points"][:300])
        assert dist.max() < 1e-3
        assert not mesh.contains(pc["points"][:300] + 0.01 * pc["normals"][:300]).any()


def test_views_land_on_surface_and_record_pose(built):
    root, result = built
    for key in result.built:
        mesh = trimesh.load(root / key / "mesh.ply", process=False)
        info = json.loads((root / key / "shape.json").read_text())
        v = formats.load_npz(root / key / "views.npz")
        cloud = v["points"]
        _, dist, _ = trimesh.proximity.closest_point(mesh, cloud)
        assert dist.max() < 2e-3  # noise "none": canonical cloud lies on the normalized mesh
        # catalogue shapes render at their own metric size
        np.testing.assert_allclose(v["object_scale"], info["scale"])
        cam = v["cam_to_world"][0]
        dist_m = np.linalg.norm(cam[:3, 3])
        assert 0.5 <= dist_m <= 0.8 and cam[2, 3] > 0  # upper hemisphere
        rot = v["object_pose"][0][:3, :3]
        np.testing.assert_allclose(rot @ [0, 0, 1], [0, 0, 1], atol=1e-12)  # yaw only (default view_pose)
        # the stored depth PNG reproduces the cloud: world = R (s x); camera z of world points = depth
        depth = formats.read_depth_png(root / key / "depth" / "000.png")
        world = (cloud.astype(np.float64) * v["object_scale"][0]) @ rot.T
        zc = (world - cam[:3, 3]) @ cam[:3, 2]
        assert np.count_nonzero(depth) == len(cloud)
        np.testing.assert_allclose(np.sort(zc), np.sort(depth[depth > 0]), atol=6e-4)  # mm quantization


def test_same_seed_byte_identical_and_seed_matters(built, tmp_path):
    root, _ = built
    again = tmp_path / "again"
    prepare("catalogue:bottle", again, count=3, config=TINY, seed=7, progress=False)
    assert tree_hashes(root) == tree_hashes(again)
    other = tmp_path / "other"
    prepare("catalogue:bottle", other, count=3, config=TINY, seed=8, progress=False)
    assert tree_hashes(root)["bottle/bottle_00000/points.npz"] != tree_hashes(other)["bottle/bottle_00000/points.npz"]


def test_killed_then_resumed_equals_uninterrupted(built, tmp_path, monkeypatch):
    root, _ = built
    out = tmp_path / "resumed"
    calls = []

    def stop_after_first(status, key, msg):
        calls.append(key)
        raise KeyboardInterrupt  # the user presses Ctrl-C after the first shape

    with pytest.raises(KeyboardInterrupt):
        prepare("catalogue:bottle", out, count=3, config=TINY, seed=7, progress=False, on_shape=stop_after_first)
    assert len(calls) == 1 and (out / calls[0] / "shape.json").is_file()
    assert not json.loads((out / "manifest.json").read_text())["complete"]

    # a second shape is killed half-way through writing: its files land in a hidden temp folder only
    real = prep.build_shape

    def dies_midway(item, config, seed, dest):
        formats.save_npz(dest / "points.npz", {"x": np.zeros(3)})
        raise SystemExit("killed")

    monkeypatch.setattr(prep, "build_shape", dies_midway)
    with pytest.raises(SystemExit):
        prepare("catalogue:bottle", out, count=3, config=TINY, seed=7, progress=False)
    # emulate a hard kill (no cleanup) leaving a stale temp folder behind
    stale = out / "bottle" / ".tmp-bottle_00002-99999"
    stale.mkdir()
    (stale / "points.npz").write_bytes(b"half")
    assert sorted(p.name for p in (out / "bottle").iterdir() if not p.name.startswith(".")) == [calls[0].split("/")[1]]

    monkeypatch.setattr(prep, "build_shape", real)
    result = prepare("catalogue:bottle", out, count=3, config=TINY, seed=7, progress=False)
    assert result.skipped == [calls[0]] and len(result.built) == 2
    assert tree_hashes(out) == tree_hashes(root)


def test_resume_with_other_settings_refused(built):
    root, _ = built
    with pytest.raises(UserError, match="different"):
        prepare("catalogue:bottle", root, count=3, config=TINY, seed=8, progress=False)
    result = prepare("catalogue:bottle", root, count=3, config=TINY, seed=7, progress=False)
    assert result.built == [] and len(result.skipped) == 3


def test_a_shapenet_build_from_before_the_manifest_said_y_up_resumes(tmp_path):
    """ShapeNet manifests used to store the --up default, z; the same command goes on with such a build."""
    src = tmp_path / "sn" / "02876657" / "m1"
    src.mkdir(parents=True)
    trimesh.creation.box(extents=(0.1, 0.5, 0.2)).export(src / "model.obj")
    root = tmp_path / "ds"
    with pytest.warns(InputWarning):  # one shape: empty val / test splits
        prepare(str(tmp_path / "sn"), root, config=TINY, seed=0, progress=False)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["up"] == "y"
    assert json.loads((root / "02876657" / "m1" / "shape.json").read_text())["up"] == "y"
    manifest["up"] = "z"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(InputWarning):
        result = prepare(str(tmp_path / "sn"), root, config=TINY, seed=0, progress=False)
    assert result.built == [] and len(result.skipped) == 1


def test_a_folder_build_with_count_from_before_it_meant_per_category_is_not_extended(tmp_path):
    """--count on a folder once kept the first N files overall; now the first N of each category. Resuming such a
    build would silently add the other categories' shapes: it is refused, naming the change; a build made now
    resumes."""
    for cat in ("bowls", "mugs"):
        (tmp_path / "src" / cat).mkdir(parents=True)
        trimesh.creation.box(extents=(0.1, 0.2, 0.3)).export(tmp_path / "src" / cat / "a.obj")
    root = tmp_path / "ds"
    with pytest.warns(InputWarning):  # two shapes: empty splits
        prepare(str(tmp_path / "src"), root, count=1, config=TINY, progress=False)
    with pytest.warns(InputWarning):
        assert prepare(str(tmp_path / "src"), root, count=1, config=TINY, progress=False).built == []
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["count_per"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=r"first 1 files of the whole folder; --count now keeps the first 1 of each"):
        prepare(str(tmp_path / "src"), root, count=1, config=TINY, progress=False)


def test_broken_meshes_skipped_and_listed(tmp_path, capsys):
    src = tmp_path / "meshes"
    src.mkdir()
    trimesh.creation.icosphere(2, radius=0.5).export(src / "ball.obj")
    (src / "broken.obj").write_text("v 0 0 0\nf 1 2 3\n")  # face index out of range / no usable triangles
    (src / "junk.stl").write_bytes(b"\x00" * 10)
    with pytest.warns(InputWarning) as record:  # one warning per broken mesh (the CLI prints each as one line)
        result = prepare(str(src), tmp_path / "out", config=TINY, seed=0, progress=False)
    assert result.shapes == ["meshes/ball"]
    assert [b["key"] for b in result.broken] == ["meshes/broken", "meshes/junk"]
    warned = " ".join(str(w.message) for w in record)
    assert "broken.obj" in warned and "junk.stl" in warned
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [b["key"] for b in man["broken"]] == ["meshes/broken", "meshes/junk"] and all(
        b["reason"] for b in man["broken"]
    )
    # a mesh of unknown units renders at a size drawn from object_size (metres)
    v = formats.load_npz(tmp_path / "out" / "meshes" / "ball" / "views.npz")
    assert 0.10 <= v["object_scale"][0] * 0.9 <= 0.35


def test_make_splits():
    keys = [f"a/{i}" for i in range(20)] + [f"b/{i}" for i in range(3)] + ["c/0"]
    s = make_splits(keys, (0.8, 0.1, 0.1), 0)
    assert s == make_splits(list(reversed(keys)), (0.8, 0.1, 0.1), 0)
    assert sorted(s["train"] + s["val"] + s["test"]) == sorted(keys)
    assert len([k for k in s["val"] if k.startswith("a/")]) == 2
    assert len([k for k in s["test"] if k.startswith("b/")]) == 1  # at least one per split with >= 3 shapes
    assert "c/0" in s["train"]
    assert s != make_splits(keys, (0.8, 0.1, 0.1), 1)


def test_bad_settings_and_output(tmp_path):
    with pytest.raises(UserError, match="split"):
        PrepareConfig(split=(0.5, 0.1, 0.1))
    with pytest.raises(UserError, match="view_pose"):
        PrepareConfig(view_pose="roll")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("")
    with pytest.raises(UserError, match="not empty"):
        prepare("catalogue:bottle", tmp_path / "x", count=1, config=TINY, progress=False)


def test_cli_prepare(tmp_path, capsys):
    from implicit3d.cli import main

    out = tmp_path / "cli"
    argv = ["prepare", "--source", "catalogue:bottle", "--count", "2", "-o", str(out), "--uniform", "500"]
    argv += ["--near", "300", "--surface", "400", "--views", "1", "--image-size", "64x48", "--focal", "60,60"]
    argv += ["--noise", "none", "--view-pose", "so3", "--seed", "3", "--quiet"]
    assert main(argv) == 0
    said = capsys.readouterr()
    assert "2 shapes (2 built now" in said.out
    assert "the val and test splits are empty" in said.err  # 2 bottles: all train
    man = json.loads((out / "manifest.json").read_text())
    assert man["settings"]["view_pose"] == "so3" and man["settings"]["image_size"] == [64, 48]
    assert main(argv) == 0
    assert "2 already done" in capsys.readouterr().out
    assert main(["prepare", "--source", "catalogue:nothing", "--count", "1", "-o", str(tmp_path / "x")]) == 2
    assert "unknown catalogue category" in capsys.readouterr().err
    assert main(["prepare", "--source", str(tmp_path / "missing"), "-o", str(tmp_path / "y")]) == 2


def test_workers_give_identical_output(built, tmp_path):
    # spawn (the default) starts clean interpreters: safe after numba's parallel code ran in this process
    # (fork would inherit a running threading layer and can hang). Spawned workers see no test stand-ins.
    root, _ = built
    out = tmp_path / "par"
    result = prepare("catalogue:bottle", out, count=3, config=TINY, seed=7, workers=2, progress=False)
    assert sorted(result.built) == [f"bottle/bottle_{i:05d}" for i in range(3)]
    assert tree_hashes(out) == tree_hashes(root)


def test_hard_killed_subprocess_resumes_to_same_files(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    args = [
        "prepare",
        "--source",
        "catalogue:bottle",
        "--count",
        "6",
        "-o",
        str(out),
        "--uniform",
        "3000",
        "--near",
        "3000",
        "--surface",
        "1000",
        "--views",
        "1",
        "--image-size",
        "64x48",
        "--focal",
        "60,60",
        "--quiet",
    ]
    code = (
        f"import sys; from implicit3d.cli import main; sys.exit(main({args!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob("bottle/bottle_*/shape.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list(out.glob("bottle/bottle_*/shape.json"))
    assert 1 <= len(done) < 6, proc.stderr.read().decode()
    assert not json.loads((out / "manifest.json").read_text())["complete"]
    for d in (out / "bottle").iterdir():  # every visible shape folder is complete
        if not d.name.startswith("."):
            assert (d / "shape.json").is_file()
    env = dict(os.environ)
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True).returncode == 0
    ref = tmp_path / "ref"
    assert subprocess.run([sys.executable, "-c", code.replace(str(out), str(ref))], capture_output=True).returncode == 0
    assert tree_hashes(out) == tree_hashes(ref)


def test_flat_meshes_enclose_no_volume() -> None:
    from implicit3d.data.prepare import check_volume
    from implicit3d.data.sources import BrokenMeshError

    rot = trimesh.transformations.random_rotation_matrix(np.random.default_rng(0).random(3))
    quad = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]], process=False)
    quad.apply_transform(rot)  # a tilted plane: its bounding box is not flat
    with pytest.raises(BrokenMeshError, match="no volume"):
        check_volume(quad)
    check_volume(trimesh.creation.box((0.1, 0.2, 0.001)))  # thin, but a solid


def test_prepare_lock(tmp_path) -> None:
    import os

    from implicit3d.data.prepare import LOCK_FILE, dataset_lock

    root = tmp_path / "ds"
    root.mkdir()
    with dataset_lock(root):
        assert (root / LOCK_FILE).is_file()
        with pytest.raises(UserError, match="another implicit3d prepare"), dataset_lock(root):
            pass
    assert not (root / LOCK_FILE).exists()
    # a lock left by a process that is gone is taken over
    (root / LOCK_FILE).write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename}))
    with dataset_lock(root):
        pass
    assert not (root / LOCK_FILE).exists()


def test_workers_of_a_script_without_main_guard_fail_fast_and_say_why(tmp_path):
    """Pasted into a script without ``if __name__ == "__main__":``, each spawned worker imports the script and calls
    prepare again; before, multiprocessing.Pool started the dying workers again forever (a hang)."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "from implicit3d.data.prepare import PrepareConfig, prepare\n"
        f"prepare('catalogue:bottle', {str(tmp_path / 'ds')!r}, count=2, config=PrepareConfig(n_views=1, "
        "n_uniform=500, n_near=500, n_surface=500), workers=2, progress=False)\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode != 0
    assert 'if __name__ == "__main__":' in run.stderr and "a worker process died" in run.stderr


def _boxes(folder: Path, names: range, pattern: str = "{:02d}.obj") -> None:
    """Boxes of distinct sizes, one file each, named by ``pattern``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in names:
        trimesh.creation.box(extents=(0.1, 0.2 + 0.01 * i, 0.3)).export(folder / pattern.format(i))


def test_splits_of_an_earlier_build_are_kept_when_meshes_are_added(tmp_path):
    """A grown folder built again: the held-out shapes stay held out; the new ones fill the splits."""
    keys = [f"c/{i:02d}" for i in range(10)]
    first = make_splits(keys[:5], (0.6, 0.2, 0.2), 0)
    grown = make_splits(keys, (0.6, 0.2, 0.2), 0, previous=first)
    for split in ("train", "val", "test"):
        assert set(first[split]) <= set(grown[split])
    assert (len(grown["val"]), len(grown["test"])) == (2, 2)
    assert make_splits(keys, (0.6, 0.2, 0.2), 0, previous=None) == make_splits(keys, (0.6, 0.2, 0.2), 0)
    # on disk: prepare again after adding meshes
    src = tmp_path / "src" / "boxes"
    _boxes(src, range(3))
    root = tmp_path / "ds"
    prepare(str(tmp_path / "src"), root, config=TINY, progress=False)
    before = {s: (root / f"{s}.lst").read_text().split() for s in ("val", "test")}
    _boxes(src, range(3, 6))
    with pytest.warns(InputWarning, match="the earlier shapes keep their splits"):
        result = prepare(str(tmp_path / "src"), root, config=TINY, progress=False)
    assert len(result.built) == 3 and len(result.skipped) == 3
    for split, members in before.items():
        assert set(members) <= set((root / f"{split}.lst").read_text().split())


def test_count_with_broken_files_says_which_category_falls_short(tmp_path):
    src = tmp_path / "src"
    (src / "parts").mkdir(parents=True)
    (src / "mugs").mkdir()
    (src / "parts" / "a_broken.obj").write_text("v 0 0 0\nf 1 2 3\n")
    trimesh.creation.box(extents=(0.1, 0.2, 0.3)).export(src / "parts" / "b.obj")
    trimesh.creation.box(extents=(0.1, 0.2, 0.3)).export(src / "parts" / "c.obj")
    trimesh.creation.box(extents=(0.1, 0.2, 0.3)).export(src / "mugs" / "a.obj")
    with pytest.warns(InputWarning) as record:
        result = prepare(str(src), tmp_path / "ds", count=2, config=TINY, progress=False)
    assert sorted(result.shapes) == ["mugs/a", "parts/b"]
    said = [str(w.message) for w in record if "--count 2" in str(w.message)]
    assert len(said) == 1 and "parts with 1 shape" in said[0] and "mugs" not in said[0]


def test_a_closed_stl_is_recorded_watertight(tmp_path):
    """An STL stores each triangle's corners apart: closed as a surface, it is watertight in shape.json."""
    src = tmp_path / "src"
    src.mkdir()
    trimesh.creation.icosphere(2, radius=0.1).export(src / "ball.stl")
    open_box = trimesh.creation.box(extents=(0.1, 0.2, 0.3))
    open_box.update_faces(np.arange(len(open_box.faces)) != 0)
    open_box.export(src / "open.stl")
    with pytest.warns(InputWarning):  # two shapes: empty splits
        prepare(str(src), tmp_path / "ds", config=TINY, progress=False)
    assert json.loads((tmp_path / "ds" / "src" / "ball" / "shape.json").read_text())["watertight"] is True
    assert json.loads((tmp_path / "ds" / "src" / "open" / "shape.json").read_text())["watertight"] is False


def test_splits_survive_an_interrupted_rebuild_and_a_rename(tmp_path, monkeypatch):
    """The earlier splits come from the split files a finished build wrote: an interrupted rebuild does not lose
    them, and a shape renamed since (a new file's name collided with its own) keeps its split by its source file."""
    src = tmp_path / "src" / "boxes"
    _boxes(src, range(4), "box {}.obj")
    root = tmp_path / "ds"
    prepare(str(tmp_path / "src"), root, config=TINY, progress=False)
    held = {s: (root / f"{s}.lst").read_text().split() for s in ("val", "test")}
    assert held["val"] and held["test"]
    _boxes(src, range(4, 8), "box {}.obj")
    calls = {"n": 0}
    real_worker = prep._worker

    def dies_after_one(args):
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt
        return real_worker(args)

    monkeypatch.setattr(prep, "_worker", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        prepare(str(tmp_path / "src"), root, config=TINY, progress=False)
    monkeypatch.setattr(prep, "_worker", real_worker)
    # a file whose cleaned-up name collides with a held-out shape's: that shape is renamed, and keeps its split
    victim = held["test"][0].split("/", 1)[1]  # e.g. box_2
    trimesh.creation.box(extents=(0.3, 0.3, 0.3)).export(src / f"{victim}.obj")
    with pytest.warns(InputWarning) as record:
        prepare(str(tmp_path / "src"), root, config=TINY, progress=False)
    said = " ".join(str(w.message) for w in record)
    assert "keep their splits" in said and "now named otherwise" in said
    after = {s: set((root / f"{s}.lst").read_text().split()) for s in ("train", "val", "test")}
    origin_of = {k: json.loads((root / k / "shape.json").read_text())["origin"]
                 for keys in after.values() for k in keys}
    key_of = {o: k for k, o in origin_of.items()}
    old_origin = str(src / f"{victim.replace('_', ' ')}.obj")
    renamed = key_of[old_origin]
    assert renamed != held["test"][0] and renamed.startswith(held["test"][0] + "_")
    assert renamed in after["test"]  # the held-out file is held out under its new name
    for split in ("val", "test"):
        for key in held[split]:
            assert key in after[split] or key == held["test"][0]
    assert not (set(held["val"]) | set(held["test"]) | {renamed}) & after["train"]
    # the old folder left under the old name is another file's once that name is free again: built again
    (src / f"{victim.replace('_', ' ')}.obj").unlink()
    with pytest.warns(InputWarning):
        result = prepare(str(tmp_path / "src"), root, config=TINY, progress=False)
    assert held["test"][0] in result.built  # box_2.obj now owns the name box_2
    info = json.loads((root / held["test"][0] / "shape.json").read_text())
    assert info["origin"] == str(src / f"{victim}.obj")
