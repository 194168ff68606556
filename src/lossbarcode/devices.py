"""Which device a job computes on: one GPU leased for the job's lifetime, or the CPU.

Snakemake's ``--resources gpu=N`` only limits how many GPU jobs run at once; it never says which
device each should use, so every job would land on GPU 0. A job therefore leases a device: each
device is divided into ``SHARES`` shares, one lock file each in a node-local folder, and a job that
may run beside ``k - 1`` others on one GPU (``jobs_per_gpu=k``: small networks leave a GPU mostly
idle, so several share it) takes an exclusive ``flock`` on ``SHARES / k`` free shares of the
least-loaded device and holds them until it ends. A job alone on its GPU takes every share, so
jobs of different sizes mix safely. The kernel drops a lock when its process dies (``kill -9``
included), so a crashed job never leaves a device taken.

Devices are named as ``CUDA_VISIBLE_DEVICES`` lists them when it is set (a SLURM job sees only
the GPUs it was allotted, under their node-wide names), so jobs sharing a node never lease the
same physical GPU. ``LOSSBARCODE_FAKE_GPUS=N`` leases among N pretend devices without touching
CUDA and computes on the CPU: leasing can be tested on a machine without GPUs.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("lossbarcode")

FAKE_GPUS = "LOSSBARCODE_FAKE_GPUS"
LOCK_DIR = "LOSSBARCODE_LOCK_DIR"
#: Shares per device; ``jobs_per_gpu`` must divide it.
SHARES = 24
JOBS_PER_GPU = tuple(k for k in range(1, SHARES + 1) if SHARES % k == 0)


def lock_dir() -> Path:
    """Where the lock files live: ``$LOSSBARCODE_LOCK_DIR``, else a folder in the node's temp dir."""
    return Path(os.environ.get(LOCK_DIR) or Path(tempfile.gettempdir()) / "lossbarcode-gpu-locks")


def visible_gpus() -> tuple[list[str], bool]:
    """Names of the GPUs this process may use, and whether they are fake (``LOSSBARCODE_FAKE_GPUS``)."""
    fake = os.environ.get(FAKE_GPUS)
    if fake:
        if not fake.isdigit():
            raise ValueError(f"{FAKE_GPUS} must be a number of devices, got {fake!r}")
        return [f"fake{i}" for i in range(int(fake))], True
    import torch

    if not torch.cuda.is_available():
        return [], False
    count = torch.cuda.device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return (listed[:count] if len(listed) >= count else [str(i) for i in range(count)]), False


@contextlib.contextmanager
def lease(wanted: str = "auto", *, jobs_per_gpu: int = 1, poll_seconds: float = 1.0) -> Iterator[str]:
    """The device to compute on (``"cuda:K"`` or ``"cpu"``), held for the ``with`` block.

    ``wanted``: ``auto`` leases a free GPU if there is one and otherwise uses the CPU (saying so in
    the log); ``cuda`` insists on a GPU; ``cpu`` and ``cuda:K`` (a device pinned by hand) lease
    nothing. ``jobs_per_gpu``: how many jobs like this one may share a GPU. When no device has
    room, waits for one.
    """
    if not re.fullmatch(r"auto|cuda|cpu|cuda:\d+", wanted):
        raise ValueError(f"unknown device {wanted!r}; choose auto, cuda, cuda:K or cpu")
    if jobs_per_gpu not in JOBS_PER_GPU:
        raise ValueError(f"jobs_per_gpu must divide {SHARES}: one of {JOBS_PER_GPU}, got {jobs_per_gpu}")
    if wanted == "cpu" or wanted.startswith("cuda:"):
        yield wanted
        return
    names, fake = visible_gpus()
    if not names:
        if wanted == "cuda":
            raise RuntimeError("device 'cuda' was asked for, but no GPU is visible to this job; "
                               "set device: auto (or cpu) in the config to run on the CPU")
        log.info("no GPU visible: computing on the CPU")
        yield "cpu"
        return
    folder = _shared_folder(lock_dir())
    shares = [[folder / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-share{k}.lock" for k in range(SHARES)]
              for name in names]
    need = SHARES // jobs_per_gpu
    waiting = False
    while True:
        # Least loaded first: the device with the most free shares (the lowest index on ties).
        for index in sorted(range(len(names)), key=lambda i: -_free(shares[i])):
            with contextlib.ExitStack() as held:  # leaving it drops every share taken
                taken = 0
                for path in shares[index]:
                    if taken == need:
                        break
                    taken += held.enter_context(_locked(path))
                if taken < need:
                    continue
                name = names[index]
                device = "cpu" if fake else f"cuda:{index}"
                share = f"{need} of {SHARES} shares" if need < SHARES else "alone"
                if fake:
                    log.info("leased GPU %s of %d (%s; fake devices, %s); computing on the CPU", name, len(names),
                             share, FAKE_GPUS)
                else:
                    import torch

                    torch.cuda.set_device(index)
                    log.info("leased GPU %s (%s, %s; %s)", name, device, torch.cuda.get_device_name(index), share)
                try:
                    yield device
                finally:
                    log.info("released GPU %s", name)
                return
        if not waiting:
            log.info("no GPU has room for this job (%d per GPU); waiting for one to come free", jobs_per_gpu)
            waiting = True
        time.sleep(poll_seconds)


def _free(shares: list[Path]) -> int:
    """How many of a device's shares no job holds (a snapshot: another job may take one next)."""
    with contextlib.ExitStack() as probe:
        return sum(probe.enter_context(_locked(path)) for path in shares)


def _shared_folder(folder: Path) -> Path:
    """``folder``, created writable by every user (sticky, as /tmp) so all jobs on a box share it."""
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            folder.chmod(0o1777)
    return folder


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    """Tries to take ``path``'s exclusive lock: yields whether it is held, and drops it after."""
    # Read-only and world-readable, so jobs of different users on one box share the same locks.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
