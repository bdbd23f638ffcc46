"""``implicit3d train``: train an implicit model from a YAML run file (single process or torchrun DDP)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

EPILOG = """\
run file (YAML):
  model: {name: conv_onet_grid, ...}          # a registered model and its settings (docs/models.md)
  data:  {root: data/bottles, input: partial, n_inputs: 2048, n_points: 2048, points_source: mixed,
          noise: 0.005, pose: yaw}           # implicit3d.data.config.DataConfig (train / val splits)
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


HELP = "train an occupancy / SDF model from a YAML run file (resumable, multi-GPU with torchrun)"
DESCRIPTION = """\
Train an implicit shape model on a prepared dataset. Checkpoints are written atomically (safetensors + JSON);
--resume continues exactly where the last checkpoint left off. Launch with `torchrun --nproc_per_node N -m
implicit3d train ...` for DistributedDataParallel on N GPUs or processes.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
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
        "parameters (settings that change no parameter's shape, e.g. grid_resolution, may differ; a grid model may "
        "be grown by detail planes, model.detail_resolution, which start with a zero output). The optimizer "
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


def run(args: argparse.Namespace) -> int:
    from implicit3d.commands.options import show_progress
    from implicit3d.training.config import load_run_config
    from implicit3d.training.run import train_run

    values = {f"train.{k}": getattr(args, k) for k in ("max_steps", "max_minutes") if getattr(args, k) is not None}
    if args.data is not None:
        values["data.root"] = args.data
    run_cfg = load_run_config(args.config, args.set, values)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    if run_cfg.train.max_minutes > 0 and args.max_minutes is None and os.environ.get("RANK", "0") == "0":
        print(f"time budget: {run_cfg.train.max_minutes:g} min (train.max_minutes of {args.config}): the run stops "
              f"then even before step {run_cfg.train.max_steps}; --max-minutes 0 for none")
    result = train_run(run_cfg, out, resume=args.resume, init=args.init, device=args.device,
                       progress=show_progress(args.no_progress))
    if result["is_main"]:
        best = result["best_metric"]
        best_text = ("no validation split" if best is None
                     else f"best val {result['metric_name']} {best:.4f} (step {result['best_step']})")
        print(f"done: step {result['step']}, {best_text}; checkpoints in {out / 'checkpoints'}")
    return 0
