"""The run spec: what one workflow job computes, parsed once from JSON into frozen dataclasses.

The workflow hands every job a JSON object (``lossbarcode.config.job_spec``: an experiment's model,
data and the recipe of the job's own stage). ``RunSpec.parse`` turns it into the classes below,
which hold every default in one place; jobs read attributes, never dict keys. A key that no class
knows is an error naming it (the config schema rejects it earlier; this guards hand-made specs).
Recipes count epochs here; ``Stage.recipe`` turns them into the training loop's steps.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

#: Points of a curve's profile and rounds of its local zoom (paper 002's evaluation: 61 values of t).
PROFILE_POINTS = 61
PROFILE_REFINE = 3
#: Samples per side of a triangle's interior rings (paper 004 Alg. 2's discretisation).
TRIANGLE_GRID = 30
#: How much a curve's or triangle's maximum may move over the last doubling of its budget and count as
#: converged: a share of its height, and a floor in nats (``convergence.Tolerance``; docs/accuracy.md).
TOLERANCE_RELATIVE = 0.05
TOLERANCE_ABSOLUTE = 0.01


class SpecError(ValueError):
    """A run spec that no job can run; the message names the key."""


def _build(cls, values: dict, where: str):
    """``cls(**values)`` with unknown and missing keys named, ``where`` saying whose keys they are."""
    if not isinstance(values, dict):
        raise SpecError(f"{where} must be an object of settings, got {values!r}")
    known = {f.name: f for f in fields(cls)}
    if unknown := sorted(set(values) - set(known)):
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
    missing = [name for name, f in known.items() if name not in values
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise SpecError(f"{where}: missing key(s) {', '.join(missing)}")
    try:
        return cls(**values)
    except SpecError as error:
        raise SpecError(f"{where}: {error}") from None


@dataclass(frozen=True, kw_only=True)
class Stage:
    """A training recipe as the config writes it: a budget of ``epochs`` of the run's training data or
    of ``iterations`` (steps), schedule arguments counted in the same unit, and the optimizer's
    options (``train.Recipe``), plus the stage's ``augmentation`` of training batches and how its
    steps run on the device (``precision``, ``channels_last``, ``compile``)."""

    optimizer: str
    lr: float
    batch_size: int
    epochs: int | None = None
    iterations: int | None = None
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    clip_grad_norm: float | None = None
    decay_mask: str | None = None
    schedule: str = "constant"
    schedule_args: dict = field(default_factory=dict)
    precision: str = "fp32"
    channels_last: bool = False
    compile: str | None = None
    augmentation: str | None = None
    #: Garipov et al.'s families (curves, triangles) decay the sampled point, not their parameters.
    decays_sampled_points: ClassVar[bool] = False

    def __post_init__(self):
        if (self.epochs is None) == (self.iterations is None):
            raise SpecError(f"a recipe's budget is either epochs or iterations, got epochs={self.epochs}, "
                            f"iterations={self.iterations}")
        object.__setattr__(self, "betas", tuple(self.betas))

    def recipe(self, steps_per_epoch: int):
        """The ``train.Recipe`` of this stage: the budget (and the schedule arguments in its unit) as
        steps. Where ``weight_decay`` applies to sampled points, the optimizer itself decays nothing."""
        from .train import recipe_from_budget

        return recipe_from_budget(
            steps_per_epoch, epochs=self.epochs, iterations=self.iterations, schedule=self.schedule,
            schedule_args=self.schedule_args, lr=self.lr, optimizer=self.optimizer, momentum=self.momentum,
            nesterov=self.nesterov, weight_decay=0.0 if self.decays_sampled_points else self.weight_decay,
            betas=self.betas, eps=self.eps, clip_grad_norm=self.clip_grad_norm, decay_mask=self.decay_mask,
            compile=self.compile,
        )

    def steps_per_log(self, steps_per_epoch: int) -> int:
        """Steps between log lines (and checkpoints): an epoch, or a twentieth of an iteration budget
        when that is shorter (an epoch of a large text corpus can outlast the whole run)."""
        if self.iterations is None:
            return steps_per_epoch
        return min(steps_per_epoch, max(1, self.iterations // 20))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class MinimumStage(Stage):
    """A minimum's recipe: a ``Stage`` and which parameters its descent ends with, ``keep``
    (``train.KEEPS``): ``last``, those after the last step, or ``best_train_loss``, those at the end
    of the logging period (``steps_per_log``: an epoch, or a twentieth of an iteration budget when
    that is shorter) whose mean minibatch loss was the lowest (``train.BestPeriod``), as the authors
    keep their type 1 minima (paper 002 §5)."""

    keep: str = "last"

    def recipe(self, steps_per_epoch: int):
        """The ``Stage``'s ``train.Recipe``, keeping what ``keep`` says."""
        return replace(super().recipe(steps_per_epoch), keep=self.keep)


@dataclass(frozen=True, kw_only=True)
class Profile:
    """How a curve is measured: ``points`` values of t (and more, see ``Curve.profile``), ``refine`` zooms."""

    profile_points: int = PROFILE_POINTS
    refine: int = PROFILE_REFINE


@dataclass(frozen=True, kw_only=True)
class FitStage(Stage):
    """A recipe whose fit estimates a maximum (a curve's, a triangle's), and how it checks that the
    maximum has settled (``convergence.Convergence``): the tolerance over the last doubling of the
    budget, ``tolerance_relative`` of the estimate's height but at least ``tolerance_absolute`` nats,
    ``doublings`` checks before the whole budget, and whether the budget stops once the maximum
    has settled (``until_converged``: the epochs or iterations are then a cap)."""

    decays_sampled_points: ClassVar[bool] = True

    until_converged: bool = False
    tolerance_relative: float = TOLERANCE_RELATIVE
    tolerance_absolute: float = TOLERANCE_ABSOLUTE
    doublings: int | None = None  # None: the estimator's own (convergence.DOUBLINGS, curves.CLIMBING_DOUBLINGS)

    @property
    def convergence(self):
        from .convergence import Convergence, Tolerance

        return Convergence(Tolerance(self.tolerance_relative, self.tolerance_absolute), self.doublings,
                           self.until_converged)


@dataclass(frozen=True, kw_only=True)
class CurveStage(FitStage):
    """A curve's recipe: its method and shape, and how its profile is measured."""

    method: str
    bends: int
    insert_every: int | None = None  # pointchain: epochs between insertions
    l2: float = 0.0                  # pointchain: weight of the sum of the points' norms
    freeze_borders: bool = True      # pointchain: freeze the outermost moving points at each stage (the authors')
    interval_points: int = 3         # pointchain: interior points that measure an interval for insertion
    ridge_tolerance: float | None = 0.01  # pointchain: settle ridges above this share of the loss range
    climb_from: float = 0.0          # climbing: share of the budget by which its top node climbs at the latest
    points_per_step: int = 1         # bezier / polychain: values of t per step
    profile_points: int = PROFILE_POINTS
    refine: int = PROFILE_REFINE
    test_profile: bool = False

    @property
    def profile(self) -> Profile:
        return Profile(profile_points=self.profile_points, refine=self.refine)


@dataclass(frozen=True, kw_only=True)
class TriangleStage(FitStage):
    """A triangle's recipe (paper 004 Alg. 1) and its sampling (Alg. 2)."""

    train_sides: bool = False
    grid: int = TRIANGLE_GRID


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Which part of the dataset, at which shape: images of ``shape`` (C, H, W) the model expects and
    ``train_size`` of them; text in windows of ``block_size`` tokens."""

    shape: tuple[int, ...] | None = None
    train_size: int | None = None
    block_size: int | None = None


@dataclass(frozen=True, kw_only=True)
class Measure:
    """The fixed measurement sets of a run (``NetworkLandscape``'s ``measure_*``): how many training and
    test rows (None: all), drawn with ``seed``; the same for every job of the run."""

    train: int | None = None
    test: int | None = None
    seed: int = 0


STAGE_CLASSES = {"minimum": MinimumStage, "curve": CurveStage, "triangle": TriangleStage}


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One job's settings: the run (experiment, dataset, model) and the recipe of its stage.

    ``device`` and ``checkpoint_every`` say how the job runs, not what it computes: the command line
    sets them, and ``key()`` leaves them out.
    """

    experiment: str
    run: str
    dataset: str
    model: str
    model_args: dict = field(default_factory=dict)
    data: DataSpec = field(default_factory=DataSpec)
    normalisation: str | None = None  # of the inputs, for every stage alike
    measure: Measure = field(default_factory=Measure)
    minimum: MinimumStage | None = None
    curve: CurveStage | None = None
    triangle: TriangleStage | None = None
    curve_profile: Profile | None = None  # a triangle job: how its sides, the curves, were measured
    device: str = "auto"
    checkpoint_every: int = 0

    @classmethod
    def parse(cls, values: dict) -> RunSpec:
        values = dict(values)
        for stage, stage_class in STAGE_CLASSES.items():
            if values.get(stage) is not None:
                values[stage] = _build(stage_class, values[stage], f"run spec key {stage}")
        data = _build(DataSpec, values.get("data", {}), "run spec key data")
        values["data"] = replace(data, shape=tuple(data.shape) if data.shape else None)
        values["measure"] = _build(Measure, values.get("measure", {}), "run spec key measure")
        if values.get("curve_profile") is not None:
            values["curve_profile"] = _build(Profile, values["curve_profile"], "run spec key curve_profile")
        return _build(cls, values, "run spec")

    def stage(self, name: str) -> Stage:
        """The recipe of stage ``name``; a clear error when this job's spec has none."""
        found = getattr(self, name, None) if name in STAGE_CLASSES else None
        if found is None:
            raise SpecError(f"the run spec of {self.experiment}/{self.run} has no {name!r} recipe")
        return found

    @property
    def side_profile(self) -> Profile:
        """How a triangle measures its sides: as their curves were measured."""
        if self.curve_profile is not None:
            return self.curve_profile
        return self.curve.profile if self.curve is not None else Profile()

    def key(self) -> dict[str, Any]:
        """What determines the job's results (for checkpoint keys): everything but how it runs."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "checkpoint_every")}
