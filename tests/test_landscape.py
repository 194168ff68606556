import pytest
import torch
from torch import nn

from lossbarcode.landscape import FunctionLandscape, NetworkLandscape


def data(n=300, features=10, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=g), torch.randint(0, classes, (n,), generator=g)


def mlp(bn: bool) -> nn.Module:
    torch.manual_seed(0)
    norm = nn.BatchNorm1d if bn else lambda n: nn.Identity()
    return nn.Sequential(nn.Linear(10, 16), norm(16), nn.ReLU(), nn.Linear(16, 12), norm(12), nn.ReLU(), nn.Linear(12, 3))


@pytest.mark.parametrize("vmap", [True, False])
def test_batched_evaluation_equals_separate_evaluations(vmap):
    x, y = data()
    landscape = NetworkLandscape(mlp(bn=False), (x, y), (x[:50], y[:50]), eval_batch_size=64, vmap=vmap)
    thetas = landscape.flatten() + 0.3 * torch.randn(16, landscape.dim, generator=torch.Generator().manual_seed(1))
    batched = landscape.metrics(thetas)
    one_by_one = [landscape.metrics(t) for t in thetas]
    torch.testing.assert_close(batched["loss"], torch.stack([m["loss"] for m in one_by_one]), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(batched["accuracy"], torch.stack([m["accuracy"] for m in one_by_one]))
    # and against a plain forward pass of a model holding each vector
    for theta, loss in zip(thetas[:4], batched["loss"]):
        model = mlp(bn=False)
        torch.nn.utils.vector_to_parameters(theta, model.parameters())
        expected = nn.functional.cross_entropy(model(x), y)
        torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("vmap", [True, False])
def test_batched_training_loss_equals_separate_losses_on_the_same_minibatch(vmap):
    x, y = data()
    batched = NetworkLandscape(mlp(bn=True), (x, y), batch_size=32, seed=3, vmap=vmap)
    single = NetworkLandscape(mlp(bn=True), (x, y), batch_size=32, seed=3)
    thetas = batched.flatten() + 0.1 * torch.randn(5, batched.dim, generator=torch.Generator().manual_seed(2))
    losses = batched.loss(thetas)
    xb, yb = single.next_batch()
    for theta, loss in zip(thetas, losses):
        model = mlp(bn=True).train()
        torch.nn.utils.vector_to_parameters(theta, model.parameters())
        torch.testing.assert_close(loss, nn.functional.cross_entropy(model(xb), yb), rtol=1e-5, atol=1e-6)


def test_bn_recalibration_gives_exact_statistics_of_each_layer_input():
    x, y = data()
    model = mlp(bn=True)
    # One calibration batch: the forward pass normalises layer 1 by the full-data statistics,
    # so the inputs of layer 2 can be computed here by hand.
    landscape = NetworkLandscape(model, (x, y), eval_batch_size=len(x))
    theta = landscape.flatten() + 0.2 * torch.randn(landscape.dim, generator=torch.Generator().manual_seed(4))
    buffers = landscape.recalibrate_bn(theta)
    p = landscape.unflatten(theta)

    def bn_train(h, weight, bias, eps=1e-5):
        return (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + eps) * weight + bias

    h1 = x @ p["0.weight"].T + p["0.bias"]
    h2 = torch.relu(bn_train(h1, p["1.weight"], p["1.bias"])) @ p["3.weight"].T + p["3.bias"]
    for name, h in (("1", h1), ("4", h2)):
        torch.testing.assert_close(buffers[f"{name}.running_mean"], h.mean(0), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(buffers[f"{name}.running_var"], h.var(0, unbiased=True), rtol=1e-5, atol=1e-5)


def test_bn_statistics_are_exact_over_uneven_batches():
    # 300 samples in batches of 64 (the last one 44): a running average of per-batch statistics
    # would be off; the first layer's inputs do not depend on batching, so they must be exact.
    x, y = data()
    landscape = NetworkLandscape(mlp(bn=True), (x, y), eval_batch_size=64)
    theta = landscape.flatten()
    p = landscape.unflatten(theta)
    h1 = x @ p["0.weight"].T + p["0.bias"]
    buffers = landscape.recalibrate_bn(theta)
    torch.testing.assert_close(buffers["1.running_mean"], h1.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(buffers["1.running_var"], h1.var(0), rtol=1e-5, atol=1e-6)


def test_bn_recalibration_of_a_conv_net_is_per_channel():
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(40, 3, 8, 8, generator=g), torch.randint(0, 10, (40,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
    landscape = NetworkLandscape(model, (x, y), eval_batch_size=16)
    theta = landscape.flatten()
    buffers = landscape.recalibrate_bn(theta)
    h = nn.functional.conv2d(x, model[0].weight, model[0].bias, padding=1)
    flat = h.transpose(0, 1).reshape(4, -1)
    torch.testing.assert_close(buffers["1.running_mean"], flat.mean(1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(buffers["1.running_var"], flat.var(1), rtol=1e-5, atol=1e-6)
    # the measured loss uses those statistics
    evaluated = landscape.to_model(theta).eval()
    expected = nn.functional.cross_entropy(evaluated(x), y)
    torch.testing.assert_close(landscape.evaluate(theta), expected, rtol=1e-5, atol=1e-6)


def test_flatten_roundtrip_and_to_model():
    x, y = data()
    landscape = NetworkLandscape(mlp(bn=False), (x, y))
    theta = landscape.flatten() + 1.0
    model = landscape.to_model(theta)
    torch.testing.assert_close(landscape.flatten(model), theta)


def test_minibatches_cover_the_epoch_once():
    x, y = torch.arange(10.0)[:, None], torch.arange(10)
    landscape = NetworkLandscape(nn.Linear(1, 10), (x, y), batch_size=4)
    seen = torch.cat([landscape.next_batch()[1] for _ in range(landscape.steps_per_epoch)])
    assert sorted(seen.tolist()) == list(range(10))


def test_wrong_parameter_vector_size_is_a_clear_error():
    landscape = FunctionLandscape(lambda p: (p**2).sum(-1), dim=3)
    with pytest.raises(ValueError, match=r"shape \(4,\).*3 parameters"):
        landscape.loss(torch.zeros(4))
    with pytest.raises(ValueError, match=r"shape \(2, 2, 3\)"):
        landscape.evaluate(torch.zeros(2, 2, 3))
    x, y = data()
    network = NetworkLandscape(mlp(bn=False), (x, y))
    with pytest.raises(ValueError, match=f"{network.dim} parameters"):
        network.evaluate(torch.zeros(network.dim + 1))


def test_function_landscape_checks_its_function_output():
    landscape = FunctionLandscape(lambda p: p.sum(), dim=2)
    with pytest.raises(ValueError, match="one loss per point"):
        landscape.evaluate(torch.zeros(5, 2))


def test_function_landscape_single_and_batched():
    landscape = FunctionLandscape(lambda p: (p**2).sum(-1), dim=2)
    assert landscape.loss(torch.tensor([1.0, 2.0])).shape == ()
    torch.testing.assert_close(landscape.evaluate(torch.tensor([[1.0, 2.0], [0.0, 1.0]])), torch.tensor([5.0, 1.0], dtype=torch.float64))


def test_mismatched_data_is_rejected():
    with pytest.raises(ValueError, match="equal length"):
        NetworkLandscape(nn.Linear(2, 2), (torch.zeros(5, 2), torch.zeros(4, dtype=torch.long)))


class ItemInForward(nn.Module):
    """A model vmap cannot trace: data-dependent Python control flow."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(10, 3)

    def forward(self, x):
        out = self.linear(x)
        return out if out.abs().max().item() < 1e9 else out * 0


def test_models_that_vmap_cannot_trace_are_looped(caplog):
    x, y = data()
    landscape = NetworkLandscape(ItemInForward(), (x, y), (x, y), vmap=True)
    thetas = landscape.flatten() + 0.1 * torch.randn(3, landscape.dim, generator=torch.Generator().manual_seed(0))
    with caplog.at_level("WARNING", logger="lossbarcode"):
        losses = landscape.evaluate(thetas)
    assert "looping over points" in caplog.text and not landscape.vmap
    torch.testing.assert_close(losses, torch.stack([landscape.evaluate(t) for t in thetas]))
    assert landscape.loss(thetas).shape == (3,)


def test_descent_trains_a_network_and_logs_each_epoch(caplog):
    from lossbarcode.minima import descend

    x, y = data()
    y = (x[:, 0] > 0).long()  # learnable
    landscape = NetworkLandscape(mlp(bn=True), (x, y), batch_size=50)
    start = landscape.flatten()
    with caplog.at_level("INFO", logger="lossbarcode"):
        theta = descend(landscape, start, steps=5 * landscape.steps_per_epoch, lr=1e-2, optimizer="adam",
                        steps_per_epoch=landscape.steps_per_epoch, what="mlp seed 0")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("mlp seed 0: epoch")]
    assert len(lines) == 5 and " lr " in lines[0] and lines[0].endswith("s")
    assert landscape.metrics(theta)["accuracy"] > 0.9 > landscape.metrics(start)["accuracy"]


def test_vmapped_passes_are_bounded_and_halve_when_memory_runs_out(monkeypatch, caplog):
    x, y = data()
    thetas = None
    results = {}
    for budget in (10**6, 64 * 3):
        landscape = NetworkLandscape(mlp(bn=False), (x, y), eval_batch_size=64, vmap=True, vmap_samples=budget)
        if thetas is None:
            thetas = landscape.flatten() + 0.3 * torch.randn(16, landscape.dim, generator=torch.Generator().manual_seed(1))
        results[budget] = landscape.evaluate(thetas)
    torch.testing.assert_close(results[64 * 3], results[10**6], rtol=1e-6, atol=1e-6)

    vmap, chunks = torch.func.vmap, []

    def tight_memory(fn, *args, chunk_size=None, **kwargs):
        chunks.append(chunk_size)
        if chunk_size > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return vmap(fn, *args, chunk_size=chunk_size, **kwargs)

    monkeypatch.setattr(torch.func, "vmap", tight_memory)
    landscape = NetworkLandscape(mlp(bn=False), (x, y), eval_batch_size=64, vmap=True, vmap_samples=64 * 8)
    torch.testing.assert_close(landscape.evaluate(thetas), results[10**6], rtol=1e-6, atol=1e-6)
    assert chunks[:3] == [8, 4, 2] and landscape.vmap_samples == 2 * 64
    assert "out of GPU memory with 8 points per pass; now 4" in caplog.text


@pytest.mark.parametrize("name, shape", [("resnet9", (1, 8, 8)), ("wrn-10-1", (3, 8, 8))])
def test_residual_networks_as_landscapes(name, shape):
    """ResNet-9 and a WideResNet through flat parameter vectors: the training loss (vmapped over
    two points) is the plain module's in training mode on the same minibatch, and the measured loss
    is its eval-mode loss with the BN statistics re-estimated at the point."""
    from lossbarcode import models

    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(48, *shape, generator=g), torch.randint(0, 10, (48,), generator=g)
    torch.manual_seed(0)
    model = models.build(name, input_shape=shape, classes=10)
    landscape = NetworkLandscape(model, (x, y), batch_size=16, seed=3, vmap=True)
    twin = NetworkLandscape(model, (x, y), batch_size=16, seed=3)
    thetas = landscape.flatten() + 0.05 * torch.randn(2, landscape.dim, generator=g)
    losses = landscape.loss(thetas)
    assert landscape.vmap  # traced, not looped
    xb, yb = twin.next_batch()
    for theta, loss in zip(thetas, losses):
        plain = models.build(name, input_shape=shape, classes=10).train()
        torch.nn.utils.vector_to_parameters(theta, plain.parameters())
        assert torch.isfinite(loss)
        torch.testing.assert_close(loss, nn.functional.cross_entropy(plain(xb), yb), rtol=1e-5, atol=1e-6)
    measured = landscape.evaluate(thetas[0])
    expected = nn.functional.cross_entropy(landscape.to_model(thetas[0]).eval()(x), y)
    assert torch.isfinite(measured)
    torch.testing.assert_close(measured, expected, rtol=1e-5, atol=1e-6)


def test_channels_last_batches_change_the_layout_not_the_loss():
    from lossbarcode import models

    torch.manual_seed(0)
    model = models.build("cnn-bn-1-8", input_shape=(3, 16, 16), classes=10)
    data = (torch.rand(64, 3, 16, 16), torch.randint(0, 10, (64,)))
    plain, nhwc = (NetworkLandscape(model, data, batch_size=16, seed=3, channels_last=c) for c in (False, True))
    x, _ = nhwc.next_batch()
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    nhwc.load_data_state(plain.data_state())
    theta = plain.flatten()
    for _ in range(3):
        torch.testing.assert_close(nhwc.loss(theta), plain.loss(theta), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["resnet-8", "resnet-ns-8"])
def test_li_resnets_as_landscapes(name):
    """Li et al.'s post-activation ResNet with its shortcuts and without (the -NS twin), as the
    residual networks above: vmapped training losses and BN-re-estimated measured losses."""
    test_residual_networks_as_landscapes(name, (1, 8, 8))


def test_compiled_training_objective_equals_the_eager_one():
    """``compile`` changes how the training objective runs, not what it computes: the same losses
    and gradients at one point (BN by batch statistics included) and, for a stack of points, the
    eager vmapped path. Measurements never go through the compiler."""
    x, y = data()
    eager, compiled = (NetworkLandscape(mlp(bn=True), (x, y), batch_size=32, seed=5, compile=c)
                       for c in (None, "default"))
    assert compiled.train_loss is not compiled._train_loss and eager.train_loss == eager._train_loss
    theta = eager.flatten() + 0.1 * torch.randn(eager.dim, generator=torch.Generator().manual_seed(2))
    for _ in range(3):  # three minibatches in the same order
        points = [theta.clone().requires_grad_() for _ in range(2)]
        losses = [landscape.loss(p) for landscape, p in zip((eager, compiled), points)]
        for loss, p in zip(losses, points):
            loss.backward()
        torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(points[1].grad, points[0].grad, rtol=1e-4, atol=1e-6)
    stack = torch.stack([theta, 1.1 * theta])
    torch.testing.assert_close(compiled.loss(stack), eager.loss(stack), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(compiled.metrics(stack)["loss"], eager.metrics(stack)["loss"], rtol=0, atol=0)


def test_the_eager_path_never_imports_the_compiler():
    """torch.compile's import (torch._dynamo) costs seconds that short jobs must not pay: training
    and measuring without ``compile`` leaves it unimported."""
    import subprocess
    import sys

    script = (
        "import sys, torch\n"
        "from lossbarcode import models\n"
        "from lossbarcode.landscape import NetworkLandscape\n"
        "from lossbarcode.train import Recipe, optimize\n"
        "model = models.build('cnn-bn-1-8', input_shape=(3, 8, 8), classes=10)\n"
        "landscape = NetworkLandscape(model, (torch.rand(64, 3, 8, 8), torch.randint(0, 10, (64,))), batch_size=16)\n"
        "theta = torch.nn.Parameter(landscape.flatten())\n"
        "optimize([theta], lambda step: landscape.loss(theta), Recipe(steps=4, lr=0.1, optimizer='adam'))\n"
        "landscape.loss(torch.stack([theta.detach()] * 2)); landscape.metrics(torch.stack([theta.detach()] * 2))\n"
        "assert 'torch._dynamo' not in sys.modules, 'the eager path imported torch._dynamo'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
