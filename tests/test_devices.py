"""GPU leasing: one job per device, waiting when all are taken, the CPU when there is none."""

import contextlib
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


def leased_devices(caplog) -> list[str]:
    return [r.getMessage().split()[2] for r in caplog.records if r.getMessage().startswith("leased GPU")]


def test_jobs_share_a_gpu_up_to_its_count_on_the_least_loaded_device(fake_gpus, caplog):
    fake_gpus(2)
    caplog.set_level(logging.INFO, "lossbarcode")
    with contextlib.ExitStack() as jobs:
        for _ in range(8):
            jobs.enter_context(lease(jobs_per_gpu=4))
        assert leased_devices(caplog) == ["fake0", "fake1"] * 4  # each goes where fewer jobs run
        late = []

        def ninth_job():
            with lease(jobs_per_gpu=4, poll_seconds=0.01) as device:
                late.append(device)

        waiter = threading.Thread(target=ninth_job)
        waiter.start()
        time.sleep(0.3)
        assert not late and "no GPU has room for this job (4 per GPU)" in caplog.text
    waiter.join(5)
    assert late == ["cpu"]


def test_a_job_alone_on_its_gpu_waits_for_every_small_job_to_leave_it(fake_gpus, caplog):
    fake_gpus(2)
    caplog.set_level(logging.INFO, "lossbarcode")
    with lease(jobs_per_gpu=8):
        with lease(jobs_per_gpu=1):
            assert leased_devices(caplog) == ["fake0", "fake1"]
            got = []

            def another_whole_job():
                with lease(jobs_per_gpu=1, poll_seconds=0.01):
                    got.append(leased_devices(caplog)[-1])

            waiter = threading.Thread(target=another_whole_job)
            waiter.start()
            time.sleep(0.3)
            assert not got  # fake0 has a small job, fake1 a whole one
    waiter.join(5)
    assert got and got[0] in ("fake0", "fake1")
    with pytest.raises(ValueError, match="jobs_per_gpu must divide 24"):
        with lease(jobs_per_gpu=5):
            pass


HOLD = """
import sys, time
from lossbarcode.devices import lease
import contextlib
import logging
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
with lease(jobs_per_gpu=int(sys.argv[1]), poll_seconds=0.005):
    start = time.time()
    time.sleep(float(sys.argv[2]))
    print("held", start, time.time(), flush=True)
"""


def test_many_processes_never_exceed_a_device_s_jobs(fake_gpus):
    """Twelve jobs of four per GPU and two jobs alone, started together on two devices."""
    fake_gpus(2)
    sizes = [4] * 12 + [1] * 2
    jobs = [subprocess.Popen([sys.executable, "-c", HOLD, str(k), "0.4"], stdout=subprocess.PIPE, text=True)
            for k in sizes]
    spans = {}  # device -> [(start, end, jobs_per_gpu)]
    for size, job in zip(sizes, jobs):
        out, _ = job.communicate(timeout=60)
        device = next(line.split()[2] for line in out.splitlines() if line.startswith("leased GPU"))
        start, end = (float(x) for x in next(line for line in out.splitlines() if line.startswith("held")).split()[1:])
        spans.setdefault(device, []).append((start, end, size))
    assert sorted(spans) == ["fake0", "fake1"]
    for device, held in spans.items():
        for start, _, _ in held:  # at every start, the jobs holding the device fit in it
            running = [k for s, e, k in held if s <= start < e]
            assert sum(24 // k for k in running) <= 24, (device, running)
