"""The configuration check (lossbarcode.config.check) on configs written here: every problem of every kind
at once, one line each naming its key; model and data kinds, model configurations and data sizes held to
what the registries know."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lossbarcode import models
from lossbarcode.config import ConfigError, analytic_experiments, check, load_yaml
from lossbarcode.datasets import DATASETS, most_tokens

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config/schema.yaml"
TOY = load_yaml(ROOT / "config/toy.yaml")

RECIPE = {"optimizer": "adam", "lr": 0.01, "epochs": 2, "batch_size": 50}
IMAGES = {"section": "4.1", "datasets": ["digits"], "models": ["fcn-2"], "model_args": {"width": 16},
          "minima": 2, "minimum": RECIPE, "curve": {**RECIPE, "method": "bezier", "bends": 1},
          "triangles": False, "figures": {}}
TEXT = {**IMAGES, "section": "7", "datasets": ["mimesis_text"], "models": ["gpt-1-16"], "model_args": {"heads": 2},
        "data": {"block_size": 32}}
LLAMA = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
         "num_key_value_heads": 2}
#: A member of every model family, and a dataset of each kind.
MEMBERS = {"fcn": "fcn-2", "cnn": "cnn-1-4", "cnn-bn": "cnn-bn-1-4", "gpt": "gpt-1-16", "causal-lm": "causal-lm",
           "resnet9": "resnet9", "wrn": "wrn-10-1", "li-resnet": "resnet-8", "li-resnet-ns": "resnet-ns-8",
           "li-wrn": "resnet-8-2", "li-wrn-ns": "resnet-ns-8-2", "lenet": "lenet"}
OF_KIND = {"images": "mnist5k", "tokens": "mimesis_text"}


def config(**experiments) -> dict:
    return {"scale": "quick", "data_root": "d", "results": "r", "figures_dir": "f", "device": "cpu",
            "checkpoint_every": 0, "experiments": experiments, **copy.deepcopy(TOY)}


def problems(cfg: dict) -> list[str]:
    """The check's lines, without the header; [] when it passes."""
    try:
        check(cfg, SCHEMA)
    except ConfigError as error:
        header, *lines = str(error).splitlines()
        assert header == "invalid configuration:"
        return [line.strip() for line in lines]
    return []


def with_(base: dict, **changes) -> dict:
    return {**copy.deepcopy(base), **changes}


def test_the_shipped_configs_pass():
    for name in ("config.yaml", "quick.yaml", "test.yaml"):
        assert problems({**load_yaml(ROOT / "config" / name), **copy.deepcopy(TOY)}) == [], name


def test_every_problem_of_every_kind_is_one_line_naming_its_key():
    """A schema mistake no longer hides the registries' problems, in other experiments or in the same one."""
    mine = with_(IMAGES, models=["fcn-2", "vgg-11"], minimum={**RECIPE, "epoch": 3},
                 data={"train_size": 5000}, figures={"mine": {"kind": "pie", "title": "t"}})
    lines = problems(with_(config(mine=mine, text=with_(TEXT, datasets=["digits"])), scale="huge"))
    expected = [
        r"config key scale: 'huge' is not one of \['quick', 'paper'\]",
        r"config key experiments\.mine\.minimum: .*'epoch' was unexpected",
        r"config key experiments\.mine\.models\[1\]: unknown model 'vgg-11'",
        r"config key experiments\.mine\.data\.train_size: 5000 training images asked, but digits has 1437",
        r"config key experiments\.mine\.figures\.mine\.kind: unknown kind 'pie'",
        r"config key experiments\.text\.models\[0\]: 'gpt-1-16' reads text \(token streams\), but dataset 'digits' "
        r"holds images",
        r"config key experiments\.text\.data\.block_size: applies to text, not to image dataset 'digits'",
    ]
    for pattern in expected:
        assert sum(bool(re.fullmatch(pattern + ".*", line)) for line in lines) == 1, (pattern, lines)
    assert len(lines) == len(expected), lines


def test_parts_too_malformed_to_check_are_left_to_the_schema():
    lines = problems(config(mine=with_(IMAGES, models="fcn-2", figures=[]), other=with_(IMAGES, datasets=["cifar"])))
    assert any(line.startswith("config key experiments.mine.models: 'fcn-2' is not of type 'array'") for line in lines)
    assert any(line.startswith("config key experiments.mine.figures: [] is not of type 'object'") for line in lines)
    assert any(line.startswith("config key experiments.other.datasets[0]: unknown dataset 'cifar'") for line in lines)


@pytest.mark.parametrize("family", sorted(models.FAMILIES))
def test_a_model_reads_only_datasets_of_its_kind(family):
    """From the registries' declared kinds: every family against a dataset of every other kind."""
    assert set(MEMBERS) == set(models.FAMILIES)  # a new family gets a member here
    reads = models.FAMILIES[family].inputs
    for kind, dataset in OF_KIND.items():
        base = IMAGES if kind == "images" else TEXT
        lines = problems(config(e=with_(base, datasets=[dataset], models=[MEMBERS[family]], model_args={})))
        mismatch = [line for line in lines if "reads" in line]
        if kind == reads:
            assert mismatch == []
        else:
            assert mismatch == [f"config key experiments.e.models[0]: {MEMBERS[family]!r} reads "
                                f"{'images' if reads == 'images' else 'text (token streams)'}, but dataset {dataset!r} "
                                f"holds {'images' if kind == 'images' else 'text (token streams)'}; pair it with "
                                f"datasets of {'images' if reads == 'images' else 'text (token streams)'} ("
                                + ", ".join(n for n, d in DATASETS.items() if d.kind == reads) + ")"]


@pytest.mark.parametrize("overrides, problem", [
    ({**LLAMA, "hidden_sise": 64}, r"ValueError: model_args\.overrides \['hidden_sise'\] are not fields of the llama "
                                   r"configuration \(the nearest: \[.*'hidden_size'\]"),
    ({**LLAMA, "num_attention_heads": 5}, r"hidden size \(32\) is not a multiple of the number of attention heads \(5\)"),
    ({**LLAMA, "num_key_value_heads": 3}, r"RuntimeError: The size of tensor"),  # only the forward pass finds it
    ({**LLAMA, "hidden_size": "32"}, r"Field 'hidden_size' expected int, got str"),
], ids=["unknown field", "heads", "key-value heads", "a string"])
def test_a_causal_lm_configuration_is_checked_against_transformers_own(overrides, problem):
    lines = problems(config(e=with_(TEXT, models=["causal-lm"], model_args={"config": "llama", "overrides": overrides})))
    assert len(lines) == 1 and re.match(rf"config key experiments\.e\.model_args: 'causal-lm' cannot be built: .*{problem}",
                                        lines[0]), lines


@pytest.mark.parametrize("model, args, problem", [
    ("wrn-15-2", {}, "WRN depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got 15"),
    ("resnet-ns-21", {}, "Li et al.'s ResNet depth must be 6n+2 with n >= 1 (8, 14, 20, 26, ..., 56, ..., 110), got 21"),
    ("gpt-1-16", {"heads": 3}, "heads must be a whole number that divides the width 16, got 3"),
], ids=["wrn", "li-resnet", "gpt"])
def test_shape_parameters_and_arguments_a_family_refuses_fail_in_the_check_as_in_build(model, args, problem):
    base = TEXT if models.FAMILIES[models.parse(model)[0]].inputs == "tokens" else IMAGES
    assert problems(config(e=with_(base, models=[model], model_args=args))) == [
        f"config key experiments.e.models[0]: {model!r}: {problem}"]
    with pytest.raises(ValueError, match=re.escape(problem)):
        models.build(model, input_shape=(3, 32, 32), classes=10, **args)


def test_a_causal_lm_of_an_unknown_type_names_the_nearest():
    lines = problems(config(e=with_(TEXT, models=["causal-lm"], model_args={"config": "not a model type"})))
    assert len(lines) == 1 and "is neither a transformers model type" in lines[0]
    assert problems(config(e=with_(TEXT, models=["causal-lm"], model_args={"config": "llama", "overrides": LLAMA}))) == []


def test_transformers_is_imported_only_for_a_causal_lm():
    code = ("import sys; from lossbarcode.config import check, load_yaml; "
            "c = {**load_yaml('config/quick.yaml'), **load_yaml('config/toy.yaml')}; check(c, 'config/schema.yaml'); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", [n for n, d in DATASETS.items() if d.kind == "images"])
def test_image_options_are_held_to_the_dataset_sizes_the_registry_knows(name):
    dataset = DATASETS[name]
    fits = with_(IMAGES, datasets=[name], data={"train_size": dataset.train_samples},
                 measure={"train": dataset.train_samples, "test": dataset.test_samples})
    assert problems(config(e=fits)) == []
    over = with_(IMAGES, datasets=[name], data={"train_size": dataset.train_samples + 1},
                 measure={"train": dataset.train_samples + 1, "test": dataset.test_samples + 1})
    assert problems(config(e=over)) == [
        f"config key experiments.e.data.train_size: {dataset.train_samples + 1} training images asked, but {name} has "
        f"{dataset.train_samples}",
        f"config key experiments.e.measure.train: {dataset.train_samples + 1} rows asked, but {name} has "
        f"{dataset.train_samples} training images",
        f"config key experiments.e.measure.test: {dataset.test_samples + 1} rows asked, but {name} has "
        f"{dataset.test_samples} test images"]
    # a measurement set within the training subset
    assert problems(config(e=with_(IMAGES, datasets=[name], data={"train_size": 10}, measure={"train": 11}))) == [
        f"config key experiments.e.measure.train: 11 rows asked, but {name} has 10 training images"]


def test_shapes_channels_and_normalisation_that_the_images_cannot_meet():
    lines = problems(config(real=with_(IMAGES, datasets=["mnist"], data={"shape": [1, 32, 32]}),
                            colour=with_(IMAGES, datasets=["cifar10"], data={"shape": [1, 32, 32]}),
                            grey=with_(IMAGES, datasets=["digits"], normalisation="cifar_li"),
                            resized=with_(IMAGES, datasets=["digits"], data={"shape": [3, 32, 32]},
                                          normalisation="cifar_garipov")))
    assert lines == [
        "config key experiments.real.data.shape: mnist images are [1, 28, 28], and only stand-ins are resized; "
        "give [1, 28, 28] or leave shape out",
        "config key experiments.colour.data.shape: cifar10 images are [3, 32, 32], and only stand-ins are resized; "
        "give [3, 32, 32] or leave shape out",
        "config key experiments.grey.normalisation: cifar_li normalises 3-channel images, but digits gives 1-channel ones"]


def test_text_windows_are_held_to_the_most_text_the_registry_allows():
    bound = most_tokens(DATASETS["mimesis_text"])
    validation = bound - int(0.9 * bound)
    assert problems(config(e=with_(TEXT, data={"block_size": validation - 1}))) == []
    lines = problems(config(e=with_(TEXT, data={"block_size": validation}, measure={"test": 2})))
    assert lines == [
        f"config key experiments.e.data.block_size: windows of {validation} tokens need more than {validation} "
        f"validation tokens, but mimesis_text holds at most {validation} (its languages' character budgets)",
        f"config key experiments.e.measure.test: 2 rows asked, but mimesis_text has at most 0 windows of {validation} "
        "of its validation tokens"]


def test_analytic_experiments_all_none_or_some():
    base = config(e=IMAGES)
    assert analytic_experiments(base) == TOY["toy"]
    assert analytic_experiments(with_(base, analytic_experiments="none")) == {}
    assert list(analytic_experiments(with_(base, analytic_experiments=["insertion", "escape_regimes"]))) == [
        "insertion", "escape_regimes"]
    assert problems(with_(base, analytic_experiments=["insertion", "escape_regime"])) == [
        "config key analytic_experiments[1]: 'escape_regime' is not an analytic experiment of config/toy.yaml (they "
        f"are: {', '.join(TOY['toy'])})"]
    (line,) = problems(with_(base, analytic_experiments="some"))
    assert line.startswith("config key analytic_experiments: matches none of the forms allowed here (which analytic")


def test_the_docs_show_a_config_of_ones_own_that_passes_and_its_several_mistakes():
    """docs/configuration.md: the minimal config of one's own passes the check, and the pasted output for a
    config with several mistakes is what the check says of it."""
    text = (ROOT / "docs/configuration.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    own, mistaken = yaml.safe_load(blocks[0]), yaml.safe_load(blocks[1])
    assert problems({**own, **copy.deepcopy(TOY)}) == []
    assert analytic_experiments({**own, **copy.deepcopy(TOY)}) == {}
    (shown,) = re.findall(r"```text\n(invalid configuration:\n.*?)```", text, re.S)
    assert [line.strip() for line in shown.strip().splitlines()[1:]] == problems({**mistaken, **copy.deepcopy(TOY)})


def test_budgets_that_stop_when_the_maximum_settles_need_a_constant_rate_and_a_method_that_can_stop():
    adaptive = {**RECIPE, "until_converged": True}
    mine = with_(IMAGES, curve={**adaptive, "method": "pointchain", "bends": 2, "insert_every": 1, "schedule": "garipov"},
                 triangles=True, triangle={**adaptive, "schedule": "cyclic", "schedule_args": {"period": 2}})
    lines = problems(config(mine=mine, fine=with_(IMAGES, curve={**adaptive, "method": "climbing", "bends": 4})))
    assert lines == [
        "config key experiments.mine.curve.until_converged: a budget that stops when the maximum settles needs a "
        "constant learning rate (the 'garipov' schedule is laid over the whole cap); use schedule 'constant'",
        "config key experiments.mine.curve.until_converged: the authors' point chain runs its fixed stages, so its "
        "budget cannot stop early; use method 'climbing' for a budget that stops when the maximum settles",
        "config key experiments.mine.triangle.until_converged: a budget that stops when the maximum settles needs a "
        "constant learning rate (the 'cyclic' schedule is laid over the whole cap); use schedule 'constant'",
    ]
