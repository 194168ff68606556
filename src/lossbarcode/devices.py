"""Which device a job computes on: one GPU leased for the job's lifetime, or the CPU.

Snakemake's ``--resources gpu=N`` only limits how many GPU jobs run at once; it never says which
device each should use, so every job would land on GPU 0. A job therefore leases a device: it
takes an exclusive ``flock`` on one lock file per device in a node-local folder and holds it until
it ends. The kernel drops a lock when its process dies (``kill -9`` included), so a crashed job
never leaves a device taken.

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
def lease(wanted: str = "auto", *, poll_seconds: float = 1.0) -> Iterator[str]:
    """The device to compute on (``"cuda:K"`` or ``"cpu"``), held for the ``with`` block.

    ``wanted``: ``auto`` leases a free GPU if there is one and otherwise uses the CPU (saying so in
    the log); ``cuda`` insists on a GPU; ``cpu`` and ``cuda:K`` (a device pinned by hand) lease
    nothing. When every GPU is leased, waits for one to come free.
    """
    if not re.fullmatch(r"auto|cuda|cpu|cuda:\d+", wanted):
        raise ValueError(f"unknown device {wanted!r}; choose auto, cuda, cuda:K or cpu")
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
    waiting = False
    while True:
        for index, name in enumerate(names):
            with _locked(folder / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.lock") as held:
                if not held:
                    continue
                device = "cpu" if fake else f"cuda:{index}"
                if fake:
                    log.info("leased GPU %s of %d (fake devices, %s); computing on the CPU", name, len(names), FAKE_GPUS)
                else:
                    import torch

                    torch.cuda.set_device(index)
                    log.info("leased GPU %s (%s, %s)", name, device, torch.cuda.get_device_name(index))
                try:
                    yield device
                finally:
                    log.info("released GPU %s", name)
                return
        if not waiting:
            log.info("all %d GPUs are leased by other jobs; waiting for one to come free", len(names))
            waiting = True
        time.sleep(poll_seconds)


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
