import pytest
import torch

from lossbarcode.landscape import FunctionLandscape
from lossbarcode.minima import descend, unique_minima
from lossbarcode.train import Recipe, optimize


def factors(recipe):
    return [recipe.lr_at(s) / recipe.lr for s in range(recipe.steps)]


def test_garipov_schedule():
    f = factors(Recipe(steps=100, lr=0.1, schedule="garipov"))
    assert f[0] == f[50] == 1.0
    assert f[70] == pytest.approx(1 - 0.99 * 0.5)
    assert f[90] == pytest.approx(0.01) and f[99] == 0.01


def test_cyclic_schedule_is_triangular():
    f = factors(Recipe(steps=40, lr=1.0, schedule="cyclic", schedule_args={"period": 10, "low": 0.2}))
    assert f[0] == pytest.approx(0.2) and f[5] == pytest.approx(1.0) and f[10] == pytest.approx(0.2)
    assert f[2] == pytest.approx(0.2 + 0.8 * 0.4)


def test_step_and_piecewise_schedules():
    f = factors(Recipe(steps=100, lr=1.0, schedule="step", schedule_args={"milestones": [0.5, 0.75], "gamma": 0.1}))
    assert f[49] == 1.0 and f[50] == pytest.approx(0.1) and f[80] == pytest.approx(0.01)
    # paper 002 section 5, type 2: 0.05 for 10 of 100 epochs, linear to 1e-4 at 50, then constant
    knots = [[0.0, 1.0], [0.1, 1.0], [0.5, 0.002], [1.0, 0.002]]
    f = factors(Recipe(steps=100, lr=0.05, schedule="piecewise", schedule_args={"knots": knots}))
    assert f[5] == 1.0 and f[30] == pytest.approx((1 + 0.002) / 2) and f[90] == pytest.approx(0.002)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"steps": 0, "lr": 0.1}, "at least one step"),
        ({"steps": 10, "lr": -1.0}, "learning rate must be positive"),
        ({"steps": 10, "lr": 0.1, "optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"steps": 10, "lr": 0.1, "schedule": "cosine"}, "unknown schedule 'cosine'"),
        ({"steps": 10, "lr": 0.1, "schedule": "cyclic"}, "period"),
        ({"steps": 10, "lr": 0.1, "schedule": "piecewise"}, "knots"),
    ],
)
def test_bad_recipes_are_rejected(fields, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**fields)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_descend_finds_the_minimum_of_a_quadratic(optimizer):
    centre = torch.tensor([1.0, -2.0], dtype=torch.float64)
    landscape = FunctionLandscape(lambda p: ((p - centre) ** 2).sum(-1), dim=2)
    theta = descend(landscape, torch.zeros(2), steps=3000, lr=0.05, optimizer=optimizer, schedule="garipov")
    torch.testing.assert_close(theta, centre, atol=1e-3, rtol=0)


def test_descend_many_starts_at_once():
    landscape = FunctionLandscape(lambda p: ((p**2 - 1) ** 2).sum(-1), dim=1)
    starts = torch.tensor([[-0.5], [0.4], [2.0]])
    found = descend(landscape, starts, steps=2000, lr=0.05)
    torch.testing.assert_close(found[:, 0], torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64), atol=1e-6, rtol=0)
    assert unique_minima(found, landscape.evaluate(found), tol=1e-3) == [0, 1]


def test_divergence_names_what_diverged():
    landscape = FunctionLandscape(lambda p: (p**4).sum(-1), dim=2)
    with pytest.raises(FloatingPointError, match=r"minimum seed 3: the loss became (inf|nan).*lower the learning rate"):
        descend(landscape, torch.ones(2) * 10, steps=200, lr=10.0, what="minimum seed 3")


def test_optimize_reports_one_loss_per_epoch():
    p = torch.nn.Parameter(torch.tensor([3.0]))
    history = optimize([p], lambda step: (p**2).sum(), Recipe(steps=50, lr=0.1), steps_per_epoch=10)
    assert len(history) == 5 and history[-1] < history[0]


def test_recipe_and_fields_cannot_both_be_given():
    landscape = FunctionLandscape(lambda p: (p**2).sum(-1), dim=2)
    with pytest.raises(ValueError, match="either a recipe or its fields"):
        descend(landscape, torch.zeros(2), Recipe(steps=1, lr=0.1), lr=0.2)


@pytest.mark.parametrize(
    "fields",
    [
        {"optimizer": "sgd"},
        {"optimizer": "sgd", "momentum": 0.9},
        {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        {"optimizer": "sgd", "weight_decay": 1e-2},
        {"optimizer": "adam"},
        {"optimizer": "adam", "weight_decay": 1e-3},
        {"optimizer": "adamw", "weight_decay": 1e-2},
    ],
)
def test_optimizer_updates_equal_torch_optim(fields):
    from lossbarcode.train import Optimizer

    g = torch.Generator().manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(5, generator=g, dtype=torch.float64)), torch.nn.Parameter(torch.randn(3, 2, generator=g, dtype=torch.float64))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    recipe = Recipe(steps=30, lr=0.05, schedule="garipov", **fields)
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[recipe.optimizer]
    kw = {"momentum": recipe.momentum, "nesterov": recipe.nesterov} if recipe.optimizer == "sgd" else {}
    reference = cls(theirs, lr=recipe.lr, weight_decay=recipe.weight_decay, **kw)
    optimizer = Optimizer(ours, recipe)
    for step in range(recipe.steps):
        target = torch.randn(5, generator=g, dtype=torch.float64)
        for params in (ours, theirs):
            for p in params:
                p.grad = None
            (((params[0] - target) ** 2).sum() + 0.1 * params[1].sin().sum() * params[0].sum()).backward()
        optimizer.step(recipe.lr_at(step))
        for group in reference.param_groups:
            group["lr"] = recipe.lr_at(step)
        reference.step()
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
