"""The input contract: what a trained model expects of its input, saved with its weights.

Training writes one :class:`InputContract` into every checkpoint (``checkpoint.json``) and ``export`` into
``NAME.json``; completion, ``generate``, ``evaluate``, the demo and the benchmarks read it back with
:func:`read_contract` and frame inputs with it (:mod:`implicit3d.geometry.frames`). Inference never reads the
training dataset: everything it needs is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from implicit3d.data.config import INPUTS, DataConfig
from implicit3d.geometry.frames import (
    DEFAULT_PADDING,
    NORMALIZATIONS,
    POSES,
    VISIBLE_DEPTHS,
    VISIBLE_EXTENT,
    ModelFrame,
    observation_frame,
)
from implicit3d.typed_config import from_dict, to_dict

TASKS = ("occupancy", "sdf")
DEFAULT_N_INPUTS = DataConfig.n_inputs  #: points given to a model whose contract does not say (2048)
DEFAULT_TURNS = 8  #: turned copies averaged by default for models trained on turned inputs (see default_turns)
CONTRACT_KEY = "input_contract"  #: its key in checkpoint and exported metadata


@dataclass
class InputContract:
    """A model's input, as it was trained.

    ``task``: ``occupancy`` (the model returns logits) or ``sdf`` (signed distance, negative inside). ``input``:
    ``partial`` (single depth views) or ``surface`` (samples of the whole surface), ``n_inputs`` points of it,
    with Gaussian ``noise`` (std, normalized units) added in training. ``pose``: the rotation convention
    (:data:`implicit3d.geometry.frames.POSES`); ``normalize`` / ``visible_extent`` / ``visible_depth`` /
    ``padding``: the box (:meth:`implicit3d.geometry.frames.ModelFrame.fit`). ``sensor`` is the noise preset of the
    training views and ``view_pose`` how their objects were posed (``none``, ``yaw``, ``so3``), when the dataset had
    views.
    """

    task: str = "occupancy"
    input: str = "partial"
    n_inputs: int = DEFAULT_N_INPUTS
    noise: float = 0.0
    pose: str = "canonical"
    normalize: str = "object"
    visible_extent: float = VISIBLE_EXTENT
    visible_depth: str = "observed"
    padding: float = DEFAULT_PADDING
    sensor: str | None = None
    view_pose: str | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("task", TASKS), ("input", INPUTS), ("pose", POSES), ("normalize", NORMALIZATIONS),
                              ("visible_depth", VISIBLE_DEPTHS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"input contract: {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.visible_depth != "observed" and (self.normalize != "visible" or self.pose != "camera"):
            raise ValueError(f'input contract: visible_depth "{self.visible_depth}" needs normalize "visible" and '
                             f'pose "camera"')
        if self.n_inputs < 1:
            raise ValueError(f"input contract: n_inputs must be >= 1, got {self.n_inputs}")
        if not 0.0 < self.visible_extent <= 1.0 or not 0.0 <= self.padding < 1.0 or not self.noise >= 0:
            raise ValueError(
                f"input contract: visible_extent {self.visible_extent} must be in (0, 1], padding {self.padding} in "
                f"[0, 1) and noise {self.noise} >= 0"
            )

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @property
    def default_turns(self) -> int:
        """How many turned copies of an input completion averages by default: :data:`DEFAULT_TURNS` when the model
        was trained on inputs turned about its frame's z axis, else 1.

        Such models: ``pose: yaw`` / ``so3`` (objects turned about the up axis / any axis), and ``view`` /
        ``camera`` models trained on views of objects in any orientation (``view_pose: so3``), where turning the
        view about its line of sight gives another input the model has seen the like of. Not ``canonical`` models,
        nor views of upright objects (a turned view would show them lying down).
        """
        if self.pose in ("yaw", "so3"):
            return DEFAULT_TURNS
        if self.pose in ("view", "camera"):
            return DEFAULT_TURNS if self.view_pose == "so3" else 1
        return 1

    def observation_frame(self, points: Any, **kwargs: Any) -> ModelFrame:
        """The frame of a user's observed cloud for this model (:func:`implicit3d.geometry.frames.observation_frame`;
        ``kwargs``: ``up``, ``viewpoint``, ``size``, ``turn``)."""
        return observation_frame(points, pose=self.pose, normalize=self.normalize,
                                 visible_extent=self.visible_extent, visible_depth=self.visible_depth,
                                 padding=self.padding, **kwargs)

    def dataset_frame(self, inputs: Any, view_rotations: dict[str, Any] | None = None) -> ModelFrame:
        """The frame of a dataset shape's input ``inputs (N, 3)`` (its normalized frame, where the whole object's box
        is known) for this model: for a depth view, its rotation for this model's pose (``view_rotations``:
        ``{"camera": (3, 3), "gravity": (3, 3)}``, see :func:`view_rotations`), then the observed box for
        ``visible`` models, else the identity."""
        rotation = (view_rotations or {}).get(self.pose)
        return ModelFrame.fit(inputs, rotation, normalize=self.normalize, visible_extent=self.visible_extent,
                              visible_depth=self.visible_depth, padding=self.padding, known_box=True)


def view_rotations(cloud: Any, cam_to_world: Any, object_pose: Any, object_scale: float) -> dict[str, Any]:
    """The rotations of one dataset depth view for the view-frame poses (``camera``, ``gravity``), from the view's
    canonical ``cloud (P, 3)`` and its recorded poses (see :func:`implicit3d.geometry.frames.camera_rotation`)."""
    from implicit3d.geometry.frames import camera_rotation, dataset_gravity_rotation

    return {"camera": camera_rotation(cloud, cam_to_world, object_pose, object_scale),
            "gravity": dataset_gravity_rotation(cloud, cam_to_world, object_pose, object_scale)}


def contract_for_training(data: DataConfig, task: str, dataset_settings: dict[str, Any] | None = None) -> InputContract:
    """The contract of a model trained on ``data`` for ``task``; ``dataset_settings`` is the dataset manifest's
    ``settings`` (its ``padding``, sensor ``noise`` preset and ``view_pose``) when known."""
    settings = dataset_settings or {}
    padding = settings.get("padding", DEFAULT_PADDING)
    return InputContract(
        task=task, input=data.input, n_inputs=data.n_inputs, noise=data.noise, pose=data.pose,
        normalize=data.normalize, visible_extent=data.visible_extent, visible_depth=data.visible_depth,
        padding=float(padding) if isinstance(padding, (int, float)) else DEFAULT_PADDING,
        sensor=_text(settings.get("noise")), view_pose=_text(settings.get("view_pose")),
    )


def read_contract(meta: dict[str, Any] | None) -> InputContract:
    """The input contract of a loaded model's metadata (a checkpoint's ``checkpoint.json`` or an exported
    ``NAME.json``). Metadata written before contracts existed is read from its ``data_config``,
    ``normalization``, ``dataset`` and ``model_config`` entries. Raises ``ValueError`` for a malformed one."""
    meta = meta or {}
    if meta.get(CONTRACT_KEY) is not None:
        return from_dict(InputContract, meta[CONTRACT_KEY], "input_contract")
    data = meta.get("data_config") or {}
    data = data if isinstance(data, dict) else {}
    model = meta.get("model_config") or {}
    task = str((model if isinstance(model, dict) else {}).get("output", meta.get("task", "occupancy"))).lower()
    norm = meta.get("normalization") or {}
    dataset = meta.get("dataset") or {}
    settings = dict((dataset.get("settings") if isinstance(dataset, dict) else None) or {})
    if isinstance(norm, dict) and "padding" in norm:
        settings["padding"] = norm["padding"]
    values = {k: data[k] for k in ("n_inputs", "noise", "pose", "normalize", "visible_extent",
                                        "visible_depth") if k in data}
    values["input"] = data.get("input", "partial") if data.get("input", "partial") in INPUTS else "surface"
    legacy = from_dict(DataConfig, values, "data_config")
    return contract_for_training(legacy, "sdf" if task == "sdf" else "occupancy", settings)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
