"""Sharing a device: aggregate samples per second of k small training jobs at once vs one job alone.

The workflow lets several small jobs share one GPU (``--jobs-per-gpu k``). Here each of k spawned
processes leases its device as a job does, through ``lossbarcode.devices.lease(jobs_per_gpu=k)``
(lock files in a temporary folder; one GPU made visible, so all k land on it), and trains a
minimum through our path, ``ours()`` of benchmarks/training_step.py (``NetworkLandscape.loss`` +
``optimize``, Adam), on synthetic device-resident data of the paper's shapes. All start together:
warm-up steps, a barrier, then the timed steps. Aggregate samples/s = k * steps * batch over the
time from the first job's timed start to the last one's end; the last column divides it by that
of the first k given (k=1: one job alone). On a CPU each job gets cores // k threads, so k jobs
share the cores one job would use, and the lease runs on one pretend GPU
(``LOSSBARCODE_FAKE_GPUS=1``): the locks are taken all the same.

    python benchmarks/jobs_per_gpu.py [--k 1 2 4 8] [--steps 400] [--models fcn-8 cnn-2-64] [--device auto]
"""

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from multiprocessing.connection import wait

import torch

# training_step.py's models, data and ours(), imported rather than copied so both measure one
# training path (this script's folder is on sys.path, and spawned workers inherit it).
from training_step import MODELS, data, ours
from lossbarcode import devices, models


def job(name, k, gpu, args, barrier, results):
    """One training job: lease, build, warm up, time ``args.steps`` steps, report its timed span."""
    if not gpu:
        torch.set_num_threads(max(1, os.cpu_count() // k))  # k jobs with all cores each would oversubscribe
    with devices.lease("cuda", jobs_per_gpu=k) as device:
        shape, classes, kwargs = MODELS[name]
        x, y = data(name, args.samples, device)
        model = models.build(name, input_shape=shape, classes=classes, **kwargs).to(device)
        train = ours(model, x, y, args.batch, args.precision)
        warm_up = range(args.steps // 4)
        barrier.wait()  # overlap from the first step: warm-up also runs beside the other jobs
        train(warm_up)
        if gpu:
            torch.cuda.synchronize(device)
        barrier.wait()
        # time.monotonic is CLOCK_MONOTONIC on Linux: one clock for all processes (perf_counter need not be).
        start = time.monotonic()
        train(range(warm_up.stop, warm_up.stop + args.steps))
        if gpu:
            torch.cuda.synchronize(device)
        results.put((start, time.monotonic()))


def run(name, k, gpu, args):
    """(mean per-job samples/s, aggregate samples/s) of k jobs of ``name`` on one device at once."""
    ctx = mp.get_context("spawn")  # CUDA cannot be used in a forked child
    barrier, results = ctx.Barrier(k), ctx.Queue()
    # Daemons: if the parent gives up below, the jobs still waiting at a barrier go with it.
    procs = [ctx.Process(target=job, args=(name, k, gpu, args, barrier, results), daemon=True) for _ in range(k)]
    for p in procs:
        p.start()
    # A job that dies would leave the others at a barrier for ever: stop at the first failure.
    running = {p.sentinel: p for p in procs}
    while running:
        for sentinel in wait(list(running)):
            if running.pop(sentinel).exitcode:
                raise SystemExit(f"a job of {name} (k={k}) failed; its traceback is above")
    spans = [results.get() for _ in procs]
    samples = args.steps * args.batch
    per_job = sum(samples / (end - start) for start, end in spans) / k
    return per_job, k * samples / (max(end for _, end in spans) - min(start for start, _ in spans))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fcn-8", "cnn-2-64"], choices=list(MODELS))
    parser.add_argument("--k", nargs="+", type=int, default=[1, 2, 4, 8], choices=devices.JOBS_PER_GPU)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--samples", type=int, default=50000)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    args = parser.parse_args()
    gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if gpu:
        # Only the first GPU is visible to the jobs: on a node with several, the lease would spread them.
        first = (os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0]
        os.environ["CUDA_VISIBLE_DEVICES"] = first
        where = f"{torch.cuda.get_device_name(0)} (GPU {first})"
    else:
        os.environ[devices.FAKE_GPUS] = "1"
        where = f"CPU, {os.cpu_count()} cores (each of k jobs uses cores // k threads)"
    print(f"{where}, torch {torch.__version__}, {args.precision}, batch {args.batch}, "
          f"{args.steps} timed steps per job after {args.steps // 4} warm-up steps")
    print(f"{'model':14} {'k':>2} {'per-job samples/s':>18} {'aggregate samples/s':>20} {f'vs k={args.k[0]}':>8}")
    with tempfile.TemporaryDirectory() as locks:
        os.environ[devices.LOCK_DIR] = locks  # the workers inherit it; never a real lock folder
        for name in args.models:
            base = None
            for k in args.k:
                per_job, aggregate = run(name, k, gpu, args)
                base = base or aggregate
                print(f"{name:14} {k:2d} {per_job:18.0f} {aggregate:20.0f} {aggregate / base:8.2f}")


if __name__ == "__main__":
    main()
