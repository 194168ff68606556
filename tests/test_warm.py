"""Warm starts: a job forked from the warm server writes what a cold job writes, reports its exit
status, stops when its command is stopped, and a command with no server runs the job itself."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lossbarcode.warm import WARM, start

LOSSBARCODE = str(Path(sys.executable).parent / "lossbarcode")


def minimum_spec(epochs=3):
    recipe = {"optimizer": "adam", "lr": 1e-2, "epochs": epochs, "batch_size": 64}
    return json.dumps({"experiment": "e", "run": "digits-fcn-2", "dataset": "digits", "model": "fcn-2",
                       "model_args": {"width": 8}, "data": {"train_size": 300}, "minimum": recipe})


def job(digits, out, epochs=3):
    return [LOSSBARCODE, "train-minimum", "--spec", minimum_spec(epochs), "--data", digits, "--seed", "1",
            "--out", str(out), "--threads", "1", "--device", "cpu"]


@pytest.fixture
def server(tmp_path):
    socket = tmp_path / "warm.sock"
    process = start(socket, tmp_path / "warm.log")
    assert socket.exists(), (tmp_path / "warm.log").read_text()
    yield {**os.environ, WARM: str(socket)}, process
    process.terminate()
    process.wait(10)
    assert not socket.exists()


def run(command, env, log):
    with open(log, "w") as stderr:
        return subprocess.run(command, env=env, stderr=stderr, stdout=subprocess.PIPE, text=True)


def test_a_warm_job_writes_what_a_cold_job_writes(digits, server, tmp_path):
    server, _ = server
    cold = run(job(digits, tmp_path / "cold/1"), os.environ, tmp_path / "cold.log")
    started = time.perf_counter()
    warm = run(job(digits, tmp_path / "warm/1"), server, tmp_path / "warm.log")
    seconds = time.perf_counter() - started
    assert cold.returncode == warm.returncode == 0
    for suffix in (".pt", ".json"):
        assert (tmp_path / f"warm/1{suffix}").read_bytes() == (tmp_path / f"cold/1{suffix}").read_bytes()
    assert "minimum seed 1: train loss" in (tmp_path / "warm.log").read_text()  # its log went to its stderr
    assert seconds < 1.5, seconds  # no interpreter, no torch import: what is left is the job's work


def test_a_failing_warm_job_reports_its_status_and_its_error(digits, server, tmp_path):
    server, _ = server
    result = run([LOSSBARCODE, "train-minimum", "--spec", minimum_spec(), "--data", str(tmp_path / "none.pt"),
                  "--seed", "1", "--out", str(tmp_path / "1"), "--device", "cpu"], server, tmp_path / "job.log")
    assert result.returncode == 1
    assert "the file is missing" in (tmp_path / "job.log").read_text()
    usage = run([LOSSBARCODE, "train-minimum"], server, tmp_path / "usage.log")
    assert usage.returncode == 2 and "required" in (tmp_path / "usage.log").read_text()
    printed = subprocess.run([LOSSBARCODE, "prepare-data", "--dataset", "digits", "--root", str(tmp_path / "d")],
                             env=server, capture_output=True, text=True)
    assert printed.returncode == 0 and printed.stdout.strip() == str(tmp_path / "d/digits.pt")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_a_warm_job_s_command_stops_the_job(digits, server, tmp_path, stop):
    server, process = server
    log = tmp_path / "long.log"
    with open(log, "w") as stderr:
        command = subprocess.Popen(job(digits, tmp_path / "long/1", epochs=5000), env=server, stderr=stderr)
    deadline = time.monotonic() + 60
    while "epoch 3 " not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    jobs = lambda: subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()  # noqa: E731
    assert len(jobs()) == 1
    command.send_signal(stop)
    command.wait(10)
    deadline = time.monotonic() + 10
    while jobs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not jobs()
    assert not (tmp_path / "long/1.pt").exists()


def test_with_no_server_the_command_runs_the_job_itself(digits, tmp_path):
    env = {**os.environ, WARM: str(tmp_path / "nobody.sock")}
    result = run(job(digits, tmp_path / "1"), env, tmp_path / "job.log")
    assert result.returncode == 0 and (tmp_path / "1.pt").exists()
