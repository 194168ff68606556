"""The one optimisation loop, and the recipes that configure it.

Minima, curves and triangles are all trained here: a list of tensors, an objective that returns
the loss of step ``k``, and a ``Recipe`` (optimizer, learning rate, schedule, number of steps,
gradient clipping, weight decay and which coordinates it spares, and which parameters the run ends
with: the last ones or those of the epoch with the lowest training loss, ``BestPeriod``).

Schedules live in ``SCHEDULES``: one function and one entry each. A new schedule is a function
``(step, steps, args) -> factor`` and a ``Schedule`` entry that names its arguments, checks their
values and says how each converts from a budget counted in epochs or iterations to the recipe's
steps (``recipe_from_budget``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from .checkpoint import Checkpoint

log = logging.getLogger("lossbarcode")

OPTIMIZERS = ("sgd", "adam", "adamw")
#: Which parameters a run ends with: those after its last step, or those at the end of the logging
#: period (an epoch) with the lowest mean training loss (``BestPeriod`` says exactly what is compared).
KEEPS = ("last", "best_train_loss")
#: ``torch.compile``'s modes, for a recipe whose training step is compiled (None: eager, the
#: default). ``reduce-overhead`` adds CUDA graphs on a GPU.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


# ----- schedules: a factor of the learning rate at each step ---------------------------------
def constant(step: int, steps: int, args: dict) -> float:
    return 1.0


def garipov(step: int, steps: int, args: dict) -> float:
    """1 for p <= 0.5, linear to 0.01 at p = 0.9, then 0.01 (Garipov et al. 2018), p = step / steps."""
    progress = step / steps
    if progress <= 0.5:
        return 1.0
    if progress <= 0.9:
        return 1.0 - 0.99 * (progress - 0.5) / 0.4
    return 0.01


def cyclic(step: int, steps: int, args: dict) -> float:
    """Triangular cycles of ``period`` steps from ``low`` (default 0.1) up to 1 and back (Smith 2017)."""
    period, low = int(args["period"]), float(args.get("low", 0.1))
    phase = (step % period) / period
    return low + (1.0 - low) * (1.0 - abs(2.0 * phase - 1.0))


def step_decay(step: int, steps: int, args: dict) -> float:
    """Times ``gamma`` (default 0.1) at each of the ``milestones`` (fractions of the steps)."""
    passed = sum(step / steps >= m for m in args.get("milestones", ()))
    return float(args.get("gamma", 0.1)) ** passed


def piecewise(step: int, steps: int, args: dict) -> float:
    """Linear interpolation between ``knots`` ``[[fraction of the steps, factor], ...]``, flat outside."""
    progress = step / steps
    knots = sorted(args["knots"])
    xs, ys = [k[0] for k in knots], [k[1] for k in knots]
    if progress <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if progress <= x1:
            return y0 + (y1 - y0) * (progress - x0) / (x1 - x0) if x1 > x0 else y1
    return ys[-1]


def warmup_cosine(step: int, steps: int, args: dict) -> float:
    """Linear warmup to 1 over ``warmup`` steps (or ``warmup_fraction`` of the steps), then a half
    cosine from 1 down to ``floor`` (default 0) at the last step.

    Warmup step k has factor (k + 1) / warmup, so the first update already moves and the last
    warmup step reaches 1 (as nanoGPT's schedule).
    """
    warm = warmup_steps(steps, args)
    if step < warm:
        return (step + 1) / warm
    floor = float(args.get("floor", 0.0))
    progress = (step - warm) / max(1, steps - 1 - warm)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def warmup_steps(steps: int, args: dict) -> int:
    if "warmup_fraction" in args:
        return round(float(args["warmup_fraction"]) * steps)
    return int(args["warmup"])


def _check_cyclic(args: dict, steps: int) -> None:
    if int(args["period"]) < 2:
        raise ValueError("the cyclic schedule needs schedule_args.period >= 2 (steps per cycle)")
    if not 0 < float(args.get("low", 0.1)) <= 1:
        raise ValueError(f"the cyclic schedule's low factor must be in (0, 1], got {args['low']}")


def _check_piecewise(args: dict, steps: int) -> None:
    if not args["knots"] or any(len(k) != 2 for k in args["knots"]):
        raise ValueError("the piecewise schedule needs schedule_args.knots: [[progress, factor], ...]")


def _check_warmup_cosine(args: dict, steps: int) -> None:
    if ("warmup" in args) == ("warmup_fraction" in args):
        raise ValueError("the warmup_cosine schedule needs exactly one of schedule_args.warmup (steps) "
                         "and schedule_args.warmup_fraction (of the steps)")
    if not 0 <= float(args.get("warmup_fraction", 0.0)) < 1:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {args['warmup_fraction']}")
    if not 0 <= warmup_steps(steps, args) < steps:
        raise ValueError(f"the warmup must be shorter than the {steps} steps of the recipe, "
                         f"got {warmup_steps(steps, args)}")
    if not 0 <= float(args.get("floor", 0.0)) <= 1:
        raise ValueError(f"the cosine floor must be a factor in [0, 1], got {args['floor']}")


# How an argument given in budget units (epochs or iterations) becomes the recipe's: arguments of
# ``steps`` kind count steps, ``fraction`` kinds are fractions of the whole budget.
def _duration(value, steps_per_unit: int, units: float):
    return round(float(value) * steps_per_unit)


def _moments(values, steps_per_unit: int, units: float):
    return [m / units for m in values]


def _knot_moments(knots, steps_per_unit: int, units: float):
    return [[m / units, f] for m, f in knots]


@dataclass(frozen=True)
class Schedule:
    """A schedule's entry: its factor function, its arguments and how a budget's units map to them.

    ``required`` and ``optional`` name every argument it reads (any other is an error); ``check``
    raises ``ValueError`` on bad values, given the recipe's steps; ``from_budget`` maps an argument
    to the function converting it from budget units (absent: a plain factor, kept as is).
    """

    factor: Callable[[int, int, dict], float]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    check: Callable[[dict, int], None] | None = None
    from_budget: dict[str, Callable] = field(default_factory=dict)


SCHEDULES: dict[str, Schedule] = {
    "constant": Schedule(constant),
    "garipov": Schedule(garipov),
    "cyclic": Schedule(cyclic, ("period",), ("low",), _check_cyclic, {"period": _duration}),
    "step": Schedule(step_decay, (), ("milestones", "gamma"), None, {"milestones": _moments}),
    "piecewise": Schedule(piecewise, ("knots",), (), _check_piecewise, {"knots": _knot_moments}),
    "warmup_cosine": Schedule(warmup_cosine, (), ("warmup", "warmup_fraction", "floor"), _check_warmup_cosine,
                              {"warmup": _duration}),
}


# ----- weight-decay masks: which coordinates of a flat parameter vector decay -----------------
def decay_mask_skip_1d(model: nn.Module) -> Tensor:
    """1 on the coordinates of parameters with two or more dimensions (weight matrices, convolution
    kernels, embeddings), 0 on those with fewer (biases, norm layers' weights and biases): the
    rule of nanoGPT and most transformer recipes. In the flat order of ``model.named_parameters()``,
    which is the order of ``NetworkLandscape.flatten``; a float32 tensor on the CPU."""
    return torch.cat([torch.full((p.numel(),), float(p.dim() >= 2)) for _, p in model.named_parameters()])


DECAY_MASKS: dict[str, Callable[[nn.Module], Tensor]] = {"skip_1d": decay_mask_skip_1d}


# ----- recipes -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """How to optimise: ``steps`` updates of ``optimizer`` at ``lr`` times the schedule's factor.

    ``schedule`` names an entry of ``SCHEDULES`` (its function's docstring says what its
    ``schedule_args`` mean; the recipe counts them in steps and fractions of ``steps``).
    ``weight_decay`` is the optimizer's own (coupled for SGD/Adam, decoupled for AdamW); with
    ``decay_mask`` naming a rule of ``DECAY_MASKS``, only the coordinates that rule marks decay
    (the optimizer is then given the mask, see ``Optimizer``). ``betas`` and ``eps`` are Adam's and
    AdamW's. ``clip_grad_norm`` scales the gradients of all tensors together down to that global
    2-norm before each update, as ``torch.nn.utils.clip_grad_norm_`` (None: no clipping).
    ``keep`` names the parameters the run ends with (``KEEPS``): ``last``, those after the last
    step, or ``best_train_loss``, those at the end of the logging period whose mean minibatch loss
    was the lowest (``BestPeriod``; paper 002 §5's type 1 minima, as the authors' find_minimas.py).
    ``compile`` names a ``torch.compile`` mode (``COMPILE_MODES``) for the optimizer's update, None
    for eager; the landscape compiles the objective (``NetworkLandscape``'s ``compile``).
    """

    steps: int
    lr: float
    optimizer: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    schedule_args: dict = field(default_factory=dict)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    clip_grad_norm: float | None = None
    decay_mask: str | None = None
    keep: str = "last"
    compile: str | None = None

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"recipe needs at least one step, got steps={self.steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be positive and finite, got lr={self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {tuple(SCHEDULES)}")
        entry = SCHEDULES[self.schedule]
        if missing := [a for a in entry.required if a not in self.schedule_args]:
            raise ValueError(f"the {self.schedule} schedule needs schedule_args {missing}")
        if unknown := sorted(set(self.schedule_args) - {*entry.required, *entry.optional}):
            raise ValueError(f"the {self.schedule} schedule takes no schedule_args {unknown}; "
                             f"it reads {[*entry.required, *entry.optional]}")
        if entry.check is not None:
            entry.check(self.schedule_args, self.steps)
        # Configs give lists; a tuple keeps the recipe hashable and its dict stable.
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps}")
        if self.clip_grad_norm is not None and not (self.clip_grad_norm > 0 and math.isfinite(self.clip_grad_norm)):
            raise ValueError(f"clip_grad_norm must be positive and finite (or None: no clipping), "
                             f"got {self.clip_grad_norm}")
        if self.decay_mask is not None and self.decay_mask not in DECAY_MASKS:
            raise ValueError(f"unknown decay_mask {self.decay_mask!r}; choose one of {tuple(DECAY_MASKS)} (or none)")
        if self.keep not in KEEPS:
            raise ValueError(f"unknown keep {self.keep!r}; choose one of {KEEPS}")
        if self.compile is not None and self.compile not in COMPILE_MODES:
            raise ValueError(f"unknown compile mode {self.compile!r}; choose one of {COMPILE_MODES} (or none)")

    def to_dict(self) -> dict:
        return asdict(self)

    def lr_at(self, step: int) -> float:
        return self.lr * SCHEDULES[self.schedule].factor(step, self.steps, self.schedule_args)


def recipe_from_budget(
    steps_per_epoch: int,
    *,
    epochs: int | None = None,
    iterations: int | None = None,
    schedule: str = "constant",
    schedule_args: dict | None = None,
    **fields,
) -> Recipe:
    """A ``Recipe`` from a budget of ``epochs`` or of ``iterations`` (exactly one; an iteration is
    one step), with ``schedule_args`` counted in the budget's unit: each schedule's entry says which
    arguments are durations (become steps) and which are moments (become fractions of the budget)."""
    if (epochs is None) == (iterations is None):
        raise ValueError(f"a budget is either epochs or iterations, got epochs={epochs}, iterations={iterations}")
    units, steps_per_unit = (int(epochs), steps_per_epoch) if epochs is not None else (int(iterations), 1)
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {tuple(SCHEDULES)}")
    convert = SCHEDULES[schedule].from_budget
    args = {k: convert[k](v, steps_per_unit, units) if k in convert else v for k, v in (schedule_args or {}).items()}
    return Recipe(steps=units * steps_per_unit, schedule=schedule, schedule_args=args, **fields)


# ----- the optimizer -----------------------------------------------------------------------
class Optimizer:
    """SGD (momentum, Nesterov, coupled weight decay), Adam and AdamW, with torch.optim's update
    rules, global-norm gradient clipping as ``torch.nn.utils.clip_grad_norm_``, and weight decay
    restricted to the coordinates a mask marks.

    Written out because constructing any torch.optim optimizer imports torch._dynamo, 1.7 s that
    would dominate the short jobs of the workflow; tests check every update against torch.optim.

    ``decay_mask`` holds one 0/1 tensor per parameter tensor (or None: all of it decays), each
    broadcastable to its tensor (a ``[dim]`` mask serves a ``[batch, dim]`` stack of starts);
    a recipe with a ``decay_mask`` rule and weight decay must be given one.

    A recipe with ``compile`` runs ``update`` through ``torch.compile`` in that mode (imported
    only then), with the learning rate and the step count as tensors so that one graph serves
    every step.
    """

    def __init__(self, params: Sequence[Tensor], recipe: Recipe, decay_mask: Sequence[Tensor | None] | None = None):
        self.params, self.recipe = list(params), recipe
        if decay_mask is None and recipe.decay_mask is not None and recipe.weight_decay:
            raise ValueError(f"the recipe decays only the coordinates its {recipe.decay_mask!r} rule marks: "
                             f"pass decay_mask=[DECAY_MASKS[{recipe.decay_mask!r}](model)] for the model "
                             "whose parameters these are")
        masks = [None] * len(self.params) if decay_mask is None else list(decay_mask)
        if len(masks) != len(self.params):
            raise ValueError(f"{len(masks)} decay masks for {len(self.params)} parameter tensors")
        # Stored as booleans: the updates select between torch.optim's decayed and plain values,
        # so every coordinate is exactly what torch.optim computes for its parameter group.
        self.decays = [None if m is None else torch.broadcast_to(m.to(p.device) != 0, p.shape) for p, m in
                       zip(self.params, masks)]
        self.state: list[dict] = [{} for _ in self.params]
        self.steps = 0
        self.buffers = STATE[recipe.optimizer] if recipe.optimizer != "sgd" or recipe.momentum else ()
        self.update, self.scalars = update, None
        if recipe.compile is not None:
            self.update = torch.compile(update, mode=recipe.compile, dynamic=False)
            device = self.params[0].device
            self.scalars = (torch.zeros((), dtype=torch.float64, device=device),
                            torch.zeros((), dtype=torch.float64, device=device))

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

    def clip_gradients(self, max_norm: float) -> None:
        """Scales all gradients by min(1, max_norm / (total norm + 1e-6)), as clip_grad_norm_ does;
        the factor stays a tensor, so the host never waits for the device."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
            for g in grads:
                g.mul_(scale)

    @torch.no_grad()
    def step(self, lr: float) -> None:
        self.steps += 1
        r = self.recipe
        if r.clip_grad_norm is not None:
            self.clip_gradients(r.clip_grad_norm)
        lr_now, step_now = lr, self.steps
        if self.scalars is not None:
            # A new value of a Python number is a new graph to torch.compile, a new value of a
            # tensor is not; fill_ takes its value as a kernel argument, so the host never waits.
            lr_now, step_now = self.scalars
            lr_now.fill_(lr)
            step_now.fill_(self.steps)
        for p, state, decays in zip(self.params, self.state, self.decays):
            if p.grad is None:
                continue
            for name in self.buffers:
                if name not in state:  # zeros before the first update, whose result torch.optim's equals
                    state[name] = torch.zeros_like(p)
            self.update(p, p.grad, state, decays, lr_now, step_now, r)


#: The state tensors each optimizer keeps per parameter tensor (SGD's only with momentum).
STATE = {"sgd": ("momentum",), "adam": ("m", "v"), "adamw": ("m", "v")}


def update(p: Tensor, g: Tensor, state: dict[str, Tensor], decays: Tensor | None, lr, step, r: Recipe) -> None:
    """One parameter tensor's update by ``r``'s optimizer, by torch.optim's rules. ``lr`` and ``step`` (the
    number of this update, from 1) are numbers, or 0-dim tensors on ``p``'s device when compiled;
    ``state`` holds the optimizer's zero-initialised buffers (``STATE``), ``decays`` which
    coordinates weight decay applies to (None: all)."""
    if r.weight_decay and r.optimizer != "adamw":
        decayed = g.add(p, alpha=r.weight_decay)
        g = decayed if decays is None else torch.where(decays, decayed, g)
    if r.optimizer == "sgd":
        if r.momentum:  # the zero buffer's first update is g itself, as torch.optim's clone
            buf = state["momentum"].mul_(r.momentum).add_(g)
            g = g.add(buf, alpha=r.momentum) if r.nesterov else buf
        p.sub_(g * lr)
        return
    if r.optimizer == "adamw" and r.weight_decay:
        if decays is None:
            p.mul_(1 - lr * r.weight_decay)
        else:
            p.copy_(torch.where(decays, p * (1 - lr * r.weight_decay), p))
    beta1, beta2 = r.betas
    m, v = state["m"], state["v"]
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    denom = (v.sqrt() / bias_correction2_sqrt).add_(r.eps)
    p.addcdiv_(m * step_size, denom, value=-1)


def make_optimizer(
    params: Sequence[Tensor], recipe: Recipe, decay_mask: Sequence[Tensor | None] | None = None
) -> Optimizer:
    return Optimizer(params, recipe, decay_mask)


# ----- the best period --------------------------------------------------------------------
class BestPeriod:
    """The logging period with the lowest mean training loss so far, and the parameters at its end:
    what a recipe that keeps ``best_train_loss`` ends with.

    The loss compared is the one the training log prints, at no extra cost: the mean, over the
    period's steps, of the loss each step minimised (the minibatch loss, computed on the parameters
    before that step's update). A period is ``optimize``'s ``steps_per_epoch`` steps (a stage's
    ``steps_per_log``: an epoch of the training data), the last one possibly shorter. The
    parameters kept are those after the period's last update; a later period replaces them only
    with a strictly lower mean, so ties keep the earlier one. The authors' find_minimas.py does the
    same per epoch: it sums the minibatch losses of the epoch's training steps, divides by the
    number of batches and saves the state after the epoch whenever that is the lowest so far (its
    networks train as one model, so they share the epoch that the sum of their losses picks).

    With one loss per problem (a stack of starts), each problem keeps its own best period and the
    rows of the parameters that are its own (row ``i`` of every tensor belongs to problem ``i``).
    ``loss`` and ``step`` (the steps done at the end of the kept period) are then vectors; with one
    loss they are scalars; both are None until a period has ended.
    """

    def __init__(self):
        self.loss: Tensor | None = None
        self.step: Tensor | None = None
        self.params: list[Tensor] = []

    def update(self, done: int, means: Tensor, params: Sequence[Tensor]) -> None:
        """Takes the period that ended after ``done`` steps, with mean losses ``means`` (its loss, or
        one per problem), if it is better; ``params`` are the parameters after its last update."""
        if self.loss is None:
            self.loss = torch.full_like(means, math.inf)
            self.step = torch.zeros_like(means, dtype=torch.long)
            self.params = [p.detach().clone() for p in params]
        better = means < self.loss
        self.loss = torch.where(better, means, self.loss)
        self.step = torch.where(better, done, self.step)
        for kept, p in zip(self.params, params, strict=True):
            rows = better.reshape(better.shape + (1,) * (p.dim() - better.dim()))
            kept.copy_(torch.where(rows, p.detach(), kept))

    @torch.no_grad()
    def restore(self, params: Sequence[Tensor]) -> None:
        """Writes the kept parameters into ``params``."""
        for p, kept in zip(params, self.params, strict=True):
            p.copy_(kept)

    def state_dict(self) -> dict:
        return {"loss": self.loss.cpu(), "step": self.step.cpu(), "params": [k.cpu() for k in self.params]}

    def load_state_dict(self, saved: dict, params: Sequence[Tensor]) -> None:
        """Restores a saved state onto the devices of ``params``."""
        device = params[0].device
        self.loss, self.step = saved["loss"].to(device), saved["step"].to(device)
        self.params = [k.to(p.device) for k, p in zip(saved["params"], params, strict=True)]


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
    best: BestPeriod | None = None,
) -> list[float]:
    """Runs ``recipe`` on ``params`` and returns the mean loss of every epoch.

    ``objective(step)`` returns the loss to minimise at that step: a scalar, or a vector of the
    losses of independent problems (a stack of starts, row ``i`` of every tensor of ``params``
    being problem ``i``'s), whose sum is minimised and logged. ``adjust_grad(step)`` may
    edit the gradients before each update (the point chain projects them). ``steps`` runs a slice of
    the recipe (the schedule still sees the whole recipe). One log line per epoch. A non-finite
    loss raises ``FloatingPointError`` naming ``what``; the check happens once per epoch, so the
    loop never waits on the device inside an epoch. With a ``checkpoint``, the state is saved every
    ``checkpoint.every`` epochs and at the end of ``steps``, and a saved state is resumed.

    A recipe that keeps ``best_train_loss`` ends with the parameters of its best epoch, each
    problem its own (``BestPeriod``, in ``best`` if given, so the caller can read which step they
    are from; a checkpoint holds it too). Its epochs are compared over the whole recipe, so it runs
    in one call: ``steps`` must be None or all of them.
    """
    steps = range(recipe.steps) if steps is None else steps
    kept = None
    if recipe.keep == "best_train_loss":
        if steps != range(recipe.steps):
            raise ValueError(f"{what}: keep='best_train_loss' compares the epochs of the whole recipe; "
                             f"run its {recipe.steps} steps in one call, not steps {steps.start}..{steps.stop}")
        kept = BestPeriod() if best is None else best
        if checkpoint is not None:
            checkpoint.track("best period", kept.state_dict, lambda saved: kept.load_state_dict(saved, params))
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
        loss.sum().backward()
        if adjust_grad is not None:
            adjust_grad(step)
        opt.step(lr)
        running = loss.detach() if running is None else running + loss.detach()
        count += 1
        if count == epoch or step == steps[-1]:
            means = running / count
            mean = means.sum().item()
            if not math.isfinite(mean):
                raise FloatingPointError(
                    f"{what}: the loss became {mean} by step {step + 1} of {recipe.steps} "
                    f"(lr {lr:.3g}); lower the learning rate, or check the data and the starting point"
                )
            history.append(mean)
            if kept is not None:
                kept.update(step + 1, means, params)
            number = math.ceil((step + 1) / epoch)
            log.info("%s: epoch %d loss %.6g lr %.3g %.2fs", what, number, mean, lr, time.perf_counter() - tick)
            if checkpoint is not None and (number % checkpoint.every == 0 or step == steps[-1]):
                checkpoint.save(step + 1, params, opt, history)
            running, count, tick = None, 0, time.perf_counter()
    if kept is not None:
        kept.restore(params)
        log.info("%s: keeping the parameters after step %s, the end of the epoch with the lowest mean "
                 "training loss (%s)", what, kept.step.tolist(), kept.loss.tolist())
    return history
