"""The run spec: parsed once into frozen dataclasses that hold every default; recipes count epochs."""

import json
import re

import pytest

from lossbarcode.config import job_spec
from lossbarcode.spec import PROFILE_POINTS, TRIANGLE_GRID, CurveStage, RunSpec, SpecError, Stage

RECIPE = {"optimizer": "sgd", "lr": 0.05, "epochs": 3, "batch_size": 32}
RUN = {"experiment": "fcn_depth", "run": "digits-fcn-2", "dataset": "digits", "model": "fcn-2",
       "model_args": {"width": 8}, "data": {"train_size": 300}}


def test_recipes_count_epochs():
    section = {"optimizer": "sgd", "lr": 0.1, "epochs": 10, "batch_size": 32, "momentum": 0.9,
               "schedule": "step", "schedule_args": {"milestones": [5, 7.5], "gamma": 0.1}}
    recipe = Stage(**section).recipe(steps_per_epoch=20)
    assert recipe.steps == 200 and recipe.momentum == 0.9
    assert recipe.lr_at(99) == pytest.approx(0.1) and recipe.lr_at(100) == pytest.approx(0.01)
    assert recipe.lr_at(150) == pytest.approx(0.001)
    cyclic = Stage(**{**section, "schedule": "cyclic", "schedule_args": {"period": 2, "low": 0.5}}).recipe(20)
    assert cyclic.schedule_args["period"] == 40 and cyclic.lr_at(20) == pytest.approx(0.1)
    # paper 002 §5 type 2: 0.05 for 10 epochs, linear to 1e-4 at epoch 50, then 1e-4 to epoch 100
    piecewise = Stage(**{**section, "lr": 0.05, "epochs": 100, "schedule": "piecewise",
                                "schedule_args": {"knots": [[0, 1], [10, 1], [50, 0.002], [100, 0.002]]}}).recipe(10)
    assert piecewise.lr_at(50) == pytest.approx(0.05) and piecewise.lr_at(500) == pytest.approx(1e-4)
    assert piecewise.lr_at(300) == pytest.approx(0.05 * (1 + 0.002) / 2)


def test_defaults_live_in_the_spec():
    spec = RunSpec.parse({**RUN, "curve": {**RECIPE, "method": "polychain", "bends": 1}, "triangle": RECIPE})
    assert spec.curve.profile_points == PROFILE_POINTS == 61 and spec.curve.refine == 3
    assert spec.triangle.grid == TRIANGLE_GRID and spec.triangle.train_sides is False
    assert spec.minimum is None and spec.data.shape is None and spec.data.train_size == 300
    assert spec.device == "auto" and spec.checkpoint_every == 0
    assert "device" not in spec.key() and "checkpoint_every" not in spec.key()


def test_a_spec_from_the_workflow_parses(tmp_path):
    """What the workflow hands a job (``config.job_spec``, through JSON) is a valid run spec."""
    import yaml

    from pathlib import Path

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/config.yaml").read_text())
    for name, experiment in config["experiments"].items():
        for stage in ("minimum", "curve", "triangle"):
            if stage == "triangle" and not experiment["triangles"]:
                continue
            model = experiment["models"][0]
            spec = RunSpec.parse(json.loads(json.dumps(job_spec(name, experiment, experiment["datasets"][0], model, stage))))
            budget = "epochs" if "epochs" in experiment[stage] else "iterations"
            assert getattr(spec.stage(stage), budget) == experiment[stage][budget]


@pytest.mark.parametrize("change, message", [
    (lambda s: s["curve"].update(bendz=1), r"run spec key curve: unknown key\(s\) bendz"),
    (lambda s: s["curve"].pop("method"), r"run spec key curve: missing key\(s\) method"),
    (lambda s: s.update(scale="quick"), r"run spec: unknown key\(s\) scale"),
    (lambda s: s.pop("model"), r"run spec: missing key\(s\) model"),
])
def test_a_bad_spec_names_the_key(change, message):
    values = json.loads(json.dumps({**RUN, "curve": {**RECIPE, "method": "polychain", "bends": 1}}))
    change(values)
    with pytest.raises(SpecError, match=message):
        RunSpec.parse(values)


def test_a_stage_the_spec_lacks_is_named():
    with pytest.raises(SpecError, match="has no 'triangle' recipe"):
        RunSpec.parse(RUN).stage("triangle")


def test_curves_decay_their_sampled_points_not_their_parameters():
    """Garipov et al.: 0.5 * wd * |w(t)|^2 on the sampled point; the optimizer decays nothing."""
    curve = CurveStage(**RECIPE, weight_decay=5e-4, method="polychain", bends=1)
    assert curve.recipe(10).weight_decay == 0.0 and curve.weight_decay == 5e-4
    assert Stage(**RECIPE, weight_decay=5e-4).recipe(10).weight_decay == 5e-4


@pytest.mark.parametrize("stage, keep, problem", [
    ("minimum", "best_train_loss", None),
    ("minimum", "best", r"^config key experiments\.fcn_depth\.minimum\.keep: 'best' is not one of \['last', 'best_train_loss'\]$"),
    ("curve", "best_train_loss", r"^config key experiments\.fcn_depth\.curve: .*\('keep' was unexpected\)$"),
])
def test_the_schema_checks_which_weights_a_minimum_keeps(stage, keep, problem):
    """``keep`` is a minimum's option (curves and triangles end with their last step), one of two values."""
    from pathlib import Path

    import yaml

    from lossbarcode.config import schema_problems

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config/quick.yaml").read_text())
    config["experiments"]["fcn_depth"][stage]["keep"] = keep
    problems = schema_problems(config, root / "config/schema.yaml")
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and re.match(problem, problems[0]), problems


def test_keep_reaches_the_minimum_job_and_its_recipe():
    """It is part of the minimum's recipe, so of what determines a minimum (the job's params and the
    checkpoint's key); absent, a minimum keeps its last step."""
    experiment = {"model_args": {"width": 8}, "minimum": {**RECIPE, "keep": "best_train_loss", "runtime": 5}}
    values = job_spec("fcn_depth", experiment, "digits", "fcn-2", "minimum")
    assert values["minimum"] == {**RECIPE, "keep": "best_train_loss"}
    spec = RunSpec.parse(json.loads(json.dumps(values)))
    assert spec.minimum.recipe(10).keep == "best_train_loss" and spec.key()["minimum"]["keep"] == "best_train_loss"
    assert RunSpec.parse({**RUN, "minimum": RECIPE}).minimum.recipe(10).keep == "last"
