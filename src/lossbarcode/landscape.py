"""Landscapes: functions from flat parameter vectors to losses.

Everything else in the library (minima search, curves, triangles) sees only this interface:

- ``dim``: the number of parameters;
- ``loss(theta)``: the training objective, differentiable; for a network a stochastic minibatch loss
  (each call draws the next minibatch), for an analytic function the function itself;
- ``evaluate(theta)``: the measured loss, without gradients; for a network the full-data loss.

``theta`` is a ``[dim]`` vector (result: a scalar) or a ``[batch, dim]`` stack of vectors (result:
``[batch]``), so that many points of a curve or a triangle are evaluated in one call.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger("lossbarcode")


class Landscape:
    """Base class: shape checks shared by every landscape."""

    dim: int
    dtype: torch.dtype
    device: torch.device

    def loss(self, theta: Tensor) -> Tensor:
        raise NotImplementedError

    def evaluate(self, theta: Tensor) -> Tensor:
        raise NotImplementedError

    def as_batch(self, theta: Tensor) -> tuple[Tensor, bool]:
        """Returns ``theta`` as ``[batch, dim]`` and whether the caller passed a single vector."""
        theta = torch.as_tensor(theta)
        if theta.ndim not in (1, 2) or theta.shape[-1] != self.dim:
            raise ValueError(
                f"parameter vector has shape {tuple(theta.shape)}, but this landscape has "
                f"{self.dim} parameters: expected shape ({self.dim},) or (batch, {self.dim})"
            )
        theta = theta.to(device=self.device, dtype=self.dtype)
        return (theta.unsqueeze(0), True) if theta.ndim == 1 else (theta, False)

    def as_point(self, theta: Tensor) -> Tensor:
        """``theta`` as one ``[dim]`` vector on this landscape's device and dtype."""
        batch, single = self.as_batch(theta)
        if not single:
            raise ValueError(f"expected one parameter vector of shape ({self.dim},), got {tuple(batch.shape)}")
        return batch[0]


class FunctionLandscape(Landscape):
    """An analytic landscape: ``fn`` maps a ``[batch, dim]`` tensor to ``[batch]`` losses.

    ``fn`` is written with torch operations so that it is differentiable; it is both the training
    objective and the measurement. Float64 by default: the analytic oracles compare barcodes to
    a fraction of a percent.
    """

    def __init__(self, fn: Callable[[Tensor], Tensor], dim: int, *, dtype=torch.float64, device="cpu"):
        if dim < 1:
            raise ValueError(f"dim must be a positive number of parameters, got {dim}")
        self.fn, self.dim = fn, int(dim)
        self.dtype, self.device = dtype, torch.device(device)

    def _call(self, theta: Tensor) -> Tensor:
        batch, single = self.as_batch(theta)
        values = self.fn(batch)
        if values.shape != (batch.shape[0],):
            raise ValueError(
                f"the landscape function returned shape {tuple(values.shape)} for a batch of "
                f"{batch.shape[0]} points; it must return one loss per point"
            )
        return values[0] if single else values

    def loss(self, theta: Tensor) -> Tensor:
        return self._call(theta)

    @torch.no_grad()
    def evaluate(self, theta: Tensor) -> Tensor:
        return self._call(theta)


PRECISIONS = ("fp32", "tf32", "bf16")


def allow_tf32(allowed: bool) -> None:
    """TensorFloat-32 in CUDA matrix products and convolutions (cuDNN allows it by default)."""
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed


class NetworkLandscape(Landscape):
    """The loss of ``model`` on a dataset, as a function of its flat parameter vector.

    The model is evaluated with ``torch.func.functional_call``, and a batch of parameter vectors
    with ``torch.func.vmap`` (default on CUDA devices): one pass over the data serves every point. Data are tensors that
    live on the compute device; minibatches are index slices of a seeded permutation, so no
    per-sample loader runs in the hot loop.

    BatchNorm: training uses batch statistics (as in training mode); before a point is measured,
    its BN statistics are re-estimated exactly over the whole training set (see
    ``recalibrate_bn``), because running statistics mean nothing at a point of a curve.

    ``vmap_samples`` bounds the work of one vmapped pass (points times data samples), and with it
    the GPU memory that activations take.

    ``precision`` of the training objective on a GPU: ``fp32``; ``tf32`` (TensorFloat-32 matrix
    products); ``bf16`` (autocast to bfloat16, with TF32 for what stays in float32). Measurements
    (``metrics``, ``evaluate``) are always exact float32, since barcodes are made of them. On a
    CPU every precision is float32.
    """

    def __init__(
        self,
        model: nn.Module,
        train: tuple[Tensor, Tensor],
        test: tuple[Tensor, Tensor] | None = None,
        *,
        batch_size: int = 128,
        eval_batch_size: int = 2048,
        loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
        augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        vmap: bool | None = None,
        vmap_samples: int = 16384,
        precision: str = "fp32",
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
        self.device = torch.device(device) if device is not None else train[0].device
        self.precision = precision if self.device.type == "cuda" else "fp32"
        if self.device.type == "cuda":
            allow_tf32(self.precision != "fp32")
        self.model = copy.deepcopy(model).to(self.device).eval()
        self.dtype = next(self.model.parameters()).dtype
        self.names = [n for n, _ in self.model.named_parameters()]
        self.shapes = [p.shape for _, p in self.model.named_parameters()]
        self.sizes = [p.numel() for _, p in self.model.named_parameters()]
        self.dim = sum(self.sizes)
        self.bn_layers = {
            n: m for n, m in self.model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        }
        # Training-mode copy whose BN layers always normalise by batch statistics and keep no
        # running buffers, which is what vmap over parameter vectors needs.
        self.train_model = copy.deepcopy(self.model).train()
        torch.func.replace_all_batch_norm_modules_(self.train_model)

        self.train = tuple(t.to(self.device) for t in train)
        self.test = tuple(t.to(self.device) for t in test) if test is not None else None
        if len(self.train[0]) != len(self.train[1]) or len(self.train[0]) == 0:
            raise ValueError(
                f"training inputs and targets must be non-empty and of equal length, got "
                f"{len(self.train[0])} and {len(self.train[1])}"
            )
        for split, tensors in (("training", self.train), ("test", self.test or ())):
            for role, tensor in zip(("inputs", "targets"), tensors):
                if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    raise ValueError(f"the {split} {role} contain NaN or infinite values; every loss "
                                     "measured on them would be NaN")
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.loss_fn, self.augment = loss_fn, augment
        # vmap pays on a GPU (many small forward passes become one); on a CPU a loop is as fast
        # (benchmarks/batched_evaluation.py), so that is the default there.
        self.vmap = self.device.type == "cuda" if vmap is None else vmap
        self.vmap_samples = int(vmap_samples)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self._order, self._cursor = torch.empty(0, dtype=torch.long), 0

    # ----- parameter vectors ---------------------------------------------------------------
    def flatten(self, model: nn.Module | None = None) -> Tensor:
        """The flat parameter vector of ``model`` (default: the wrapped model's current values)."""
        model = self.model if model is None else model
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).to(self.device, self.dtype)

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        """Views of ``theta`` (``[..., dim]``) shaped as the model's named parameters."""
        lead = theta.shape[:-1]
        chunks = torch.split(theta, self.sizes, dim=-1)
        return {n: c.reshape(*lead, *s) for n, c, s in zip(self.names, chunks, self.shapes)}

    def to_model(self, theta: Tensor) -> nn.Module:
        """A copy of the model holding ``theta``, with BN statistics recalibrated for it."""
        model = copy.deepcopy(self.model)
        flat = self.as_point(theta.detach())
        torch.nn.utils.vector_to_parameters(flat, model.parameters())
        if self.bn_layers:
            buffers = self.recalibrate_bn(flat)
            for name, value in buffers.items():
                model.get_buffer(name).copy_(value)
        return model

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train[0]) / self.batch_size)

    # ----- training objective --------------------------------------------------------------
    def data_state(self) -> dict:
        """Where the minibatch stream stands (for checkpoints): its generator, order and cursor."""
        return {"generator": self.generator.get_state(), "order": self._order.cpu(), "cursor": self._cursor}

    def load_data_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self._order, self._cursor = state["order"].to(self.device), int(state["cursor"])

    def next_batch(self) -> tuple[Tensor, Tensor]:
        n = len(self.train[0])
        if self._cursor >= len(self._order):
            # Drawn on the CPU (the same order on every device), moved once per epoch: a copy per
            # step would make the host wait for the GPU at every step.
            self._order, self._cursor = torch.randperm(n, generator=self.generator).to(self.device), 0
        idx = self._order[self._cursor : self._cursor + self.batch_size]
        self._cursor += self.batch_size
        x, y = self.train[0][idx], self.train[1][idx]
        if self.augment is not None:
            x = self.augment(x, self.generator)
        return x, y

    def loss(self, theta: Tensor) -> Tensor:
        batch, single = self.as_batch(theta)
        x, y = self.next_batch()

        def one(flat: Tensor) -> Tensor:
            bf16 = self.precision == "bf16"
            with torch.autocast("cuda", torch.bfloat16) if bf16 else contextlib.nullcontext():
                out = torch.func.functional_call(self.train_model, self.unflatten(flat), (x,))
            return self.loss_fn(out.float(), y)

        if single:
            return one(batch[0])
        return self._map(one, batch, samples=len(x))

    def _map(self, fn, batch: Tensor, *shared, samples: int):
        """``fn`` over the rows of ``batch`` (with ``shared`` arguments, ``samples`` data points per
        row): vmapped, or looped for a model that vmap cannot trace (then ``vmap`` is switched off for
        good, with a log line). A vmapped pass holds the activations of all its rows at once, so rows
        go ``vmap_samples // samples`` at a time, and half as many after running out of memory. A
        single row skips vmap, whose batching costs more than it saves there."""
        while self.vmap and len(batch) > 1:
            chunk = max(1, self.vmap_samples // samples)
            try:
                return torch.func.vmap(fn, in_dims=(0, *[None] * len(shared)), randomness="different",
                                       chunk_size=chunk)(batch, *shared)
            except torch.OutOfMemoryError:
                if chunk == 1:
                    raise
                self.vmap_samples = (chunk // 2) * samples
                torch.cuda.empty_cache()
                log.warning("out of GPU memory with %d points per pass; now %d", chunk, chunk // 2)
            except (RuntimeError, NotImplementedError) as error:
                if "vmap" not in str(error).lower() and "batched" not in str(error).lower():
                    raise
                log.warning("vmap cannot run this model (%s); looping over points", error)
                self.vmap = False
        rows = [fn(row, *shared) for row in batch]
        return tuple(torch.stack(col) for col in zip(*rows)) if isinstance(rows[0], tuple) else torch.stack(rows)

    # ----- measurement ---------------------------------------------------------------------
    @torch.no_grad()
    def recalibrate_bn(self, flat: Tensor) -> dict[str, Tensor]:
        """Exact BN statistics at ``flat``: one training-mode pass over the un-augmented data.

        Each BN layer gets the mean and the unbiased variance of its inputs over the whole
        training set, per channel: each batch's mean and variance are merged exactly (Chan et
        al.'s pairwise update, in float64), where a running average of per-batch variances would
        miss the spread between batch means.
        """
        stats: dict[str, tuple] = {name: (0, 0.0, 0.0) for name in self.bn_layers}
        handles = []
        for name, module in self.bn_layers.items():

            def hook(module, inputs, name=name):
                x = inputs[0].detach()
                dims = [d for d in range(x.ndim) if d != 1]
                var_b, mean_b = torch.var_mean(x, dims, correction=0)
                n_b = x.numel() // x.shape[1]
                n, mean, m2 = stats[name]
                total = n + n_b
                delta = mean_b.double() - mean
                stats[name] = (total, mean + delta * (n_b / total),
                               m2 + var_b.double() * n_b + delta * delta * (n * n_b / total))

            handles.append(module.register_forward_pre_hook(hook))
        params = self.unflatten(flat)
        buffers = {n: b.clone() for n, b in self.model.named_buffers()}
        self.model.train()
        try:
            for x, _ in self._batches(self.train):
                torch.func.functional_call(self.model, {**params, **buffers}, (x,))
        finally:
            self.model.eval()
            for h in handles:
                h.remove()
        for name, (count, mean, m2) in stats.items():
            buffers[f"{name}.running_mean"] = mean.to(self.dtype)
            buffers[f"{name}.running_var"] = (m2 / max(count - 1, 1)).to(self.dtype)
        return buffers

    def _batches(self, data: tuple[Tensor, Tensor]):
        x, y = data
        for i in range(0, len(x), self.eval_batch_size):
            yield x[i : i + self.eval_batch_size], y[i : i + self.eval_batch_size]

    def metrics(self, theta: Tensor, split: str = "train") -> dict[str, Tensor]:
        """Full-data mean loss and accuracy at each point, ``{"loss": [b], "accuracy": [b]}``."""
        with torch.no_grad(), self._exact():
            return self._metrics(theta, split)

    @contextlib.contextmanager
    def _exact(self):
        """Exact float32 inside, whatever the training precision."""
        if self.precision == "fp32":
            yield
            return
        allow_tf32(False)
        try:
            yield
        finally:
            allow_tf32(True)

    def _metrics(self, theta: Tensor, split: str) -> dict[str, Tensor]:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        data = self.train if split == "train" else self.test
        if data is None:
            raise ValueError("this landscape was built without test data")
        batch, single = self.as_batch(theta)
        if self.bn_layers:
            rows = [self._metrics_at(flat, data, self.recalibrate_bn(flat)) for flat in batch]
            loss, acc = (torch.stack(col) for col in zip(*rows))
        else:
            loss, acc = self._metrics_batched(batch, data)
        return {"loss": loss[0] if single else loss, "accuracy": acc[0] if single else acc}

    def evaluate(self, theta: Tensor) -> Tensor:
        return self.metrics(theta)["loss"]

    def _metrics_at(self, flat, data, buffers) -> tuple[Tensor, Tensor]:
        params = {**self.unflatten(flat), **buffers}
        total, correct = torch.zeros((), dtype=torch.float64, device=self.device), 0
        for x, y in self._batches(data):
            out = torch.func.functional_call(self.model, params, (x,))
            total += self.loss_fn(out, y, reduction="sum").double()
            correct += (out.argmax(-1) == y).sum()
        n = len(data[0])
        return (total / n).to(self.dtype), torch.as_tensor(correct / n, dtype=self.dtype)

    def _metrics_batched(self, batch, data) -> tuple[Tensor, Tensor]:
        def one(flat, x, y):
            out = torch.func.functional_call(self.model, self.unflatten(flat), (x,))
            loss = self.loss_fn(out, y, reduction="sum")
            return loss, (out.argmax(-1) == y).sum()

        total = torch.zeros(len(batch), dtype=torch.float64, device=self.device)
        correct = torch.zeros(len(batch), dtype=torch.float64, device=self.device)
        for x, y in self._batches(data):
            loss, hits = self._map(one, batch, x, y, samples=len(x))
            total += loss.double()
            correct += hits.double()
        n = len(data[0])
        return (total / n).to(self.dtype), (correct / n).to(self.dtype)
