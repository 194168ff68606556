from dataclasses import replace

import pytest
import torch

from lossbarcode.landscape import FunctionLandscape
from lossbarcode.minima import descend, unique_minima
from lossbarcode.train import BestPeriod, Recipe, optimize


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


def test_warmup_cosine_schedule():
    f = factors(Recipe(steps=10, lr=1.0, schedule="warmup_cosine", schedule_args={"warmup": 2, "floor": 0.1}))
    assert f[:3] == [0.5, 1.0, 1.0] and f[9] == pytest.approx(0.1)
    # half way through the cosine (step 2 + 3.5 of 7) the factor is half way between 1 and the floor
    assert (f[5] + f[6]) / 2 == pytest.approx(0.55, abs=0.02) and f[5] > f[6]
    assert all(a >= b for a, b in zip(f[1:], f[2:]))
    by_fraction = Recipe(steps=10, lr=1.0, schedule="warmup_cosine", schedule_args={"warmup_fraction": 0.2, "floor": 0.1})
    assert factors(by_fraction) == f
    assert factors(Recipe(steps=5, lr=1.0, schedule="warmup_cosine", schedule_args={"warmup": 0}))[-1] == 0.0


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"schedule": "constant", "schedule_args": {"period": 3}}, r"constant schedule takes no schedule_args \['period'\]"),
        ({"schedule": "cyclic", "schedule_args": {"period": 1}}, "period >= 2"),
        ({"schedule": "warmup_cosine"}, "exactly one of"),
        ({"schedule": "warmup_cosine", "schedule_args": {"warmup": 2, "warmup_fraction": 0.1}}, "exactly one of"),
        ({"schedule": "warmup_cosine", "schedule_args": {"warmup": 10}}, "shorter than the 10 steps"),
        ({"schedule": "warmup_cosine", "schedule_args": {"warmup": 1, "floor": 2}}, "floor"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"eps": 0.0}, "eps"),
        ({"clip_grad_norm": 0.0}, "clip_grad_norm"),
        ({"decay_mask": "norms"}, "unknown decay_mask 'norms'"),
        ({"keep": "best"}, r"unknown keep 'best'; choose one of \('last', 'best_train_loss'\)"),
    ],
)
def test_bad_recipe_options_are_rejected(fields, message):
    with pytest.raises(ValueError, match=message):
        Recipe(steps=10, lr=0.1, **fields)


def test_budgets_in_epochs_and_iterations():
    from lossbarcode.train import recipe_from_budget

    # schedule arguments in epochs: tests/test_spec.py::test_recipes_count_epochs
    # a budget in iterations counts its schedule in iterations: gpt.py-like, 5000 iterations, 100 of warmup
    recipe = recipe_from_budget(123, iterations=5000, lr=3e-4, optimizer="adamw", schedule="warmup_cosine",
                                schedule_args={"warmup": 100, "floor": 0.1})
    assert recipe.steps == 5000 and recipe.schedule_args["warmup"] == 100 and recipe.lr_at(99) == recipe.lr
    in_epochs = recipe_from_budget(50, epochs=100, lr=0.1, schedule="warmup_cosine", schedule_args={"warmup": 2.5})
    assert in_epochs.steps == 5000 and in_epochs.schedule_args["warmup"] == 125
    with pytest.raises(ValueError, match="either epochs or iterations"):
        recipe_from_budget(10, epochs=1, iterations=10, lr=0.1)


def run_against_torch(recipe, make_ours, make_theirs, ours_decay_mask=None, clip=None):
    """Steps our Optimizer and torch.optim (+ clip_grad_norm_) on the same float64 objective."""
    from lossbarcode.train import Optimizer

    g = torch.Generator().manual_seed(0)
    start = torch.randn(11, generator=g, dtype=torch.float64)
    ours, theirs = make_ours(start), make_theirs(start)
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[recipe.optimizer]
    kw = ({"momentum": recipe.momentum, "nesterov": recipe.nesterov} if recipe.optimizer == "sgd"
          else {"betas": recipe.betas, "eps": recipe.eps})
    reference = cls(theirs["groups"], lr=recipe.lr, weight_decay=recipe.weight_decay, **kw)
    optimizer = Optimizer(ours["params"], recipe, ours_decay_mask)
    for step in range(recipe.steps):
        target = torch.randn(11, generator=g, dtype=torch.float64)
        for side in (ours, theirs):
            for p in side["params"]:
                p.grad = None
            w = side["vector"]()
            (((w - target) ** 2).sum() * (1 + step % 3) + 0.1 * w[:4].sin().sum() * w.sum()).backward()
        if recipe.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(theirs["params"], recipe.clip_grad_norm)
        optimizer.step(recipe.lr_at(step))
        for group in reference.param_groups:
            group["lr"] = recipe.lr_at(step)
        reference.step()
        torch.testing.assert_close(ours["vector"](), theirs["vector"](), rtol=1e-12, atol=1e-12)


def split_params(start):
    params = [torch.nn.Parameter(start[:4].clone()), torch.nn.Parameter(start[4:].clone())]
    return {"params": params, "groups": params, "vector": lambda: torch.cat(params)}


@pytest.mark.parametrize(
    "fields",
    [
        {"optimizer": "adam", "betas": (0.8, 0.99), "eps": 1e-6},
        {"optimizer": "adamw", "betas": (0.9, 0.95), "weight_decay": 0.1},
        {"optimizer": "sgd", "momentum": 0.9, "clip_grad_norm": 0.5},
        {"optimizer": "sgd", "clip_grad_norm": 1e3},
        {"optimizer": "adamw", "weight_decay": 1e-2, "clip_grad_norm": 1.0},
    ],
)
def test_recipe_options_equal_torch_optim(fields):
    recipe = Recipe(steps=30, lr=0.05, schedule="warmup_cosine", schedule_args={"warmup": 5}, **fields)
    run_against_torch(recipe, split_params, split_params)


@pytest.mark.parametrize(
    "fields",
    [
        {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-2},
        {"optimizer": "adam", "weight_decay": 1e-2},
        {"optimizer": "adamw", "weight_decay": 0.1, "clip_grad_norm": 1.0},
    ],
)
def test_masked_weight_decay_equals_torch_parameter_groups(fields):
    """One flat vector with a mask updates as torch.optim's two groups, with and without decay."""
    decayed = torch.tensor([1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1], dtype=torch.bool)
    recipe = Recipe(steps=30, lr=0.05, schedule="garipov", decay_mask="skip_1d", **fields)

    def flat(start):
        theta = torch.nn.Parameter(start.clone())
        return {"params": [theta], "vector": lambda: theta}

    def groups(start):
        on, off = torch.nn.Parameter(start[decayed].clone()), torch.nn.Parameter(start[~decayed].clone())

        def vector():
            w = torch.empty(11, dtype=torch.float64)
            return w.masked_scatter(decayed, on).masked_scatter(~decayed, off)

        return {"params": [on, off], "vector": vector,
                "groups": [{"params": [on], "weight_decay": recipe.weight_decay}, {"params": [off], "weight_decay": 0.0}]}

    run_against_torch(recipe, flat, groups, ours_decay_mask=[decayed.double()])


def test_decay_mask_marks_weights_not_biases_or_norms_in_flat_order():
    from lossbarcode.train import decay_mask_skip_1d

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                                torch.nn.Linear(2, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 2, bias=False))
    expected = torch.cat([torch.full((p.numel(),), 1.0 if "weight" in n and p.dim() > 1 else 0.0)
                          for n, p in model.named_parameters()])
    mask = decay_mask_skip_1d(model)
    assert torch.equal(mask, expected) and len(mask) == len(torch.nn.utils.parameters_to_vector(model.parameters()))
    assert mask.sum() == 18 + 6 + 6


def test_descend_decays_only_what_the_mask_marks():
    """Zero gradients: AdamW then only decays, weights by (1 - lr wd) per step, biases not at all."""
    from lossbarcode.landscape import NetworkLandscape
    from lossbarcode.tasks import Task

    class Flat(Task):
        def loss_sum(self, logits, targets):
            return 0.0 * logits.sum()

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    landscape = NetworkLandscape(model, (torch.randn(8, 3), torch.zeros(8, dtype=torch.long)), batch_size=4,
                                 task=Flat("flat", "sample", 1))
    start = landscape.flatten()
    recipe = Recipe(steps=5, lr=0.1, optimizer="adamw", weight_decay=0.5, decay_mask="skip_1d")
    theta = descend(landscape, start, recipe)
    weights = torch.zeros_like(start, dtype=torch.bool)
    weights[:6] = True
    torch.testing.assert_close(theta[weights], start[weights] * 0.95**5)
    assert torch.equal(theta[~weights], start[~weights])
    with pytest.raises(ValueError, match="FunctionLandscape has no model"):
        descend(FunctionLandscape(lambda p: (p**2).sum(-1), dim=2), torch.zeros(2), recipe)
    with pytest.raises(ValueError, match="couple the 2 starts"):
        descend(landscape, torch.stack([start, start]), Recipe(steps=1, lr=0.1, clip_grad_norm=1.0))


def test_a_masked_recipe_needs_its_mask():
    from lossbarcode.train import Optimizer

    recipe = Recipe(steps=1, lr=0.1, weight_decay=0.1, decay_mask="skip_1d")
    with pytest.raises(ValueError, match=r"pass decay_mask=\[DECAY_MASKS\['skip_1d'\]\(model\)\]"):
        Optimizer([torch.zeros(3)], recipe)
    with pytest.raises(ValueError, match="2 decay masks for 1 parameter tensors"):
        Optimizer([torch.zeros(3)], recipe, [torch.ones(3), torch.ones(3)])


# p0^2 + 10 p1^2, 40 steps in epochs of 10: lr 0.01 for the first 20 steps, then lr 0.3, where p0
# still converges (factor 0.4 a step) but p1 overshoots (factor -5) and its loss grows 25-fold a step.
RISES_LATE = FunctionLandscape(lambda p: p[:, 0] ** 2 + 10 * p[:, 1] ** 2, dim=2)
LATE_JUMP = Recipe(steps=40, lr=0.01, schedule="piecewise", schedule_args={"knots": [[0, 1], [0.5, 1], [0.5, 30], [1, 30]]})
FIRST_HALF = Recipe(steps=20, lr=0.01)  # the same first 20 updates


def test_best_train_loss_keeps_the_end_of_the_lowest_loss_epoch_and_last_the_final_step():
    start = torch.tensor([0.0, 1.0])
    best = BestPeriod()
    kept = descend(RISES_LATE, start, replace(LATE_JUMP, keep="best_train_loss"), steps_per_epoch=10, best=best)
    assert torch.equal(kept, descend(RISES_LATE, start, FIRST_HALF))  # the end of epoch 2
    assert int(best.step) == 20
    last = descend(RISES_LATE, start, LATE_JUMP, steps_per_epoch=10)
    assert LATE_JUMP.keep == "last" and RISES_LATE.evaluate(last) > 1e6 * RISES_LATE.evaluate(kept)
    # what is compared: epoch 2's mean minibatch loss, over the losses its 10 steps minimised
    p = torch.nn.Parameter(start.double())
    history = optimize([p], lambda step: RISES_LATE.loss(p), LATE_JUMP, steps_per_epoch=10)
    assert float(best.loss) == history[1] == min(history)


def test_each_start_of_a_stack_keeps_its_own_best_epoch():
    starts = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # the first keeps converging, the second overshoots
    best = BestPeriod()
    kept = descend(RISES_LATE, starts, replace(LATE_JUMP, keep="best_train_loss"), steps_per_epoch=10, best=best)
    assert best.step.tolist() == [40, 20]
    assert torch.equal(kept[0], descend(RISES_LATE, starts, LATE_JUMP, steps_per_epoch=10)[0])
    assert torch.equal(kept[1], descend(RISES_LATE, starts, FIRST_HALF)[1])


def test_best_train_loss_compares_the_epochs_of_the_whole_recipe():
    p = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="run its 40 steps in one call, not steps 0..20"):
        optimize([p], lambda step: (p**2).sum(), replace(LATE_JUMP, keep="best_train_loss"), steps=range(20))


@pytest.mark.parametrize(
    "fields",
    [
        {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-2},
        {"optimizer": "adam", "weight_decay": 1e-2, "decay_mask": "skip_1d"},
        {"optimizer": "adamw", "weight_decay": 0.1, "clip_grad_norm": 1.0},
    ],
)
def test_compiled_updates_equal_eager_ones_with_one_graph(fields):
    """``compile`` runs the same update through torch.compile: the same parameters after a schedule
    whose learning rate changes every step, and one graph for all of them (the learning rate and
    the step count reach it as tensors, not as constants that would each be a new graph)."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from lossbarcode.train import Optimizer

    torch._dynamo.reset()
    counters.clear()
    recipe = Recipe(steps=12, lr=0.05, schedule="warmup_cosine", schedule_args={"warmup": 3}, **fields)
    start = torch.randn(2, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mask = [torch.tensor([1.0, 0.0]).reshape(2, 1)] if recipe.decay_mask else None
    eager, compiled = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    optimizers = Optimizer([eager], recipe, mask), Optimizer([compiled], replace(recipe, compile="default"), mask)
    for step in range(recipe.steps):
        for p, optimizer in zip((eager, compiled), optimizers):
            p.grad = None
            ((p - 1).pow(2).sum() + p.sin().sum() * (step + 1)).backward()
            optimizer.step(recipe.lr_at(step))
    torch.testing.assert_close(compiled, eager, rtol=1e-12, atol=1e-12)
    assert counters["stats"]["unique_graphs"] == 1


def test_unknown_compile_mode_is_refused():
    with pytest.raises(ValueError, match="unknown compile mode 'fast'"):
        Recipe(steps=1, lr=0.1, compile="fast")
