"""`implicit3d scene` / `complete_scene` on a simulated tabletop frame: objects found and completed above the table,
closed on it, with uncertainties; the outputs; one-line errors."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from implicit3d import shapes
from implicit3d.cli import main
from implicit3d.evaluation.tabletop import make_tabletop_scene, score_scene
from implicit3d.scene import SceneSettings, complete_scene, load_scene_model, segment_scene, write_scene
from implicit3d.sensing.camera import Intrinsics
from implicit3d.sensing.io import write_depth_png, write_intrinsics_json
from implicit3d.sensing.segment import SegmentSettings

SMALL = Intrinsics(fx=262.5, fy=262.5, cx=159.5, cy=119.5, width=320, height=240)


@pytest.fixture(scope="module")
def frame():
    objects = [(c, shapes.generate(c, s).mesh) for c, s in (("bottle", 11), ("can", 12))]
    return make_tabletop_scene(objects, np.random.default_rng(5), intrinsics=SMALL, distance=(0.5, 0.7))


@pytest.fixture(scope="module")
def result(frame):
    model, meta, name = load_scene_model(None)
    return complete_scene(frame.depth, frame.intrinsics, model=model, meta=meta, model_name=name,
                          settings=SceneSettings(resolution=32, segment=SegmentSettings(min_points=40)))


def test_objects_are_found_completed_above_the_table_and_closed_on_it(frame, result) -> None:
    score = score_scene(frame, result, np.random.default_rng(0), n_samples=10_000, min_visible=40)
    assert score["found"] == score["visible"] == 2 and score["extra"] == 0
    assert score["below_share"] <= 0.01
    assert np.mean(score["ious"]) > 0.3, score  # a smoke test at 32^3 and 320x240: the quality is benchmarked
    for err in score["boxes"]:  # the box standing on the table: within a few cm of the true object's
        assert err is not None and err["center"] < 0.05 and abs(err["height"]) < 0.05, score["boxes"]
    assert any(obj.rests_on_table for obj in result.objects)
    for obj in result.objects:
        assert obj.mesh.is_watertight
        h = np.asarray(obj.mesh.vertices) @ result.plane.normal + result.plane.d
        assert h.min() > -0.005  # never below the table
        if obj.rests_on_table:
            assert h.min() < 0.01  # its bottom lies on the plane
        u = obj.mesh.vertex_attributes["uncertainty"]
        assert u.shape == (len(obj.mesh.vertices),) and 0.0 <= u.min() and u.max() <= 1.0
        # the surface the sensor saw is more decided than the one the model guessed, by the softness alone too
        near = cKDTree(obj.points).query(obj.mesh.vertices)[0]
        soft = obj.mesh.vertex_attributes["softness"]
        assert soft[near < 0.006].mean() < soft[near >= 0.006].mean()
        assert u[near < 0.006].mean() < u[near >= 0.006].mean()
        # the uncertainty is the softness, scaled down within guess_distance of the measured points
        np.testing.assert_allclose(u, soft * np.minimum(1.0, near / result.settings.guess_distance), atol=1e-5)


def test_surface_threshold_sets_how_much_is_completed(frame, result) -> None:
    """``SceneSettings.threshold`` is the occupancy probability of the surface: a higher one completes less of each
    object (the same objects, nested volumes)."""
    model, meta, name = load_scene_model(None)
    strict = complete_scene(frame.depth, frame.intrinsics, model=model, meta=meta, model_name=name,
                            settings=SceneSettings(resolution=32, threshold=0.8,
                                                   segment=SegmentSettings(min_points=40)))
    assert len(strict.objects) == len(result.objects)
    for a, b in zip(result.objects, strict.objects, strict=True):
        assert np.array_equal(a.points, b.points)
        assert b.mesh.volume < 0.97 * a.mesh.volume, (a.mesh.volume, b.mesh.volume)


def test_large_frames_are_segmented_at_a_stride_and_answered_at_full_size(frame, result) -> None:
    """A frame over ``max_pixels`` is segmented from every k-th pixel: the same frame at twice the size (each pixel
    repeated, intrinsics doubled) gives the same plane and objects from the same points, with labels and pixels at
    its own size."""
    from implicit3d.scene import processing_stride

    assert processing_stride((480, 640), 2 * 640 * 480) == 1 and processing_stride((720, 1280), 2 * 640 * 480) == 2
    assert processing_stride((2160, 3840), 2 * 640 * 480) == 4 and processing_stride((2160, 3840), 0) == 1
    k = SMALL
    big = Intrinsics(fx=2 * k.fx, fy=2 * k.fy, cx=2 * k.cx, cy=2 * k.cy, width=2 * k.width, height=2 * k.height)
    depth2 = np.repeat(np.repeat(frame.depth, 2, axis=0), 2, axis=1)
    settings = replace(result.settings, max_pixels=k.width * k.height)
    small = segment_scene(frame.depth, frame.intrinsics, settings=settings)
    found = segment_scene(depth2, big, settings=settings)
    assert found.segmentation.labels.shape == depth2.shape and found.points_map.shape == (*depth2.shape, 3)
    assert found.segmentation.components.shape == depth2.shape  # at the frame's size, as the labels
    assert np.allclose(found.plane.normal, small.plane.normal, atol=1e-6)
    assert len(found.segmentation.objects) == len(small.segmentation.objects) >= 1
    for a, b in zip(small.segmentation.objects, found.segmentation.objects, strict=True):
        np.testing.assert_array_equal(b.pixels, 2 * a.pixels)  # the processed pixels, at full-size coordinates
        np.testing.assert_allclose(b.points, a.points, atol=1e-9)
        assert np.all(found.segmentation.labels[b.pixels[:, 0], b.pixels[:, 1]] == b.label)
        assert (found.segmentation.labels == b.label).sum() > 3 * len(b.pixels)  # the blocks around them too
        assert np.all(found.segmentation.components[b.pixels[:, 0], b.pixels[:, 1]] == b.component)
        assert (a.border_share, a.occluded_share) == pytest.approx((b.border_share, b.occluded_share))
    # an instance of the caller's labels that falls between the processed pixels is reported, not lost
    labels2 = np.repeat(np.repeat(frame.labels, 2, axis=0), 2, axis=1).astype(np.int32)
    labels2[101, 101] = 9  # one odd pixel: the stride 2 skips it
    lab = segment_scene(depth2, big, settings=settings, labels=labels2)
    assert [s["label"] for s in lab.segmentation.skipped if s["label"] == 9][0] == 9
    assert any("pixel stride 2" in s["reason"] for s in lab.segmentation.skipped if s.get("label") == 9)


def test_segment_scene_is_the_first_half_of_complete_scene(frame, result) -> None:
    found = segment_scene(frame.depth, frame.intrinsics, settings=result.settings)
    assert np.array_equal(found.segmentation.labels, result.labels)
    assert np.allclose(found.plane.normal, result.plane.normal) and found.plane.d == pytest.approx(result.plane.d)
    assert len(found.segmentation.objects) == len(result.objects)
    assert found.points_map.shape == (*frame.depth.shape, 3) and found.valid.shape == frame.depth.shape
    # what a robot keeps of each result: the point map in float32, the same points
    assert result.points_map.dtype == np.float32 and result.labels.dtype == np.int32
    np.testing.assert_allclose(result.points_map, found.points_map, atol=1e-6)


def test_scene_command_writes_meshes_json_glb_and_figure(frame, tmp_path, capsys) -> None:
    write_depth_png(tmp_path / "depth.png", frame.depth.astype(np.float32))
    write_intrinsics_json(tmp_path / "K.json", frame.intrinsics)
    out = tmp_path / "out"
    argv = ["scene", str(tmp_path / "depth.png"), "--intrinsics", str(tmp_path / "K.json"), "-o", str(out),
            "--resolution", "32", "--html", str(out / "scene.html")]
    assert main(argv) == 0, capsys.readouterr().err
    doc = json.loads((out / "scene.json").read_text())
    assert doc["plane"]["normal"][1] < -0.5 and doc["plane"]["d"] > 0  # up, towards the camera
    assert len(doc["objects"]) >= 1
    first = doc["objects"][0]
    assert first["watertight"] and 0 <= first["uncertainty"]["mean"] <= 1.0 and first["observed_points"] > 0
    assert first["uncertainty"]["undecided_ratio"] > 0  # a soft field: some of the cube is undecided
    mesh = trimesh.load(out / first["file"], process=False)
    assert len(mesh.faces) > 0
    # the box standing on the table: its third axis the plane's normal, every vertex inside, its bottom on the table
    box = first["box"]
    rot, centre, size = np.array(box["rotation"]), np.array(box["center"]), np.array(box["size"])
    np.testing.assert_allclose(rot[:, 2], doc["plane"]["normal"], atol=1e-9)
    local = (np.asarray(mesh.vertices) - centre) @ rot
    assert (np.abs(local) <= size / 2 + 1e-6).all() and size[0] >= size[1]
    bottom = (centre - size[2] / 2 * rot[:, 2]) @ np.array(doc["plane"]["normal"]) + doc["plane"]["d"]
    lowest = float((np.asarray(mesh.vertices) @ np.array(doc["plane"]["normal"]) + doc["plane"]["d"]).min())
    assert bottom == pytest.approx(lowest, abs=1e-6)
    for obj in doc["objects"]:  # a resting object's box stands on the table (it is closed on it)
        if obj["rests_on_table"]:
            b = obj["box"]
            foot = (np.array(b["center"]) - b["size"][2] / 2 * np.array(b["rotation"])[:, 2])
            assert abs(foot @ np.array(doc["plane"]["normal"]) + doc["plane"]["d"]) < 0.005
    ply = (out / first["file"]).read_bytes()[:2000]
    assert b"property float uncertainty" in ply and b"property float softness" in ply  # both vertex attributes
    glb = trimesh.load(out / "scene.glb")
    assert sorted(glb.geometry) == sorted([o["file"][:-4] for o in doc["objects"]] + ["table"])  # named as scene.json
    html = (out / "scene.html").read_text()
    assert "view from the sensor" in html and "100vh" in html and "boxes on the table" in html
    assert f"undecided ratio {first['uncertainty']['undecided_ratio']:.2f}" in html  # in the completion's legend
    printed = capsys.readouterr().out
    assert "object" in printed and f"undecided ratio {first['uncertainty']['undecided_ratio']:.2f}" in printed
    # a later run into the same folder without a figure leaves no stale one behind
    assert main(argv[:-2] + ["--quiet"]) == 0, capsys.readouterr().err
    assert not (out / "scene.html").exists() and (out / "scene.json").is_file()


def test_scene_errors_are_one_line(frame, tmp_path, capsys) -> None:
    write_depth_png(tmp_path / "depth.png", frame.depth.astype(np.float32))
    write_intrinsics_json(tmp_path / "K.json", frame.intrinsics)
    base = ["scene", str(tmp_path / "depth.png"), "--intrinsics", str(tmp_path / "K.json"), "-o", str(tmp_path / "o")]
    # intrinsics of another size
    (tmp_path / "K2.json").write_text(json.dumps({**frame.intrinsics.to_dict(), "width": 640, "height": 480}))
    assert main(base[:3] + [str(tmp_path / "K2.json")] + base[4:]) == 2
    assert "pixels" in capsys.readouterr().err
    # labels of another size
    from PIL import Image

    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "labels.png")  # empty too: the size is said first
    assert main(base + ["--labels", str(tmp_path / "labels.png")]) == 2
    assert "labels.png is 10x10 pixels but" in capsys.readouterr().err
    # labels without any object: said so, naming the label file; an empty table is written as such (scene.json with
    # no objects and the message), and a reused folder keeps nothing of the last scene
    Image.fromarray(np.zeros(frame.depth.shape, np.uint8)).save(tmp_path / "none.png")
    reused = tmp_path / "reused"
    reused.mkdir()
    for stale in ("object_01.ply", "scene.glb", "scene.html"):
        (reused / stale).write_text("the last frame's")
    assert main(base[:-1] + [str(reused), "--labels", str(tmp_path / "none.png")]) == 2
    assert "none.png: the label image holds no object" in capsys.readouterr().err
    empty = json.loads((reused / "scene.json").read_text())
    assert empty["objects"] == [] and "holds no object" in empty["error"]
    assert sorted(p.name for p in reused.iterdir()) == ["scene.json"]
    write_depth_png(tmp_path / "table.png", np.where(frame.labels == 0, frame.depth, 0.0).astype(np.float32))
    assert main(["scene", str(tmp_path / "table.png"), *base[2:-1], str(reused)]) == 2
    assert "no object found" in capsys.readouterr().err
    table = json.loads((reused / "scene.json").read_text())
    assert table["objects"] == [] and table["plane"]["d"] > 0 and "no object found" in table["error"]
    (reused / "view.html").write_text("the last frame's figure")
    assert main(["scene", str(tmp_path / "table.png"), *base[2:-1], str(reused), "--html",
                 str(reused / "view.html")]) == 2
    capsys.readouterr()
    assert sorted(p.name for p in reused.iterdir()) == ["scene.json"]
    assert set(json.loads((reused / "scene.json").read_text())) >= {"model", "plane", "objects", "seconds"}
    # a frame in 1/10000 m units (YCB-Video) read as millimetres: warned, with the scale that fits
    write_depth_png(tmp_path / "ycb.png", frame.depth.astype(np.float32), depth_scale=10000.0)
    assert main([base[0], str(tmp_path / "ycb.png"), *base[2:], "--labels", str(tmp_path / "labels.png")]) == 2
    err = capsys.readouterr().err
    assert "close-range frames" in err and "--depth-scale 10000" in err
    # a column-major K (last row not 0 0 1) is refused
    k = np.array([[262.5, 0, 159.5], [0, 262.5, 119.5], [0, 0, 1]])
    np.savetxt(tmp_path / "K.txt", k.T)
    assert main(base[:3] + [str(tmp_path / "K.txt")] + base[4:]) == 2
    assert "last row" in capsys.readouterr().err
    # a surface threshold that is not a probability
    assert main(base + ["--threshold", "1.5"]) == 2
    assert "--threshold" in capsys.readouterr().err
    # no plane: a frame of scattered returns
    blob = np.random.default_rng(0).uniform(0.5, 1.5, (240, 320)).astype(np.float32)
    write_depth_png(tmp_path / "blob.png", blob)
    assert main(["scene", str(tmp_path / "blob.png"), "--intrinsics", str(tmp_path / "K.json"), "-o",
                 str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "no-plane" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists() and not (tmp_path / "b").exists()


def test_a_frame_of_one_object_without_a_table_has_no_support_plane() -> None:
    """A single box seen up close, nothing behind it: its largest face is a plane, but 10 cm across, not a table;
    ``segment_scene`` says no plane (with the --no-plane hint) rather than completing pieces of the box on it."""
    from implicit3d.scene import NoSupportPlaneError
    from implicit3d.sensing.camera import look_at
    from implicit3d.sensing.render import render

    box = trimesh.creation.box((0.1, 0.1, 0.1))
    small = Intrinsics(fx=262.5, fy=262.5, cx=159.5, cy=119.5, width=320, height=240)
    res = render(box, small, look_at(np.array([0.35, 0.2, 0.3]), (0.0, 0.0, 0.0)))
    with pytest.raises(NoSupportPlaneError, match=r"the best plane is 1\d cm across.*--no-plane"):
        segment_scene(res.depth.astype(np.float64), small)
    found = segment_scene(res.depth.astype(np.float64), small, no_plane=True)
    assert len(found.segmentation.objects) >= 1


def test_a_table_above_a_larger_floor_is_the_support() -> None:
    """A small table seen from a metre with the floor 76 cm below it filling most of the frame: the floor is the
    largest plane but nothing stands on it, so the table (parallel, above it) is taken, with a one-line warning;
    the table's objects are found. An empty small table stays empty (nothing below a plane is tried)."""
    import warnings

    from implicit3d.errors import InputWarning
    from implicit3d.evaluation.tabletop import _place, _render_scene, table_mesh
    from implicit3d.scene import NoObjectError

    objs = [shapes.generate(c, s).mesh for c, s in (("bottle", 5), ("box", 7), ("can", 3))]
    placed = _place(objs, np.random.default_rng(0), 0.12, False)
    floor = trimesh.creation.box((6.0, 6.0, 0.02))
    floor.apply_translation([0.0, 0.0, -0.76])
    support = [table_mesh((0.5, 0.5, 0.03)), floor]
    scene = _render_scene(support, placed, ["a", "b", "c"], np.random.default_rng(3), SMALL, (1.0, 1.1),
                          (35.0, 45.0), "none", 0.05)
    with pytest.warns(InputWarning, match=r"nothing stands on the largest plane; took the plane 0\.[78] m above"):
        found = segment_scene(scene.depth, scene.intrinsics)
    assert found.plane.d < 0.8 and len(found.segmentation.objects) >= 3
    empty = _render_scene(support, [], [], np.random.default_rng(3), SMALL, (1.0, 1.1), (35.0, 45.0), "none", 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        with pytest.raises(NoObjectError):
            segment_scene(empty.depth, empty.intrinsics)


def test_an_upside_down_camera_is_told_to_pass_up(frame) -> None:
    """Turned 180 degrees, the table faces down in the image and is not taken as the support: a one-line warning
    names --up, and with ``up`` (gravity's up in the camera frame) the table is found again; upright, nothing is
    said."""
    import warnings

    from implicit3d.errors import InputWarning

    k = frame.intrinsics
    flipped_k = replace(k, cx=k.width - 1 - k.cx, cy=k.height - 1 - k.cy)
    flipped = frame.depth[::-1, ::-1].copy()
    with pytest.warns(InputWarning, match=r"largest plane faces down in the image .* pass --up"):
        try:
            segment_scene(flipped, flipped_k)
        except Exception:  # noqa: BLE001 - what it makes of the wrong plane is beside the point here
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        upright = segment_scene(frame.depth, k)
        n = upright.plane.normal
        turned = segment_scene(flipped, flipped_k, up=np.array([-n[0], -n[1], n[2]]))  # as an IMU would say
    assert turned.plane.normal @ np.array([-n[0], -n[1], n[2]]) > 0.999
    assert len(turned.segmentation.objects) == len(upright.segmentation.objects)


def test_intrinsics_formats(tmp_path) -> None:
    from implicit3d.sensing.io import read_intrinsics

    want = Intrinsics(fx=600.0, fy=601.0, cx=320.0, cy=240.0, width=640, height=480)
    k = [[600.0, 0, 320.0], [0, 601.0, 240.0], [0, 0, 1]]
    (tmp_path / "o3d.json").write_text(json.dumps({"width": 640, "height": 480,
                                                   "intrinsic_matrix": list(np.array(k).T.reshape(-1))}))
    (tmp_path / "ros.yaml").write_text("width: 640\nheight: 480\nk: " + json.dumps(list(np.reshape(k, -1))) + "\n")
    (tmp_path / "bop.json").write_text(json.dumps({"0": {"cam_K": list(np.reshape(k, -1)), "depth_scale": 0.1}}))
    np.savetxt(tmp_path / "K.txt", k)
    np.save(tmp_path / "K.npy", np.array(k))
    # `rostopic echo -n1 /camera/depth/camera_info > ros1.yaml`: ROS 1's message ends with a `---` line
    (tmp_path / "ros1.yaml").write_text("header:\n  seq: 1\nheight: 480\nwidth: 640\nK: "
                                        + json.dumps(list(np.reshape(k, -1))) + "\n---\n")
    for name in ("o3d.json", "ros.yaml", "ros1.yaml", "bop.json", "K.txt", "K.npy"):
        assert read_intrinsics(tmp_path / name, size=(480, 640)) == want, name
    # a BOP scene whose frames have other cameras: the depth image's frame, or the first with a warning
    other = np.array(k) * [[2], [2], [1]]
    (tmp_path / "bop2.json").write_text(json.dumps({"0": {"cam_K": list(np.reshape(k, -1))},
                                                    "42": {"cam_K": list(other.reshape(-1))}}))
    from implicit3d.errors import InputWarning

    with pytest.warns(InputWarning, match=r"principal point \(640, 480\) lies far from the centre .* another "
                      "resolution"):  # frame 42's camera is twice the size: a K for 1280x960
        assert read_intrinsics(tmp_path / "bop2.json", size=(480, 640), image="depth/000042.png").fx == 1200.0
    with pytest.warns(InputWarning, match="bop2.json: its 2 frames have different cam_K; .* of frame '0' is used"):
        assert read_intrinsics(tmp_path / "bop2.json", size=(480, 640)) == want


def test_api_complete_scene_passes_resolution_and_threshold(frame, result) -> None:
    """``implicit3d.api.complete_scene`` is the same pipeline: the same objects; its ``threshold`` reaches the
    extraction (a higher one completes less)."""
    import implicit3d.api as i3d

    loose = i3d.complete_scene(frame.depth, frame.intrinsics, resolution=32, threshold=0.3)
    assert loose.settings.resolution == 32 and loose.settings.threshold == 0.3
    assert len(loose.objects) == len(result.objects)
    assert sum(o.mesh.volume for o in loose.objects) > sum(o.mesh.volume for o in result.objects)


def test_api_takes_k_as_a_matrix_and_a_one_channel_depth(frame, result) -> None:
    """A robot has K as a 3x3 matrix and depth maybe as (H, W, 1): both are taken, with the same result; anything
    else that is no camera is a TypeError naming what is accepted."""
    import implicit3d.api as i3d
    from implicit3d.sensing.io import as_intrinsics

    k = frame.intrinsics
    matrix = np.array([[k.fx, 0, k.cx], [0, k.fy, k.cy], [0, 0, 1]])
    assert as_intrinsics(matrix, frame.depth.shape) == k
    assert as_intrinsics(matrix.tolist(), frame.depth.shape) == k
    got = i3d.complete_scene(frame.depth[..., None], matrix, resolution=32)
    assert len(got.objects) == len(result.objects)
    assert [len(o.mesh.vertices) for o in got.objects] == [len(o.mesh.vertices) for o in result.objects]
    with pytest.raises(TypeError, match="Intrinsics, a file path, a mapping or a 3x3 camera matrix K"):
        as_intrinsics(None, frame.depth.shape)
    from implicit3d.errors import UserError

    # a mapping in any file layout: this project's fields, a ROS CameraInfo's K (row-major, as a dict)
    assert as_intrinsics(k.to_dict(), frame.depth.shape) == k
    assert as_intrinsics({"k": matrix.ravel().tolist(), "width": k.width, "height": k.height}, (1, 1)) == k
    with pytest.raises(UserError, match="the intrinsics mapping"):
        as_intrinsics({"fx": 1}, frame.depth.shape)
    with pytest.raises(UserError, match="projection matrix P"):  # a CameraInfo's P given for K
        as_intrinsics(np.c_[matrix, np.zeros(3)], frame.depth.shape)

    with pytest.raises(UserError, match="last row"):
        as_intrinsics(matrix.T, frame.depth.shape)


def test_api_tells_an_empty_table_and_a_missing_plane_apart(frame) -> None:
    """A robot's loop sees empty tables: that is a NoObjectError, a frame without a table a NoSupportPlaneError
    (both UserErrors, as the command reports them); settings reach the pipeline."""
    import implicit3d.api as i3d
    from implicit3d.scene import NoObjectError, NoSupportPlaneError

    table_only = np.where(frame.labels == 0, frame.depth, 0.0)
    with pytest.raises(NoObjectError, match="no object found") as empty:
        i3d.complete_scene(table_only, frame.intrinsics, resolution=32)
    assert empty.value.plane is not None and empty.value.plane.d > 0  # the table it found, to put things on
    blob = np.random.default_rng(0).uniform(0.5, 1.5, frame.depth.shape)
    with pytest.raises(NoSupportPlaneError, match="no_plane=True"):
        i3d.complete_scene(blob, frame.intrinsics, resolution=32)
    from implicit3d.scene import NoDepthError

    for dropout in (np.zeros(frame.depth.shape), np.full(frame.depth.shape, np.nan)):  # a sensor dropout: skip it
        with pytest.raises(NoDepthError, match="0 valid depth pixels"):
            i3d.complete_scene(dropout, frame.intrinsics, resolution=32)
    two = i3d.complete_scene(frame.depth, frame.intrinsics, settings=SceneSettings(resolution=32, copies=2))
    assert two.settings.copies == 2 and two.settings.resolution == 32 and len(two.objects) >= 1
    assert "observed_surface_share" in two.objects[0].summary()["uncertainty"]  # a default seen distance


def test_api_checks_what_a_robot_may_hand_it(frame, result) -> None:
    """The Python entry point checks what the command line checks: a sensor's raw integer units and a path are
    refused, a wrong scale gets the command's warning, bad settings fail before any work, with UserErrors."""
    import implicit3d.api as i3d
    from implicit3d.errors import InputWarning, UserError

    raw = np.round(frame.depth * 1000).astype(np.uint16)  # a 16UC1 ROS image in millimetres
    with pytest.raises(UserError, match=r"uint16 array: a sensor's raw units .*depth / 1000"):
        i3d.complete_scene(raw, frame.intrinsics)
    with pytest.raises(UserError, match="read the file first"):
        i3d.complete_scene("depth.png", frame.intrinsics)
    with pytest.warns(InputWarning, match="the depth array: the median depth is .* outside the usual 0.15-3 m"):
        with pytest.raises(UserError):  # 100x too far: no plane or no object there, but the cause is named first
            i3d.complete_scene(frame.depth * 100, frame.intrinsics, resolution=32)
    for kwargs, message in (({"resolution": 4}, "resolution must be >= 8"), ({"threshold": 2.0}, "threshold is a"),
                            ({"up": "sideways"}, "up: "), ({"device": "cuda:0"}, "no CUDA GPU"),
                            ({"settings": SceneSettings(resolution=0)}, "settings.resolution")):
        if kwargs.get("device") and __import__("torch").cuda.is_available():
            continue
        with pytest.raises(UserError, match=message):
            i3d.complete_scene(frame.depth, frame.intrinsics, **kwargs)
    # settings' bf16 is kept (it was reset to fp32), up may be text as for --up, the model is named as asked
    up = ",".join(f"{c:.4f}" for c in result.plane.normal)
    got = i3d.complete_scene(frame.depth, frame.intrinsics, up=up, model_name="my model",
                             settings=SceneSettings(resolution=32, bf16=True))
    assert got.settings.bf16 and got.model == "my model" and len(got.objects) == len(result.objects)


def test_api_keeps_the_callers_label_ids(frame) -> None:
    """A robot matches completions to its detector's instances by id: an object keeps its label image's id, an
    instance with no depth on the table is reported as skipped under its id, and non-integer labels are refused."""
    import implicit3d.api as i3d
    from implicit3d.errors import UserError
    from implicit3d.scene import scene_json

    labels = np.where(frame.labels > 0, frame.labels * 10 + 5, 0).astype(np.int32)  # ids 15, 25
    depth = frame.depth.copy()
    labels[:4, :4] = 7  # an instance where the sensor has no depth
    depth[:4, :4] = 0.0
    got = i3d.complete_scene(depth, frame.intrinsics, labels=labels, resolution=32)
    assert sorted(o.label for o in got.objects) == sorted(set(np.unique(labels[labels > 0])) - {7})
    for obj in got.objects:
        assert (labels[obj.pixels[:, 0], obj.pixels[:, 1]] == obj.label).all()
        assert (got.labels[obj.pixels[:, 0], obj.pixels[:, 1]] == obj.label).all()
    assert [s["label"] for s in got.skipped if s["points"] == 0] == [7]
    doc = scene_json(got, [f"object_{i:02d}.ply" for i in range(1, len(got.objects) + 1)])
    assert {o["label"] for o in doc["objects"]} == {o.label for o in got.objects}
    assert any(row.get("labels") == [7] for row in doc["skipped"])
    with pytest.raises(UserError, match=r"whole-number instance ids .* float64 values such as \d+\.5"):
        i3d.complete_scene(depth, frame.intrinsics, labels=labels + 0.5, resolution=32)
    with pytest.raises(UserError, match="negative ids"):
        i3d.complete_scene(depth, frame.intrinsics, labels=-labels, resolution=32)
    with pytest.raises(UserError, match=r"an array of shape \(240, 320, 3\) but the depth image is 320x240"):
        i3d.complete_scene(depth, frame.intrinsics, labels=np.dstack([labels] * 3), resolution=32)


def test_bf16_completes_the_same_objects_nearly_alike(frame, result, tmp_path, capsys, monkeypatch) -> None:
    """``precision="bf16"`` / ``--precision`` reach the completion: the same objects, volumes within a few per cent
    of fp32's but not identical (autocast acted); the command says which arithmetic it used."""
    import implicit3d.api as i3d
    import implicit3d.training.trainer as trainer

    fast = i3d.complete_scene(frame.depth, frame.intrinsics, resolution=32, precision="bf16")
    assert fast.settings.bf16 and not result.settings.bf16
    assert len(fast.objects) == len(result.objects)
    v32 = np.array([o.mesh.volume for o in result.objects])
    v16 = np.array([o.mesh.volume for o in fast.objects])
    assert not np.array_equal(v32, v16)
    np.testing.assert_allclose(v16, v32, rtol=0.05)
    write_depth_png(tmp_path / "depth.png", frame.depth.astype(np.float32))
    write_intrinsics_json(tmp_path / "K.json", frame.intrinsics)
    base = ["scene", str(tmp_path / "depth.png"), "--intrinsics", str(tmp_path / "K.json"), "-o", str(tmp_path / "o"),
            "--resolution", "24"]
    monkeypatch.setattr(trainer, "cpu_bf16_capability", lambda: None)  # a CPU without native bf16
    assert main([*base, "--precision", "auto"]) == 0
    captured = capsys.readouterr()
    assert "(bf16)" not in captured.out and "emulated" not in captured.err  # auto: fp32 there, silently
    assert main([*base, "--precision", "bf16"]) == 0
    captured = capsys.readouterr()
    assert "(bf16) in" in captured.out and "emulated" in captured.err  # asked for: done, with a one-line warning
    monkeypatch.setattr(trainer, "cpu_bf16_capability", lambda: "amx_bf16")
    assert main([*base, "--precision", "auto"]) == 0
    assert "(bf16) in" in capsys.readouterr().out


def test_a_reused_folder_holds_only_this_scenes_objects(result, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    n = len(result.objects)
    for name in (f"object_{n + 1:02d}.ply", "object_99.ply"):  # an earlier scene's extra objects
        (out / name).write_text("old")
    (out / "object_notes.ply").write_text("the user's")  # not a name write_scene gives
    write_scene(result, out)
    assert sorted(p.name for p in out.glob("object_*.ply")) == sorted(
        [f"object_{i:02d}.ply" for i in range(1, n + 1)] + ["object_notes.ply"])


def test_write_scene_checks_its_figure_inputs_before_writing(result, tmp_path) -> None:
    """A colour image of another size (or a grey one) and a figure name that is no HTML file are refused before
    anything is written; the centroid in scene.json is the completed solid's centre of mass."""
    from implicit3d.errors import UserError

    h, w = result.valid.shape
    for kwargs, message in (({"color": np.zeros((h, w), np.uint8)}, "an array of shape"),
                            ({"color": np.zeros((h // 2, w, 3), np.uint8)}, f"depth image's {w}x{h} pixels"),
                            ({"html": tmp_path / "scene.png"}, "name it .html")):
        with pytest.raises(UserError, match=message):
            write_scene(result, tmp_path / "out", **kwargs)
        assert not (tmp_path / "out").exists()
    write_scene(result, tmp_path / "out", html=tmp_path / "out" / "scene.html", color=np.zeros((h, w, 3), np.uint8))
    doc = json.loads((tmp_path / "out" / "scene.json").read_text())
    for entry, obj in zip(doc["objects"], result.objects, strict=True):
        assert obj.mesh.is_watertight
        np.testing.assert_allclose(entry["centroid"], obj.mesh.center_mass, atol=1e-9)


def test_scene_refuses_an_unwritable_output_before_any_work(frame, tmp_path, capsys, monkeypatch) -> None:
    import errno
    import tempfile

    write_depth_png(tmp_path / "depth.png", frame.depth.astype(np.float32))
    write_intrinsics_json(tmp_path / "K.json", frame.intrinsics)
    locked = tmp_path / "locked"
    locked.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - creating files in `locked` fails (as root ignores modes)
        if dir is not None and Path(dir).resolve() == locked.resolve():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(Path(dir) / ".x.tmp"))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    base = ["scene", str(tmp_path / "depth.png"), "--intrinsics", str(tmp_path / "K.json")]
    assert main([*base, "-o", str(tmp_path / "out"), "--html", str(locked / "f.html")]) == 2
    err = capsys.readouterr().err
    assert "--html" in err and "cannot write in" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing computed, nothing written
    assert main([*base, "-o", str(locked / "out")]) == 2
    assert "cannot write in" in capsys.readouterr().err
    assert list(locked.iterdir()) == []


def _top_down_frame(cylinders, boxes=(), f=570.0, z0=0.8):
    """A 640x480 depth frame of a camera looking straight down at a table ``z0`` metres away, ray-cast: upright
    ``cylinders`` ``(x, y, radius, height)`` standing on it and floating square ``boxes`` ``(x, y, half side,
    height above the table)`` (their tops only, nothing below)."""
    h, w, cx, cy = 480, 640, 319.5, 239.5
    vv, uu = np.mgrid[:h, :w]
    x, y = (uu - cx) / f, (vv - cy) / f
    depth = np.full((h, w), z0)
    for ox, oy, r, ht in cylinders:
        t = z0 - ht
        top = (t * x - ox) ** 2 + (t * y - oy) ** 2 < r**2
        depth[top] = np.minimum(depth[top], t)
        a, b, c = x**2 + y**2, -2 * (x * ox + y * oy), ox**2 + oy**2 - r**2
        disc = b * b - 4 * a * c
        ts = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a + 1e-12), np.inf)
        side = (disc >= 0) & (ts >= t) & (ts <= z0)
        depth[side] = np.minimum(depth[side], ts[side])
    for ox, oy, half, above in boxes:
        t = z0 - above
        top = (np.abs(t * x - ox) < half) & (np.abs(t * y - oy) < half)
        depth[top] = np.minimum(depth[top], t)
    depth += np.random.default_rng(0).normal(0, 0.001, depth.shape)
    return depth, Intrinsics(fx=f, fy=f, cx=cx, cy=cy, width=w, height=h)


def test_objects_seen_straight_from_above_stand_on_the_table() -> None:
    """A camera looking straight down sees only the top of a tall object in the middle of its view: the support
    below it is hidden behind the object itself, so it stands there (before: skipped as 'not resting on the
    support'), and it is completed down to the table. A small thing hovering off to the side, whose support below
    the camera sees, is still skipped."""
    model, meta, name = load_scene_model(None)
    depth, k = _top_down_frame([(0.0, 0.0, 0.04, 0.12), (0.15, 0.05, 0.04, 0.05)], boxes=[(-0.25, -0.12, 0.012, 0.15)])
    result = complete_scene(depth, k, model=model, meta=meta, model_name=name,
                            settings=SceneSettings(resolution=32))
    assert len(result.objects) == 2
    middle = min(result.objects, key=lambda o: np.linalg.norm(o.points[:, :2].mean(axis=0)))
    assert float(np.quantile(result.plane.height(middle.points), 0.01)) > 0.1  # only its top was seen
    heights = result.plane.height(middle.mesh.vertices)
    assert middle.rests_on_table and middle.mesh.is_watertight
    assert heights.min() < 0.01 and heights.max() == pytest.approx(0.12, abs=0.01)  # down to the table
    assert middle.mesh.volume == pytest.approx(np.pi * 0.04**2 * 0.12, rel=0.25)
    hovering = [s for s in result.skipped if s["reason"].startswith("not resting on the support")]
    assert len(hovering) == 1 and "of the support below it seen" in hovering[0]["reason"]


def test_an_object_cut_by_the_image_border_says_so(frame, result) -> None:
    """An object that runs out of the image says how much of its outline the border cuts (scene.json, the command's
    line); one whole in view says none; cropped through the middle of an object, the frame's object there is cut."""
    from dataclasses import replace as dc_replace

    from implicit3d.commands.scene import _cut_off

    h, w = frame.depth.shape
    for o in result.objects:  # here the can reaches the bottom row: cut; the bottle is whole in view
        touches = o.pixels.min() == 0 or o.pixels[:, 0].max() == h - 1 or o.pixels[:, 1].max() == w - 1
        assert (o.border_share > 0) == touches
    assert any(o.border_share == 0 for o in result.objects)
    assert all(0.0 <= o.occluded_share <= 1.0 for o in result.objects)
    rows, cols = np.nonzero(frame.labels == 1)
    c0 = int(np.median(cols))
    crop = frame.depth[:, c0:]
    intr = dc_replace(frame.intrinsics, cx=frame.intrinsics.cx - c0, width=crop.shape[1])
    found = segment_scene(crop, intr, settings=result.settings)
    at_left = [o for o in found.segmentation.objects if o.pixels[:, 1].min() == 0]
    assert at_left and all(o.border_share > 0.05 for o in at_left)
    assert "runs out of the image (20% of its outline)" in _cut_off(0.2, 0.0)
    assert _cut_off(0.01, 0.0) == "" and "behind something nearer (30%" in _cut_off(0.0, 0.3)


def test_match_objects_carries_labels_over_frames(result) -> None:
    """The same objects in the next frame, labelled the other way round and the camera moved: matched by place."""
    import copy

    from implicit3d.scene import match_objects

    assert match_objects(result, result) == {o.label: o.label for o in result.objects}
    motion = np.eye(4)
    motion[:3, 3] = [0.2, 0.0, 0.0]  # the camera moved 20 cm: every point moves by it in the camera's coordinates
    moved = copy.copy(result)
    moved.objects = []
    for new_label, obj in zip(range(len(result.objects), 0, -1), result.objects, strict=True):
        o = copy.copy(obj)
        o.mesh = obj.mesh.copy()
        o.mesh.apply_translation(motion[:3, 3])
        o.label = new_label
        moved.objects.append(o)
    expect = {m.label: o.label for m, o in zip(moved.objects, result.objects, strict=True)}
    assert match_objects(result, moved, motion=motion) == expect
    assert match_objects(result, moved) == {}  # without the motion every object moved 20 cm: none matched
    with pytest.raises(ValueError, match="motion"):
        match_objects(result, moved, motion=np.eye(3))
