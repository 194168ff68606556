"""Curve training, ours vs Garipov et al.'s own CurveNet: samples per second on the same network, data and device.

Theirs is timgaripov/dnn-mode-connectivity as shipped, imported from a checkout given as ``--garipov``
(``git clone https://github.com/timgaripov/dnn-mode-connectivity``): ``curves.CurveNet`` with
``curves.Bezier`` and 3 points (start, one bend, end; both ends fixed, the bend put on the line by
``init_linear``) around the network's curve class from its ``models/``, trained as its train.py trains
a curve: SGD with momentum on the trainable parameters and no weight decay in the optimizer,
``curves.l2_regularizer(wd)`` (0.5 wd |w(t)|^2 at the sampled point) added to the loss, one
t ~ U(0, 1) per step drawn by ``CurveNet.forward``, cuDNN's autotuner on. Their utils.py no longer
imports (``cuda(async=True)`` is a syntax error since Python 3.7), nor train.py, which imports it, so
the loop of ``utils.train`` is written out here, its per-step ``.item()`` of the loss and of the
correct count included; none of their files is changed or copied.

Ours is the path of the workflow's bezier curve jobs: ``lossbarcode.curves.fit_curve(method="bezier",
bends=1)`` on a ``NetworkLandscape``, weight decay on the sampled point (as ``CurveStage`` passes it),
plain SGD with momentum in the ``Recipe``; ``--channels-last`` runs it as a curve stage with
``channels_last: true`` does (batches laid out NHWC; the workflow leaves it off). Both train in
BatchNorm's training mode on the same synthetic CIFAR-shaped tensors held on the device, in exact
float32 (no TF32), batch 128, lr 0.03, momentum 0.9, wd 5e-4 (the workflow's WRN curve recipe). Only
WideResNet is in both model zoos (theirs also has ConvFC, VGG and PreResNet; our ``wrn-D-k`` follows
theirs), so ``--models`` takes WRN sizes.

Before timing, one check per network that the two compute the same thing, printed: from the same ends
and bend (their points mapped onto our flat vectors), the loss of each at the same t on the same 128
samples, and how far apart the two bends are after a few steps with the same values of t, against how
far they moved (float32 rounding, which BatchNorm amplifies, leaves up to ~1e-3 of the move; with both
networks in float64 it is below 1e-7).

    python benchmarks/curve_vs_garipov.py --garipov DIR [--models wrn-10-1 wrn-16-1] [--steps 20]
                                          [--repeats 5] [--warmup 3] [--device auto|cpu|cuda]
                                          [--channels-last]

Each side's rate is its fastest of ``--repeats`` rounds of ``--steps`` steps, the rounds alternating
between the two. The defaults take about 1.5 minutes on 2 idle CPU cores; on a GPU, e.g. ``--models
wrn-16-4 wrn-28-10 --steps 100 --warmup 20``.
"""

import argparse
import importlib
import math
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from lossbarcode import models
from lossbarcode.curves import fit_curve, make_curve, train_on_random_points
from lossbarcode.landscape import NetworkLandscape, allow_tf32
from lossbarcode.train import Recipe
# training_step.py's clock, imported rather than copied (this script's folder is on sys.path)
from training_step import timed

SHAPE, CLASSES = (3, 32, 32), 10  # their WideResNet pools 8x8 maps: CIFAR-sized images only
LR, MOMENTUM, WD = 0.03, 0.9, 5e-4
CHECK_STEPS = 3


def import_garipov(path: str):
    """Their ``curves`` and ``models`` modules, from a checkout of their repository."""
    if not path or not (Path(path) / "curves.py").is_file():
        sys.exit(f"no checkout of Garipov et al.'s code at --garipov {path!r}; get one with\n"
                 "  git clone https://github.com/timgaripov/dnn-mode-connectivity DIR\n"
                 "and run this script with --garipov DIR")
    sys.path.insert(0, str(Path(path).resolve()))
    return importlib.import_module("curves"), importlib.import_module("models")


def their_curve(curves, zoo, depth: int, k: int, device):
    torch.manual_seed(0)
    net = curves.CurveNet(CLASSES, curves.Bezier, zoo.WideResNet28x10.curve, 3, fix_start=True, fix_end=True,
                          architecture_kwargs={"depth": depth, "widen_factor": k})
    net.init_linear()
    return net.to(device)


def their_point(net, index: int) -> torch.Tensor:
    """Point ``index`` of their curve as our flat vector: their parameters come as weight_0..2, bias_0..2
    per layer, in the layer order of their base network, which is ours (``import_base_parameters``)."""
    return torch.cat([p.detach().reshape(-1) for p in list(net.net.parameters())[index::net.num_bends]])


def their_trainer(curves, net, x, y, batch: int):
    """``run(steps, ts=None)``: their utils.train over minibatches of a fresh permutation per epoch (their
    DataLoader shuffles); ``ts`` (``[steps, 1]``) fixes t per step, else their forward draws it. Returns
    the mean loss and the accuracy, as utils.train: its two ``.item()`` per step are part of its cost."""
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=LR, momentum=MOMENTUM,
                                weight_decay=0.0)
    regularizer = curves.l2_regularizer(WD)
    generator = torch.Generator().manual_seed(0)

    def run(steps: int, ts=None) -> tuple[float, float]:
        net.train()
        loss_sum, correct, order = 0.0, 0.0, torch.empty(0, dtype=torch.long)
        for step in range(steps):
            start = step * batch % len(x)
            if start == 0:
                order = torch.randperm(len(x), generator=generator).to(x.device)
            index = order[start:start + batch]
            output = net(x[index], None if ts is None else ts[step].to(x))
            loss = F.cross_entropy(output, y[index]) + regularizer(net)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(index)
            correct += output.data.argmax(1, keepdim=True).eq(y[index].view(-1, 1)).sum().item()
        return loss_sum / (steps * batch), 100.0 * correct / (steps * batch)

    return run


def check(curves, zoo, name, depth, k, x, y, device, channels_last: bool) -> None:
    """Prints both losses at one t, and how far apart the two bends are after ``CHECK_STEPS`` identical
    steps (same t, same batch ``x``, ``y``), against how far they moved."""
    net = their_curve(curves, zoo, depth, k, device)
    model = models.build(name, input_shape=SHAPE, classes=CLASSES)
    if [p.shape for p in list(net.net.parameters())[::3]] != [p.shape for p in model.parameters()]:
        sys.exit(f"{name}: their curve's layers are not ours; the check cannot map them")
    landscape = NetworkLandscape(model, (x, y), batch_size=len(x), device=device, channels_last=channels_last)
    curve = make_curve("bezier", their_point(net, 0), their_point(net, 2))
    bend = curve.bends.detach()[0].clone()
    ts = torch.rand(CHECK_STEPS, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = F.cross_entropy(net(x, ts[0].to(x)), y).item()
        ours = landscape.loss(curve.weights(ts[0])).item()
    their_trainer(curves, net, x, y, len(x))(CHECK_STEPS, ts)
    sample, recipe = iter(ts), Recipe(steps=CHECK_STEPS, lr=LR, momentum=MOMENTUM)
    train_on_random_points(curve, lambda: next(sample), landscape, recipe, weight_decay=WD,
                           steps_per_epoch=CHECK_STEPS, what="check")
    moved = (curve.bends.detach()[0] - bend).abs().max().item()
    apart = (curve.bends.detach()[0] - their_point(net, 1)).abs().max().item()
    print(f"check {name}: {landscape.dim} parameters per point on both sides; loss at t={ts[0].item():.3f} "
          f"theirs {theirs:.6f} ours {ours:.6f} (apart {abs(theirs - ours):.1e}); after {CHECK_STEPS} steps "
          f"the bend moved up to {moved:.3g}, theirs and ours {apart:.1e} apart ({apart / moved:.1e} of that)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--garipov", metavar="DIR", help="a checkout of timgaripov/dnn-mode-connectivity")
    parser.add_argument("--models", nargs="+", default=["wrn-10-1", "wrn-16-1"])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each side's fastest counts")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--samples", type=int, default=5120)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--channels-last", action="store_true",
                        help="ours with a curve stage's channels_last: true (theirs has no such option)")
    args = parser.parse_args()
    curves, zoo = import_garipov(args.garipov)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    where = (torch.cuda.get_device_name(device) if device.type == "cuda" else
             f"CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads")
    print(f"{where}, torch {torch.__version__}, batch {args.batch}, best of {args.repeats} alternating rounds of "
          f"{args.steps} timed steps after {args.warmup} warm-up steps"
          f"{', ours channels last' if args.channels_last else ''}")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.samples, *SHAPE, generator=g).to(device)
    y = torch.randint(0, CLASSES, (args.samples,), generator=g).to(device)
    allow_tf32(False)  # exact float32 on both sides, as our fp32 landscape sets it
    rows = []
    for name in args.models:
        family, shape = models.parse(name)
        if family != "wrn":
            parser.error(f"{name}: only WideResNets (wrn-D-k) are in both model zoos")
        check(curves, zoo, name, shape["depth"], shape["k"], x[:args.batch], y[:args.batch], device,
              args.channels_last)

        net = their_curve(curves, zoo, shape["depth"], shape["k"], device)
        run = their_trainer(curves, net, x, y, args.batch)

        def theirs_run(steps):
            torch.backends.cudnn.benchmark = True  # their train.py sets it; the workflow does not
            run(steps)
            torch.backends.cudnn.benchmark = False

        model = models.build(name, input_shape=SHAPE, classes=CLASSES)
        landscape = NetworkLandscape(model, (x, y), batch_size=args.batch, device=device,
                                     channels_last=args.channels_last)
        a, b = their_point(net, 0), their_point(net, 2)

        def ours_run(steps):
            fit_curve(landscape, a, b, "bezier", bends=1, recipe=Recipe(steps=steps, lr=LR, momentum=MOMENTUM),
                      weight_decay=WD, steps_per_epoch=landscape.steps_per_epoch)

        for fn in (theirs_run, ours_run):
            fn(args.warmup)
        best = [math.inf, math.inf]
        # Alternating rounds, best of each: a shared machine's load then slows both sides alike.
        for _ in range(args.repeats):
            for side, fn in enumerate((theirs_run, ours_run)):
                best[side] = min(best[side], timed(lambda: fn(args.steps), device))
        rows.append((name, landscape.dim, *(args.steps * args.batch / seconds for seconds in best)))
    print(f"{'model':10} {'params/point':>12} {'theirs samples/s':>17} {'ours samples/s':>15} {'ours/theirs':>11}")
    for name, dim, theirs, ours in rows:
        print(f"{name:10} {dim:12d} {theirs:17.1f} {ours:15.1f} {ours / theirs:11.2f}")


if __name__ == "__main__":
    main()
