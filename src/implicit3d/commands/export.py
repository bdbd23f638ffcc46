"""``implicit3d export``: turn a training checkpoint into a standalone ``NAME.safetensors`` + ``NAME.json`` pair.

The pair holds only what inference needs (the weights, the model config, the training data settings that fix the
input frame, the normalization) and none of the optimizer state. ``implicit3d complete --checkpoint
NAME.safetensors`` loads it; the bundled model ``implicit3d/weights/default.*`` is such a pair.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from implicit3d.errors import UserError

EPILOG = """\
examples:
  implicit3d export runs/bundled -o src/implicit3d/weights/default.safetensors
  implicit3d export runs/grid/checkpoints/last -o my_model.safetensors
  implicit3d complete scan.ply --checkpoint my_model.safetensors -o completed.ply
"""

#: metadata keys copied from the checkpoint (everything else, e.g. optimizer layout and file hashes, is dropped)
KEPT = ("model_config", "data_config", "train_config", "normalization", "dataset", "step", "epoch", "val",
        "best_metric", "best_step", "implicit3d_version", "init")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint as standalone weights (NAME.safetensors + NAME.json) for completion",
        description="Write a trained model's weights and the metadata needed to use it (model config, input "
        "frame, normalization) as NAME.safetensors + NAME.json, without optimizer state.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="run folder (its checkpoints/best, else last), checkpoint folder or file")
    p.add_argument("-o", "--output", required=True, metavar="NAME.safetensors", help="weights file to write")
    p.add_argument("--note", default=None, help="free text stored in the JSON (e.g. how the model was trained)")
    return p


def export_metadata(meta: dict[str, Any], note: str | None = None) -> dict[str, Any]:
    """The JSON written beside exported weights: the inference-relevant part of a checkpoint's ``meta``.

    The training dataset's ``root`` and the ``init`` weights a run started from (``train --init``) are replaced by
    their last path component (``RUN/checkpoints/NAME`` for a run's checkpoint): a local path means nothing
    elsewhere.
    """
    out = {k: meta[k] for k in KEPT if k in meta}
    data = dict(out.get("data_config") or {})
    if data.get("root"):
        data["root"] = Path(str(data["root"])).name
    if out.get("init"):
        init = Path(str(out["init"]))
        # a run's checkpoint (RUN/checkpoints/best) is named by its run folder: "RUN/checkpoints/best"
        out["init"] = str(Path(init.parent.parent.name, init.parent.name, init.name)) if (
            init.parent.name == "checkpoints") else init.name
    out["data_config"] = data
    if note:
        out["note"] = note
    return out


def run(args: argparse.Namespace) -> int:
    from safetensors.torch import save as st_save

    from implicit3d.completion import load_model
    from implicit3d.fileio import atomic_write_bytes, atomic_write_text
    from implicit3d.training.checkpoint import model_state_tensors

    target = Path(args.output)
    if target.suffix != ".safetensors":
        raise UserError(f"--output must end in .safetensors, got {target}")
    if target.is_dir():
        raise UserError(f"--output {target} is a folder")
    model, meta = load_model(args.checkpoint, "cpu")
    tensors = {k: v.detach().contiguous().cpu() for k, v in model_state_tensors(model).items()}
    meta_out = export_metadata(meta, args.note)
    atomic_write_bytes(target, st_save(tensors))
    atomic_write_text(target.with_suffix(".json"), json.dumps(meta_out, indent=1, sort_keys=True) + "\n")
    size = target.stat().st_size
    print(f"{target} ({size / 1e6:.1f} MB, {sum(v.numel() for v in tensors.values()):,} parameters) and "
          f"{target.with_suffix('.json').name}: step {meta.get('step')}, from {meta.get('directory', args.checkpoint)}")
    return 0
