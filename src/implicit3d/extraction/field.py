"""Batched evaluation of implicit functions on points with bounded memory.

A *field* here is any callable ``f(points: (N, 3) float64 numpy) -> (N,) numpy`` in the normalized shape frame
(the cube ``[-0.5, 0.5]^3`` plus padding). :class:`ModelField` wraps a trained model and its encoded input cloud
into such a callable; :func:`evaluate_batched` evaluates any field on many points a chunk at a time;
:class:`CountingField` counts the points a field is asked about (for benchmarks and tests); :class:`MeanField`
averages several fields, each looking at the points through its own map (test-time augmentation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from implicit3d.geometry.validation import as_points

Field = Callable[[np.ndarray], np.ndarray]

OUTPUTS = ("occupancy", "logits", "sdf")

#: :class:`ModelField`'s ``bf16`` when not given (fp32: see :class:`ModelField`; README, Performance).
DEFAULT_BF16 = False
PRECISIONS = ("fp32", "bf16", "auto")  #: inference precisions of the commands (``--precision``)


def inference_bf16(precision: str, device: Any = "cpu") -> tuple[bool, str | None]:
    """``(bf16, note)``: whether inference at ``precision`` (:data:`PRECISIONS`) on ``device`` runs under bf16
    autocast, and a one-line note for the user or ``None``.

    ``fp32``: never. ``bf16``: always (on a CPU without native bf16 it is emulated and slower than fp32: the note
    says so). ``auto``: on a CUDA GPU that supports bf16, or on a CPU with native bf16 (AMX or AVX-512 BF16,
    :func:`implicit3d.training.trainer.cpu_bf16_capability`); else fp32.
    """
    import torch

    from implicit3d.training.trainer import cpu_bf16_capability

    if precision not in PRECISIONS:
        from implicit3d.errors import ArgumentError

        raise ArgumentError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return False, None
    kind = torch.device(device).type
    if kind == "cuda":
        native = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    else:
        native = cpu_bf16_capability() is not None
    if precision == "auto":
        return native, None
    note = None if native else (f"bf16 on this {'GPU' if kind == 'cuda' else 'CPU'} is emulated (no native bf16 "
                                "instructions): expect it slower than fp32")
    return True, note


def precision_bf16(precision: str, device: Any = "cpu", asked: str | None = None) -> bool:
    """:func:`inference_bf16`'s answer, its note (if any) given to the user as a one-line warning that starts with
    ``asked`` (how the user asked for it; default ``--precision PRECISION``)."""
    from implicit3d.errors import warn_user

    bf16, note = inference_bf16(precision, device)
    if note:
        warn_user(f"{asked or f'--precision {precision}'}: {note}")
    return bf16


def _batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def evaluate_batched(field: Field, points: Any, batch_size: int = 262_144) -> np.ndarray:
    """Evaluate ``field`` on ``points: (N, 3)`` in chunks of at most ``batch_size``; returns ``(N,) float64``.

    Peak memory is bounded by one chunk of the field's own work. Raises ``ValueError`` when the field returns an
    array of the wrong size.
    """
    pts = as_points(points)
    batch_size = _batch_size(batch_size)
    out = np.empty(len(pts), dtype=np.float64)
    for start in range(0, len(pts), batch_size):
        chunk = pts[start : start + batch_size]
        vals = np.asarray(field(chunk), dtype=np.float64).reshape(-1)
        if vals.shape[0] != chunk.shape[0]:
            raise ValueError(f"field returned {vals.shape[0]} values for {chunk.shape[0]} points")
        out[start : start + len(chunk)] = vals
    return out


class CountingField:
    """Wraps a field and counts the points it evaluates (``n_points``) and its calls (``n_calls``)."""

    def __init__(self, field: Field) -> None:
        self.field = field
        self.n_points = 0
        self.n_calls = 0

    def __call__(self, points: np.ndarray) -> np.ndarray:
        self.n_points += len(points)
        self.n_calls += 1
        return self.field(points)


class ModelField:
    """A trained implicit model conditioned on one input cloud, callable on numpy points.

    ``model``: a ``torch.nn.Module`` with ``encode(inputs (B, N, 3)) -> c`` and ``decode(points (B, M, 3), c) ->
    (B, M)`` (see ``implicit3d.models``). ``inputs``: the conditioning point cloud ``(N, 3)`` or ``(1, N, 3)`` in
    normalized coordinates. The cloud is encoded once, at construction.

    ``output``: ``"occupancy"`` returns probabilities ``sigmoid(logits)`` in ``[0, 1]``; ``"logits"`` the raw logits
    (better for marching cubes: they do not saturate away from the surface); ``"sdf"`` the model's raw output
    (signed distance, negative inside).

    Calling it with ``points: (M, 3)`` returns ``(M,) float64``; points are sent to the model in chunks of
    ``batch_size`` under ``torch.inference_mode()`` so memory stays bounded whatever ``M`` is.

    ``bf16``: encode and decode under ``torch.autocast(dtype=torch.bfloat16)`` on the field's device (values are
    returned as float64 all the same); ``None`` = :data:`DEFAULT_BF16`. Off by default although it measured faster
    on a CPU with native bf16 (README, Performance: the bundled model's completions 1.2x-1.4x faster, meshes
    overlapping fp32's with IoU 0.996): with it, completions would depend on the CPU's instruction set. Without
    native bf16 (AMX or AVX-512 BF16) it is emulated and slower.
    """

    def __init__(
        self,
        model: Any,
        inputs: Any,
        output: str = "occupancy",
        batch_size: int = 100_000,
        device: str | Any | None = None,
        bf16: bool | None = None,
    ) -> None:
        import torch

        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if not (hasattr(model, "encode") and hasattr(model, "decode")):
            raise TypeError(f"model must have encode() and decode() methods, got {type(model).__name__}")
        self.output = output
        self.batch_size = _batch_size(batch_size)
        if device is None:
            try:
                device = next(model.parameters()).device
            except (StopIteration, AttributeError):
                device = "cpu"
        self.device = torch.device(device)
        self.bf16 = DEFAULT_BF16 if bf16 is None else bool(bf16)
        x = inputs.detach().cpu().numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs)
        if x.ndim == 3:
            if x.shape[0] != 1:
                raise ValueError(f"inputs must hold one cloud, shaped (N, 3) or (1, N, 3); got {x.shape}")
            x = x[0]
        x = as_points(x, "inputs", dtype=np.float32)
        if len(x) == 0:
            raise ValueError("inputs is an empty point cloud")
        self.model = model
        model.eval()
        with torch.inference_mode(), self._autocast():
            self.c = model.encode(torch.from_numpy(x).to(self.device)[None])

    def _autocast(self) -> Any:
        import torch

        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        import torch

        pts = as_points(points, dtype=np.float32)
        out = np.empty(len(pts), dtype=np.float64)
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(pts), self.batch_size):
                p = torch.from_numpy(pts[start : start + self.batch_size]).to(self.device)[None]
                v = self.model.decode(p, self.c).reshape(-1).float()
                if self.output == "occupancy":
                    v = torch.sigmoid(v)
                out[start : start + len(p[0])] = v.double().cpu().numpy()
        return out


PointMap = Callable[[np.ndarray], np.ndarray]


class MeanField:
    """The mean of several fields, each evaluated at its own image of the points: ``mean_k fields[k](maps[k](p))``.

    Used for test-time augmentation: the same model conditioned on several transformed copies of one input cloud
    (e.g. the view turned about its line of sight), each member reading the query points in its own normalized
    frame. ``maps[k]``: ``(N, 3) -> (N, 3)`` from the caller's frame to member ``k``'s (``None``: identity).
    ``domain``: an axis-aligned box ``(2, 3)`` of the members' frames (default: none); a point whose image falls
    outside it gets ``outside`` from that member instead of an extrapolated value (a model knows nothing beyond the
    cube it was trained on; ``0.0`` = empty for occupancy probabilities).
    """

    def __init__(
        self,
        fields: Sequence[Field],
        maps: Sequence[PointMap | None] | None = None,
        domain: Any | None = None,
        outside: float = 0.0,
    ) -> None:
        self.fields = list(fields)
        if not self.fields:
            raise ValueError("MeanField needs at least one field")
        self.maps = list(maps) if maps is not None else [None] * len(self.fields)
        if len(self.maps) != len(self.fields):
            raise ValueError(f"got {len(self.fields)} fields but {len(self.maps)} maps")
        if domain is not None:
            box = np.asarray(domain, dtype=np.float64)
            if box.shape != (2, 3) or not np.all(box[1] > box[0]):
                raise ValueError(f"domain must be a (2, 3) box with max > min, got {np.asarray(domain).tolist()}")
            domain = box
        self.domain = domain
        self.outside = float(outside)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        pts = as_points(points)
        total = np.zeros(len(pts), dtype=np.float64)
        for field, fmap in zip(self.fields, self.maps, strict=True):
            q = pts if fmap is None else np.asarray(fmap(pts), dtype=np.float64)
            if self.domain is None:
                total += np.asarray(field(q), dtype=np.float64).reshape(-1)
                continue
            inside = np.all((q >= self.domain[0]) & (q <= self.domain[1]), axis=1)
            values = np.full(len(pts), self.outside)
            if inside.any():
                values[inside] = np.asarray(field(q[inside]), dtype=np.float64).reshape(-1)
            total += values
        return total / len(self.fields)
