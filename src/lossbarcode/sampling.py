"""On how much data: the rows a landscape measures and the minibatches it trains on.

A landscape's data come in one of two shapes, each a class with the same few verbs:

- ``Samples``: aligned inputs and targets, one row per sample (images and labels); training goes
  through epochs of a seeded permutation (``Epochs``);
- ``TokenWindows``: one token stream; a row is a window of ``block_size`` inputs and the
  ``block_size`` tokens that follow each of them; training draws windows at random offsets, as
  karpathy's gpt.py ``get_batch`` does (``RandomWindows``); measurement cuts the stream into
  consecutive windows that do not overlap.

Both offer ``len`` (measurement rows), ``rows(index)`` (inputs and targets of those rows),
``subset(index)`` (the same data restricted to those rows), ``batches(size)`` (every row once, in
order) and ``minibatches(batch_size, generator)`` (the training stream). The landscape never asks
which one it holds.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class Samples:
    """Aligned ``inputs`` and ``targets`` tensors, one row per sample; ``name`` says which split
    they are in error messages."""

    def __init__(self, inputs: Tensor, targets: Tensor, name: str = "training"):
        if len(inputs) != len(targets) or len(inputs) == 0:
            raise ValueError(f"{name} inputs and targets must be non-empty and of equal length, got "
                             f"{len(inputs)} and {len(targets)}")
        for role, tensor in (("inputs", inputs), ("targets", targets)):
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise ValueError(f"the {name} {role} contain NaN or infinite values; every loss measured "
                                 "on them would be NaN")
        self.inputs, self.targets, self.name = inputs, targets, name

    @property
    def device(self) -> torch.device:
        return self.inputs.device

    def to(self, device: torch.device) -> Samples:
        return Samples(self.inputs.to(device), self.targets.to(device), self.name)

    def __len__(self) -> int:
        return len(self.inputs)

    def rows(self, index: Tensor | slice) -> tuple[Tensor, Tensor]:
        return self.inputs[index], self.targets[index]

    def subset(self, index: Tensor) -> Samples:
        return Samples(*self.rows(index.to(self.device)), self.name)

    def batches(self, size: int):
        for start in range(0, len(self), size):
            yield self.rows(slice(start, start + size))

    def minibatches(self, batch_size: int, generator: torch.Generator) -> Epochs:
        return Epochs(self, batch_size, generator)


class Epochs:
    """Minibatches of ``Samples`` in epochs: each epoch is a seeded permutation, cut in order."""

    def __init__(self, data: Samples, batch_size: int, generator: torch.Generator):
        self.data, self.batch_size, self.generator = data, int(batch_size), generator
        self.order, self.cursor = torch.empty(0, dtype=torch.long), 0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.data) / self.batch_size)

    def next(self) -> tuple[Tensor, Tensor]:
        if self.cursor >= len(self.order):
            # Drawn on the CPU (the same order on every device), moved once per epoch: a copy per
            # step would make the host wait for the GPU at every step.
            self.order, self.cursor = torch.randperm(len(self.data), generator=self.generator).to(self.data.device), 0
        index = self.order[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return self.data.rows(index)

    def state(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order.cpu(), "cursor": self.cursor}

    def load_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.cursor = state["order"].to(self.data.device), int(state["cursor"])


class TokenWindows:
    """A 1-D stream of token ids cut into windows: inputs ``tokens[s : s + block_size]``, targets
    ``tokens[s + 1 : s + block_size + 1]`` (each input's next token). Measurement rows start at
    ``starts`` (default: every ``block_size`` tokens, so the windows tile the stream; the last
    ``< block_size`` tokens are left out). Ids are stored as they come (compact) and become int64
    per batch."""

    def __init__(self, tokens: Tensor, block_size: int, starts: Tensor | None = None, name: str = "training"):
        if tokens.ndim != 1 or tokens.is_floating_point():
            raise ValueError(f"the {name} tokens must be a 1-D integer tensor, got {tokens.dtype} {tuple(tokens.shape)}")
        if block_size < 1 or len(tokens) < block_size + 1:
            raise ValueError(f"the {name} stream has {len(tokens)} tokens; windows of block_size={block_size} "
                             f"need at least {block_size + 1}")
        self.tokens, self.block_size, self.name = tokens, int(block_size), name
        tiles = torch.arange((len(tokens) - 1) // block_size, device=tokens.device) * block_size
        self.starts = tiles if starts is None else starts.to(tokens.device)

    @property
    def device(self) -> torch.device:
        return self.tokens.device

    def to(self, device: torch.device) -> TokenWindows:
        return TokenWindows(self.tokens.to(device), self.block_size, self.starts, self.name)

    def __len__(self) -> int:
        return len(self.starts)

    def windows(self, starts: Tensor) -> tuple[Tensor, Tensor]:
        """Inputs and targets ``[len(starts), block_size]`` of the windows beginning at ``starts``."""
        span = self.tokens[starts[:, None] + torch.arange(self.block_size + 1, device=self.device)].long()
        return span[:, :-1], span[:, 1:]

    def rows(self, index: Tensor | slice) -> tuple[Tensor, Tensor]:
        return self.windows(self.starts[index])

    def subset(self, index: Tensor) -> TokenWindows:
        return TokenWindows(self.tokens, self.block_size, self.starts[index.to(self.device)], self.name)

    def batches(self, size: int):
        for start in range(0, len(self), size):
            yield self.rows(slice(start, start + size))

    def minibatches(self, batch_size: int, generator: torch.Generator) -> RandomWindows:
        return RandomWindows(self, batch_size, generator)


class RandomWindows:
    """Training windows of a ``TokenWindows`` stream at uniformly random offsets (gpt.py's
    ``get_batch``), drawn from a seeded generator; an epoch is as many steps as it takes to draw
    as many tokens as the stream holds."""

    def __init__(self, data: TokenWindows, batch_size: int, generator: torch.Generator):
        self.data, self.batch_size, self.generator = data, int(batch_size), generator

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.data.tokens) / (self.batch_size * self.data.block_size))

    def next(self) -> tuple[Tensor, Tensor]:
        high = len(self.data.tokens) - self.data.block_size
        starts = torch.randint(high, (self.batch_size,), generator=self.generator)
        return self.data.windows(starts.to(self.data.device))

    def state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def as_rows(data, name: str) -> Samples | TokenWindows:
    """``data`` as measurement rows: a ``(inputs, targets)`` pair becomes ``Samples``."""
    if isinstance(data, (Samples, TokenWindows)):
        return data
    inputs, targets = data
    return Samples(inputs, targets, name)


def measurement_index(n: int, size: int | None, seed: int) -> Tensor | None:
    """The rows a landscape measures: ``size`` of ``n`` drawn by ``seed`` (in their order), or
    None for all of them."""
    if size is None:
        return None
    if not 0 < size <= n:
        raise ValueError(f"a measurement set of {size} rows, but the data have {n}")
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].sort().values
