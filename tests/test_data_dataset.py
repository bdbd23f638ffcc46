import numpy as np
import pytest
import torch
import trimesh

from implicit3d.data import formats
from implicit3d.data.dataset import ImplicitDataset
from implicit3d.data.prepare import PrepareConfig, prepare
from implicit3d.errors import UserError

CFG = PrepareConfig(
    n_uniform=3000,
    n_near=3000,
    n_surface=3000,
    n_views=2,
    image_size=(80, 60),
    focal=(70.0, 70.0),
    noise="none",
    view_pose="so3",
    split=(1.0, 0.0, 0.0),
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "d"
    prepare("catalogue:bottle", out, count=2, config=CFG, seed=3, progress=False)
    return out


@pytest.mark.parametrize("inp", ["surface", "partial"])
@pytest.mark.parametrize("src", ["uniform", "near", "mixed"])
def test_item_shapes(root, inp, src):
    ds = ImplicitDataset(root, "train", input=inp, n_inputs=500, n_points=301, points_source=src)
    assert len(ds) == 2
    item = ds[0]
    assert item["inputs"].shape == (500, 3) and item["inputs"].dtype == torch.float32
    assert item["points"].shape == (301, 3) and item["occ"].shape == (301,) and item["sdf"].shape == (301,)
    assert item["occ"].dtype == torch.float32 and item["sdf"].dtype == torch.float32
    assert set(torch.unique(item["occ"]).tolist()) <= {0.0, 1.0}
    assert item["category"] == "bottle" and item["name"] == "bottle_00000"
    assert torch.equal(item["sdf"] < 0, item["occ"] > 0)
    torch.testing.assert_close(item["transform"], torch.eye(4))


def test_collate(root):
    ds = ImplicitDataset(root, n_points=64)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["inputs"].shape == (2, 2048, 3) and batch["points"].shape == (2, 64, 3)
    assert batch["name"] == ["bottle_00000", "bottle_00001"]


@pytest.mark.parametrize("pose", ["so3", "yaw"])
def test_transforms_keep_labels_consistent(root, pose):
    ds = ImplicitDataset(
        root,
        input="surface",
        n_inputs=400,
        n_points=2000,
        points_source="mixed",
        pose=pose,
        scale_range=(0.5, 1.5),
        seed=1,
    )
    for i in range(len(ds)):
        item = ds[i]
        t = item["transform"].double().numpy()
        lin = t[:3, :3]
        s = np.cbrt(np.linalg.det(lin))
        assert not np.allclose(lin, np.eye(3))
        rot = lin / s
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-5)
        if pose == "yaw":
            np.testing.assert_allclose(rot[:, 2], [0, 0, 1], atol=1e-5)
        mesh = trimesh.load(root / "bottle" / item["name"] / "mesh.ply", process=False)
        mesh.apply_transform(t)  # transformed mesh
        pts = item["points"].double().numpy()
        ref_occ = mesh.contains(pts)
        _, ref_dist, _ = trimesh.proximity.closest_point(mesh, pts)
        far = ref_dist > 2e-3
        assert np.mean(item["occ"].numpy()[far] == ref_occ[far]) > 0.999
        np.testing.assert_allclose(np.abs(item["sdf"].numpy()), ref_dist, atol=2e-3 * s, rtol=5e-3)  # SDF scales
        _, in_dist, _ = trimesh.proximity.closest_point(mesh, item["inputs"].double().numpy())
        assert in_dist.max() < 2e-3 * s  # inputs transformed with the points


def test_visible_normalization_frames_the_observed_box_and_keeps_labels(root):
    from implicit3d.geometry.transforms import visible_box_params

    ds = ImplicitDataset(root, input="partial", n_inputs=600, n_points=3000, points_source="mixed", pose="so3",
                         normalize="visible", visible_extent=0.6, seed=2)
    for i in range(len(ds)):
        item = ds[i]
        inputs = item["inputs"].double().numpy()
        loc, scale = visible_box_params(inputs, 0.6)
        np.testing.assert_allclose(loc, 0.0, atol=1e-5)  # the observed box is centred ...
        np.testing.assert_allclose(scale, 1.0, rtol=1e-5)  # ... with its longest edge 0.6
        t = item["transform"].double().numpy()
        assert np.abs(t[:3, 3]).max() > 1e-4  # a translation, unlike the object frame
        mesh = trimesh.load(root / "bottle" / item["name"] / "mesh.ply", process=False)
        mesh.apply_transform(t)
        pts = item["points"].double().numpy()
        ref_occ = mesh.contains(pts)
        _, ref_dist, _ = trimesh.proximity.closest_point(mesh, pts)
        far = ref_dist > 2e-3
        assert np.mean(item["occ"].numpy()[far] == ref_occ[far]) > 0.999
        # some uniform queries were moved to the part of the model cube the stored samples do not cover
        canon = (pts - t[:3, 3]) @ np.linalg.inv(t[:3, :3]).T
        filled = np.abs(canon).max(axis=1) > 0.5 + 1e-4  # beyond the stored uniform samples' cube ...
        filled[1500:] = False  # ... among the uniform half (near-surface points may leave it)
        assert filled.sum() > 0 and (np.abs(pts[filled]) <= 0.55 + 1e-9).all()
        assert not ref_occ[filled].any()
        sdf = item["sdf"].numpy()
        assert (sdf[filled] > 0).all() and (sdf[filled] <= ref_dist[filled] + 1e-4).all()  # a lower bound
        s = np.cbrt(np.linalg.det(t[:3, :3]))
        close = np.isclose(np.abs(sdf[~filled]), ref_dist[~filled], atol=2e-3 * s, rtol=5e-3)
        assert close.mean() > 0.995  # SDF scales with the frame


def test_view_pose_reproduces_rendered_pose(root):
    ds = ImplicitDataset(root, input="partial", n_inputs=200, pose="view")
    item = ds[0]
    v = formats.load_npz(root / "bottle" / "bottle_00000" / "views.npz")
    rots = [v["object_pose"][k][:3, :3] for k in range(2)]
    assert any(np.allclose(item["transform"][:3, :3].numpy(), r, atol=1e-6) for r in rots)


def test_noise_determinism_and_epochs(root):
    ds = ImplicitDataset(root, noise=0.01, n_inputs=300, seed=5)
    a, b = ds[0], ds[0]
    torch.testing.assert_close(a["inputs"], b["inputs"])
    clean = ImplicitDataset(root, noise=0.0, n_inputs=300, seed=5)[0]["inputs"]
    assert 0.005 < (a["inputs"] - clean).std() < 0.015  # same subsample, noise of the requested std
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["inputs"], a["inputs"])


def test_errors(root, tmp_path):
    with pytest.raises(UserError, match="manifest.json not found"):
        ImplicitDataset(tmp_path)
    with pytest.raises(UserError, match="val.lst"):
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "manifest.json").write_text("{}")
        ImplicitDataset(tmp_path / "m", split="val")
    with pytest.raises(ValueError, match="input"):
        ImplicitDataset(root, input="mesh")
    with pytest.raises(ValueError, match="view"):
        ImplicitDataset(root, input="surface", pose="view")
    with pytest.raises(IndexError):
        ImplicitDataset(root)[5]
    with pytest.raises(IndexError):
        ImplicitDataset(root)[-3]
    last = ImplicitDataset(root)[-1]  # as a sequence: from the end
    assert last["index"] == 1 and torch.equal(last["points"], ImplicitDataset(root)[1]["points"])


def test_shapes_whose_views_saw_nothing_are_left_out_of_partial_input(root, tmp_path):
    import json
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    key = formats.read_split(copy, "train")[0]
    info_path = copy / key / formats.SHAPE_INFO
    info = json.loads(info_path.read_text())
    info["view_points"] = [0] * len(info["view_points"])
    info_path.write_text(json.dumps(info))
    full = ImplicitDataset(copy, split="train", input="surface")
    with pytest.warns(UserWarning, match="none of their depth views"):
        partial = ImplicitDataset(copy, split="train", input="partial")
    assert key in full.keys and key not in partial.keys and partial.skipped == [key]


def test_camera_pose_gives_the_frame_completion_builds_from_a_depth_image(root):
    from implicit3d.geometry.frames import camera_rotation, observation_frame

    v = np.load(root / "bottle" / "bottle_00000" / "views.npz")
    k = int(np.flatnonzero(np.diff(v["offsets"]) > 0)[0])
    cloud = v["points"][v["offsets"][k] : v["offsets"][k + 1]].astype(np.float64)
    cam, obj, s = v["cam_to_world"][k], v["object_pose"][k], float(v["object_scale"][k])
    # the same view as a depth image gives it: camera frame (OpenCV), metres
    world = (s * cloud) @ obj[:3, :3].T
    cam_points = (world - cam[:3, 3]) @ cam[:3, :3]
    assert (cam_points[:, 2] > 0).all()
    rot = camera_rotation(cloud, cam, obj, s)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    # training frame (dataset) == completion frame (camera-frame cloud, sensor at the origin)
    from implicit3d.geometry.transforms import visible_box_params

    rotated = cloud @ rot.T
    loc, scale = visible_box_params(rotated, 0.7)
    train_frame = (rotated - loc) / scale
    frame = observation_frame(cam_points, pose="camera", normalize="visible", visible_extent=0.7)
    np.testing.assert_allclose(frame.to_model(cam_points), train_frame, atol=1e-9)
    # the sensor looks along +z at the cloud: the unseen side is at larger z
    eye = (np.zeros(3) @ frame.rotation.T - frame.loc) / frame.scale
    d = train_frame.mean(axis=0) - eye
    np.testing.assert_allclose(d / np.linalg.norm(d), [0, 0, 1], atol=1e-9)


def test_camera_pose_items(root):
    ds = ImplicitDataset(root, input="partial", n_inputs=400, n_points=500, pose="camera", normalize="visible")
    item = ds[0]
    t = item["transform"].double().numpy()
    lin = t[:3, :3] / np.cbrt(np.linalg.det(t[:3, :3]))
    np.testing.assert_allclose(lin @ lin.T, np.eye(3), atol=1e-6)
    with pytest.raises(ValueError, match='pose "camera".*partial'):
        ImplicitDataset(root, input="surface", pose="camera")


def test_footprint_depth_items_match_the_completion_frame(root):
    from implicit3d.data.contract import contract_for_training
    from implicit3d.geometry.transforms import visible_box_params

    kw = dict(input="partial", n_inputs=400, n_points=500, pose="camera", normalize="visible", seed=3)
    deep = ImplicitDataset(root, visible_depth="footprint", **kw)
    flat = ImplicitDataset(root, **kw)
    shifted = 0
    for i in range(len(deep)):
        a, b = deep[i], flat[i]
        x = a["inputs"].double().numpy()
        loc, scale = visible_box_params(x, 0.7, depth="footprint")
        np.testing.assert_allclose(loc, 0.0, atol=1e-5)
        np.testing.assert_allclose(scale, 1.0, rtol=1e-5)
        dz = b["inputs"].double().numpy()[:, 2] - x[:, 2]  # the same view, moved along the line of sight only
        np.testing.assert_allclose(a["inputs"].numpy()[:, :2], b["inputs"].numpy()[:, :2], atol=1e-5)
        assert np.ptp(dz) < 1e-5 and dz[0] >= -1e-6  # the footprint box puts the view further ahead (or the same)
        shifted += dz[0] > 1e-3
    assert shifted > 0
    # what training records, completion reads back
    contract = contract_for_training(deep.config, "occupancy")
    assert contract.visible_depth == "footprint"
    with pytest.raises(ValueError, match="visible_depth"):
        ImplicitDataset(root, input="partial", pose="so3", normalize="visible", visible_depth="footprint")


def test_drop_outliers_removes_a_trail_of_flying_pixels(root, tmp_path):
    import shutil

    copy = tmp_path / "d"
    shutil.copytree(root, copy)
    for name in ("bottle_00000", "bottle_00001"):
        path = copy / "bottle" / name / "views.npz"
        v = dict(formats.load_npz(path))
        pts, off = v["points"], v["offsets"]
        parts, new_off = [], [0]
        for k in range(len(off) - 1):
            view = pts[off[k] : off[k + 1]]
            if len(view):  # 5 stray points well behind the view's centroid (these views hold only ~70 points)
                trail = view.mean(axis=0) + np.array([0.0, 0.0, 1.5]) + 0.2 * np.arange(5)[:, None]
                view = np.concatenate([view, trail])
            parts.append(view)
            new_off.append(new_off[-1] + len(view))
        v["points"], v["offsets"] = np.concatenate(parts).astype(pts.dtype), np.array(new_off, dtype=off.dtype)
        np.savez(path, **v)

    trail = []
    for name in ("bottle_00000",):
        v = formats.load_npz(copy / "bottle" / name / "views.npz")
        for k in range(len(v["offsets"]) - 1):
            view = v["points"][v["offsets"][k] : v["offsets"][k + 1]]
            trail.append(view[-5:])
    trail = np.concatenate(trail)

    def trail_points(drop: float) -> int:
        ds = ImplicitDataset(copy, input="partial", n_inputs=4000, seed=2, drop_outliers=drop)
        x = ds[0]["inputs"].numpy()  # canonical pose, object frame: the stored units
        return int((np.linalg.norm(x[:, None] - trail[None], axis=2).min(axis=1) < 1e-5).sum())

    assert trail_points(0.0) > 0
    assert trail_points(1.0) == 0
    with pytest.raises(ValueError, match="drop_outliers"):
        ImplicitDataset(copy, input="partial", drop_outliers=1.5)


def test_sparse_inputs_thin_a_view_to_a_random_count_of_distinct_points(root):
    def distinct(ds: ImplicitDataset, epochs: int = 6) -> list[int]:
        counts = []
        for epoch in range(epochs):
            ds.set_epoch(epoch)
            x = ds[0]["inputs"].numpy()
            assert x.shape == (48, 3)  # always the model's input count: repeats fill the batch
            counts.append(len(np.unique(x, axis=0)))
        return counts

    full = distinct(ImplicitDataset(root, input="partial", n_inputs=48, seed=3))
    assert min(full) == 48  # the fixture's views hold ~70 points: 48 distinct ones every time
    thin = distinct(ImplicitDataset(root, input="partial", n_inputs=48, seed=3, sparse_inputs=1.0, sparse_min=6))
    assert all(6 <= c <= 48 for c in thin) and min(thin) < 40 and len(set(thin)) > 2
    with pytest.raises(ValueError, match="sparse_inputs"):
        ImplicitDataset(root, input="partial", sparse_inputs=-0.1)
    with pytest.raises(ValueError, match="sparse_min"):
        ImplicitDataset(root, input="partial", sparse_min=0)


def test_a_trainer_keeps_the_datasets_framing_as_the_input_contract(root, tmp_path):
    """A Trainer built from Python without ``data_config`` reads the contract from its training set's config (a
    ``DataConfig`` given as ``data_config`` is accepted too), so the checkpoint frames inputs as it was trained."""
    from dataclasses import replace

    from implicit3d.models import create_model
    from implicit3d.training.checkpoint import load_checkpoint
    from implicit3d.training.trainer import TrainConfig, Trainer

    padded = tmp_path / "padded"  # a dataset prepared with another padding than the default
    prepare("catalogue:bottle", padded, count=2, config=replace(CFG, padding=0.2), seed=3, progress=False)
    ds = ImplicitDataset(padded, "train", input="partial", n_inputs=64, n_points=64, pose="camera",
                         normalize="visible")
    cfg = TrainConfig(batch_size=2, max_steps=1, warmup_steps=0, val_every=0, log_every=1)
    for kwargs in ({}, {"data_config": ds.config}):
        out = tmp_path / f"run{len(kwargs)}"
        Trainer(create_model("occnet_small"), cfg, ds, None, out, progress=False, **kwargs).fit()
        _, meta = load_checkpoint(out)
        contract = meta["input_contract"]
        assert (contract["pose"], contract["normalize"], contract["n_inputs"]) == ("camera", "visible", 64)
        assert contract["padding"] == 0.2  # the manifest's, as `train` keeps it
        if not kwargs:  # read from the dataset itself: its folder too
            assert meta["data_config"]["root"] == str(padded)
    with pytest.raises(TypeError, match="data_config must be a dict or a DataConfig"):
        Trainer(create_model("occnet_small"), cfg, ds, None, None, progress=False, data_config="partial")


def test_a_config_and_keyword_overrides_together(root):
    """`ImplicitDataset(root, split, config=DataConfig(...), **overrides)`: the overrides win, the rest is the
    config's (it crashed: the config has no to_dict method)."""
    from implicit3d.data.config import DataConfig

    config = DataConfig(n_inputs=64, n_points=32, input="surface")
    ds = ImplicitDataset(root, "train", config=config, n_points=16)
    assert (ds.config.n_inputs, ds.config.n_points, ds.config.input) == (64, 16, "surface")
    assert ds[0]["points"].shape[0] == 16
