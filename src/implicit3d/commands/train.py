"""``implicit3d train``: train an implicit model from a YAML run file (single process or torchrun DDP)."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from implicit3d.errors import UserError

if TYPE_CHECKING:  # torch is imported when the command runs: `implicit3d --help` stays fast
    import torch

EPILOG = """\
run file (YAML):
  model: {name: conv_onet_grid, ...}          # implicit3d.models.create_model_from_config
  data:  {root: data/bottles, input: partial, n_inputs: 2048, n_points: 2048, points_source: mixed,
          noise: 0.005, pose: yaw}           # implicit3d.data.dataset.ImplicitDataset (train / val splits)
  train: {batch_size: 16, lr: 1.0e-4, max_steps: 20000, val_every: 500, ckpt_every: 500, seed: 0}

examples:
  implicit3d train configs/conv_onet_grid_small.yaml --data data/bottles --out runs/grid
  implicit3d train configs/occnet.yaml --set train.lr=3e-4 --set data.noise=0.01 --max-steps 5000
  implicit3d train configs/occnet.yaml --out runs/occ --resume         # continue after a crash / extend
  torchrun --nproc_per_node 4 -m implicit3d train configs/ifnet.yaml --device cuda --out runs/ifnet

Output folder: checkpoints/last (every ckpt_every steps, resumable), checkpoints/best (best validation IoU, or
lowest validation loss for SDF models), metrics.csv, config.yaml (the resolved run file), tensorboard/ (when
TensorBoard is installed). See docs/training.md.
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train an occupancy / SDF model from a YAML run file (resumable, multi-GPU with torchrun)",
        description="Train an implicit shape model on a prepared dataset. Checkpoints are written atomically "
        "(safetensors + JSON); --resume continues exactly where the last checkpoint left off. Launch with "
        "`torchrun --nproc_per_node N -m implicit3d train ...` for DistributedDataParallel on N GPUs or processes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="run file: YAML with model, data and train sections")
    p.add_argument("--data", default=None, help="dataset folder (overrides data.root)")
    p.add_argument("--out", default=None, help="output folder (default: runs/<config name>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoints/last if it exists (else start fresh); max_steps may be raised",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="WEIGHTS",
        help="start from these weights instead of a random init (fine-tuning): 'bundled' for the shipped model, a "
        "run folder, a checkpoint or an exported NAME.safetensors; the run file's model must have the same "
        "parameters (settings that change no parameter's shape, e.g. grid_resolution, may differ). The optimizer "
        "and schedule start afresh; ignored when --resume finds a checkpoint to continue",
    )
    p.add_argument("--max-steps", type=int, default=None, help="total optimizer steps (overrides train.max_steps)")
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="wall-clock budget (overrides train.max_minutes): stop when it runs out, whatever max_steps says; "
        "the cosine schedule then ends with the budget",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda if available")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a run-file value, e.g. --set train.lr=3e-4 --set data.noise=0.01 (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to metrics.csv)")
    return p


def build_model(model_cfg: dict[str, Any]) -> torch.nn.Module:
    """The model described by the run file's ``model:`` section (via ``implicit3d.models``)."""
    if not model_cfg.get("name"):
        raise UserError("the run file's model section needs a name (e.g. model: {name: occnet})")
    try:
        import implicit3d.models as models
    except ImportError as exc:  # pragma: no cover - package layout problem
        raise UserError(f"cannot import implicit3d.models: {exc}") from None
    try:
        if hasattr(models, "create_model_from_config"):
            return models.create_model_from_config(dict(model_cfg))
        cfg = dict(model_cfg)
        return models.create_model(cfg.pop("name"), **cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"bad model settings {model_cfg}: {exc}") from None


def build_datasets(data_cfg: dict[str, Any], seed: int) -> tuple[Any, Any | None]:
    """``(train, val or None)`` :class:`implicit3d.data.dataset.ImplicitDataset` from the ``data:`` section."""
    from implicit3d.data.dataset import ImplicitDataset

    cfg = dict(data_cfg)
    root = cfg.pop("root", None)
    if not root:
        raise UserError("no dataset: set data.root in the run file or pass --data DIR")
    cfg.setdefault("seed", seed)
    # validation measures volumetric IoU as the ONet / ConvONet papers do: uniform points in the cube, no noise
    # augmentation of the query points (inputs keep the training noise); override with data.val_* keys
    val_overrides = {"points_source": cfg.pop("val_points_source", "uniform"),
                     "n_points": cfg.pop("val_n_points", max(int(cfg.get("n_points", 2048)), 8192))}
    valid = set(inspect.signature(ImplicitDataset.__init__).parameters) - {"self", "root", "split"}
    unknown = sorted(set(cfg) - valid)
    if unknown:
        raise UserError(f"unknown data setting(s) {unknown}; valid keys: root, {', '.join(sorted(valid))}")
    if isinstance(cfg.get("scale_range"), list):
        cfg["scale_range"] = tuple(cfg["scale_range"])
    try:
        train = ImplicitDataset(root, "train", **cfg)
    except ValueError as exc:
        raise UserError(f"bad data settings: {exc}") from None
    if len(train) == 0:
        raise UserError(f"{root}: the train split is empty")
    try:
        val = ImplicitDataset(root, "val", **(cfg | val_overrides))
    except UserError:
        val = None
    if val is not None and len(val) == 0:
        val = None
    return train, val


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is available to this torch build")
    return choice


def dataset_meta(root: str | None) -> dict[str, Any]:
    """What a checkpoint must remember of its training data once the dataset folder is gone: the normalization
    (``padding``) and the build settings from the dataset's ``manifest.json`` (empty when there is none)."""
    import json

    if not root:
        return {}
    try:
        manifest = json.loads((Path(root) / "manifest.json").read_text())
        settings = dict(manifest["settings"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    meta: dict[str, Any] = {"dataset": {"source": manifest.get("source"), "seed": manifest.get("seed"),
                                        "settings": settings}}
    if isinstance(settings.get("padding"), (int, float)):
        meta["normalization"] = {"padding": float(settings["padding"])}
    return meta


def init_weights(model: torch.nn.Module, model_config: dict[str, Any], source: str) -> str:
    """Copy the weights of ``source`` (``"bundled"``, a run folder, a checkpoint or ``NAME.safetensors``) into
    ``model``. The run file's model settings may differ from theirs only in settings that keep every parameter's
    name and shape (e.g. ``grid_resolution``: the same kernels on a finer grid; the differences are printed);
    otherwise :class:`UserError`. Returns what was loaded."""
    import json

    from implicit3d.completion import load_model

    loaded, meta = load_model(None if source == "bundled" else source)
    theirs = json.loads(json.dumps(meta.get("model_config"))) or {}
    ours = json.loads(json.dumps(model_config))
    diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    changes = ", ".join(f"{k} {theirs.get(k)!r} -> {ours.get(k)!r}" for k in diff)
    state = loaded.state_dict()
    own = model.state_dict()
    mismatched = sorted(
        set(state) ^ set(own) | {k for k in set(state) & set(own) if tuple(state[k].shape) != tuple(own[k].shape)}
    )
    if mismatched:
        raise UserError(
            f"--init {source}: its weights do not fit the run file's model ({len(mismatched)} parameters differ in "
            f"name or shape, e.g. {mismatched[0]}); changed settings: {changes or 'none'}"
        )
    if changes:
        print(f"--init {source}: same parameters, other settings: {changes}")
    model.load_state_dict(state)
    return "bundled" if source == "bundled" else str(meta.get("weights") or meta.get("directory") or source)


def run(args: argparse.Namespace) -> int:
    import torch

    from implicit3d.fileio import atomic_write_text
    from implicit3d.training import distributed as dist_utils
    from implicit3d.training.config import TrainConfig, load_run_config
    from implicit3d.training.trainer import Trainer

    run_cfg = load_run_config(args.config, args.set)
    if args.data is not None:
        run_cfg.data["root"] = args.data
    for key in ("max_steps", "max_minutes"):
        if getattr(args, key) is not None:
            run_cfg.train = TrainConfig.from_dict({**run_cfg.train.to_dict(), key: getattr(args, key)})
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    last = out / "checkpoints" / "last"
    if not args.resume and (last.exists() or any((out / "checkpoints").glob(".last.*"))):
        raise UserError(f"{out} already holds a training run: pass --resume to continue it, or choose another --out")
    device = _device(args.device)

    info = dist_utils.init_distributed(device)
    try:
        torch.manual_seed(run_cfg.train.seed)  # identical initial weights on every process
        model = build_model(run_cfg.model)
        train_set, val_set = build_datasets(run_cfg.data, run_cfg.train.seed)
        model_config = getattr(model, "config", None) or dict(run_cfg.model)
        resuming = args.resume and (last.exists() or any((out / "checkpoints").glob(".last.*")))
        extra = dataset_meta(run_cfg.data.get("root"))
        if args.init is not None and not resuming:
            extra["init"] = init_weights(model, model_config, args.init)
        if info.is_main:
            resolved = run_cfg.to_dict()
            resolved["model"] = model_config
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
            where = f"{info.world_size} processes" if info.enabled else device
            print(
                f"training {model_config.get('name', type(model).__name__)} "
                f"({sum(p.numel() for p in model.parameters()):,} parameters) on {where}: "
                f"{len(train_set)} train / {len(val_set) if val_set is not None else 0} val shapes -> {out}"
            )
        trainer = Trainer(
            model,
            run_cfg.train,
            train_set,
            val_set,
            out,
            device=device,
            model_config=model_config,
            data_config=run_cfg.data,
            extra_meta=extra,
            resume=args.resume,
            progress=not args.no_progress,
        )
        result = trainer.fit()
    finally:
        dist_utils.cleanup()
    if info.is_main:
        best = result["best_metric"]
        best_text = "no validation split" if best is None else f"best val {trainer.metric_name} {best:.4f}"
        where = out / "checkpoints"
        print(f"done: step {result['step']}, {best_text} (step {result['best_step']}); checkpoints in {where}")
    return 0
