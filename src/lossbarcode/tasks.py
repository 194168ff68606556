"""What a landscape measures: a task, chosen by name from ``TASKS``.

A task is a cross-entropy over its own *units*: a classifier has one loss term per sample (logits
``[B, C]``, targets ``[B]``), a causal language model one per token (logits ``[B, T, V]``, targets
``[B, T]``, each token's successor). For a batch it gives the summed loss and the number of correct
predictions over its units (``loss_sum``, ``hits``) and how many units there are (``units``); the
landscape adds these up and divides once, so a mean is always over units, whatever the batching.
That reduction is nanoGPT's ``logits.view(B*T, C)``: every leading dimension of the logits is a unit.

The model is any ``nn.Module`` returning logits, or a Hugging Face ``transformers`` model: one whose
``forward`` takes ``input_ids`` gets its inputs by that keyword (and no key-value cache) and returns a
``ModelOutput`` whose ``.logits`` are used.

A new task is one ``TASKS`` entry.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Task:
    """A cross-entropy task: ``unit`` names what one loss term is about, ``target_dims`` the
    dimensions of a batch of targets (``[B]``: 1, ``[B, T]``: 2)."""

    name: str
    unit: str
    target_dims: int

    def logits(self, model: nn.Module, params: dict[str, Tensor], inputs: Tensor) -> Tensor:
        """The logits of ``model`` holding ``params`` (and buffers) for a batch of ``inputs``."""
        takes = inspect.signature(model.forward).parameters
        if "input_ids" in takes:
            keywords = {"input_ids": inputs} | ({"use_cache": False} if "use_cache" in takes else {})
            out = torch.func.functional_call(model, params, (), keywords)
        else:
            out = torch.func.functional_call(model, params, (inputs,))
        return out.logits if hasattr(out, "logits") else out

    def check(self, logits: Tensor, targets: Tensor) -> None:
        if targets.ndim != self.target_dims or logits.shape[:-1] != targets.shape:
            raise ValueError(
                f"task {self.name!r} takes targets with {self.target_dims} dimension(s) and logits with one more "
                f"(one row of logits per {self.unit}), got targets {tuple(targets.shape)} and logits "
                f"{tuple(logits.shape)}; choose the task that fits the data ({', '.join(TASKS)})"
            )

    def loss_sum(self, logits: Tensor, targets: Tensor) -> Tensor:
        """The cross-entropy (nats) summed over the batch's units, in float32 at least."""
        self.check(logits, targets)
        logits = logits.flatten(0, -2)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 up, float64 kept
        return F.cross_entropy(logits, targets.flatten(), reduction="sum")

    def hits(self, logits: Tensor, targets: Tensor) -> Tensor:
        """How many of the batch's units are predicted right (top-1)."""
        self.check(logits, targets)
        return (logits.argmax(-1) == targets).sum()

    def units(self, targets: Tensor) -> int:
        return targets.numel()


TASKS: dict[str, Task] = {
    task.name: task for task in (Task("classification", "sample", 1), Task("causal_lm", "token", 2))
}


def get(task: str | Task) -> Task:
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    return TASKS[task]
