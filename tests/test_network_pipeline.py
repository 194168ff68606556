"""The same estimate on a real (tiny) network with BatchNorm: minima, curves, triangles, barcode."""

import numpy as np
import pytest
import torch
from torch import nn

from lossbarcode.landscape import NetworkLandscape
from lossbarcode.minima import descend
from lossbarcode.pipeline import estimate_barcode
from lossbarcode.train import Recipe


@pytest.fixture(scope="module")
def trained():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 6, generator=g)
    y = ((x[:, 0] * x[:, 1] > 0) ^ (x[:, 2] > 0.5)).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    landscape = NetworkLandscape(model, (x, y), batch_size=64)
    minima = []
    for seed in range(3):
        torch.manual_seed(seed)
        start = landscape.flatten(nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2)))
        minima.append(descend(landscape, start, steps=300, lr=1e-2, optimizer="adam"))
    return landscape, torch.stack(minima)


@pytest.mark.parametrize("method", ["polychain", "bezier", "pointchain"])
def test_network_barcode_end_to_end(trained, method):
    landscape, minima = trained
    recipe = Recipe(steps=150, lr=0.05, momentum=0.9, schedule="garipov")
    estimate = estimate_barcode(
        landscape, minima, method, triangles=True, grid=6,
        curve_kw={"recipe": recipe if method != "pointchain" else Recipe(steps=150, lr=0.02)},
        triangle_kw={"recipe": recipe},
    )
    assert len(estimate["h0"]) == 3 and np.isinf(np.array(estimate["h0"])[:, 1]).sum() == 1
    values = landscape.evaluate(minima)
    for (key, top), (i, j) in zip(estimate["edges"].items(), [(0, 1), (0, 2), (1, 2)]):
        assert key == f"{i}-{j}"
        # a fitted curve is no worse than the straight segment between its ends
        straight = landscape.evaluate(torch.lerp(minima[i], minima[j], torch.linspace(0, 1, 21)[:, None])).max()
        assert max(values[i], values[j]) - 1e-6 <= top <= straight + 1e-4
    (lifespan,) = estimate["triangles"].values()
    assert lifespan["bar"] == [max(lifespan["side_max"]), lifespan["max"]]
    assert lifespan["max"] >= max(lifespan["side_max"])
    assert len(estimate["h1"]) <= 1
    assert estimate["to_score"]["euclidean"] >= 0 and estimate["w_inf"]["euclidean"] >= 0
