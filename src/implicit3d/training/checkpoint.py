"""Checkpoints: safetensors weights + JSON metadata, written atomically, read without pickle.

A checkpoint is a directory::

    <name>/model.safetensors       model weights (state_dict, CPU tensors)
    <name>/optimizer.safetensors   optimizer state tensors, flattened as "state.<param id>.<key>" (optional)
    <name>/checkpoint.json         format, step, epoch, best metric, model/train/data configs, RNG states,
                                   the optimizer's non-tensor state, grad-scaler state, size + SHA-256 of each file

The directory is written under a hidden temporary name in the same parent folder (``.<name>.tmp-<pid>``),
``checkpoint.json`` last, and renamed into place: a checkpoint exists only when complete. An existing checkpoint
of the same name is first renamed aside (``.<name>.old-<pid>``) and removed after the swap; if a process dies
between the two renames, :func:`resolve_checkpoint_dir` recovers the newest complete copy. Loading never unpickles:
tensors come from safetensors, everything else from JSON, and every file is checked against its recorded size and
hash, so a truncated or corrupted checkpoint raises :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from implicit3d import fileio
from implicit3d.errors import UserError

FORMAT = "implicit3d-checkpoint"
FORMAT_VERSION = 1
META_FILE = "checkpoint.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, incomplete, corrupted or does not match the model; the message names the file."""


# ----------------------------------------------------------------------------------------------------------------
# atomic file helpers


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` atomically and flush it to disk (see :func:`implicit3d.fileio.atomic_writer`)."""
    fileio.atomic_write_bytes(path, data, fsync=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically and flush it to disk."""
    fileio.atomic_write_text(path, text, fsync=True)


# ----------------------------------------------------------------------------------------------------------------
# state conversion


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside DistributedDataParallel / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, torch.nn.Module):
            model = model._orig_mod
        else:
            return model


def model_state_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """CPU, contiguous, unshared copies of ``model.state_dict()`` (safetensors refuses shared storage)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in unwrap_model(model).state_dict().items()}


def flatten_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors ``{"state.<pid>.<key>": tensor}`` and a JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    per_param: dict[str, dict[str, Any]] = {}
    for pid, entries in state["state"].items():
        out = {}
        for key, value in entries.items():
            if torch.is_tensor(value):
                name = f"state.{pid}.{key}"
                tensors[name] = value.detach().to("cpu", copy=True).contiguous()
                out[key] = {"tensor": name}
            else:
                out[key] = {"value": value}
        per_param[str(pid)] = out
    return tensors, {"state": per_param, "param_groups": state["param_groups"]}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], structure: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for pid, entries in structure["state"].items():
        out = {}
        for key, spec in entries.items():
            if "tensor" in spec:
                if spec["tensor"] not in tensors:
                    raise KeyError(spec["tensor"])
                out[key] = tensors[spec["tensor"]]
            else:
                out[key] = spec["value"]
        state[int(pid)] = out
    return {"state": state, "param_groups": structure["param_groups"]}


def capture_rng_state() -> dict[str, Any]:
    """JSON-able snapshot of the Python, NumPy (global) and torch (CPU and CUDA) random generators."""
    py = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 (global state that third-party code uses)
    out: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return out


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))  # noqa: NPY002
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


# ----------------------------------------------------------------------------------------------------------------
# save


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (tuple, set)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serializable in checkpoint metadata: {type(obj).__name__}")


def _file_record(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _remove_stale(directory: Path) -> None:
    for pattern in (f".{directory.name}.tmp-*", f".{directory.name}.old-*"):
        for stale in directory.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def save_checkpoint(
    directory: str | os.PathLike,
    model: torch.nn.Module,
    meta: dict[str, Any],
    optimizer_state: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``directory`` atomically (see the module docstring); returns its path.

    ``meta`` must be JSON-able (it should hold ``model_config`` so :func:`load_checkpoint` can rebuild the model);
    ``optimizer_state`` is ``optimizer.state_dict()`` (tensors go to safetensors, the rest to JSON).
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(directory)
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    try:
        tmp.mkdir()
        files: dict[str, Any] = {}
        weights = st_save(model_state_tensors(model), metadata={"format": FORMAT})
        _write_file(tmp / MODEL_FILE, weights)
        files[MODEL_FILE] = _file_record(weights)
        del weights
        full_meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
        if optimizer_state is not None:
            tensors, structure = flatten_optimizer_state(optimizer_state)
            blob = st_save(tensors, metadata={"format": FORMAT})
            _write_file(tmp / OPTIMIZER_FILE, blob)
            files[OPTIMIZER_FILE] = _file_record(blob)
            full_meta["optimizer"] = structure
        full_meta["files"] = files
        text = json.dumps(full_meta, default=_json_default, allow_nan=False, indent=1)
        _write_file(tmp / META_FILE, text.encode("utf-8"))  # last: the checkpoint is complete iff this exists
        fileio.fsync_dir(tmp)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        fileio.fsync_dir(directory.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not directory.exists():
            os.replace(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return directory


# ----------------------------------------------------------------------------------------------------------------
# load


@dataclass
class CheckpointData:
    """Everything read from a checkpoint directory (tensors on CPU)."""

    directory: Path
    meta: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """The checkpoint directory meant by ``path``.

    Accepts a checkpoint directory, its ``checkpoint.json``, or a run directory (``<run>/checkpoints/best`` if it
    exists, else ``last``). If ``path`` itself is missing because a save was interrupted between its two renames,
    the complete temporary (newer) or set-aside (older) copy is used.
    """
    path = Path(path)
    if path.is_file() and path.name == META_FILE:
        return path.parent
    if (path / META_FILE).is_file():
        return path
    for sub in ("checkpoints/best", "checkpoints/last", "best", "last"):
        if (path / sub / META_FILE).is_file():
            return path / sub
    candidates = sorted(path.parent.glob(f".{path.name}.tmp-*")) + sorted(path.parent.glob(f".{path.name}.old-*"))
    for cand in candidates:
        if (cand / META_FILE).is_file():
            return cand
    if path.is_dir():
        raise CheckpointError(f"{path / META_FILE} not found: {path} is not a complete checkpoint")
    if path.is_file():
        raise CheckpointError(
            f"{path} is not an implicit3d checkpoint: expected a run or checkpoint folder, its {META_FILE}, "
            f"or NAME.safetensors with NAME.json (pickled .pt/.pth files are not loaded)"
        )
    raise CheckpointError(f"checkpoint {path} not found")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_rng(rng: Any) -> str | None:
    """What is wrong with a checkpoint's ``rng`` list (one :func:`capture_rng_state` per rank), or ``None``."""
    if not isinstance(rng, list):
        return f"must be a list of random generator states, got {type(rng).__name__}"
    for i, st in enumerate(rng):
        if not isinstance(st, dict):
            return f"[{i}] must be an object, got {type(st).__name__}"
        py, npy, tch = st.get("python"), st.get("numpy"), st.get("torch")
        if not (isinstance(py, list) and len(py) == 3 and isinstance(py[1], list) and all(map(_is_int, py[1]))):
            return f"[{i}].python is not a Python random state"
        if not (isinstance(npy, list) and len(npy) == 5 and isinstance(npy[1], list) and len(npy[1]) == 624
                and all(_is_int(v) and 0 <= v < 2**32 for v in npy[1]) and all(map(_is_int, npy[2:4]))
                and isinstance(npy[4], (int, float))):
            return f"[{i}].numpy is not a NumPy random state"
        if not (isinstance(tch, list) and all(_is_int(v) and 0 <= v < 256 for v in tch)):
            return f"[{i}].torch is not a torch random state (bytes)"
        cuda = st.get("cuda", [])
        if not (isinstance(cuda, list) and all(isinstance(c, list) and all(_is_int(v) and 0 <= v < 256 for v in c)
                                               for c in cuda)):
            return f"[{i}].cuda is not a list of torch random states"
    return None


def check_meta(meta: Any, source: str | os.PathLike) -> dict[str, Any]:
    """Check the types and sizes of the fields a checkpoint's ``checkpoint.json`` (or an exported ``NAME.json``)
    holds, before anything uses them; :class:`CheckpointError` naming ``source`` and the field otherwise.

    Checked when present: ``files`` (name -> ``{size, sha256}``), ``format_version``, ``step``, ``epoch``,
    ``model_config`` (an object; its values are checked when the model is built), ``data_config`` /
    ``train_config`` / ``normalization`` (objects), ``data_config.n_inputs`` (an integer in [1,
    :data:`implicit3d.limits.MAX_POINTS`]), ``normalization.padding`` (in [0, 1)) and ``rng`` (random states).
    """
    from implicit3d.limits import MAX_POINTS

    if not isinstance(meta, dict):
        raise CheckpointError(f"{source}: expected a JSON object, got {type(meta).__name__}")

    def bad(field: str, what: str) -> CheckpointError:
        return CheckpointError(f"{source}: {field} {what}: the file is corrupted or was edited")

    files = meta.get("files")
    if files is not None:
        if not isinstance(files, dict):
            raise bad("files", f"must be an object, got {type(files).__name__}")
        for name, rec in files.items():
            if not (isinstance(rec, dict) and _is_int(rec.get("size")) and rec["size"] >= 0
                    and isinstance(rec.get("sha256"), str)):
                raise bad(f"files.{name}", f"must be {{size, sha256}}, got {rec!r:.60}")
    for key in ("format_version", "step", "epoch", "world_size"):
        if key in meta and not (_is_int(meta[key]) and meta[key] >= 0):
            raise bad(key, f"must be a non-negative integer, got {meta[key]!r:.60}")
    if "model_config" in meta and not isinstance(meta["model_config"], dict):
        raise bad("model_config", f"must be an object, got {type(meta['model_config']).__name__}")
    for key in ("data_config", "train_config", "normalization", "optimizer", "input_contract"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise bad(key, f"must be an object, got {type(meta[key]).__name__}")
    data = meta.get("data_config") or {}
    if "n_inputs" in data and data["n_inputs"] is not None:
        n = data["n_inputs"]
        if not (_is_int(n) and 1 <= n <= MAX_POINTS):
            raise bad("data_config.n_inputs", f"must be an integer in [1, {MAX_POINTS}], got {n!r:.60}")
    norm = meta.get("normalization") or {}
    if "padding" in norm:
        pad = norm["padding"]
        if not (isinstance(pad, (int, float)) and not isinstance(pad, bool) and 0.0 <= pad < 1.0):
            raise bad("normalization.padding", f"must be a number in [0, 1), got {pad!r:.60}")
    if meta.get("rng") is not None:
        problem = _check_rng(meta["rng"])
        if problem:
            raise bad("rng", problem)
    return meta


def _read_verified(directory: Path, name: str, meta: dict[str, Any]) -> bytes:
    path = directory / name
    if not path.is_file():
        raise CheckpointError(f"{path} is missing (listed in {directory / META_FILE})")
    data = path.read_bytes()
    record = meta["files"][name]
    if len(data) != record.get("size"):
        raise CheckpointError(f"{path} is truncated or changed: {len(data)} bytes, expected {record.get('size')}")
    if hashlib.sha256(data).hexdigest() != record.get("sha256"):
        raise CheckpointError(f"{path} is corrupted: its SHA-256 does not match {META_FILE}")
    return data


def _load_tensors(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    try:
        return st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from None


def read_checkpoint(path: str | os.PathLike, with_optimizer: bool = True) -> CheckpointData:
    """Read and verify a checkpoint (``path`` as in :func:`resolve_checkpoint_dir`); raises :class:`CheckpointError`."""
    directory = resolve_checkpoint_dir(path)
    meta_path = directory / META_FILE
    meta = fileio.read_json_file(meta_path, CheckpointError)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path} is not an implicit3d checkpoint (missing format: {FORMAT})")
    check_meta(meta, meta_path)
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path} has format version {meta.get('format_version')}; this implicit3d reads <= {FORMAT_VERSION}"
        )
    files = meta.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise CheckpointError(f"{meta_path} lists no {MODEL_FILE}: the checkpoint is corrupted")
    model_state = _load_tensors(directory / MODEL_FILE, _read_verified(directory, MODEL_FILE, meta))
    optimizer_state = None
    if with_optimizer and OPTIMIZER_FILE in files:
        tensors = _load_tensors(directory / OPTIMIZER_FILE, _read_verified(directory, OPTIMIZER_FILE, meta))
        try:
            optimizer_state = unflatten_optimizer_state(tensors, meta["optimizer"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{directory / OPTIMIZER_FILE} does not match {META_FILE}: {exc}") from None
    return CheckpointData(directory, meta, model_state, optimizer_state)


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path | str) -> None:
    """``model.load_state_dict(state)`` (strict) with a :class:`CheckpointError` naming ``source`` on mismatch."""
    target = unwrap_model(model)
    expected = target.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{source} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shape {wrong[:5]}"
        )
    target.load_state_dict(state, strict=True)


def load_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module | None = None, map_location: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a checkpoint's weights; returns ``(model in eval mode, meta dict)``.

    Without ``model``, one is built with ``implicit3d.models.create_model_from_config(meta["model_config"])``.
    ``meta`` holds ``step``, ``epoch``, ``best_metric``, ``model_config``, ``train_config``, ``data_config``, ...
    Raises :class:`CheckpointError` (a ``ValueError``) for missing, truncated or corrupted files.
    """
    ckpt = read_checkpoint(path, with_optimizer=False)
    if model is None:
        config = ckpt.meta.get("model_config")
        if not isinstance(config, dict):
            raise CheckpointError(f"{ckpt.directory / META_FILE} has no model_config: pass the model explicitly")
        from implicit3d.models import create_model_from_config

        try:
            model = create_model_from_config(config, source=str(ckpt.directory / META_FILE))
        except UserError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{ckpt.directory / META_FILE}: bad model_config ({exc})") from None
    load_model_state(model, ckpt.model_state, ckpt.directory / MODEL_FILE)
    model.to(map_location)
    model.eval()
    meta = dict(ckpt.meta)
    meta["directory"] = str(ckpt.directory)
    return model, meta
