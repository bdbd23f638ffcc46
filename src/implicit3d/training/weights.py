"""Trained weights as users handle them: load a model for inference (a run, a checkpoint, an exported
``NAME.safetensors`` + ``NAME.json`` pair, or the bundled model), start training from weights (``train --init``) and
export a checkpoint as such a pair (``implicit3d export``).

The metadata returned with a model holds ``model_config``, the :class:`~implicit3d.data.contract.InputContract`
(``input_contract``; read it with :func:`implicit3d.data.contract.read_contract`) and, for checkpoints, ``step``,
``train_config``...
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from implicit3d.errors import UserError
from implicit3d.typed_config import describe_changes

BUNDLED_WEIGHTS = ("weights", "default.safetensors")
SHIPPED = {"bundled": "default", "tabletop": "tabletop"}  #: names of the shipped models (``--checkpoint bundled``)
TRAIN_HINT = "train one with `implicit3d train configs/conv_onet_grid_small.yaml --data DATASET_DIR`"
#: metadata keys an exported pair keeps (everything else, e.g. optimizer layout and file hashes, is dropped)
EXPORTED_KEYS = ("model_config", "input_contract", "data_config", "train_config", "normalization", "dataset", "step",
                 "epoch", "val", "best_metric", "best_step", "implicit3d_version", "init", "averaged_with")


def bundled_weights(name: str = "default") -> tuple[Path, Path] | None:
    """``(weights .safetensors, metadata .json)`` of a model shipped with the package (``default``: the
    any-orientation model; ``tabletop``: objects on a support plane), or ``None`` if absent."""
    from importlib import resources

    try:
        root = resources.files("implicit3d")
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - broken install
        return None
    weights = root.joinpath(BUNDLED_WEIGHTS[0], f"{name}.safetensors")
    meta = root.joinpath(BUNDLED_WEIGHTS[0], f"{name}.json")
    if not (weights.is_file() and meta.is_file()):
        return None
    return Path(str(weights)), Path(str(meta))


def load_weights_pair(weights: Path, meta_path: Path, device: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a standalone ``NAME.safetensors`` + ``NAME.json`` (``{"model_config": {...}, ...}``) pair."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    from implicit3d.fileio import read_json_file
    from implicit3d.models import create_model_from_config
    from implicit3d.training.checkpoint import CheckpointError, check_meta, load_model_state

    meta = check_meta(read_json_file(meta_path, CheckpointError), meta_path)
    config = meta.get("model_config") if isinstance(meta, dict) else None
    if not isinstance(config, dict):
        raise CheckpointError(f"{meta_path} has no model_config: cannot rebuild the model for {weights}")
    try:
        state = st_load(weights.read_bytes())
    except (OSError, SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights} is not a readable safetensors file: {exc}") from None
    try:
        model = create_model_from_config(config, source=str(meta_path))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{meta_path}: bad model_config ({exc})") from None
    load_model_state(model, state, weights)
    model.to(device)
    model.eval()
    return model, {**meta, "directory": str(weights.parent), "weights": str(weights)}


#: the attribute of a model loaded by :func:`load_model` that holds its metadata: completion reads the input contract
#: from it when no metadata is passed along
META_ATTRIBUTE = "implicit3d_meta"


def load_model(
    path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a trained model for completion: ``(model in eval mode on device, metadata dict)``; the metadata is also
    the model's ``implicit3d_meta`` attribute (:data:`META_ATTRIBUTE`), so a model passed on alone keeps its framing.

    ``path``: a run folder (``<run>/checkpoints/best`` or ``last``), a checkpoint folder, its ``checkpoint.json``
    or ``model.safetensors``, or a ``NAME.safetensors`` file with a ``NAME.json`` beside it; ``None`` or
    ``"bundled"`` loads the bundled model, ``"tabletop"`` the bundled tabletop model. The metadata holds
    ``model_config``, ``input_contract`` and, for checkpoints, ``step``, ``train_config``... Raises :class:`UserError`
    (a
    :class:`~implicit3d.training.checkpoint.CheckpointError` for bad files) when nothing usable is found.
    """
    model, meta = _load_model(path, device)
    setattr(model, META_ATTRIBUTE, meta)
    return model, meta


def _load_model(path: str | os.PathLike | None, device: str | torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    from implicit3d.training.checkpoint import META_FILE, MODEL_FILE, CheckpointError, load_checkpoint

    if isinstance(path, str) and path in SHIPPED and not Path(path).exists():  # a shipped model by name
        found = bundled_weights(SHIPPED[path])
        if found is None:
            raise UserError(f"no {path} model ships with this version of implicit3d")
        return load_weights_pair(*found, str(device))
    if path is None:
        found = bundled_weights()
        if found is None:
            raise UserError(
                "no bundled model ships with this version of implicit3d yet: pass --checkpoint DIR_OR_FILE "
                f"({TRAIN_HINT})"
            )
        return load_weights_pair(*found, str(device))
    p = Path(path)
    if p.is_file() and p.suffix == ".safetensors":
        if p.name == MODEL_FILE and (p.parent / META_FILE).is_file():
            p = p.parent
        elif p.with_suffix(".json").is_file():
            return load_weights_pair(p, p.with_suffix(".json"), str(device))
        else:
            raise CheckpointError(f"{p}: no {META_FILE} beside it and no {p.with_suffix('.json').name} metadata file")
    elif not p.exists():
        # resolve_checkpoint_dir also recovers interrupted saves (hidden temp copies) of a missing path
        if not any(p.parent.glob(f".{p.name}.*")):
            raise CheckpointError(f"checkpoint {p} not found ({TRAIN_HINT})")
    try:
        return load_checkpoint(p, map_location=device)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{p}: cannot rebuild the model ({exc})") from None


GROWN_PREFIXES = ("detail.", "detail_out.")  #: parameters a grid model may gain under ``train --init`` (detail planes)


def init_weights(model: torch.nn.Module, model_config: dict[str, Any], source: str) -> str:
    """Copy the weights of ``source`` (``"bundled"``, a run folder, a checkpoint or ``NAME.safetensors``) into
    ``model`` (``train --init``). The run file's model settings may differ from theirs only in settings that keep
    every parameter's name and shape (e.g. ``grid_resolution``: the same kernels on a finer grid; the differences
    are printed), or that grow a grid model without detail planes by them (``detail_resolution``: the new
    parameters keep their initialization, whose output is zero); otherwise :class:`UserError`. Returns what was
    loaded."""
    loaded, meta = load_model(None if source == "bundled" else source)
    theirs = json.loads(json.dumps(resolved_config(meta.get("model_config"))))
    ours = json.loads(json.dumps(resolved_config(model_config)))
    changes = describe_changes(theirs, ours)
    state = loaded.state_dict()
    own = model.state_dict()
    mismatched = sorted(
        set(state) ^ set(own) | {k for k in set(state) & set(own) if tuple(state[k].shape) != tuple(own[k].shape)}
    )
    grown = [k for k in mismatched if k in own and k not in state and k.startswith(GROWN_PREFIXES)]
    if grown and len(grown) == len(mismatched) and not theirs.get("detail_resolution"):
        # detail planes added to a grid model: their output starts at zero, so the grown model computes the same
        print(f"--init {source}: grown with detail planes ({len(grown)} new tensors, zero output at first); "
              f"changed settings: {changes}")
        state = {**own, **state}
        changes, mismatched = "", []
    if mismatched:
        raise UserError(
            f"--init {source}: its weights do not fit the run file's model ({len(mismatched)} parameters differ in "
            f"name or shape, e.g. {mismatched[0]}); changed settings: {changes or 'none'}"
        )
    if changes:
        print(f"--init {source}: same parameters, other settings: {changes}")
    model.load_state_dict(state)
    return "bundled" if source == "bundled" else str(meta.get("weights") or meta.get("directory") or source)


def portable_name(path: str | os.PathLike) -> str:
    """A weights source named without local folders: a run's checkpoint ``.../RUN/checkpoints/best`` as
    ``RUN/checkpoints/best``, anything else by its last component (``bundled`` stays ``bundled``)."""
    p = Path(str(path))
    return str(Path(p.parent.parent.name, p.parent.name, p.name)) if p.parent.name == "checkpoints" else p.name


def export_metadata(meta: dict[str, Any], note: str | None = None) -> dict[str, Any]:
    """The JSON written beside exported weights: the inference-relevant part of a checkpoint's ``meta``, with its
    input contract.

    The training dataset's ``root`` and the ``init`` weights a run started from (``train --init``) are replaced by
    their last path component (``RUN/checkpoints/NAME`` for a run's checkpoint): a local path means nothing
    elsewhere.
    """
    from implicit3d.data.contract import CONTRACT_KEY, read_contract

    out = {k: meta[k] for k in EXPORTED_KEYS if k in meta}
    try:
        out[CONTRACT_KEY] = read_contract(meta).to_dict()
    except ValueError as exc:
        raise UserError(f"{meta.get('directory', 'checkpoint')}: malformed input contract ({exc})") from None
    data = dict(out.get("data_config") or {})
    if data.get("root"):
        data["root"] = Path(str(data["root"])).name
    if out.get("init"):
        out["init"] = portable_name(out["init"])
    out["data_config"] = data
    if note:
        out["note"] = note
    return out


def resolved_config(model_config: dict[str, Any] | None) -> dict[str, Any]:
    """A checkpoint's ``model_config`` with every setting it leaves out at its default (a config written before a
    setting existed names the same model as one that states it); the dict itself where it names no known model."""
    import dataclasses

    from implicit3d.models.registry import config_from_dict

    try:
        return dataclasses.asdict(config_from_dict(dict(model_config or {}), "model_config"))
    except (KeyError, TypeError, ValueError):
        return dict(model_config or {})


#: input-contract fields that decide how a model reads its inputs (task, frame, box): models averaged by
#: :func:`average_state` must agree on them (noise, sensor, input count are only how it was trained)
FRAMING_FIELDS = ("task", "input", "pose", "normalize", "visible_extent", "visible_depth", "padding")


def framing_differences(contract: Any, meta: dict[str, Any] | None) -> list[str]:
    """``"field a vs b"`` for each of :data:`FRAMING_FIELDS` where the input contract ``contract`` and that of the
    model metadata ``meta`` differ (empty: they read inputs alike)."""
    from implicit3d.data.contract import read_contract

    theirs = read_contract(meta)
    return [f"{k} {getattr(contract, k)!r} vs {getattr(theirs, k)!r}" for k in FRAMING_FIELDS
            if getattr(contract, k) != getattr(theirs, k)]


def average_state(
    tensors: dict[str, torch.Tensor], others: Sequence[str | os.PathLike], model_config: dict[str, Any] | None,
    contract: Any | None = None,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The element-wise mean of ``tensors`` and the weights of ``others`` (checkpoints or ``NAME.safetensors``, all
    with the same ``model_config`` and, when ``contract`` (an :class:`~implicit3d.data.contract.InputContract`) is
    given, the same :data:`FRAMING_FIELDS`), every one counted once; non-float tensors (counters) are kept from
    ``tensors``. Returns ``(mean, the others' names)``. Averaging the weights of fine-tunes of one model (a "model
    soup") keeps much of what each learned at the cost of one model; unrelated models do not average.
    Raises :class:`UserError` for another model, other settings or inputs framed otherwise."""
    from implicit3d.training.checkpoint import model_state_tensors

    total = {k: v.double() if v.is_floating_point() else v for k, v in tensors.items()}
    names = []
    for other in others:
        try:
            model, meta = load_model(other, "cpu")
        except UserError as exc:
            raise UserError(f"--average: {exc}") from None
        if resolved_config(meta.get("model_config")) != resolved_config(model_config):
            raise UserError(f"--average {other}: another model ({(meta.get('model_config') or {}).get('name')}, "
                            "or other settings); only weights of the same model average")
        if contract is not None:
            differ = framing_differences(contract, meta)
            if differ:
                raise UserError(f"--average {other}: trained on inputs framed otherwise ({', '.join(differ)}); "
                                "only weights of models that read their inputs alike average")
        for k, v in model_state_tensors(model).items():  # same model_config: load_model checked names and shapes
            if v.is_floating_point():
                total[k] = total[k] + v.double()
        source = meta.get("weights") or meta.get("directory") or other
        names.append("bundled" if str(other) == "bundled" else str(source))
    n = 1 + len(names)
    mean = {k: (v / n).to(tensors[k].dtype) if v.is_floating_point() else v for k, v in total.items()}
    return mean, names


def export_weights(
    checkpoint: str | os.PathLike,
    target: str | os.PathLike,
    note: str | None = None,
    average: Sequence[str | os.PathLike] = (),
) -> dict[str, Any]:
    """Write the model of ``checkpoint`` as ``target`` (``NAME.safetensors``) + ``NAME.json`` (:func:`export_metadata`),
    atomically; with ``average``, its weights averaged with theirs (:func:`average_state`; the JSON lists them under
    ``averaged_with``). Returns ``{"weights", "metadata", "bytes", "parameters", "step", "source"}``."""
    from safetensors.torch import save as st_save

    from implicit3d.fileio import atomic_write_bytes, atomic_write_text
    from implicit3d.training.checkpoint import model_state_tensors

    target = Path(target)
    if target.suffix != ".safetensors":
        raise UserError(f"--output must end in .safetensors, got {target}")
    if target.is_dir():
        raise UserError(f"--output {target} is a folder")
    model, meta = load_model(checkpoint, "cpu")
    tensors = {k: v.detach().contiguous().cpu() for k, v in model_state_tensors(model).items()}
    meta_out = export_metadata(meta, note)
    if average:
        from implicit3d.data.contract import read_contract

        tensors, names = average_state(tensors, average, meta.get("model_config"), read_contract(meta))
        meta_out["averaged_with"] = [portable_name(n) for n in names]
    atomic_write_bytes(target, st_save(tensors))
    atomic_write_text(target.with_suffix(".json"), json.dumps(meta_out, indent=1, sort_keys=True) + "\n")
    return {"weights": target, "metadata": target.with_suffix(".json"), "bytes": target.stat().st_size,
            "parameters": sum(v.numel() for v in tensors.values()), "step": meta.get("step"),
            "source": meta.get("directory", str(checkpoint))}
