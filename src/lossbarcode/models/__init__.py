"""Architectures by name: ``build("fcn-4", input_shape=(1, 28, 28), classes=10, width=128)``.

A name is a family and its shape parameters (``fcn-4``: four hidden layers); other arguments
(``width``) come from the experiment's ``model_args``. A family declares the kind of data it reads.
Parsing a name needs no torch, so the workflow can check a configuration before any job starts.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    pattern: str          # regex with named groups: the name's shape parameters
    module: str           # lossbarcode.models.<module>.build(input_shape, classes, **params, **args)
    label: str            # how figures name a member, formatted with the groups
    order: str            # the group that sorts members along a figure's x axis, or "parameters"
    arguments: tuple[str, ...] = ()   # keyword arguments it takes from model_args ...
    required: tuple[str, ...] = ()    # ... and those it cannot do without
    fixed: tuple[tuple[str, int], ...] = ()  # arguments its name implies (cnn: bn=0, cnn-bn: bn=1)
    inputs: str = "images"  # the kind of dataset it reads (lossbarcode.datasets: images or tokens)
    # What its shape parameters and arguments together must satisfy, tested without torch (by the
    # configuration check and by build): the sentence of what is wrong, or None.
    constraint: Callable[[dict], str | None] | None = None
    # Its arguments are a configuration that only its library can judge: the configuration check
    # builds it (build_problems), at the cost of importing torch and that library.
    checked_by_building: bool = False


def residual_depth(offset: int, networks: str, examples: str) -> Callable[[dict], str | None]:
    """The constraint of residual networks of ``depth = 6n + offset`` layers (n blocks per stage)."""

    def constraint(values: dict) -> str | None:
        blocks, rest = divmod(values["depth"] - offset, 6)
        if rest or blocks < 1:
            return f"{networks} depth must be 6n+{offset} with n >= 1 ({examples}), got {values['depth']}"
        return None

    return constraint


def heads_divide_width(values: dict) -> str | None:
    heads = values.get("heads")
    if heads is None or (isinstance(heads, int) and heads >= 1 and values["width"] % heads == 0):
        return None
    return f"heads must be a whole number that divides the width {values['width']}, got {heads!r}"


WRN_DEPTH = residual_depth(4, "WRN", "10, 16, 22, 28, ...")
LI_DEPTH = residual_depth(2, "Li et al.'s ResNet", "8, 14, 20, 26, ..., 56, ..., 110")

FAMILIES = {
    "fcn": Family(r"fcn-(?P<depth>[1-9][0-9]*)", "fcn", "{depth} hidden layers", "depth",
                  arguments=("width",), required=("width",)),
    "cnn": Family(r"cnn-(?P<depth>[123])-(?P<width>[1-9][0-9]*)", "cnn", "CNN-{depth}-{width}", "parameters",
                  fixed=(("bn", 0),)),
    "cnn-bn": Family(r"cnn-bn-(?P<depth>[123])-(?P<width>[1-9][0-9]*)", "cnn", "CNN-{depth}-{width} BN",
                     "parameters", fixed=(("bn", 1),)),
    "gpt": Family(r"gpt-(?P<layers>[1-9][0-9]*)-(?P<width>[1-9][0-9]*)", "gpt", "GPT {layers}x{width}", "parameters",
                  arguments=("heads", "dropout"), required=("heads",), inputs="tokens", constraint=heads_divide_width),
    "causal-lm": Family(r"causal-lm", "causal_lm", "causal LM", "parameters",
                        arguments=("config", "overrides"), required=("config",), inputs="tokens",
                        checked_by_building=True),
    "resnet9": Family(r"resnet9", "resnet9", "ResNet-9", "parameters"),
    "wrn": Family(r"wrn-(?P<depth>[1-9][0-9]*)-(?P<k>[1-9][0-9]*)", "wide_resnet", "WRN-{depth}-{k}", "parameters",
                  arguments=("dropout",), constraint=WRN_DEPTH),
    # Li et al.'s CIFAR-10 ResNets (paper 002 §6, paper 004): resnet-20, resnet-ns-20, resnet-56-2, resnet-ns-56-2
    "li-resnet": Family(r"resnet-(?P<depth>[1-9][0-9]*)", "li_resnet", "ResNet-{depth}", "parameters",
                        fixed=(("k", 1), ("shortcut", 1)), constraint=LI_DEPTH),
    "li-resnet-ns": Family(r"resnet-ns-(?P<depth>[1-9][0-9]*)", "li_resnet", "ResNet-{depth}-NS", "parameters",
                           fixed=(("k", 1), ("shortcut", 0)), constraint=LI_DEPTH),
    "li-wrn": Family(r"resnet-(?P<depth>[1-9][0-9]*)-(?P<k>[1-9][0-9]*)", "li_resnet", "WRN-{depth}-{k}",
                     "parameters", fixed=(("shortcut", 1),), constraint=LI_DEPTH),
    "li-wrn-ns": Family(r"resnet-ns-(?P<depth>[1-9][0-9]*)-(?P<k>[1-9][0-9]*)", "li_resnet", "WRN-{depth}-{k}-NS",
                        "parameters", fixed=(("shortcut", 0),), constraint=LI_DEPTH),
    "lenet": Family(r"lenet", "lenet", "LeNet-5", "parameters"),
}


def parse(name: str) -> tuple[str, dict[str, int]]:
    """``(family, shape parameters)`` of a model name; ValueError for an unknown name."""
    for family, spec in FAMILIES.items():
        match = re.fullmatch(spec.pattern, name)
        if match:
            return family, {k: int(v) for k, v in match.groupdict().items()}
    known = ", ".join(f.pattern for f in FAMILIES.values())
    raise ValueError(f"unknown model {name!r}; known model names match: {known}")


def argument_problems(name: str, args: dict) -> list[str]:
    """What is wrong with ``args`` (an experiment's model_args) for model ``name``: unknown or missing
    arguments, each as one sentence. Checked against the family's declared arguments, which a test
    keeps equal to its ``build`` signature, so the check needs no torch."""
    family = parse(name)[0]
    spec = FAMILIES[family]
    problems = [f"{family} models take no argument {key!r} (they take: {', '.join(spec.arguments) or 'none'})"
                for key in args if key not in spec.arguments]
    problems += [f"{family} models need {key!r}" for key in spec.required if key not in args]
    return problems


def constraint_problems(name: str, args: dict) -> list[str]:
    """What its family's constraint refuses of model ``name`` with ``args`` (its shape parameters and
    arguments together), as sentences; no torch needed."""
    family, params = parse(name)
    constraint = FAMILIES[family].constraint
    problem = constraint({**params, **args}) if constraint else None
    return [problem] if problem else []


def describe(name: str, parameters: int | None = None) -> tuple[str, int]:
    """``(label, order)`` of a model for figures; families ordered by size need ``parameters``."""
    family, params = parse(name)
    spec = FAMILIES[family]
    if spec.order == "parameters":
        if parameters is None:
            raise ValueError(f"{name!r} is ordered by its parameter count; pass parameters=")
        size = f"{parameters / 1e6:.1f}M" if parameters >= 1e6 else f"{parameters / 1000:.1f}K"
        return f"{spec.label.format(**params)} ({size})", parameters
    return spec.label.format(**params), params[spec.order]


def build(name: str, *, input_shape: tuple[int, ...], classes: int, **args):
    if problems := constraint_problems(name, args):
        raise ValueError(problems[0])
    family, params = parse(name)
    params.update(FAMILIES[family].fixed)
    module = importlib.import_module(f"{__name__}.{FAMILIES[family].module}")
    return module.build(input_shape=tuple(input_shape), classes=classes, **params, **args)


def build_problems(name: str, args: dict, *, input_shape: tuple[int, ...], classes: int) -> list[str]:
    """Why model ``name`` cannot be built with ``args`` for data of ``input_shape`` and ``classes`` and run,
    as one sentence (none when it can): built on torch's meta device, which allocates no memory and
    computes nothing, and given a batch of two inputs, since some mistakes (attention heads that do not
    divide the width) surface only in the forward pass."""
    import torch

    inputs = torch.zeros(2, *input_shape, dtype=torch.long if FAMILIES[parse(name)[0]].inputs == "tokens" else None)
    try:
        with torch.device("meta"):
            build(name, input_shape=input_shape, classes=classes, **args)(inputs.to("meta"))
    except Exception as error:  # whatever the family's library refuses, a job would fail on
        return [f"{type(error).__name__}: {' '.join(str(error).split())}"]
    return []


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())
