"""The one optimisation loop, and the recipes that configure it.

Minima, curves and triangles are all trained here: a list of tensors, an objective that returns
the loss of step ``k``, and a ``Recipe`` (optimizer, learning rate, schedule, number of steps).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from .checkpoint import Checkpoint

log = logging.getLogger("lossbarcode")

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "garipov", "cyclic", "step", "piecewise")


@dataclass(frozen=True)
class Recipe:
    """How to optimise: ``steps`` updates of ``optimizer`` at ``lr`` times the schedule's factor.

    Schedules (``schedule_args`` in brackets), as functions of progress p = step / steps:
      constant;
      garipov: 1 for p <= 0.5, linear to 0.01 at p = 0.9, then 0.01 (Garipov et al. 2018);
      cyclic [period (steps), low (factor)]: triangular cycles between low and 1 (Smith 2017);
      step [milestones (fractions of steps), gamma]: times gamma at each milestone;
      piecewise [knots: [[p, factor], ...]]: linear interpolation between knots.
    ``weight_decay`` is the optimizer's own (coupled for SGD/Adam, decoupled for AdamW).
    """

    steps: int
    lr: float
    optimizer: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    schedule_args: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"recipe needs at least one step, got steps={self.steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be positive and finite, got lr={self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if self.schedule == "cyclic" and int(self.schedule_args.get("period", 0)) < 2:
            raise ValueError("the cyclic schedule needs schedule_args.period >= 2 (steps per cycle)")
        if self.schedule == "piecewise" and not self.schedule_args.get("knots"):
            raise ValueError("the piecewise schedule needs schedule_args.knots: [[progress, factor], ...]")

    def to_dict(self) -> dict:
        return asdict(self)

    def lr_at(self, step: int) -> float:
        return self.lr * lr_factor(self.schedule, step / self.steps, step, self.schedule_args)


def lr_factor(schedule: str, progress: float, step: int, args: dict) -> float:
    if schedule == "constant":
        return 1.0
    if schedule == "garipov":
        if progress <= 0.5:
            return 1.0
        if progress <= 0.9:
            return 1.0 - 0.99 * (progress - 0.5) / 0.4
        return 0.01
    if schedule == "cyclic":
        period, low = int(args["period"]), float(args.get("low", 0.1))
        phase = (step % period) / period
        return low + (1.0 - low) * (1.0 - abs(2.0 * phase - 1.0))
    if schedule == "step":
        passed = sum(progress >= m for m in args.get("milestones", ()))
        return float(args.get("gamma", 0.1)) ** passed
    if schedule == "piecewise":
        knots = sorted(args["knots"])
        xs, ys = [k[0] for k in knots], [k[1] for k in knots]
        if progress <= xs[0]:
            return ys[0]
        for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
            if progress <= x1:
                return y0 + (y1 - y0) * (progress - x0) / (x1 - x0) if x1 > x0 else y1
        return ys[-1]
    raise ValueError(f"unknown schedule {schedule!r}")


class Optimizer:
    """SGD (momentum, Nesterov, coupled weight decay), Adam and AdamW, with torch.optim's update rules.

    Written out because constructing any torch.optim optimizer imports torch._dynamo, 1.7 s that
    would dominate the short jobs of the workflow; tests check every update against torch.optim.
    """

    def __init__(self, params: Sequence[Tensor], recipe: Recipe, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.recipe, self.betas, self.eps = list(params), recipe, betas, eps
        self.state: list[dict] = [{} for _ in self.params]
        self.steps = 0

    def state_dict(self) -> dict:
        return {"steps": self.steps, "state": [{k: v.detach().cpu().clone() for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, saved: dict) -> None:
        if len(saved["state"]) != len(self.params):
            raise ValueError(f"optimizer state for {len(saved['state'])} tensors, this optimizer has {len(self.params)}")
        self.steps = saved["steps"]
        self.state = [{k: v.to(p.device) for k, v in s.items()} for p, s in zip(self.params, saved["state"])]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float) -> None:
        self.steps += 1
        r = self.recipe
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad
            if r.optimizer == "sgd":
                if r.weight_decay:
                    g = g.add(p, alpha=r.weight_decay)
                if r.momentum:
                    buf = state.get("momentum")
                    state["momentum"] = buf = g.clone() if buf is None else buf.mul_(r.momentum).add_(g)
                    g = g.add(buf, alpha=r.momentum) if r.nesterov else buf
                p.add_(g, alpha=-lr)
                continue
            if r.optimizer == "adamw":
                p.mul_(1 - lr * r.weight_decay)
            elif r.weight_decay:
                g = g.add(p, alpha=r.weight_decay)
            beta1, beta2 = self.betas
            m = state.setdefault("m", torch.zeros_like(p))
            v = state.setdefault("v", torch.zeros_like(p))
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            step_size = lr / (1 - beta1**self.steps)
            denom = (v.sqrt() / math.sqrt(1 - beta2**self.steps)).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)


def make_optimizer(params: Sequence[Tensor], recipe: Recipe) -> Optimizer:
    return Optimizer(params, recipe)


def optimize(
    params: Sequence[Tensor],
    objective: Callable[[int], Tensor],
    recipe: Recipe,
    *,
    steps: range | None = None,
    steps_per_epoch: int | None = None,
    adjust_grad: Callable[[int], None] | None = None,
    what: str = "optimization",
    optimizer: Optimizer | None = None,
    checkpoint: Checkpoint | None = None,
) -> list[float]:
    """Runs ``recipe`` on ``params`` and returns the mean loss of every epoch.

    ``objective(step)`` returns the scalar loss to minimise at that step. ``adjust_grad(step)`` may
    edit the gradients before each update (the point chain projects them). ``steps`` runs a slice of
    the recipe (the schedule still sees the whole recipe). One log line per epoch. A non-finite
    loss raises ``FloatingPointError`` naming ``what``; the check happens once per epoch, so the
    loop never waits on the device inside an epoch. With a ``checkpoint``, the state is saved every
    ``checkpoint.every`` epochs and at the end of ``steps``, and a saved state is resumed.
    """
    steps = range(recipe.steps) if steps is None else steps
    epoch = max(1, steps_per_epoch or math.ceil(recipe.steps / 10))
    opt = optimizer or make_optimizer(params, recipe)
    history: list[float] = []
    if checkpoint is not None and (resumed := checkpoint.resume(steps, params, opt)):
        steps, history = resumed
        log.info("%s: resuming from epoch %d (step %d of %d) of %s", what, math.ceil(steps.start / epoch),
                 steps.start, recipe.steps, checkpoint.path)
    running, count, tick = None, 0, time.perf_counter()
    for step in steps:
        lr = recipe.lr_at(step)
        opt.zero_grad()
        loss = objective(step)
        loss.backward()
        if adjust_grad is not None:
            adjust_grad(step)
        opt.step(lr)
        running = loss.detach() if running is None else running + loss.detach()
        count += 1
        if count == epoch or step == steps[-1]:
            mean = (running / count).item()
            if not math.isfinite(mean):
                raise FloatingPointError(
                    f"{what}: the loss became {mean} by step {step + 1} of {recipe.steps} "
                    f"(lr {lr:.3g}); lower the learning rate, or check the data and the starting point"
                )
            history.append(mean)
            number = math.ceil((step + 1) / epoch)
            log.info("%s: epoch %d loss %.6g lr %.3g %.2fs", what, number, mean, lr, time.perf_counter() - tick)
            if checkpoint is not None and (number % checkpoint.every == 0 or step == steps[-1]):
                checkpoint.save(step + 1, params, opt, history)
            running, count, tick = None, 0, time.perf_counter()
    return history
