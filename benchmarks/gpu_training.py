"""Training throughput on a GPU: samples per second of minimum training, ours vs plain PyTorch.

Ours is the path every minimum, curve and triangle job takes: ``NetworkLandscape.loss`` (one
minibatch drawn from tensors on the device, the model called functionally on a flat parameter
vector) and ``lossbarcode.train.optimize``. The baseline is what one writes without the library:
``model(x)``, ``F.cross_entropy``, ``torch.optim``, on the same device-resident data, batch size,
optimizer and precision (``bf16``: autocast to bfloat16; ``tf32``: TensorFloat-32 products).
Synthetic data of the paper's shapes: throughput does not depend on the pixels.

    python benchmarks/gpu_training.py [--steps 400] [--batch 128] [--models fcn-8 cnn-2-64 cnn-bn-2-64]
"""

import argparse
import contextlib
import copy
import time

import torch
import torch.nn.functional as F

from lossbarcode import models
from lossbarcode.landscape import NetworkLandscape, allow_tf32
from lossbarcode.train import Recipe, optimize

SHAPES = {"fcn": (1, 28, 28), "cnn": (3, 32, 32)}  # MNIST for FCNs, CIFAR-10 for CNNs
ARGS = {"fcn": {"width": 128}, "cnn": {}}


def timed(fn, device) -> float:
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize(device)
    return time.perf_counter() - start


def plain(model, x, y, batch, steps, precision):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    generator = torch.Generator().manual_seed(0)

    def run():
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for step in range(steps):
            idx = order[(step * batch) % len(x):][:batch]
            if len(idx) < batch:
                idx = order[:batch]
            with torch.autocast("cuda", torch.bfloat16) if precision == "bf16" else contextlib.nullcontext():
                out = model(x[idx])
            loss = F.cross_entropy(out.float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def ours(model, x, y, batch, steps, precision):
    landscape = NetworkLandscape(model, (x, y), batch_size=batch, device=x.device, precision=precision)
    theta = torch.nn.Parameter(landscape.flatten())
    recipe = Recipe(steps=steps, lr=1e-3, optimizer="adam")
    return lambda: optimize([theta], lambda step: landscape.loss(theta), recipe,
                            steps_per_epoch=landscape.steps_per_epoch)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fcn-8", "cnn-2-64", "cnn-bn-2-64"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "tf32", "bf16"])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--samples", type=int, default=50000)
    args = parser.parse_args()
    device = torch.device("cuda")
    print(f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, batch {args.batch}, "
          f"{args.steps} timed steps after {args.steps // 4} warm-up steps")
    print(f"{'model':14} {'params':>9} {'precision':9} {'plain samples/s':>16} {'ours samples/s':>15} {'ours/plain':>10}")
    for name in args.models:
        family = name.split("-")[0]
        shape = SHAPES[family]
        g = torch.Generator().manual_seed(0)
        x = torch.rand(args.samples, *shape, generator=g).to(device)
        y = torch.randint(0, 10, (args.samples,), generator=g).to(device)
        torch.manual_seed(0)
        model = models.build(name, input_shape=shape, classes=10, **ARGS[family]).to(device)
        params = sum(p.numel() for p in model.parameters())
        for precision in args.precisions:
            rates = []
            for make in (plain, ours):
                allow_tf32(precision != "fp32")
                net = copy.deepcopy(model)
                timed(make(net, x, y, args.batch, args.steps // 4, precision), device)  # kernels, allocator
                rates.append(args.steps * args.batch / timed(make(net, x, y, args.batch, args.steps, precision), device))
            print(f"{name:14} {params:9d} {precision:9} {rates[0]:16.0f} {rates[1]:15.0f} {rates[1] / rates[0]:10.2f}")


if __name__ == "__main__":
    main()
