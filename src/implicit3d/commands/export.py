"""``implicit3d export``: turn a training checkpoint into a standalone ``NAME.safetensors`` + ``NAME.json`` pair.

The pair holds only what inference needs (the weights, the model config, the input contract) and none of the
optimizer state (:func:`implicit3d.training.weights.export_weights`). ``implicit3d complete --checkpoint
NAME.safetensors`` loads it; the bundled model ``implicit3d/weights/default.*`` is such a pair.
"""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  implicit3d export runs/bundled -o src/implicit3d/weights/default.safetensors
  implicit3d export runs/grid/checkpoints/last -o my_model.safetensors
  implicit3d export runs/stage8 -o soup.safetensors --average runs/stage7   # mean of two fine-tunes' weights
  implicit3d complete scan.ply --checkpoint my_model.safetensors -o completed.ply
"""

HELP = "export a checkpoint as standalone weights (NAME.safetensors + NAME.json) for completion"
DESCRIPTION = """\
Write a trained model's weights and the metadata needed to use it (model config, input frame, normalization)
as NAME.safetensors + NAME.json, without optimizer state.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="run folder (its checkpoints/best, else last), checkpoint folder or file")
    p.add_argument("-o", "--output", required=True, metavar="NAME.safetensors", help="weights file to write")
    p.add_argument("--average", nargs="+", default=[], metavar="CHECKPOINT",
                   help="average the weights with these checkpoints or NAME.safetensors of the same model (each "
                        "counted once): a 'model soup' of fine-tunes of one model; the JSON lists them")
    p.add_argument("--note", default=None, help="free text stored in the JSON (e.g. how the model was trained)")


def run(args: argparse.Namespace) -> int:
    from implicit3d.training.weights import export_weights

    done = export_weights(args.checkpoint, args.output, args.note, average=args.average)
    averaged = f", averaged with {', '.join(args.average)}" if args.average else ""
    print(f"{done['weights']} ({done['bytes'] / 1e6:.1f} MB, {done['parameters']:,} parameters) and "
          f"{done['metadata'].name}: step {done['step']}, from {done['source']}{averaged}")
    return 0
