"""Architectures by name: ``build("fcn-4", input_shape=(1, 28, 28), classes=10, width=128)``.

A name is a family and its shape parameters (``fcn-4``: four hidden layers); other arguments
(``width``) come from the experiment's ``model_args``. Parsing a name needs no torch, so the
workflow can check a configuration before any job starts.
"""

from __future__ import annotations

import importlib
import re
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


FAMILIES = {
    "fcn": Family(r"fcn-(?P<depth>[1-9][0-9]*)", "fcn", "{depth} hidden layers", "depth",
                  arguments=("width",), required=("width",)),
    "cnn": Family(r"cnn-(?P<depth>[123])-(?P<width>[1-9][0-9]*)", "cnn", "CNN-{depth}-{width}", "parameters",
                  fixed=(("bn", 0),)),
    "cnn-bn": Family(r"cnn-bn-(?P<depth>[123])-(?P<width>[1-9][0-9]*)", "cnn", "CNN-{depth}-{width} BN",
                     "parameters", fixed=(("bn", 1),)),
    "gpt": Family(r"gpt-(?P<layers>[1-9][0-9]*)-(?P<width>[1-9][0-9]*)", "gpt", "GPT {layers}x{width}", "parameters",
                  arguments=("heads", "dropout"), required=("heads",)),
    "causal-lm": Family(r"causal-lm", "causal_lm", "causal LM", "parameters",
                        arguments=("config", "overrides"), required=("config",)),
    "resnet9": Family(r"resnet9", "resnet9", "ResNet-9", "parameters"),
    "wrn": Family(r"wrn-(?P<depth>[1-9][0-9]*)-(?P<k>[1-9][0-9]*)", "wide_resnet", "WRN-{depth}-{k}", "parameters",
                  arguments=("dropout",)),
    # Li et al.'s CIFAR-10 ResNets (paper 002 §6, paper 004): resnet-20, resnet-ns-20, resnet-56-2, resnet-ns-56-2
    "li-resnet": Family(r"resnet-(?P<depth>[1-9][0-9]*)", "li_resnet", "ResNet-{depth}", "parameters",
                        fixed=(("k", 1), ("shortcut", 1))),
    "li-resnet-ns": Family(r"resnet-ns-(?P<depth>[1-9][0-9]*)", "li_resnet", "ResNet-{depth}-NS", "parameters",
                           fixed=(("k", 1), ("shortcut", 0))),
    "li-wrn": Family(r"resnet-(?P<depth>[1-9][0-9]*)-(?P<k>[1-9][0-9]*)", "li_resnet", "WRN-{depth}-{k}",
                     "parameters", fixed=(("shortcut", 1),)),
    "li-wrn-ns": Family(r"resnet-ns-(?P<depth>[1-9][0-9]*)-(?P<k>[1-9][0-9]*)", "li_resnet", "WRN-{depth}-{k}-NS",
                        "parameters", fixed=(("shortcut", 0),)),
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
    family, params = parse(name)
    params.update(FAMILIES[family].fixed)
    module = importlib.import_module(f"{__name__}.{FAMILIES[family].module}")
    return module.build(input_shape=tuple(input_shape), classes=classes, **params, **args)


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())
