"""Measuring many points at once: NetworkLandscape.evaluate vs a plain loop.

The baseline is what one writes without the library: load each vector into the model with
``vector_to_parameters`` and run the data through it, one vector after another. Both use the
same model, data, batch size and device. Prints time per point and the speed-up ratio, for the
landscape's vmap path and its loop path (the default on a CPU).

    python benchmarks/batched_evaluation.py [--points 16] [--samples 10000] [--device cpu]
"""

import argparse
import time

import torch
from torch import nn

from lossbarcode.landscape import NetworkLandscape


def fcn(width: int = 128, depth: int = 3) -> nn.Module:
    layers, inp = [nn.Flatten()], 784
    for _ in range(depth):
        layers += [nn.Linear(inp, width), nn.ReLU()]
        inp = width
    return nn.Sequential(*layers, nn.Linear(inp, 10))


@torch.no_grad()
def plain_loop(model, thetas, x, y, batch):
    """Loss and accuracy of each vector, as the landscape measures them."""
    losses, accuracies = [], []
    for theta in thetas:
        nn.utils.vector_to_parameters(theta, model.parameters())
        total, correct = 0.0, 0
        for i in range(0, len(x), batch):
            out = model(x[i : i + batch])
            total += nn.functional.cross_entropy(out, y[i : i + batch], reduction="sum").item()
            correct += (out.argmax(-1) == y[i : i + batch]).sum().item()
        losses.append(total / len(x))
        accuracies.append(correct / len(x))
    return torch.tensor(losses), torch.tensor(accuracies)


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.samples, 1, 28, 28, generator=g).to(args.device)
    y = torch.randint(0, 10, (args.samples,), generator=g).to(args.device)
    model = fcn().to(args.device)
    thetas = None
    base = None
    print(f"device {args.device}, {args.points} points, {args.samples} samples")
    for vmap in (True, False):
        landscape = NetworkLandscape(model, (x, y), eval_batch_size=args.batch, vmap=vmap)
        if thetas is None:
            thetas = landscape.flatten() + 0.01 * torch.randn(args.points, landscape.dim, generator=g).to(args.device)
            base, (base_losses, _) = best_of(lambda: plain_loop(model, thetas, x, y, args.batch))
            print(f"FCN with {landscape.dim} parameters; plain loop {base / args.points * 1e3:.2f} ms per point")
        ours, ours_losses = best_of(lambda: landscape.metrics(thetas)["loss"])
        assert torch.allclose(ours_losses.cpu().double(), base_losses.double(), rtol=1e-4), "the two disagree"
        print(f"NetworkLandscape vmap={vmap!s:5}  {ours / args.points * 1e3:8.2f} ms per point, "
              f"ratio (plain / ours) {base / ours:.2f}x")


if __name__ == "__main__":
    main()
