"""Architectures against the papers' parameter counts, and §3.5's loss-preserving embeddings."""

import copy

import pytest
import torch
import torch.nn.functional as F

from lossbarcode import models
from lossbarcode.data import load, prepare
from lossbarcode.models.embed import deepen_fcn, norm_shift, widen_cnn, widen_fcn


@pytest.mark.parametrize(
    "name, count",
    [("cnn-1-32", 7_562), ("cnn-2-64", 117_578), ("cnn-3-32", 58_826)],  # paper 002 §4.2, Appendix G
)
def test_cnn_parameter_counts(name, count):
    assert models.parameter_count(models.build(name, input_shape=(3, 32, 32), classes=10)) == count


def test_gpt_is_gpt_py_through_transformers():
    """karpathy's gpt.py has 10,788,929 parameters at a vocabulary of 65; GPT-2's layout adds a bias
    to the fused attention projection (6 x 3 x 384) and drops the output layer's (65)."""
    model = models.build("gpt-6-384", input_shape=(256,), classes=65, heads=6, dropout=0.2)
    assert models.parameter_count(model) == 10_795_776 == 10_788_929 + 6 * 3 * 384 - 65
    config = model.config
    assert (config.activation_function, config.tie_word_embeddings, config.embd_pdrop) == ("relu", False, 0.0)
    assert config.attn_pdrop == config.resid_pdrop == 0.2 and config._attn_implementation == "sdpa"


def test_bn_variants_add_batchnorm_before_each_activation():
    model = models.build("cnn-bn-2-32", input_shape=(3, 32, 32), classes=10)
    kinds = [type(m).__name__ for m in model]
    assert kinds[:4] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] and kinds.count("BatchNorm2d") == 2


def test_resnet9_is_the_authors_network():
    """Paper 002 §5's ResNet-like network: 195,210 parameters (Appendix G Table 5), and the same
    function of the same flat parameter vector as the authors' ``resnet9``, written out here op by op
    as their ``nn.Sequential`` runs it (their ``Identity`` remembers its input where the feature size
    changes and adds it back, then ReLU, where it does not)."""
    model = models.build("resnet9", input_shape=(3, 32, 32), classes=10)
    assert models.parameter_count(model) == 195_210
    weights = iter(trained_like(model).parameters())
    conv = lambda h: F.conv2d(h, next(weights), next(weights), padding=1)

    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    h = remembered = F.relu(conv(x))
    h = F.relu(conv(F.relu(conv(h))) + remembered)
    for _ in range(2):
        h = remembered = F.relu(conv(F.max_pool2d(h, 2)))
        h = F.relu(conv(F.relu(conv(h))) + remembered)
    h = remembered = F.max_pool2d(h, 2)
    h = F.max_pool2d(F.relu(conv(F.relu(conv(h))) + remembered), 2)
    bn = model[-4]
    h = F.batch_norm(h, bn.running_mean, bn.running_var, next(weights), next(weights))
    expected = F.linear(h.mean((2, 3)), next(weights), next(weights))
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


def test_resnet9_starts_as_the_authors_code():
    """Kaiming-normal weights (std sqrt(2 / fan_in)), biases 0.01, in every convolution and the
    linear layer; BatchNorm at PyTorch's 1 and 0."""
    torch.manual_seed(0)
    model = models.build("resnet9", input_shape=(3, 32, 32), classes=10)
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 12  # eleven convolutions, one linear layer
    for layer in layers:
        assert torch.all(layer.bias == 0.01)
        fan_in = layer.weight[0].numel()
        assert layer.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.1)
    bn = model[-4]
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


@pytest.mark.parametrize(
    "name, count", [("wrn-16-10", 17_179_940), ("wrn-28-10", 36_546_980), ("wrn-10-1", 84_036)]
)
def test_wrn_parameter_counts_on_cifar100(name, count):
    """Garipov's layout: WRN-16-10 has 17,179,940 parameters on CIFAR-100 (paper 002 §8: about
    17.1M); counted on the meta device, so nothing paper-sized is allocated."""
    with torch.device("meta"):
        model = models.build(name, input_shape=(3, 32, 32), classes=100)
    assert models.parameter_count(model) == count


def test_wrn_16_10_on_cifar10():
    with torch.device("meta"):
        model = models.build("wrn-16-10", input_shape=(3, 32, 32), classes=10)
    assert models.parameter_count(model) == 17_122_250 == 17_179_940 - 90 * 641


def test_wrn_blocks_are_pre_activation_with_the_stride_on_conv2():
    from lossbarcode.models.wide_resnet import WideBlock

    model = models.build("wrn-16-2", input_shape=(3, 32, 32), classes=10, dropout=0.3)
    blocks = [m for m in model if isinstance(m, WideBlock)]
    assert [b.conv2.stride[0] for b in blocks] == [1, 1, 2, 1, 2, 1]
    assert [b.conv1.stride[0] for b in blocks] == [1] * 6
    # a 1x1 shortcut where the width or stride changes (16 -> 32 too), the identity elsewhere
    assert [type(b.shortcut).__name__ for b in blocks] == ["Conv2d", "Identity"] * 3
    assert all(m.bias is not None for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert blocks[0].dropout.p == 0.3 and model[-5].momentum == 0.9
    # PyTorch's default initialisation, as Garipov's code leaves it
    for conv in (m for m in model.modules() if isinstance(m, torch.nn.Conv2d)):
        bound = conv.weight[0].numel() ** -0.5
        assert conv.weight.abs().max() <= bound and conv.bias.abs().max() <= bound
    # the identity shortcut of a later block, by hand
    block, x = blocks[1].eval(), torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        residual = block.conv2(F.relu(block.bn2(block.conv1(F.relu(block.bn1(x))))))
        torch.testing.assert_close(block(x), residual + x)


@pytest.mark.parametrize("depth", [4, 12, 15])
def test_wrn_depth_must_be_6n_plus_4(depth):
    with pytest.raises(ValueError, match=f"WRN depth must be 6n\\+4 .*got {depth}"):
        models.build(f"wrn-{depth}-1", input_shape=(3, 32, 32), classes=10)


@pytest.mark.parametrize(
    "name, shape",
    [("resnet9", (3, 32, 32)), ("resnet9", (1, 28, 28)), ("resnet9", (1, 8, 8)),
     ("wrn-10-1", (3, 32, 32)), ("wrn-10-1", (1, 8, 8))],
)
def test_residual_networks_run_on_cifar_and_stand_in_images(name, shape):
    """CIFAR-shaped images and the stand-ins (MNIST 28x28, scikit-learn's 8x8 digits)."""
    model = models.build(name, input_shape=shape, classes=10)
    for mode in (True, False):
        out = model.train(mode)(torch.randn(5, *shape))
        assert out.shape == (5, 10) and torch.isfinite(out).all()


LI_COUNTS = [("resnet-20", 272_474), ("resnet-ns-20", 269_722), ("resnet-56", 855_770), ("resnet-ns-56", 853_018),
             ("resnet-110", 1_730_714), ("resnet-ns-110", 1_727_962), ("resnet-56-2", 3_412_394),
             ("resnet-ns-56-2", 3_401_770)]


@pytest.mark.parametrize("name, count", LI_COUNTS)
def test_li_resnet_parameter_counts(name, count):
    """Li et al.'s CIFAR-10 networks (paper 002 §6, paper 004 Table 1a), counted on the meta device."""
    with torch.device("meta"):
        model = models.build(name, input_shape=(3, 32, 32), classes=10)
    assert models.parameter_count(model) == count


@pytest.mark.parametrize("shortcut", ["", "ns-"])
def test_wrn_56_1_is_resnet_56(shortcut):
    """Paper 004: "WideResNet-56-1(-NS) is essentially ResNet-56(-NS)"; here exactly."""
    with torch.device("meta"):
        plain, wide = (models.build(f"resnet-{shortcut}{n}", input_shape=(3, 32, 32), classes=10)
                       for n in ("56", "56-1"))
    assert [(k, v.shape) for k, v in plain.state_dict().items()] == [(k, v.shape) for k, v in wide.state_dict().items()]


def test_li_resnet_blocks_and_the_authors_names():
    """Post-activation blocks: the identity, a 1x1 conv + BN projection where the stride or the width
    changes, nothing in the -NS twin; no convolution has a bias; the authors' state-dict keys."""
    from lossbarcode.models.li_resnet import BasicBlock

    model = trained_like(models.build("resnet-14-2", input_shape=(3, 32, 32), classes=10))
    twin = trained_like(models.build("resnet-ns-14-2", input_shape=(3, 32, 32), classes=10))
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert [b.conv1.stride[0] for b in blocks] == [1, 1, 2, 1, 2, 1] and model.conv1.out_channels == 32
    assert [type(b.shortcut).__name__ for b in blocks] == ["Identity", "Identity"] + ["Sequential", "Identity"] * 2
    assert all(b.shortcut is None for b in twin.modules() if isinstance(b, BasicBlock))
    assert all(m.bias is None for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    projections = {k for k in model.state_dict() if "shortcut" in k}
    assert projections == {f"layer{i}.0.shortcut.{part}" for i in (2, 3) for part in
                           ("0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked")}
    assert set(twin.state_dict()) == set(model.state_dict()) - projections
    assert [k for k, _ in model.named_parameters()][:4] == ["conv1.weight", "bn1.weight", "bn1.bias",
                                                            "layer1.0.conv1.weight"]
    assert [k for k, _ in model.named_parameters()][-2:] == ["linear.weight", "linear.bias"]
    x = torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        for block, shortcut in ((blocks[1], lambda x: x),
                                (blocks[2], lambda x: blocks[2].shortcut[1](blocks[2].shortcut[0](x)))):
            residual = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))
            torch.testing.assert_close(block(x), F.relu(residual + shortcut(x)))
        plain = [m for m in twin.modules() if isinstance(m, BasicBlock)][2]
        torch.testing.assert_close(plain(x), F.relu(plain.bn2(plain.conv2(F.relu(plain.bn1(plain.conv1(x)))))))
        # the whole network: stem, blocks, global average, linear
        images = torch.randn(2, 3, 32, 32)
        h = F.relu(model.bn1(model.conv1(images)))
        for block in blocks:
            h = block(h)
        torch.testing.assert_close(model(images), model.linear(h.mean((2, 3))))


def test_li_resnet_starts_as_the_authors_code():
    """Their ``init_params``: Kaiming-normal convolutions (fan in, std sqrt(2 / fan_in)), BN 1 and 0,
    the linear layer normal(0, 1e-3) with bias 0."""
    torch.manual_seed(0)
    model = models.build("resnet-20", input_shape=(3, 32, 32), classes=10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 18 + 2
    for conv in convs:
        fan_in = conv.weight[0].numel()
        assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.15)
        assert abs(conv.weight.mean().item()) < 0.2 * (2 / fan_in) ** 0.5
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 1 + 18 + 2 and all(torch.all(b.weight == 1) and torch.all(b.bias == 0) for b in bns)
    assert model.linear.weight.std().item() == pytest.approx(1e-3, rel=0.15) and torch.all(model.linear.bias == 0)


@pytest.mark.parametrize("name, depth", [("resnet-21", 21), ("resnet-2", 2), ("resnet-ns-16-2", 16), ("resnet-ns-9", 9)])
def test_li_resnet_depth_must_be_6n_plus_2(name, depth):
    with pytest.raises(ValueError, match=f"ResNet depth must be 6n\\+2 .*got {depth}"):
        models.build(name, input_shape=(3, 32, 32), classes=10)


def test_lenet_is_the_classic_lenet5():
    """Paper 004 Fig 1's LeNet-like network (assumed): 61,706 parameters on FashionMNIST."""
    model = models.build("lenet", input_shape=(1, 28, 28), classes=10)
    assert models.parameter_count(model) == 61_706 == 156 + 2_416 + 48_120 + 10_164 + 850
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                     "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert model[0].padding == (2, 2) and model[3].padding == (0, 0)
    # digits skip the first pool and reach the same classifier through an adaptive pool
    small = models.build("lenet", input_shape=(1, 8, 8), classes=10)
    assert [type(m).__name__ for m in small][:6] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d",
                                                     "AdaptiveAvgPool2d"]
    assert [p.shape for p in small.parameters()] == [p.shape for p in model.parameters()]
    with pytest.raises(ValueError, match="at least 5x5"):
        models.build("lenet", input_shape=(1, 4, 4), classes=10)


@pytest.mark.parametrize("name", ["resnet-8", "resnet-ns-14", "resnet-8-2", "lenet"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 16, 16), (3, 32, 32)])
def test_li_resnets_and_lenet_run_on_stand_in_images(name, shape):
    model = models.build(name, input_shape=shape, classes=10)
    assert model.state_dict().keys() == models.build(name, input_shape=(3, 32, 32), classes=10).state_dict().keys()
    for mode in (True, False):
        out = model.train(mode)(torch.randn(5, *shape))
        assert out.shape == (5, 10) and torch.isfinite(out).all()


def test_model_names_belong_to_one_family():
    """``parse`` takes the first family whose pattern matches; no name may match two."""
    import re

    names = ["resnet9", "resnet-20", "resnet-ns-20", "resnet-56-2", "resnet-ns-56-2", "resnet-110", "wrn-16-10",
             "lenet", "cnn-1-32", "cnn-bn-1-32", "fcn-4", "gpt-6-384", "causal-lm"]
    for name in names:
        assert [f for f, spec in models.FAMILIES.items() if re.fullmatch(spec.pattern, name)] == [models.parse(name)[0]]
    assert models.parse("resnet-ns-56-2") == ("li-wrn-ns", {"depth": 56, "k": 2})
    assert models.parse("resnet-110") == ("li-resnet", {"depth": 110})
    for name in ("resnet9-2", "resnet-ns", "resnet-056", "resnet-ns-ns-20"):
        with pytest.raises(ValueError, match="unknown model"):
            models.parse(name)
    assert models.describe("resnet-20", parameters=272_474) == ("ResNet-20 (272.5K)", 272_474)
    assert models.describe("resnet-ns-20", parameters=269_722) == ("ResNet-20-NS (269.7K)", 269_722)
    assert models.describe("resnet-56-2", parameters=3_412_394) == ("WRN-56-2 (3.4M)", 3_412_394)
    assert models.describe("resnet-ns-56-2", parameters=3_401_770) == ("WRN-56-2-NS (3.4M)", 3_401_770)
    assert models.describe("lenet", parameters=61_706) == ("LeNet-5 (61.7K)", 61_706)
    assert models.argument_problems("resnet-20", {"k": 2}) == [
        "li-resnet models take no argument 'k' (they take: none)"]


@pytest.mark.parametrize("family", sorted(models.FAMILIES))
def test_declared_arguments_are_the_builders_own(family):
    """The config check reads a family's declared arguments (no torch there); they must be exactly
    what its ``build`` takes beyond the input shape, the classes, the name's groups and fixed values."""
    import importlib
    import inspect
    import re

    spec = models.FAMILIES[family]
    build = importlib.import_module(f"lossbarcode.models.{spec.module}").build
    taken = {*re.compile(spec.pattern).groupindex, *dict(spec.fixed), "input_shape", "classes"}
    parameters = {n: p for n, p in inspect.signature(build).parameters.items() if n not in taken}
    assert set(spec.arguments) == set(parameters)
    assert set(spec.required) == {n for n, p in parameters.items() if p.default is p.empty}


def test_names():
    assert models.parse("cnn-bn-3-32") == ("cnn-bn", {"depth": 3, "width": 32})
    assert models.describe("fcn-6") == ("6 hidden layers", 6)
    assert models.describe("cnn-1-64", parameters=15114) == ("CNN-1-64 (15.1K)", 15114)
    assert models.parse("resnet9") == ("resnet9", {})
    assert models.describe("resnet9", parameters=195_210) == ("ResNet-9 (195.2K)", 195_210)
    assert models.parse("wrn-16-10") == ("wrn", {"depth": 16, "k": 10})
    assert models.describe("wrn-16-10", parameters=17_179_940) == ("WRN-16-10 (17.2M)", 17_179_940)
    assert models.argument_problems("wrn-16-10", {"dropout": 0.3}) == []
    assert models.argument_problems("resnet9", {"width": 64}) == [
        "resnet9 models take no argument 'width' (they take: none)"]
    with pytest.raises(ValueError, match="unknown model 'cnn-4-32'"):
        models.parse("cnn-4-32")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Real images: the MNIST-5k stand-in, as CIFAR-shaped and MNIST-shaped batches."""
    path = prepare("mnist5k", tmp_path_factory.mktemp("data"))
    return {
        "cifar": load(path, shape=(3, 32, 32), train_size=256).x_train,
        "mnist": load(path, train_size=256).x_train,
    }


def trained_like(model, seed=0):
    """Random, non-degenerate weights (a zero-initialised net would hide mistakes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def in_float64(model, x):
    """The outputs in float64: an embedding is exact, and float32 kernels of different widths sum in
    different orders (differences up to ~1e-5 on logits of ~20), which would hide that."""
    return copy.deepcopy(model).double()(x.double())


@pytest.mark.parametrize(
    "small, large",
    [("cnn-1-32", "cnn-1-64"), ("cnn-1-64", "cnn-1-128"), ("cnn-1-32", "cnn-1-128"), ("cnn-2-32", "cnn-2-64"),
     ("cnn-bn-1-32", "cnn-bn-1-64"), ("cnn-bn-2-32", "cnn-bn-2-64")],
)
def test_cnn_widening_preserves_outputs(images, small, large):
    model = trained_like(models.build(small, input_shape=(3, 32, 32), classes=10))
    width = models.parse(large)[1]["width"]
    bigger = widen_cnn(model, width).eval()
    reference = models.build(large, input_shape=(3, 32, 32), classes=10)
    assert [p.shape for p in bigger.parameters()] == [p.shape for p in reference.parameters()]
    with torch.no_grad():
        assert (in_float64(bigger, images["cifar"]) - in_float64(model, images["cifar"])).abs().max() < 1e-10


@pytest.mark.parametrize("after", [1, 2, 3])
def test_fcn_deepening_preserves_outputs(images, after):
    model = trained_like(models.build("fcn-3", input_shape=(1, 28, 28), classes=10, width=24))
    deeper = deepen_fcn(model, after)
    reference = models.build("fcn-4", input_shape=(1, 28, 28), classes=10, width=24)
    assert [p.shape for p in deeper.parameters()] == [p.shape for p in reference.parameters()]
    with torch.no_grad():
        assert (in_float64(deeper, images["mnist"]) - in_float64(model, images["mnist"])).abs().max() < 1e-10


def test_fcn_widening_every_layer_gives_the_wider_architecture(images):
    model = trained_like(models.build("fcn-2", input_shape=(1, 28, 28), classes=10, width=16))
    wider = widen_fcn(widen_fcn(model, 1, 40), 2, 40)
    reference = models.build("fcn-2", input_shape=(1, 28, 28), classes=10, width=40)
    assert [p.shape for p in wider.parameters()] == [p.shape for p in reference.parameters()]
    with torch.no_grad():
        assert (in_float64(wider, images["mnist"]) - in_float64(model, images["mnist"])).abs().max() < 1e-10


def test_embedding_errors():
    model = models.build("fcn-2", input_shape=(1, 28, 28), classes=10, width=16)
    with pytest.raises(ValueError, match="hidden layer, 1..2"):
        deepen_fcn(model, 3)
    with pytest.raises(ValueError, match="cannot widen a layer of 16 neurons to 8"):
        widen_fcn(model, 1, 8)
    with pytest.raises(ValueError, match="cannot widen a convolution of 32 channels to 16"):
        widen_cnn(models.build("cnn-1-32", input_shape=(3, 32, 32), classes=10), 16)


def test_norm_shift_counts_identity_weights():
    model = trained_like(models.build("fcn-2", input_shape=(1, 28, 28), classes=10, width=16))
    deeper = deepen_fcn(model, 1)
    squared = lambda m: sum((p**2).sum() for p in m.parameters()).item()
    assert squared(deeper) - squared(model) == pytest.approx(16, rel=1e-6)
    assert norm_shift(5e-4, 16) == pytest.approx(5e-4 * (squared(deeper) - squared(model)), rel=1e-6)


LLAMA = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2}


def test_any_causal_lm_by_model_type_and_overrides():
    """A transformers architecture by its model type plus config overrides: the data sets the vocabulary
    and the positions, the overrides the rest; as transformers itself builds it."""
    from transformers import AutoConfig, AutoModelForCausalLM

    model = models.build("causal-lm", input_shape=(48,), classes=65, config="llama", overrides=LLAMA)
    config = model.config
    assert (config.model_type, config.vocab_size, config.max_position_embeddings) == ("llama", 65, 48)
    assert (config.hidden_size, config.num_key_value_heads, config._attn_implementation) == (32, 2, "sdpa")
    twin = AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", vocab_size=65, max_position_embeddings=48,
                                                                 **LLAMA))
    assert models.parameter_count(model) == models.parameter_count(twin)
    assert models.describe("causal-lm", models.parameter_count(model))[0].startswith("causal LM (")


def test_causal_lm_from_a_config_folder_keeps_the_data_sizes(tmp_path):
    """A Hub id or a local folder with a config.json: here GPT-2's, whose positions are ``n_positions``."""
    from transformers import GPT2Config

    GPT2Config(n_layer=12, n_embd=768, n_head=12).save_pretrained(tmp_path)
    model = models.build("causal-lm", input_shape=(32,), classes=100, config=str(tmp_path),
                         overrides={"n_layer": 1, "n_embd": 16, "n_head": 2})
    assert (model.config.n_layer, model.config.n_embd, model.config.n_positions, model.config.vocab_size) == (1, 16, 32, 100)


def test_causal_lm_refuses_an_unknown_architecture_or_a_mistyped_field():
    with pytest.raises(ValueError, match="neither a transformers model type .* nor a folder"):
        models.build("causal-lm", input_shape=(8,), classes=10, config="not a model")
    # a transformers configuration keeps any key, so this typo would build the 7B default Llama
    with pytest.raises(ValueError, match=r"overrides \['hiden_size'\] are not fields of the llama configuration"):
        models.build("causal-lm", input_shape=(8,), classes=10, config="llama", overrides={"hiden_size": 32})
