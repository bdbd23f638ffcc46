"""Batch order as a pure function of ``(seed, epoch, rank, world_size)``, so a resumed run sees the same batches.

:class:`EpochBatchSampler` shuffles with ``numpy.random.default_rng([seed, epoch])``, pads the order by wrapping
around to a multiple of ``world_size`` (every process gets the same number of batches, as DDP needs) and gives
process ``rank`` the items ``order[rank::world_size]``. ``set_epoch(epoch, start_batch)`` skips batches that a
resumed run already consumed, without loading them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class EpochBatchSampler(Sampler[list[int]]):
    """Lists of dataset indices, one list per batch, for one epoch of one process.

    Training (``shuffle=True``, ``pad=True``): fixed-size batches, the last incomplete one dropped when the shard
    holds at least one full batch. Validation (``shuffle=False``, ``pad=False``): every item exactly once over all
    processes, shards may differ by one item, the last batch may be smaller.
    """

    def __init__(
        self,
        n_items: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        pad: bool = True,
    ) -> None:
        if n_items < 1:
            raise ValueError(f"the dataset is empty (n_items = {n_items})")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.n_items, self.batch_size = int(n_items), int(batch_size)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.shuffle, self.pad = bool(shuffle), bool(pad)
        self.epoch, self.start_batch = 0, 0

    @property
    def shard_size(self) -> int:
        if self.pad:
            return math.ceil(self.n_items / self.world_size)
        return len(range(self.rank, self.n_items, self.world_size))

    @property
    def batches_per_epoch(self) -> int:
        n = self.shard_size
        if self.pad and n >= self.batch_size:
            return n // self.batch_size
        return max(1, math.ceil(n / self.batch_size)) if n > 0 else 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if not 0 <= start_batch <= self.batches_per_epoch:
            raise ValueError(f"start_batch {start_batch} outside [0, {self.batches_per_epoch}]")
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def order(self) -> np.ndarray:
        """This process's item indices for the current epoch ``(shard_size,) int64``."""
        if self.shuffle:
            order = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch]).permutation(self.n_items)
        else:
            order = np.arange(self.n_items)
        if self.pad:
            total = self.shard_size * self.world_size
            order = np.resize(order, total)  # wraps around
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order()
        for b in range(self.start_batch, self.batches_per_epoch):
            yield order[b * self.batch_size : (b + 1) * self.batch_size].tolist()

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start_batch
