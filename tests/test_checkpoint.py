"""Preemption-safe training: a job stopped half way resumes from its checkpoint and ends with exactly
the files an uninterrupted run writes; the same job twice writes the same files (on the CPU)."""

import itertools
import json
from dataclasses import replace
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lossbarcode import jobs
from lossbarcode.checkpoint import Checkpoint
from lossbarcode.landscape import FunctionLandscape, NetworkLandscape
from lossbarcode.minima import descend
from lossbarcode.spec import RunSpec
from lossbarcode.train import BestPeriod, Recipe, optimize


def spec(curve_method="pointchain", **changes):
    recipe = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 6, "batch_size": 64}
    curve = {**recipe, "method": curve_method, "bends": 2, "profile_points": 21, "refine": 1}
    if curve_method == "pointchain":
        curve.update(momentum=0.0, insert_every=2)
    if curve_method == "climbing":  # an adaptive budget whose tolerance keeps it running past the stop
        curve.update(momentum=0.0, until_converged=True, tolerance_relative=0.0, tolerance_absolute=1e-9)
    return RunSpec.parse({
        "experiment": "fcn_depth", "run": "digits-fcn-2", "device": "cpu", "checkpoint_every": 1,
        "dataset": "digits", "model": "fcn-2", "model_args": {"width": 8}, "data": {"train_size": 300},
        "minimum": {**recipe, "optimizer": "adam", "lr": 1e-2, "schedule": "cyclic",
                    "schedule_args": {"period": 2, "low": 0.1}},
        "curve": curve,
        "triangle": {**recipe, "schedule": "garipov", "grid": 4},
        **changes,
    })


class Preempted(Exception):
    """Stands in for a kill: raised from inside a training step."""


def preempt_after(monkeypatch, calls):
    original, count = NetworkLandscape.loss, [0]

    def loss(self, theta):
        count[0] += 1
        if count[0] > calls:
            raise Preempted
        return original(self, theta)

    monkeypatch.setattr(NetworkLandscape, "loss", loss)
    return monkeypatch.undo


def run_jobs(spec_, digits, folder: Path, only=None):
    """Minima 0-2, curves between them, the triangle; ``only`` names one job to run."""
    todo = {f"minima/{s}": lambda s=s: jobs.train_minimum(spec_, digits, s, str(folder / f"minima/{s}"))
            for s in range(3)}
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        todo[f"curves/{a}-{b}"] = lambda a=a, b=b: jobs.fit_curve(
            spec_, digits, [str(folder / f"minima/{a}.pt"), str(folder / f"minima/{b}.pt")], str(folder / f"curves/{a}-{b}"))
    todo["triangles/0-1-2"] = lambda: jobs.fit_triangle(
        spec_, digits, [str(folder / f"minima/{s}.pt") for s in range(3)],
        [str(folder / f"curves/{p}.pt") for p in ("0-1", "0-2", "1-2")], str(folder / "triangles/0-1-2"))
    for name, job in todo.items():
        if only in (None, name):
            job()


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("job", "curve_method"), [
    ("minima/1", "pointchain"), ("curves/0-2", "pointchain"), ("curves/0-2", "polychain"),
    ("triangles/0-1-2", "pointchain"), ("triangles/0-1-2", "polychain"), ("curves/0-2", "climbing"),
    ("triangles/0-1-2", "climbing")])
def test_a_preempted_job_resumes_and_ends_bit_identical(digits, tmp_path, monkeypatch, caplog, job, curve_method):
    check_resume(spec(curve_method), job, digits, tmp_path, monkeypatch, caplog)


def test_an_augmented_minimum_resumes_bit_identical(digits, tmp_path, monkeypatch, caplog):
    """Crops and flips are drawn from the landscape's generator, which the checkpoint holds."""
    plain = spec()
    augmented = replace(plain, normalisation="cifar_garipov", data=replace(plain.data, shape=(3, 8, 8)),
                        minimum=replace(plain.minimum, augmentation="crop_flip"))
    landscape, input_shape, _ = jobs.landscape_for(augmented, digits, "minimum", seed=1)
    assert landscape.augment is not None and input_shape == (3, 8, 8)
    check_resume(augmented, "minima/1", digits, tmp_path, monkeypatch, caplog)


def check_resume(run, job, digits, tmp_path, monkeypatch, caplog):
    run_jobs(run, digits, tmp_path / "whole")
    shutil.copytree(tmp_path / "whole", tmp_path / "stopped")
    for suffix in (".pt", ".json"):
        (tmp_path / "stopped" / f"{job}{suffix}").unlink()

    undo = preempt_after(monkeypatch, calls=17)  # part way into an epoch (5 steps each) after a few checkpoints
    with pytest.raises(Preempted):
        run_jobs(run, digits, tmp_path / "stopped", only=job)
    undo()
    assert (tmp_path / "stopped" / f"{job}.ckpt").exists()
    assert not (tmp_path / "stopped" / f"{job}.pt").exists()

    caplog.set_level("INFO", "lossbarcode")
    run_jobs(run, digits, tmp_path / "stopped", only=job)
    assert "resuming from epoch 3 (step 15 of 30)" in caplog.text
    assert not (tmp_path / "stopped" / f"{job}.ckpt").exists()
    assert files(tmp_path / "stopped") == files(tmp_path / "whole")


def test_a_checkpoint_from_other_settings_is_ignored(digits, tmp_path, monkeypatch, caplog):
    undo = preempt_after(monkeypatch, calls=17)
    with pytest.raises(Preempted):
        jobs.train_minimum(spec(), digits, 0, str(tmp_path / "0"))
    undo()
    caplog.set_level("INFO", "lossbarcode")
    changed = spec()
    changed = replace(changed, minimum=replace(changed.minimum, lr=2e-2))
    jobs.train_minimum(changed, digits, 0, str(tmp_path / "0"))
    assert "written under other settings or inputs" in caplog.text and "resuming" not in caplog.text
    jobs.train_minimum(changed, digits, 0, str(tmp_path / "fresh"))
    assert (tmp_path / "0.pt").read_bytes() == (tmp_path / "fresh.pt").read_bytes()


def test_same_job_twice_writes_the_same_files(digits, tmp_path):
    for name in ("first", "second"):
        run_jobs(spec(), digits, tmp_path / name)
        jobs.barcode([str(tmp_path / name / f"minima/{s}.json") for s in range(3)],
                     [str(tmp_path / name / f"curves/{p}.json") for p in ("0-1", "0-2", "1-2")],
                     [str(tmp_path / name / "triangles/0-1-2.json")], str(tmp_path / name / "barcode.json"))
    first, second = files(tmp_path / "first"), files(tmp_path / "second")
    assert len(first) == 3 * 2 + 3 * 2 + 2 + 1 and first == second


def test_resumed_optimizer_state_matches_the_uninterrupted_one(tmp_path):
    target = torch.linspace(-1, 1, 5)

    def train(checkpoint, steps):
        p = torch.nn.Parameter(torch.zeros(5))
        recipe = Recipe(steps=40, lr=0.1, optimizer="adam", schedule="cyclic", schedule_args={"period": 6})
        optimize([p], lambda step: ((p - target) ** 4).sum(), recipe, steps=steps, steps_per_epoch=4,
                 checkpoint=checkpoint)
        return p.detach()

    whole = train(None, range(40))
    train(Checkpoint(tmp_path / "run.ckpt", every=2), range(22))  # stops after step 22; saved at 16 and 22
    assert torch.load(tmp_path / "run.ckpt")["step"] == 22
    assert torch.equal(train(Checkpoint(tmp_path / "run.ckpt", every=2), range(40)), whole)


def test_a_resumed_run_keeps_the_best_epoch_of_the_uninterrupted_one(tmp_path):
    """The best epoch so far and its parameters are part of the saved state: a run stopped after its
    best epoch (or after its last step, before its results were written) ends where a whole run does."""
    start = torch.tensor([0.5, 1.0])
    # p0^2 + 10 p1^2 at lr 0.01, then from step 20 at lr 0.3: the loss falls for two epochs, then grows
    recipe = Recipe(steps=40, lr=0.01, momentum=0.9, schedule="piecewise", keep="best_train_loss",
                    schedule_args={"knots": [[0, 1], [0.5, 1], [0.5, 30], [1, 30]]})

    def train(checkpoint, stop_at=None):
        calls = itertools.count()

        def loss(p):
            if next(calls) == stop_at:
                raise Preempted
            return p[:, 0] ** 2 + 10 * p[:, 1] ** 2

        best = BestPeriod()
        theta = descend(FunctionLandscape(loss, dim=2), start, recipe, steps_per_epoch=10, checkpoint=checkpoint, best=best)
        return theta, best

    whole, whole_best = train(None)
    assert int(whole_best.step) == 20
    for stop_at in (33, None):  # mid-epoch 4 (saved at 30, after the best epoch); after the last step
        path = tmp_path / f"stopped at {stop_at}.ckpt"
        if stop_at is None:
            train(Checkpoint(path))
        else:
            with pytest.raises(Preempted):
                train(Checkpoint(path), stop_at)
        assert torch.load(path)["step"] == (30 if stop_at else 40)
        resumed, resumed_best = train(Checkpoint(path))
        assert torch.equal(resumed, whole) and int(resumed_best.step) == 20
        assert torch.equal(resumed_best.loss, whole_best.loss)


def test_a_minimum_that_keeps_its_best_epoch_resumes_bit_identical(digits, tmp_path, monkeypatch, caplog):
    """Its best epoch (2 of 6: the learning rate jumps 40-fold after it) lies before the step it resumes from (15)."""
    run = spec()
    run = replace(run, minimum=replace(run.minimum, optimizer="sgd", lr=0.05, momentum=0.9, keep="best_train_loss",
                                       schedule="piecewise", schedule_args={"knots": [[0, 1], [2, 1], [2, 40], [6, 40]]}))
    check_resume(run, "minima/1", digits, tmp_path, monkeypatch, caplog)
    record = json.loads((tmp_path / "stopped/minima/1.json").read_text())
    assert record["kept"] == "best_train_loss" and record["kept_step"] == 10


@pytest.mark.slow
def test_kill_9_half_way_then_rerun_resumes_to_the_same_weights(digits, tmp_path):
    """A real ``lossbarcode train-minimum`` process, SIGKILLed half way through its epochs."""
    long_run = spec()
    long_run = replace(long_run, minimum=replace(long_run.minimum, epochs=600))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def command(out):
        return ["lossbarcode", "train-minimum", "--spec", json.dumps(long_run.key()), "--data", digits, "--seed", "3",
                "--out", str(out), "--threads", "1", "--device", "cpu", "--checkpoint-every", "1"]

    subprocess.run(command(tmp_path / "whole/3"), check=True, env=env, capture_output=True)
    log = tmp_path / "killed.log"
    with log.open("w") as stderr:
        job = subprocess.Popen(command(tmp_path / "killed/3"), env=env, stderr=stderr)
        while "epoch 100 " not in log.read_text():
            assert job.poll() is None, "the job ended before it could be killed"
            time.sleep(0.005)
        job.send_signal(signal.SIGKILL)
        job.wait()
    assert not (tmp_path / "killed/3.pt").exists() and (tmp_path / "killed/3.ckpt").exists()
    rerun = subprocess.run(command(tmp_path / "killed/3"), check=True, env=env, capture_output=True, text=True)
    resumed = [line for line in rerun.stderr.splitlines() if "resuming from epoch" in line]
    assert resumed, rerun.stderr
    epoch = int(resumed[0].split("resuming from epoch ")[1].split()[0])
    assert 0 < epoch < 600
    assert "epoch 1 loss" not in rerun.stderr
    assert (tmp_path / "killed/3.pt").read_bytes() == (tmp_path / "whole/3.pt").read_bytes()
    assert (tmp_path / "killed/3.json").read_bytes() == (tmp_path / "whole/3.json").read_bytes()
