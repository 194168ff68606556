"""GPU leasing: one job per device, waiting when all are taken, the CPU when there is none."""

import logging
import subprocess
import sys
import threading
import time

import pytest

from lossbarcode.devices import FAKE_GPUS, LOCK_DIR, lease, visible_gpus


@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    monkeypatch.setenv(LOCK_DIR, str(tmp_path / "locks"))

    def fake(n):
        monkeypatch.setenv(FAKE_GPUS, str(n))

    return fake


def test_concurrent_leases_get_different_devices_and_compute_on_the_cpu(fake_gpus, caplog):
    fake_gpus(2)
    caplog.set_level(logging.INFO, "lossbarcode")
    with lease() as first, lease() as second:
        assert first == second == "cpu"
    assert [r.getMessage().split(" of ")[0] for r in caplog.records if r.getMessage().startswith("leased")] == \
        ["leased GPU fake0", "leased GPU fake1"]
    assert sum("released GPU" in r.getMessage() for r in caplog.records) == 2


def test_a_job_waits_while_every_device_is_leased(fake_gpus, caplog):
    fake_gpus(1)
    caplog.set_level(logging.INFO, "lossbarcode")
    order = []

    def second_job():
        with lease(poll_seconds=0.01):
            order.append("second leased")

    with lease():
        waiter = threading.Thread(target=second_job)
        waiter.start()
        time.sleep(0.3)
        order.append("first releases")
    waiter.join(5)
    assert order == ["first releases", "second leased"]
    assert any("waiting for one to come free" in r.getMessage() for r in caplog.records)


def test_a_killed_job_frees_its_device(fake_gpus, tmp_path):
    fake_gpus(1)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom lossbarcode.devices import lease\n"
         "with lease():\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()  # SIGKILL: no cleanup code runs; the kernel drops the lock
    holder.wait()
    started = time.perf_counter()
    with lease(poll_seconds=0.01):
        assert time.perf_counter() - started < 5


def test_no_gpu_means_the_cpu_and_a_log_line(monkeypatch, caplog):
    monkeypatch.delenv(FAKE_GPUS, raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    caplog.set_level(logging.INFO, "lossbarcode")
    with lease() as device:
        assert device == "cpu"
    assert "no GPU visible: computing on the CPU" in caplog.text
    with pytest.raises(RuntimeError, match="no GPU is visible"), lease("cuda"):
        pass


def test_visible_devices_are_named_as_the_scheduler_lists_them(monkeypatch):
    monkeypatch.delenv(FAKE_GPUS, raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert visible_gpus() == (["5", "7"], False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == (["0", "1"], False)


def test_cpu_and_pinned_devices_lease_nothing(fake_gpus):
    fake_gpus(1)
    with lease(), lease("cpu") as cpu, lease("cuda:3") as pinned:
        assert (cpu, pinned) == ("cpu", "cuda:3")
    with pytest.raises(ValueError, match="unknown device 'gpu'"), lease("gpu"):
        pass
    with pytest.raises(ValueError, match="LOSSBARCODE_FAKE_GPUS must be a number"):
        fake_gpus("two")
        visible_gpus()
