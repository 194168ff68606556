"""Checkpoints: a training run saves its state every few epochs, and a restarted run resumes.

A job killed half way (a SLURM time limit, a node failure, ``kill -9``) loses at most ``every``
epochs: started again, it finds its checkpoint and goes on from the saved step. Everything that
decides what happens next is saved: the parameters, the optimizer's buffers, the losses so far and
the random streams (torch's global generator, and whatever else is ``track``-ed: the data order, the
points a curve samples, a chain's shape, the best epoch so far and its parameters), so a resumed run
on the CPU ends bit-identical to a run that was never stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .io import save_torch

log = logging.getLogger("lossbarcode")


class Checkpoint:
    """The state of one training run at ``path``, written every ``every`` epochs.

    ``key`` names the settings and inputs of the run: a file written under another key (the config
    or an input changed since) is ignored, with a log line, rather than resumed.
    """

    def __init__(self, path: str | Path, every: int = 1, key: str = ""):
        if every < 1:
            raise ValueError(f"a checkpoint is written every >= 1 epochs, got every={every}")
        self.path, self.every, self.key = Path(path), int(every), key
        self._parts: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {
            "torch generator": (torch.get_rng_state, torch.set_rng_state),
        }
        self._pending: dict | None = self._read()

    def track(self, name: str, get: Callable[[], Any], set: Callable[[Any], None]) -> Checkpoint:
        """Saves ``get()`` with every checkpoint and hands it to ``set`` on resuming."""
        self._parts[name] = (get, set)
        return self

    def track_generator(self, name: str, generator: torch.Generator) -> Checkpoint:
        return self.track(name, generator.get_state, generator.set_state)

    @property
    def step(self) -> int:
        """The step a resumed run goes on from (0 with nothing to resume)."""
        return self._pending["step"] if self._pending else 0

    def resume(self, steps: range, params: Sequence[Tensor], optimizer) -> tuple[range, list[float]] | None:
        """If the saved step lies in ``steps`` (or ends it), restores everything and returns the steps
        left and the losses so far; otherwise None. A checkpoint is resumed at most once per run."""
        saved = self._pending
        if saved is None or not steps.start <= saved["step"] <= steps.stop:
            return None
        self._pending = None
        for name, value in saved["parts"].items():
            self._parts[name][1](value)
        for p, value in zip(params, saved["params"], strict=True):
            p.data = value.to(p.device)  # .data: a point chain's restored nodes may outnumber the new ones
        optimizer.load_state_dict(saved["optimizer"])
        return range(saved["step"], steps.stop), list(saved["history"])

    def save(self, step: int, params: Sequence[Tensor], optimizer, history: Sequence[float]) -> None:
        """Writes the state after ``step`` steps (atomically: a kill mid-write keeps the last one)."""
        save_torch(self.path, {
            "key": self.key, "step": step, "history": list(history),
            "params": [p.detach().cpu().clone() for p in params],
            "optimizer": optimizer.state_dict(),
            "parts": {name: get() for name, (get, _) in self._parts.items()},
        })

    def remove(self) -> None:
        """Deletes the file once the job's results are written."""
        self.path.unlink(missing_ok=True)

    def _read(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # a file from another torch version, a damaged disk: start afresh
            log.info("ignoring checkpoint %s: it cannot be read (%s)", self.path, error)
            return None
        if saved.get("key") != self.key:
            log.info("ignoring checkpoint %s: it was written under other settings or inputs", self.path)
            return None
        return saved
