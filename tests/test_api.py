"""implicit3d.api: load_model (checkpoints, weight files, bundled model), complete (frames), extract_mesh."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import trimesh

import implicit3d.api as i3d
from implicit3d import completion
from implicit3d.data.contract import DEFAULT_TURNS, read_contract
from implicit3d.errors import UserError
from implicit3d.geometry import frames
from implicit3d.training import weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def loaded(run_dir):
    return i3d.load_model(run_dir)


def _cloud(n: int = 600, seed: int = 0) -> np.ndarray:
    """Points on the front half of an upright cylinder, radius 0.04 m, height 0.2 m (z up), centred at 0."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.0, np.pi, n)
    return np.c_[0.04 * np.cos(a), 0.04 * np.sin(a), rng.uniform(-0.1, 0.1, n)]


def test_load_model_paths(run_dir, loaded) -> None:
    model, meta = loaded
    assert not model.training and meta["model_config"]["name"] == "conv_onet_grid"
    assert meta["data_config"]["n_inputs"] == 512 and meta["step"] == 80
    ck = run_dir / "checkpoints" / "last"
    for path in (ck, ck / "checkpoint.json", ck / "model.safetensors"):
        m2, meta2 = i3d.load_model(path)
        assert meta2["directory"] == str(ck)
        for (k, a), (_, b) in zip(model.state_dict().items(), m2.state_dict().items(), strict=True):
            assert np.array_equal(a.numpy(), b.numpy()), k
    with pytest.raises(UserError, match="not found"):
        i3d.load_model(run_dir / "missing")
    (run_dir.parent / "lonely.safetensors").write_bytes(b"x")
    with pytest.raises(UserError, match="lonely.json"):
        i3d.load_model(run_dir.parent / "lonely.safetensors")


def test_bundled_model(loaded, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(weights, "bundled_weights", lambda: None)  # a build without weights
    with pytest.raises(UserError, match="no bundled model.*--checkpoint.*implicit3d train"):
        i3d.load_model(None)
    with pytest.raises(UserError, match="no bundled model"):
        i3d.complete(_cloud())
    # a NAME.safetensors + NAME.json pair, as the bundled model will ship, loads the same weights
    from safetensors.torch import save_file

    model, meta = loaded
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "default.safetensors")
    (tmp_path / "default.json").write_text(json.dumps({"model_config": meta["model_config"],
                                                       "data_config": {"n_inputs": 256},
                                                       "normalization": {"padding": 0.2}}))
    monkeypatch.setattr(weights, "bundled_weights",
                        lambda: (tmp_path / "default.safetensors", tmp_path / "default.json"))
    m2, meta2 = i3d.load_model()
    assert completion.model_contract(meta2).padding == 0.2 and completion.model_contract(meta2).n_inputs == 256
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(model.state_dict().values(),
                                                                       m2.state_dict().values(), strict=True))
    mesh = i3d.complete(_cloud(), resolution=16)
    assert mesh.metadata["completion"]["n_inputs"] == 256 and mesh.metadata["completion"]["padding"] == 0.2
    # the loaded model carries its metadata: passed on alone, it is framed as it was trained
    alone = i3d.complete(_cloud(), m2, resolution=16)
    assert alone.metadata["completion"]["n_inputs"] == 256 and alone.metadata["completion"]["padding"] == 0.2
    (tmp_path / "default.json").write_text("{}")
    with pytest.raises(UserError, match="no model_config"):
        i3d.load_model()


def test_complete_is_equivariant_to_similarity_and_up(loaded) -> None:
    """Completing x' = s R x + t (with up = R z) gives the mesh s R m + t: normalization undoes the frame."""
    model, meta = loaded
    pts = _cloud()
    base = i3d.complete(pts, model, resolution=32, config=meta)
    assert len(base.faces) > 0 and base.metadata["completion"]["n_inputs"] == 512
    lo, hi = pts.min(0), pts.max(0)
    assert np.all(np.minimum(base.bounds[1], hi) > np.maximum(base.bounds[0], lo))
    # x' = 3 R x + t with R taking +z to -y (an upright object seen by an OpenCV camera)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    assert np.allclose(rot @ [0, 0, 1], [0, -1, 0])
    t = np.array([0.1, -0.2, 0.7])
    moved = i3d.complete(3.0 * pts @ rot.T + t, model, resolution=32, config=meta, up="-y")
    np.testing.assert_allclose(moved.vertices, 3.0 * base.vertices @ rot.T + t, atol=1e-6)
    np.testing.assert_array_equal(moved.faces, base.faces)
    # ... also with a sensor viewpoint (the box is extended away from it)
    vp = np.array([0.0, 0.6, 0.05])
    base_vp = i3d.complete(pts, model, resolution=32, config=meta, viewpoint=vp)
    moved_vp = i3d.complete(3.0 * pts @ rot.T + t, model, resolution=32, config=meta, up="-y",
                            viewpoint=3.0 * rot @ vp + t)
    np.testing.assert_allclose(moved_vp.vertices, 3.0 * base_vp.vertices @ rot.T + t, atol=1e-6)
    assert base_vp.metadata["completion"]["loc"][1] < base.metadata["completion"]["loc"][1] - 0.01
    # a size hint only rescales the model's view of the object
    big = i3d.complete(pts, model, resolution=32, config=meta, size=0.4)
    assert big.metadata["completion"]["scale"] == pytest.approx(0.4 / 0.9)


def test_up_and_frames() -> None:
    for spec, vec in (("z", [0, 0, 1]), ("-y", [0, -1, 0]), ("+x", [1, 0, 0]), ("-z", [0, 0, -1]),
                      ("0,3,4", [0, 0.6, 0.8])):
        up = frames.parse_up(spec)
        np.testing.assert_allclose(up, vec)
        r = frames.rotation_to_z(up)
        np.testing.assert_allclose(r @ up, [0, 0, 1], atol=1e-12)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
    for bad in ("w", "1,2", "0,0,0", "nan,1,1"):
        with pytest.raises(ValueError, match="up"):
            frames.parse_up(bad)
    pts = _cloud() * 5 + 1
    frame = frames.observation_frame(pts, pose="yaw", normalize="object", up="x", padding=0.1)
    norm = frame.to_model(pts)
    assert np.ptp(norm, axis=0).max() == pytest.approx(0.9) and np.allclose(norm.min(0), -norm.max(0))
    np.testing.assert_allclose(frame.to_input(norm), pts, atol=1e-12)


def test_symmetric_footprint_recovers_the_hidden_half() -> None:
    pts = _cloud(4000)  # the y >= 0 half of a cylinder of radius 0.04, seen from +y
    box = frames.symmetric_footprint_box(pts, np.array([0.0, 0.5, 0.1]))
    np.testing.assert_allclose(box, [[-0.04, -0.04, -0.1], [0.04, 0.04, 0.1]], atol=2e-3)
    frame = frames.observation_frame(pts, pose="yaw", normalize="object", viewpoint=[0.0, 0.5, 0.1])
    np.testing.assert_allclose(frame.loc, [0, 0, 0], atol=2e-3)
    # seen from straight above: nothing to extend
    above = frames.symmetric_footprint_box(pts, np.array([0.0, 0.02, 1.0]))
    np.testing.assert_allclose(above, [pts.min(0), pts.max(0)])


def test_visible_frame_matches_training_and_ignores_box_hints() -> None:
    from implicit3d.geometry.transforms import visible_box_params

    pts = _cloud(4000) * 3 + np.array([0.2, -0.1, 0.5])
    contract = completion.model_contract({"data_config": {"normalize": "visible", "visible_extent": 0.6}})
    assert (contract.normalize, contract.visible_extent) == ("visible", 0.6)
    assert (completion.model_contract({}).normalize, completion.model_contract({}).visible_extent) == ("object", 0.7)
    frame = contract.observation_frame(pts, viewpoint=[0, 0.5, 0.1], size=2.0)
    loc, scale = visible_box_params(pts, 0.6)  # exactly the dataset's training frame
    np.testing.assert_allclose(frame.loc, loc)
    assert frame.scale == pytest.approx(scale)
    norm = frame.to_model(pts)
    box = np.quantile(norm, [0.005, 0.995], axis=0)
    assert np.ptp(box, axis=0).max() == pytest.approx(0.6) and np.allclose(box[0], -box[1])


def test_extract_mesh_field_and_model(loaded) -> None:
    sphere = i3d.extract_mesh(lambda p: np.linalg.norm(p, axis=1) - 0.3, resolution=32)
    r = np.linalg.norm(sphere.vertices, axis=1)
    assert sphere.is_watertight and abs(r.mean() - 0.3) < 0.01
    occ = i3d.extract_mesh(lambda p: (np.linalg.norm(p, axis=1) < 0.3).astype(float), kind="occupancy",
                           resolution=32, loc=[1.0, 0, 0], scale=2.0)
    assert abs(np.linalg.norm(occ.vertices - [1.0, 0, 0], axis=1).mean() - 0.6) < 0.05
    model, _ = loaded
    d = np.random.default_rng(0).normal(size=(300, 3))
    inputs = 0.25 * d / np.linalg.norm(d, axis=1, keepdims=True)
    blob = i3d.extract_mesh(model, inputs, resolution=32)
    assert len(blob.faces) > 0 and np.all(np.abs(blob.vertices) < 0.56)
    with pytest.raises(ValueError, match="inputs"):
        i3d.extract_mesh(model)
    with pytest.raises(TypeError):
        i3d.extract_mesh(42)


def test_complete_refuses_bad_arguments_before_any_work(loaded) -> None:
    """Python callers get the command line's checks: a resolution beyond the cap would try to allocate hundreds of
    GiB; an unknown precision is named."""
    pts = np.random.default_rng(0).normal(size=(200, 3)) * 0.03 + [0, 0, 0.6]
    for kwargs, message in (({"resolution": 5000}, "resolution must be at most 1024"),
                            ({"resolution": 4}, "resolution must be"),
                            ({"precision": "fp16"}, "precision must be one of fp32, bf16, auto"),
                            ({"threshold": 1.0}, "threshold is a probability")):
        with pytest.raises(UserError, match=message):
            i3d.complete(pts, loaded[0], config=loaded[1], **kwargs)


def test_extract_mesh_refuses_the_other_kinds_surface_setting() -> None:
    sphere = lambda p: np.linalg.norm(p, axis=1) - 0.3  # noqa: E731
    with pytest.raises(ValueError, match="threshold=0.9 is the surface of an occupancy field"):
        i3d.extract_mesh(sphere, kind="sdf", threshold=0.9, resolution=8)
    with pytest.raises(ValueError, match="level=0.3 is the surface of an SDF"):
        i3d.extract_mesh(lambda p: (np.linalg.norm(p, axis=1) < 0.3).astype(float), kind="occupancy", level=0.3,
                         resolution=8)


def test_geometry_reexports() -> None:
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    q = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    assert i3d.inside(box, q).tolist() == [True, False]
    np.testing.assert_allclose(i3d.signed_distance(box, q), [-0.5, 1.5], atol=1e-9)


def test_mise_matches_dense_on_a_trained_model(loaded) -> None:
    """Issue 5: MISE and the dense grid give the same mesh for a (briefly) trained network, not just analytic fields."""
    model, meta = loaded
    cloud = _cloud()
    inputs = ((cloud - cloud.mean(0)) / 0.25).astype(np.float32)  # roughly the training normalization
    meshes = {m: i3d.extract_mesh(model, inputs, resolution=64, method=m) for m in ("mise", "dense")}
    dense, mise = meshes["dense"], meshes["mise"]
    assert len(dense.faces) > 100
    assert mise.metadata["extraction"]["n_evaluated"] < 0.5 * dense.metadata["extraction"]["n_evaluated"]
    a = np.unique(np.round(dense.vertices, 9), axis=0)
    b = np.unique(np.round(mise.vertices, 9), axis=0)
    common = len({tuple(v) for v in a} & {tuple(v) for v in b})
    assert common >= 0.99 * max(len(a), len(b))  # the same surface, vertex for vertex (up to thin missed parts)


class _BlobModel(torch.nn.Module):
    """Analytic stand-in for a trained model: occupancy logits of a sphere of radius 0.3 around the input cloud's
    centroid (normalized units). Its completion turns with its input, so every turned copy predicts the same
    sphere in the input frame: averaging them must give the single-pass mesh back."""

    output = "occupancy"

    def encode(self, inputs):
        return inputs.mean(dim=1, keepdim=True)

    def decode(self, points, c):
        return 40.0 * (0.3 - (points - c).norm(dim=-1))


def test_turned_views_average_back_to_the_same_shape() -> None:
    cloud = _cloud(800)
    meta = {"data_config": {"pose": "yaw", "n_inputs": 512}}
    one = completion.complete_points(cloud, _BlobModel(), meta, resolution=48, turns=1)
    four = completion.complete_points(cloud, _BlobModel(), meta, resolution=48, turns=4)
    assert one.info["turns"] == 1 and four.info["turns"] == 4
    assert four.mesh.volume == pytest.approx(one.mesh.volume, rel=0.03)
    assert np.allclose(four.mesh.centroid, one.mesh.centroid, atol=0.02 * one.frame.scale)
    # the default for a model trained on yaw-turned inputs is the ensemble
    default = completion.complete_points(cloud, _BlobModel(), meta, resolution=16)
    assert default.info["turns"] == DEFAULT_TURNS


def test_default_turns_follow_the_training_pose() -> None:
    def meta(pose, view_pose=None):
        m = {"data_config": {"pose": pose}}
        if view_pose:
            m["dataset"] = {"settings": {"view_pose": view_pose}}
        return m

    def turns(m):
        return read_contract(m).default_turns

    assert turns(meta("canonical")) == 1
    assert turns(meta("yaw")) == turns(meta("so3")) == 8
    assert turns(meta("camera", "so3")) == 8
    assert turns(meta("camera", "yaw")) == 1  # views of upright objects: turning lays them down
    assert turns(None) == 1
    with pytest.raises(UserError, match="turns=4"):
        completion.complete_points(_cloud(), _BlobModel(), meta("canonical"), resolution=16, turns=4)
    with pytest.raises(UserError, match=">= 1"):
        completion.complete_points(_cloud(), _BlobModel(), meta("yaw"), resolution=16, turns=0)


def test_turned_frame_measures_the_turned_cloud() -> None:
    cloud = _cloud(500)
    base = frames.observation_frame(cloud, pose="yaw", normalize="visible", visible_extent=0.7)
    turned = frames.observation_frame(cloud, pose="yaw", normalize="visible", visible_extent=0.7, turn=np.pi / 2)
    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert np.allclose(turned.rotation, rz @ base.rotation)
    # the same box, turned: the cloud in the turned frame is the base frame's cloud turned a quarter about z
    assert turned.scale == pytest.approx(base.scale)
    assert np.allclose(turned.to_model(cloud), base.to_model(cloud) @ rz.T, atol=1e-9)


def test_turned_copies_keep_the_viewpoint_of_a_camera_model() -> None:
    # a camera-frame model given a cloud in another frame with its sensor position: every turned copy must look
    # from that viewpoint. Quarter turns about the line of sight keep the visible box's longest edge, so each copy
    # predicts the same sphere and the mean is the single-pass shape.
    cloud = _cloud(800) + np.array([0.1, -0.05, 0.2])
    meta = {
        "data_config": {"pose": "camera", "normalize": "visible", "visible_extent": 0.7, "n_inputs": 512},
        "dataset": {"settings": {"view_pose": "so3"}},
    }
    eye = np.array([0.45, 0.5, 0.65])
    one = completion.complete_points(cloud, _BlobModel(), meta, resolution=48, viewpoint=eye, turns=1)
    four = completion.complete_points(cloud, _BlobModel(), meta, resolution=48, viewpoint=eye, turns=4)
    assert four.mesh.volume == pytest.approx(one.mesh.volume, rel=0.03)
