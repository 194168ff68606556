"""Training throughput: samples per second of a training step, ours against plain PyTorch.

Ours is the path every minimum, curve and triangle job takes: ``NetworkLandscape.loss`` (one
minibatch drawn from tensors on the device, the model called functionally on a flat parameter
vector) and ``lossbarcode.train.optimize`` with our flat-vector Adam; eager, and with the recipe's
``compile`` option (torch.compile of the objective and of the optimizer's update). The baseline is
what one writes without the library: ``model(x)``, ``F.cross_entropy``, ``torch.optim.Adam``, on
the same device-resident data, batch size and precision (``bf16``: autocast to bfloat16; ``tf32``:
TensorFloat-32 products; on a CPU only ``fp32`` is run, as our landscapes train in float32 there).
Synthetic data of the paper's shapes (throughput does not depend on the pixels or tokens), one
member per model family of both papers. "compile s" is how much longer the compiled run's warm-up
took than the eager one's: what a job pays once for compiling.

    python benchmarks/training_step.py [--device auto|cpu|cuda] [--models fcn-8 lenet ...]
        [--precisions fp32 bf16] [--compile default|reduce-overhead|...|none] [--steps 400] [--repeats 3]
"""

import argparse
import contextlib
import copy
import math
import os
import time

import torch
import torch.nn.functional as F

from lossbarcode import models
from lossbarcode.landscape import NetworkLandscape, allow_tf32
from lossbarcode.train import COMPILE_MODES, Recipe, make_optimizer, optimize

MNIST, CIFAR = (1, 28, 28), (3, 32, 32)
#: name -> (input shape, classes, model arguments): the paper's data shape for each model
MODELS = {
    "fcn-8": (MNIST, 10, {"width": 128}),                     # §4.1
    "cnn-2-64": (CIFAR, 10, {}),                              # §4.2
    "cnn-bn-2-64": (CIFAR, 10, {}),                           # §4.2
    "lenet": (MNIST, 10, {}),                                 # paper 004, Fashion-MNIST
    "resnet9": (CIFAR, 10, {}),                               # §5, Appendix G
    "resnet-20": (CIFAR, 10, {}),                             # §6, paper 004 (Li et al.'s ResNets)
    "wrn-16-10": (CIFAR, 100, {}),                            # §8, CIFAR-100
    "gpt-6-384": ((256,), 512, {"heads": 6, "dropout": 0.2}),  # §7: windows of 256 tokens
}


def data(name: str, samples: int, device):
    shape, classes, _ = MODELS[name]
    g = torch.Generator().manual_seed(0)
    if len(shape) == 1:  # token windows: each target is the next token
        tokens = torch.randint(0, classes, (samples, shape[0] + 1), generator=g)
        return tokens[:, :-1].to(device), tokens[:, 1:].to(device)
    return torch.rand(samples, *shape, generator=g).to(device), torch.randint(0, classes, (samples,), generator=g).to(device)


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def plain(model, x, y, batch, precision):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).to(x.device)
    tokens = x.dim() == 2

    def run(steps: range):
        for step in steps:
            idx = order[(step * batch) % len(x):][:batch]
            if len(idx) < batch:
                idx = order[:batch]
            with torch.autocast("cuda", torch.bfloat16) if precision == "bf16" else contextlib.nullcontext():
                out = model(input_ids=x[idx]).logits if tokens else model(x[idx])
            loss = F.cross_entropy(out.flatten(0, -2).float(), y[idx].flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def ours(model, x, y, batch, precision, compile=None):
    task = "causal_lm" if x.dim() == 2 else "classification"
    landscape = NetworkLandscape(model, (x, y), task=task, batch_size=batch, device=x.device, precision=precision,
                                 compile=compile)
    theta = torch.nn.Parameter(landscape.flatten())
    recipe = Recipe(steps=10**9, lr=1e-3, optimizer="adam", compile=compile)
    optimizer = make_optimizer([theta], recipe)
    return lambda steps: optimize([theta], lambda step: landscape.loss(theta), recipe, steps=steps,
                                  steps_per_epoch=landscape.steps_per_epoch, optimizer=optimizer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (cuda if there is one), cpu or cuda[:K]")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "tf32", "bf16"])
    parser.add_argument("--compile", default="default", choices=[*COMPILE_MODES, "none"])
    parser.add_argument("--steps", type=int, default=400, help="timed steps per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each run's fastest counts")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--samples", type=int, default=50000)
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    precisions = args.precisions if device.type == "cuda" else ["fp32"]
    compile = None if args.compile == "none" else args.compile
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    print(f"{where}, torch {torch.__version__}, batch {args.batch}, best of {args.repeats} alternating rounds of "
          f"{args.steps} timed steps after {args.steps // 4} warm-up steps, compile mode {args.compile}")
    runs = [("plain", plain), ("ours", ours)] + ([("compiled", lambda *a: ours(*a, compile=compile))] if compile else [])
    print(f"{'model':12} {'params':>10} {'precision':9} " + " ".join(f"{n + ' samples/s':>18}" for n, _ in runs)
          + f" {'ours/plain':>10}" + (f" {'compiled/plain':>14} {'compile s':>9}" if compile else ""))
    for name in args.models:
        shape, classes, kwargs = MODELS[name]
        x, y = data(name, args.samples, device)
        torch.manual_seed(0)
        model = models.build(name, input_shape=shape, classes=classes, **kwargs).to(device)
        params = sum(p.numel() for p in model.parameters())
        for precision in precisions:
            allow_tf32(precision != "fp32")
            runners = [make(copy.deepcopy(model), x, y, args.batch, precision) for _, make in runs]
            # warm-up: kernels, the allocator, and for the compiled run the compiler
            warm = range(args.steps // 4)
            warmups = [timed(lambda: run(warm), device) for run in runners]
            # Alternating rounds, the best of each: a shared machine's load then slows all alike.
            best = [math.inf] * len(runners)
            for repeat in range(args.repeats):
                steps = range(warm.stop + repeat * args.steps, warm.stop + (repeat + 1) * args.steps)
                best = [min(b, timed(lambda: run(steps), device)) for b, run in zip(best, runners)]
            rates = [args.steps * args.batch / seconds for seconds in best]
            line = (f"{name:12} {params:10d} {precision:9} " + " ".join(f"{r:18.0f}" for r in rates)
                    + f" {rates[1] / rates[0]:10.2f}")
            if compile:
                line += f" {rates[2] / rates[0]:14.2f} {warmups[2] - warmups[1]:9.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
