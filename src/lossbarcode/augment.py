"""Augmentation and normalisation of image minibatches, on the compute device.

Where normalisation happens: once, on the stored inputs, as they are loaded (``InputPipeline.normalise``
on the training and the test images), never per minibatch. Everything downstream then sees normalised
images: the training minibatches, the measurement sets and the BatchNorm recalibration pass.
Augmentation runs afterwards, on each training minibatch (``NetworkLandscape(augment=...)``), so its
zero padding must be the *normalised* black pixel, -mean/std per channel: torchvision's
``RandomCrop(32, padding=4)`` followed by ``Normalize`` pads the raw image with 0 and normalises after.
An ``Augmentation`` that knows the normalisation of its inputs (``normalised_by``) computes that fill
with the same arithmetic as the normalisation itself, so the two orders give the same numbers;
``InputPipeline`` composes the two and sets it, so a normalisation is applied exactly once.

Random draws come from the ``torch.Generator`` the caller passes (the landscape's, on the CPU) and
move to the images' device: the same seed gives the same batches on a CPU and on a GPU, and a
checkpoint of the generator resumes the same augmentations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from .datasets import CHANNEL_STATISTICS


@dataclass(frozen=True)
class Normalisation:
    """Per-channel ``(x - mean) / std`` of ``[N, C, H, W]`` images (torchvision's ``Normalize``)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self):
        if len(self.mean) != len(self.std) or not all(s > 0 for s in self.std):
            raise ValueError(f"a normalisation needs one mean and one positive std per channel, "
                             f"got mean {self.mean}, std {self.std}")

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != len(self.mean):
            raise ValueError(f"normalisation for {len(self.mean)} channels got images of shape {tuple(x.shape)}")
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return x.sub(mean).div_(std)


@dataclass(frozen=True)
class Augmentation:
    """Random crop after ``crop_padding`` pixels of padding on each side (per-image offsets, as
    torchvision's ``RandomCrop(size, padding)``), then a horizontal flip of half the images.

    Called as ``augmentation(x, generator)`` on a ``[N, C, H, W]`` batch: per image, a top and a
    left offset in [0, 2 * crop_padding] and a flip bit are drawn from ``generator``, in that order
    (only what the augmentation uses). The padding is 0, or the normalised 0 when ``normalised_by``
    says how the inputs were normalised.
    """

    crop_padding: int = 0
    flip: bool = False
    normalised_by: Normalisation | None = None

    def __post_init__(self):
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be at least 0, got {self.crop_padding}")

    def draw(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """The random offsets (top, left) and flip bits of ``n`` images, on the generator's device."""
        device = generator.device
        zeros = torch.zeros(n, dtype=torch.long, device=device)
        top, left = (torch.randint(0, 2 * self.crop_padding + 1, (2, n), generator=generator, device=device)
                     if self.crop_padding else (zeros, zeros))
        flips = (torch.randint(0, 2, (n,), generator=generator, device=device).bool() if self.flip
                 else zeros.bool())
        return top, left, flips

    def apply(self, x: Tensor, top: Tensor, left: Tensor, flips: Tensor) -> Tensor:
        """``x`` cropped at the given offsets of its padded images, flipped where ``flips``."""
        if x.dim() != 4:
            raise ValueError(f"augmentation takes [N, C, H, W] images, got shape {tuple(x.shape)}")
        n, c, h, w = x.shape
        p = self.crop_padding
        # non_blocking: the draws are tiny and a blocking copy would make the host wait for the
        # device at every step.
        top, left, flips = (t.to(x.device, non_blocking=True) for t in (top, left, flips))
        padded = self.fill(x).expand(n, c, h + 2 * p, w + 2 * p).clone()
        padded[:, :, p : p + h, p : p + w] = x
        # One gather along the rows and one along the columns; a flip reads its window backwards.
        rows = top[:, None] + torch.arange(h, device=x.device)
        ahead = torch.arange(w, device=x.device)
        cols = left[:, None] + torch.where(flips[:, None], w - 1 - ahead, ahead)
        out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * p))
        return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))

    def fill(self, x: Tensor) -> Tensor:
        """The padding value per channel, ``[1, C, 1, 1]``: a black pixel as the inputs see it."""
        black = torch.zeros(1, x.shape[1], 1, 1, dtype=x.dtype, device=x.device)
        return black if self.normalised_by is None else self.normalised_by(black)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return self.apply(x, *self.draw(len(x), generator))


@dataclass(frozen=True)
class InputPipeline:
    """A dataset's normalisation (applied once, to the stored inputs) and its training augmentation
    (applied to each minibatch, padding with the normalised black)."""

    normalisation: Normalisation | None = None
    augmentation: Augmentation | None = None

    def normalise(self, x: Tensor) -> Tensor:
        """The stored inputs, normalised: call once per tensor, when the data is loaded."""
        return x if self.normalisation is None else self.normalisation(x)

    @property
    def augment(self) -> Augmentation | None:
        """The callable for ``NetworkLandscape(augment=...)``, on inputs ``normalise`` returned."""
        if self.augmentation is None:
            return None
        return replace(self.augmentation, normalised_by=self.normalisation)


NORMALISATIONS: dict[str, Normalisation] = {name: Normalisation(*stats) for name, stats in CHANNEL_STATISTICS.items()}

AUGMENTATIONS: dict[str, Augmentation] = {
    # RandomCrop(32, padding=4) + RandomHorizontalFlip: Garipov's and Li's CIFAR training transform.
    "crop_flip": Augmentation(crop_padding=4, flip=True),
}


def input_pipeline(normalisation: str | None = None, augmentation: str | None = None) -> InputPipeline:
    """The pipeline a config names: keys of ``NORMALISATIONS`` and ``AUGMENTATIONS``, or None for none."""
    for name, registry, what in ((normalisation, NORMALISATIONS, "normalisation"),
                                 (augmentation, AUGMENTATIONS, "augmentation")):
        if name is not None and name not in registry:
            raise ValueError(f"unknown {what} {name!r}; choose one of {tuple(registry)} (or none)")
    return InputPipeline(NORMALISATIONS.get(normalisation), AUGMENTATIONS.get(augmentation))
