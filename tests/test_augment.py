"""Augmentation and normalisation: batched crop/flip against a per-image reference, seeded draws,
padding that matches torchvision's order (pad the raw image, then normalise), one normalisation."""

import pytest
import torch
import torch.nn.functional as F

from lossbarcode.augment import (AUGMENTATIONS, NORMALISATIONS, Augmentation, InputPipeline, Normalisation,
                                 input_pipeline)


def images(n=6, c=3, h=8, w=10, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def reference(x, top, left, flips, padding, fill=0.0):
    """One image at a time: pad with ``fill``, cut the window at (top, left), flip it if drawn."""
    out = []
    for image, t, l, f in zip(x, top.tolist(), left.tolist(), flips.tolist()):
        padded = F.pad(image, (padding,) * 4, value=fill)
        crop = padded[:, t : t + image.shape[1], l : l + image.shape[2]]
        out.append(crop.flip(-1) if f else crop)
    return torch.stack(out)


@pytest.mark.parametrize("padding, flip", [(4, True), (3, False), (0, True), (0, False)])
def test_crop_and_flip_match_a_per_image_reference(padding, flip):
    x, augmentation = images(), Augmentation(crop_padding=padding, flip=flip)
    top, left, flips = augmentation.draw(len(x), torch.Generator().manual_seed(1))
    assert ((top >= 0) & (top <= 2 * padding) & (left >= 0) & (left <= 2 * padding)).all()
    assert flips.any() == flip
    assert torch.equal(augmentation.apply(x, top, left, flips), reference(x, top, left, flips, padding))


def test_every_offset_and_flip_is_drawn():
    top, left, flips = Augmentation(crop_padding=2, flip=True).draw(2000, torch.Generator().manual_seed(0))
    assert set(top.tolist()) == set(left.tolist()) == set(range(5)) and 0.45 < flips.float().mean() < 0.55


def test_the_same_seed_gives_the_same_batches():
    x, augmentation = images(), AUGMENTATIONS["crop_flip"]
    a, b = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    first = [augmentation(x, a) for _ in range(3)]
    assert all(torch.equal(u, augmentation(x, b)) for u in first)
    assert not torch.equal(first[0], first[1])  # the generator moves on
    assert not torch.equal(first[0], augmentation(x, torch.Generator().manual_seed(8)))


def test_padding_after_normalising_equals_torchvision_order():
    """Normalise, then augment with the normalised black == pad raw with 0, crop, flip, normalise."""
    x = images()
    pipeline = input_pipeline("cifar_garipov", "crop_flip")
    top, left, flips = pipeline.augment.draw(len(x), torch.Generator().manual_seed(3))
    ours = pipeline.augment.apply(pipeline.normalise(x), top, left, flips)
    torchvision_order = pipeline.normalisation(reference(x, top, left, flips, padding=4))
    assert torch.equal(ours, torchvision_order)
    # the padded border of an image cropped at a corner is -mean/std per channel
    corner = (top == 0) & (left == 0)
    if corner.any():
        expected = -torch.tensor(pipeline.normalisation.mean) / torch.tensor(pipeline.normalisation.std)
        torch.testing.assert_close(ours[corner][:, :, 0, 0], expected.expand(int(corner.sum()), 3))


def test_normalisation_is_applied_once():
    norm = NORMALISATIONS["cifar_li"]
    mean, std = torch.tensor(norm.mean).view(1, 3, 1, 1), torch.tensor(norm.std).view(1, 3, 1, 1)
    assert torch.allclose(norm(mean.expand(2, 3, 5, 5)), torch.zeros(2, 3, 5, 5), atol=1e-7)
    # a constant image one std above the mean becomes all ones; normalised twice it would not
    assert torch.allclose(norm((mean + std).expand(2, 3, 5, 5)), torch.ones(2, 3, 5, 5))
    # the composed pipeline's augmentation only moves pixels and pads: its values are the once-normalised
    # image's value and the normalised black, per channel
    pipeline = InputPipeline(norm, Augmentation(crop_padding=2, flip=True))
    once = pipeline.normalise((mean + std).expand(16, 3, 5, 5).clone())
    out = pipeline.augment(once, torch.Generator().manual_seed(0))
    value, black = once[:1, :, :1, :1], norm(torch.zeros(1, 3, 1, 1))
    torch.testing.assert_close(value, torch.ones(1, 3, 1, 1))
    torch.testing.assert_close(black, -mean / std)
    assert ((out == value) | (out == black)).all() and (out == black).any() and (out == value).any()


def test_paper_statistics_and_names():
    assert NORMALISATIONS["cifar_garipov"] == Normalisation((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    assert NORMALISATIONS["cifar_li"].mean[0] == 125.3 / 255 and NORMALISATIONS["cifar_li"].std[2] == 66.7 / 255
    assert input_pipeline() == InputPipeline() and input_pipeline().augment is None
    assert torch.equal(input_pipeline().normalise(images()), images())
    with pytest.raises(ValueError, match="unknown augmentation 'autoaugment'"):
        input_pipeline(augmentation="autoaugment")
    with pytest.raises(ValueError, match="3 channels got images of shape"):
        NORMALISATIONS["cifar_li"](images(c=1))


def test_a_landscape_draws_seeded_augmented_batches():
    from lossbarcode.landscape import NetworkLandscape

    pipeline = input_pipeline("cifar_garipov", "crop_flip")
    x, y = pipeline.normalise(images(n=20)), torch.arange(20) % 3
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 10, 3))
    one, two = (NetworkLandscape(model, (x, y), batch_size=8, augment=pipeline.augment, seed=5) for _ in range(2))
    for _ in range(4):
        (a, ya), (b, yb) = one.next_batch(), two.next_batch()
        assert torch.equal(a, b) and torch.equal(ya, yb)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_gpu_draws_the_batches_a_cpu_draws():
    x, augmentation = images(), AUGMENTATIONS["crop_flip"]
    on_cpu = augmentation(x, torch.Generator().manual_seed(2))
    on_gpu = augmentation(x.cuda(), torch.Generator().manual_seed(2))
    assert on_gpu.is_cuda and torch.equal(on_gpu.cpu(), on_cpu)
