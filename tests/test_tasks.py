"""Tasks and measurement sets: a landscape of a tiny transformers GPT-2 measures per token exactly what
the model's own ``labels=`` loss does; curves and triangles run on it unchanged; measurement on a fixed
seeded subset; BN statistics with dropout off."""

import pytest
import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from lossbarcode import tasks
from lossbarcode.curves import fit_curve
from lossbarcode.landscape import NetworkLandscape
from lossbarcode.sampling import TokenWindows
from lossbarcode.simplex import fit_triangle
from lossbarcode.train import Recipe

VOCAB, BLOCK = 20, 16


def gpt(dropout: float = 0.1, seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=0,
                        eos_token_id=0, resid_pdrop=dropout, attn_pdrop=dropout, embd_pdrop=dropout)
    return GPT2LMHeadModel(config)


def stream(n: int = BLOCK * 12 + 5, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n,), generator=torch.Generator().manual_seed(seed))


def near(landscape, count: int, scale: float = 0.05, seed: int = 1) -> torch.Tensor:
    noise = torch.randn(count, landscape.dim, generator=torch.Generator().manual_seed(seed))
    return landscape.flatten() + scale * noise


def holding(model: nn.Module, theta: torch.Tensor) -> nn.Module:
    torch.nn.utils.vector_to_parameters(theta, model.parameters())
    return model


@pytest.fixture(scope="module")
def lm():
    """A GPT-2 landscape on 12 windows of 16 tokens (plus 5 left over), measured 5 windows a batch."""
    tokens = stream()
    return NetworkLandscape(gpt(), TokenWindows(tokens, BLOCK), task="causal_lm", eval_batch_size=5, batch_size=4), tokens


def test_per_token_loss_equals_the_models_own_labels_loss(lm):
    landscape, tokens = lm
    theta = near(landscape, 1)[0]
    # windows of BLOCK + 1 tokens: given as both input and labels, the model shifts them itself
    windows = torch.stack([tokens[s : s + BLOCK + 1] for s in range(0, 12 * BLOCK, BLOCK)])
    model = holding(gpt(), theta).eval()
    with torch.no_grad():
        output = model(input_ids=windows, labels=windows)
    metrics = landscape.metrics(theta)
    torch.testing.assert_close(metrics["loss"], output.loss, rtol=1e-6, atol=1e-6)
    hits = output.logits[:, :-1].argmax(-1) == windows[:, 1:]
    torch.testing.assert_close(metrics["accuracy"], hits.float().mean())
    assert metrics["unit"] == "token" and metrics["count"] == 12 * BLOCK


@pytest.mark.parametrize("vmap", [True, False])
def test_eight_vectors_batched_equal_eight_separate_evaluations(lm, vmap):
    landscape, tokens = lm
    landscape = NetworkLandscape(landscape.model, TokenWindows(tokens, BLOCK), task="causal_lm", eval_batch_size=5,
                                 vmap=vmap)
    thetas = near(landscape, 8)
    batched = landscape.metrics(thetas)
    separate = [landscape.metrics(t) for t in thetas]
    torch.testing.assert_close(batched["loss"], torch.stack([m["loss"] for m in separate]), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(batched["accuracy"], torch.stack([m["accuracy"] for m in separate]))


def test_training_loss_is_the_labels_loss_on_the_drawn_windows():
    tokens = stream()
    batched = NetworkLandscape(gpt(dropout=0.0), TokenWindows(tokens, BLOCK), task="causal_lm", batch_size=4, seed=7)
    twin = NetworkLandscape(gpt(dropout=0.0), TokenWindows(tokens, BLOCK), task="causal_lm", batch_size=4, seed=7)
    thetas = near(batched, 3)
    losses = batched.loss(thetas)
    x, y = twin.next_batch()
    assert x.shape == y.shape == (4, BLOCK) and torch.equal(x[:, 1:], y[:, :-1])
    for theta, loss in zip(thetas, losses):
        model = holding(gpt(dropout=0.0), theta).train()
        labels = torch.cat([x, y[:, -1:]], 1)
        torch.testing.assert_close(loss, model(input_ids=labels, labels=labels).loss, rtol=1e-5, atol=1e-6)


def test_a_curve_and_a_triangle_fit_and_profile_on_a_language_model(lm):
    landscape, _ = lm
    a, b, c = near(landscape, 3, scale=0.2)
    recipe = Recipe(steps=4, lr=1e-3, optimizer="adam")
    ab, ac, bc = (fit_curve(landscape, p, q, "bezier", recipe=recipe) for p, q in ((a, b), (a, c), (b, c)))
    t, loss = ab.profile(5, refine=0)
    torch.testing.assert_close(torch.as_tensor(loss[[0, -1]]), landscape.evaluate(torch.stack([a, b])).double())
    triangle = fit_triangle(landscape, (a, b, c), (ab, ac, bc), recipe=recipe)
    points, losses = triangle.grid(3, profile_points=5, refine=0)
    assert len(points) == len(losses) and all(map(torch.isfinite, torch.as_tensor(losses)))


def test_classification_and_its_units():
    x, y = torch.randn(30, 4), torch.randint(0, 3, (30,))
    landscape = NetworkLandscape(nn.Linear(4, 3), (x, y))
    metrics = landscape.metrics(landscape.flatten())
    assert (metrics["unit"], metrics["count"]) == ("sample", 30)
    assert landscape.task is tasks.TASKS["classification"]


def test_a_task_that_does_not_fit_the_data_says_so():
    with pytest.raises(ValueError, match="'classification' takes targets with 1 dimension.*causal_lm"):
        landscape = NetworkLandscape(gpt(), TokenWindows(stream(), BLOCK))
        landscape.evaluate(landscape.flatten())
    with pytest.raises(ValueError, match="unknown task 'regression'"):
        NetworkLandscape(gpt(), TokenWindows(stream(), BLOCK), task="regression")


def test_vmap_passes_count_tokens(lm, monkeypatch):
    _, tokens = lm
    landscape = NetworkLandscape(gpt(), TokenWindows(tokens, BLOCK), task="causal_lm", eval_batch_size=5, vmap=True,
                                 vmap_samples=5 * BLOCK * 3)
    vmap, chunks = torch.func.vmap, []

    def recording(fn, *args, chunk_size=None, **kwargs):
        chunks.append(chunk_size)
        return vmap(fn, *args, chunk_size=chunk_size, **kwargs)

    monkeypatch.setattr(torch.func, "vmap", recording)
    landscape.evaluate(near(landscape, 8))
    assert chunks[0] == 3  # 5 windows of 16 tokens per row: 3 rows fit in 240 tokens


# ----- measurement sets and BN -------------------------------------------------------------------
def classification_data(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 10, generator=g), torch.randint(0, 3, (n,), generator=g)


def bn_net(dropout: bool) -> nn.Module:
    torch.manual_seed(0)
    drop = nn.Dropout(0.5) if dropout else nn.Identity()
    return nn.Sequential(nn.Linear(10, 16), drop, nn.BatchNorm1d(16), nn.ReLU(), drop, nn.Linear(16, 12),
                         nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 3))


def test_bn_recalibration_with_dropout_equals_that_without_dropout():
    x, y = classification_data()
    with_dropout = NetworkLandscape(bn_net(dropout=True), (x, y), eval_batch_size=64)
    without = NetworkLandscape(bn_net(dropout=False), (x, y), eval_batch_size=64)
    theta = near(with_dropout, 1, scale=0.2)[0]
    recalibrated, expected = with_dropout.recalibrate_bn(theta), without.recalibrate_bn(theta)
    for name in ("2.running_mean", "2.running_var", "6.running_mean", "6.running_var"):
        torch.testing.assert_close(recalibrated[name], expected[name], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(with_dropout.evaluate(theta), without.evaluate(theta), rtol=1e-6, atol=1e-6)
    assert not any(m.training for m in with_dropout.model.modules())


@pytest.mark.parametrize("kind", ["samples", "tokens"])
def test_a_measurement_subset_gives_the_same_value_from_two_landscapes(kind):
    if kind == "samples":
        x, y = classification_data()
        model, data, task = bn_net(dropout=True), (x, y), "classification"
    else:
        model, data, task = gpt(), TokenWindows(stream(BLOCK * 40 + 1), BLOCK), "causal_lm"
    # different training seeds (the jobs of one run differ in those), one measurement seed
    first, second = (NetworkLandscape(model, data, task=task, seed=seed, measure_train=9, measure_seed=3)
                     for seed in (1, 2))
    full = NetworkLandscape(model, data, task=task)
    theta = near(first, 1, scale=0.1)[0]
    assert first.evaluate(theta) == second.evaluate(theta)
    assert first.metrics(theta)["count"] == 9 * (1 if kind == "samples" else BLOCK)
    assert first.evaluate(theta) != full.evaluate(theta)
    other = NetworkLandscape(model, data, task=task, measure_train=9, measure_seed=4)
    assert other.evaluate(theta) != first.evaluate(theta)


def test_a_measurement_subset_is_the_loss_on_those_rows():
    x, y = classification_data()
    torch.manual_seed(0)
    model = nn.Linear(10, 3)
    landscape = NetworkLandscape(model, (x, y), (x[:50], y[:50]), measure_train=40, measure_test=20, measure_seed=5,
                                 eval_batch_size=16)
    index = torch.randperm(300, generator=torch.Generator().manual_seed(5))[:40]
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(x[index]), y[index])
    torch.testing.assert_close(landscape.evaluate(landscape.flatten()), expected, rtol=1e-6, atol=1e-6)
    assert landscape.metrics(landscape.flatten(), "test")["count"] == 20
    with pytest.raises(ValueError, match="measurement set of 400 rows"):
        NetworkLandscape(nn.Linear(10, 3), (x, y), measure_train=400)


# ----- the README's example: a barcode of your own causal LM on your own text -------------------------
def test_readme_example_barcode_of_your_own_language_model_on_your_own_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    words = ["the cat sat on the mat.", "a dog ran to the park.", "the bird sang in the tree."]
    order = torch.randint(0, 3, (200,), generator=torch.Generator().manual_seed(0)).tolist()
    (tmp_path / "my_text.txt").write_text("\n".join(words[i] for i in order))

    # --- as in the README (which imports torch too), with smaller budgets ---
    from transformers import GPT2Config, GPT2LMHeadModel

    from lossbarcode.data import load_tokens, prepare_tokens
    from lossbarcode.landscape import NetworkLandscape
    from lossbarcode.pipeline import estimate_barcode, find_minima
    from lossbarcode.train import Recipe

    text = load_tokens(prepare_tokens("data/my_text.pt", "text", data_files="my_text.txt"), block_size=32)
    config = GPT2Config(vocab_size=text.vocab_size, n_positions=32, n_embd=16, n_layer=1, n_head=2)
    landscape = NetworkLandscape(GPT2LMHeadModel(config), text.train(), text.test(), task="causal_lm",
                                 batch_size=16, measure_train=32)
    starts = torch.stack([landscape.flatten(GPT2LMHeadModel(config)) for _ in range(3)])
    minima = find_minima(landscape, starts, steps=40, lr=1e-2, optimizer="adam")
    curve = Recipe(steps=10, lr=1e-2, optimizer="adam")
    barcode = estimate_barcode(landscape, minima, "bezier", curve_kw={"recipe": curve}, profile_points=9)
    print(barcode["h0"], barcode["to_score"])
    # ---

    assert len(barcode["minima"]) == len(minima) == 3
    assert max(barcode["minima"]) < landscape.evaluate(starts).min()  # the descent learnt something
    for pair, height in barcode["edges"].items():
        i, j = map(int, pair.split("-"))
        assert height >= max(barcode["minima"][i], barcode["minima"][j]) - 1e-6
    assert landscape.metrics(minima[0], "test")["unit"] == "token"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float64])
def test_losses_are_summed_in_float32_at_least(dtype):
    """Low-precision logits are summed in float32; float64 ones keep their precision."""
    logits = torch.randn(6, 4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    targets = torch.randint(0, 5, (6, 4), generator=torch.Generator().manual_seed(1))
    loss = tasks.get("causal_lm").loss_sum(logits.to(dtype), targets)
    assert loss.dtype == torch.promote_types(dtype, torch.float32)
    expected = torch.nn.functional.cross_entropy(logits.to(dtype).double().flatten(0, 1), targets.flatten(), reduction="sum")
    torch.testing.assert_close(loss.double(), expected, rtol=1e-12 if dtype == torch.float64 else 1e-5, atol=0)
