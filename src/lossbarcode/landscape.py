"""Landscapes: functions from flat parameter vectors to losses.

Everything else in the library (minima search, curves, triangles) sees only this interface:

- ``dim``: the number of parameters;
- ``loss(theta)``: the training objective, differentiable; for a network a stochastic minibatch loss
  (each call draws the next minibatch), for an analytic function the function itself;
- ``evaluate(theta)``: the measured loss, without gradients; for a network the loss on its fixed
  measurement set (by default all of its training data);
- ``gradient(theta)``: the gradient of the measured loss at one point (where a curve's maximum is
  checked for stationarity, ``lossbarcode.convergence``).

``theta`` is a ``[dim]`` vector (result: a scalar) or a ``[batch, dim]`` stack of vectors (result:
``[batch]``), so that many points of a curve or a triangle are evaluated in one call.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable

import torch
from torch import Tensor, nn

from . import tasks
from .sampling import Samples, TokenWindows, as_rows, measurement_index
from .tasks import Task

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

    def gradient(self, theta: Tensor) -> Tensor:
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

    def gradient(self, theta: Tensor) -> Tensor:
        point = self.as_point(theta).detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(self._call(point), point)
        return grad


PRECISIONS = ("fp32", "tf32", "bf16")


def allow_tf32(allowed: bool) -> None:
    """TensorFloat-32 in CUDA matrix products and convolutions (cuDNN allows it by default)."""
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed


class NetworkLandscape(Landscape):
    """The loss of ``model`` on a dataset, as a function of its flat parameter vector.

    What is measured is a ``task`` (``lossbarcode.tasks``: ``"classification"``, per sample, or
    ``"causal_lm"``, per token); the data are ``Samples`` (an ``(inputs, targets)`` pair of tensors)
    or ``TokenWindows`` (a token stream), see ``lossbarcode.sampling``. Every loss is a mean over the
    task's units.

    The model is evaluated with ``torch.func.functional_call``, and a batch of parameter vectors
    with ``torch.func.vmap`` (default on CUDA devices): one pass over the data serves every point. Data are tensors that
    live on the compute device; minibatches are index slices of a seeded permutation (samples) or
    windows at seeded random offsets (tokens), so no per-sample loader runs in the hot loop.

    Measurement (``metrics``, ``evaluate``) runs on a fixed set of rows per split: all of them by
    default, or ``measure_train`` / ``measure_test`` rows (samples, or windows of ``block_size``
    tokens) drawn by ``measure_seed``. The set is fixed when the landscape is built, so every point
    of a run is measured on the same data, and two landscapes with the same sizes and
    ``measure_seed`` measure the same value at the same point. ``measure_seed`` is not ``seed``
    (the minibatch stream's), which differs between the jobs of one run.

    BatchNorm: training uses batch statistics (as in training mode); before a point is measured,
    its BN statistics are re-estimated exactly over the training measurement set (all training
    rows by default; see ``recalibrate_bn``), because running statistics mean nothing at a point of
    a curve.

    ``vmap_samples`` bounds the work of one vmapped pass (points times the task's units: samples,
    or tokens), and with it the GPU memory that activations take. ``eval_batch_size`` counts rows
    (samples, or windows) per measurement pass.

    ``precision`` of the training objective on a GPU: ``fp32``; ``tf32`` (TensorFloat-32 matrix
    products); ``bf16`` (autocast to bfloat16, with TF32 for what stays in float32). Measurements
    (``metrics``, ``evaluate``) are always exact float32, since barcodes are made of them. On a
    CPU every precision is float32. ``channels_last`` lays training batches of images out channels
    last (NHWC), which recent GPUs' convolution kernels prefer; the values are the same.
    ``compile`` runs the training objective at one point (the forward pass, the loss and, through
    it, the backward pass) through ``torch.compile`` in that mode (``train.COMPILE_MODES``; None:
    eager). A stack of points (the point chain's) is vmapped, which torch.compile does not trace
    into: it stays eager. Measurements never go through the compiler.
    """

    def __init__(
        self,
        model: nn.Module,
        train: tuple[Tensor, Tensor] | Samples | TokenWindows,
        test: tuple[Tensor, Tensor] | Samples | TokenWindows | None = None,
        *,
        task: str | Task = "classification",
        batch_size: int = 128,
        eval_batch_size: int = 2048,
        augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        vmap: bool | None = None,
        vmap_samples: int = 16384,
        precision: str = "fp32",
        channels_last: bool = False,
        compile: str | None = None,
        measure_train: int | None = None,
        measure_test: int | None = None,
        measure_seed: int = 0,
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
        self.task = tasks.get(task)
        train = as_rows(train, "training")
        self.device = torch.device(device) if device is not None else train.device
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

        self.train = train.to(self.device)
        self.test = as_rows(test, "test").to(self.device) if test is not None else None
        self.measured = {"train": self._measurement_set(self.train, measure_train, measure_seed),
                         "test": self._measurement_set(self.test, measure_test, measure_seed)}
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.augment = augment
        self.channels_last = channels_last
        self.train_loss = self._train_loss
        if compile is not None:
            log.info("compiling the training objective with torch.compile (mode %s)", compile)
            self.train_loss = torch.compile(self._train_loss, mode=compile, dynamic=False)
        # vmap pays on a GPU (many small forward passes become one); on a CPU a loop is as fast
        # (benchmarks/batched_evaluation.py), so that is the default there.
        self.vmap = self.device.type == "cuda" if vmap is None else vmap
        self.vmap_samples = int(vmap_samples)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.minibatches = self.train.minibatches(self.batch_size, self.generator)

    @staticmethod
    def _measurement_set(rows, size: int | None, seed: int):
        if rows is None:
            return None
        index = measurement_index(len(rows), size, seed)
        return rows if index is None else rows.subset(index)

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
        return self.minibatches.steps_per_epoch

    # ----- training objective --------------------------------------------------------------
    def data_state(self) -> dict:
        """Where the minibatch stream stands (for checkpoints): its generator and position."""
        return self.minibatches.state()

    def load_data_state(self, state: dict) -> None:
        self.minibatches.load_state(state)

    def next_batch(self) -> tuple[Tensor, Tensor]:
        x, y = self.minibatches.next()
        if self.augment is not None:
            x = self.augment(x, self.generator)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def loss(self, theta: Tensor) -> Tensor:
        batch, single = self.as_batch(theta)
        x, y = self.next_batch()
        if single:
            return self.train_loss(batch[0], x, y)
        return self._map(self.train_loss, batch, x, y, units=self.task.units(y))

    def _train_loss(self, flat: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """The training objective at one parameter vector: the mean loss over the batch's units."""
        with torch.autocast("cuda", torch.bfloat16) if self.precision == "bf16" else contextlib.nullcontext():
            logits = self.task.logits(self.train_model, self.unflatten(flat), x)
        return self.task.loss_sum(logits, y) / self.task.units(y)

    def _map(self, fn, batch: Tensor, *shared, units: int):
        """``fn`` over the rows of ``batch`` (with ``shared`` arguments, ``units`` of the task's data
        units per row): vmapped, or looped for a model that vmap cannot trace (then ``vmap`` is switched off for
        good, with a log line). A vmapped pass holds the activations of all its rows at once, so rows
        go ``vmap_samples // units`` at a time, and half as many after running out of memory. A
        single row skips vmap, whose batching costs more than it saves there."""
        while self.vmap and len(batch) > 1:
            chunk = max(1, self.vmap_samples // units)
            try:
                return torch.func.vmap(fn, in_dims=(0, *[None] * len(shared)), randomness="different",
                                       chunk_size=chunk)(batch, *shared)
            except torch.OutOfMemoryError:
                if chunk == 1:
                    raise
                self.vmap_samples = (chunk // 2) * units
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
        """Exact BN statistics at ``flat``: one pass over the un-augmented training measurement set
        (all training rows unless ``measure_train`` is given), BN layers in training mode and
        everything else (dropout) in evaluation mode.

        Each BN layer gets the mean and the unbiased variance of its inputs over those rows, per
        channel: each batch's mean and variance are merged exactly (Chan et al.'s pairwise update,
        in float64), where a running average of per-batch variances would miss the spread between
        batch means.
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
        # Only the BN layers train: dropout active here would change the statistics it measures.
        for module in self.bn_layers.values():
            module.train()
        try:
            for x, _ in self.measured["train"].batches(self.eval_batch_size):
                self.task.logits(self.model, {**params, **buffers}, x)
        finally:
            for module in self.bn_layers.values():
                module.eval()
            for h in handles:
                h.remove()
        for name, (count, mean, m2) in stats.items():
            buffers[f"{name}.running_mean"] = mean.to(self.dtype)
            buffers[f"{name}.running_var"] = (m2 / max(count - 1, 1)).to(self.dtype)
        return buffers

    def metrics(self, theta: Tensor, split: str = "train") -> dict:
        """Mean loss and accuracy over the measurement set of ``split`` at each point:
        ``{"loss": [b], "accuracy": [b], "unit": the task's unit ("sample", "token"), "count": how
        many units the means are over}``."""
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

    def _metrics(self, theta: Tensor, split: str) -> dict:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        data = self.measured[split]
        if data is None:
            raise ValueError("this landscape was built without test data")
        batch, single = self.as_batch(theta)
        if self.bn_layers:
            rows = [self._sums_at(flat, data, self.recalibrate_bn(flat)) for flat in batch]
            total, correct = (torch.stack([row[i] for row in rows]) for i in (0, 1))
            count = rows[0][2]
        else:
            total, correct, count = self._sums_batched(batch, data)
        loss, acc = (total / count).to(self.dtype), (correct / count).to(self.dtype)
        return {"loss": loss[0] if single else loss, "accuracy": acc[0] if single else acc,
                "unit": self.task.unit, "count": count}

    def evaluate(self, theta: Tensor) -> Tensor:
        return self.metrics(theta)["loss"]

    def gradient(self, theta: Tensor) -> Tensor:
        """The gradient of ``evaluate``'s loss at one point: the mean loss over the training measurement
        set, in exact float32, dropout off, with the BN statistics recalibrated at the point and then
        held fixed (the measured loss is differentiated through the network, not through the
        statistics). One backward pass per measurement batch, so memory is that of one batch."""
        flat = self.as_point(theta).detach().requires_grad_(True)
        buffers = self.recalibrate_bn(flat.detach()) if self.bn_layers else {}
        count = 0
        with torch.enable_grad(), self._exact():
            for x, y in self.measured["train"].batches(self.eval_batch_size):
                params = {**self.unflatten(flat), **buffers}  # a graph per batch: each backward frees its own
                self.task.loss_sum(self.task.logits(self.model, params, x), y).backward(inputs=[flat])
                count += self.task.units(y)
        return flat.grad / count

    def _sums_at(self, flat, data, buffers) -> tuple[Tensor, Tensor, int]:
        """Summed loss (float64), correct predictions and units over ``data`` at one point."""
        params = {**self.unflatten(flat), **buffers}
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        for x, y in data.batches(self.eval_batch_size):
            logits = self.task.logits(self.model, params, x)
            total += self.task.loss_sum(logits, y).double()
            correct += self.task.hits(logits, y).double()
            count += self.task.units(y)
        return total, correct, count

    def _sums_batched(self, batch, data) -> tuple[Tensor, Tensor, int]:
        def one(flat, x, y):
            logits = self.task.logits(self.model, self.unflatten(flat), x)
            return self.task.loss_sum(logits, y), self.task.hits(logits, y)

        total = torch.zeros(len(batch), dtype=torch.float64, device=self.device)
        correct = torch.zeros(len(batch), dtype=torch.float64, device=self.device)
        count = 0
        for x, y in data.batches(self.eval_batch_size):
            units = self.task.units(y)
            loss, hits = self._map(one, batch, x, y, units=units)
            total += loss.double()
            correct += hits.double()
            count += units
        return total, correct, count
