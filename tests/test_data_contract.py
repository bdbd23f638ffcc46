"""The input contract: written by training, kept by export, read back by one function — and inference never reads the
training dataset."""

from __future__ import annotations

import json

import pytest

from implicit3d.data.config import DataConfig
from implicit3d.data.contract import CONTRACT_KEY, InputContract, contract_for_training, read_contract


def test_contract_round_trips_and_validates() -> None:
    c = contract_for_training(DataConfig(input="partial", pose="camera", normalize="visible", n_inputs=1024,
                                         noise=0.003), "occupancy", {"padding": 0.2, "noise": "realsense_d435",
                                                                     "view_pose": "so3"})
    assert (c.padding, c.sensor, c.view_pose, c.n_inputs, c.default_turns) == (0.2, "realsense_d435", "so3", 1024, 8)
    assert read_contract({CONTRACT_KEY: c.to_dict()}) == c
    assert read_contract(json.loads(json.dumps({CONTRACT_KEY: c.to_dict()}))) == c
    with pytest.raises(ValueError, match="pose"):
        read_contract({CONTRACT_KEY: {**c.to_dict(), "pose": "sideways"}})
    with pytest.raises(ValueError, match="unknown input_contract setting"):
        read_contract({CONTRACT_KEY: {**c.to_dict(), "colour": 1}})
    with pytest.raises(ValueError, match="task"):
        InputContract(task="normals")


def test_footprint_depth_is_part_of_the_contract_and_frames_a_users_cloud() -> None:
    import numpy as np

    c = contract_for_training(DataConfig(input="partial", pose="camera", normalize="visible",
                                         visible_depth="footprint"), "occupancy")
    assert read_contract(json.loads(json.dumps({CONTRACT_KEY: c.to_dict()}))) == c
    assert read_contract({"data_config": {"input": "partial", "pose": "camera", "normalize": "visible",
                                          "visible_depth": "footprint"}}).visible_depth == "footprint"
    assert read_contract({}).visible_depth == "observed"  # models trained before the option
    # a box face-on, 0.7 m in front of a camera at the origin: its front is put half its width ahead of the centre
    rng = np.random.default_rng(0)
    face = rng.uniform([-0.05, -0.04, 0.7], [0.05, 0.04, 0.701], (4000, 3))
    z = c.observation_frame(face).to_model(face)[:, 2]
    assert abs(np.quantile(z, 0.005) + 0.35 * 0.08 / 0.1) < 0.01
    flat = InputContract(input="partial", pose="camera", normalize="visible")
    assert abs(np.median(flat.observation_frame(face).to_model(face)[:, 2])) < 0.01
    with pytest.raises(ValueError, match="visible_depth"):
        InputContract(visible_depth="deeper")
    with pytest.raises(ValueError, match="visible_depth"):
        InputContract(input="partial", pose="so3", normalize="visible", visible_depth="footprint")


def test_legacy_metadata_is_read_from_its_old_keys() -> None:
    meta = {"data_config": {"input": "partial", "n_inputs": 512, "pose": "camera", "normalize": "visible",
                            "root": "/gone", "points_source": "mixed"},
            "model_config": {"output": "sdf"}, "normalization": {"padding": 0.15},
            "dataset": {"settings": {"view_pose": "yaw", "noise": "kinect"}}}
    c = read_contract(meta)
    assert (c.task, c.n_inputs, c.padding, c.view_pose, c.sensor, c.default_turns) == ("sdf", 512, 0.15, "yaw",
                                                                                       "kinect", 1)
    assert read_contract({}) == InputContract(input="partial")


def test_bundled_metadata_holds_the_contract_its_old_keys_describe() -> None:
    from implicit3d.training.weights import bundled_weights

    meta = json.loads(bundled_weights()[1].read_text())
    legacy = {k: v for k, v in meta.items() if k != CONTRACT_KEY}
    assert read_contract(meta) == read_contract(legacy)
    assert read_contract(meta).pose == "camera" and read_contract(meta).normalize == "visible"


def test_completion_never_reads_the_training_dataset(tmp_path, monkeypatch) -> None:
    """A checkpoint whose training data folder (relative path, other padding) exists in the working directory must
    complete exactly as from any other directory: the contract in the checkpoint decides."""
    from implicit3d.completion import model_contract

    meta = {"data_config": {"root": "data", "pose": "yaw"}, CONTRACT_KEY: InputContract(pose="yaw").to_dict()}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text(json.dumps({"settings": {"padding": 0.4}}))
    monkeypatch.chdir(tmp_path)
    assert model_contract(meta).padding == 0.1
