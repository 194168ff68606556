"""One training epoch: torchvision MNIST + DataLoader vs prepared tensors + NetworkLandscape.

Both train the same FCN (784-128-128-10, ReLU) from the same initial weights with Adam (lr 1e-3,
batch 128, cross-entropy) for one epoch over the same images: the MNIST-5k stand-in's training
split. The baseline reads them as genuine MNIST IDX files through
``torchvision.datasets.MNIST(transform=ToTensor())`` and a shuffling ``DataLoader``; ours loads
the prepared tensor file once and descends on the landscape. Only the epoch is timed, best of
``--repeats``, with the same number of torch threads. A plain loop over tensor slices is timed
too, as the floor that the landscape's own overhead is measured against.

    python benchmarks/data_pipeline.py [--threads 2] [--repeats 3]
"""

import argparse
import copy
import struct
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from lossbarcode.data import load, prepare
from lossbarcode.landscape import NetworkLandscape
from lossbarcode.minima import descend

BATCH, LR = 128, 1e-3


def fcn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
    )


def write_idx(raw: Path, prefix: str, images: torch.Tensor, labels: torch.Tensor):
    """MNIST's own file format (uncompressed IDX), which torchvision reads without downloading."""
    raw.mkdir(parents=True, exist_ok=True)
    n = len(images)
    images_file, labels_file = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    images_file.write_bytes(struct.pack(">4I", 2051, n, 28, 28) + images.numpy().tobytes())
    labels_file.write_bytes(struct.pack(">2I", 2049, n) + labels.to(torch.uint8).numpy().tobytes())


def dataloader_epoch(model: nn.Module, dataset) -> None:
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    for x, y in loader:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def tensor_epoch(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor]) -> None:
    """The floor: the same loop over index slices of in-memory tensors, without the landscape."""
    x, y = train
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    for idx in torch.randperm(len(x)).split(BATCH):
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()


def landscape_epoch(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor]) -> None:
    landscape = NetworkLandscape(model, train, batch_size=BATCH)
    descend(landscape, landscape.flatten(), steps=landscape.steps_per_epoch, lr=LR, optimizer="adam")


def best_of(repeats: int, epochs: dict) -> dict[str, float]:
    """Best time of each epoch function; the functions take turns, so load from other processes
    hits all of them alike."""
    times = {name: [] for name in epochs}
    for _ in range(repeats):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import torchvision

    with tempfile.TemporaryDirectory() as root:
        data = load(prepare("mnist5k", root))
        stored = torch.load(Path(root) / "mnist5k.pt", weights_only=True)
        raw = Path(root) / "torchvision" / "MNIST" / "raw"
        write_idx(raw, "train", stored["x_train"][:, 0], stored["y_train"])
        write_idx(raw, "t10k", stored["x_test"][:, 0], stored["y_test"])
        dataset = torchvision.datasets.MNIST(raw.parents[1], train=True, transform=torchvision.transforms.ToTensor())
        assert torch.equal(dataset.data, stored["x_train"][:, 0])

        model = fcn()
        best = best_of(args.repeats, {
            "baseline": lambda: dataloader_epoch(copy.deepcopy(model), dataset),
            "ours": lambda: landscape_epoch(model, data.train()),
            "floor": lambda: tensor_epoch(copy.deepcopy(model), data.train()),
        })

    n = len(data.x_train)
    print(f"one epoch, {n} samples, batch {BATCH}, {args.threads} threads, best of {args.repeats}")
    print(f"torchvision MNIST + DataLoader:   {best['baseline'] * 1e3:8.1f} ms")
    print(f"prepare/load + NetworkLandscape:  {best['ours'] * 1e3:8.1f} ms")
    print(f"(plain tensor loop, the floor:    {best['floor'] * 1e3:8.1f} ms)")
    print(f"ratio (DataLoader / ours): {best['baseline'] / best['ours']:.2f}x")


if __name__ == "__main__":
    main()
