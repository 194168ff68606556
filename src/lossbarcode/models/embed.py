"""Loss-preserving embeddings of paper 002 §3.5: a network placed inside a deeper or wider one that
computes exactly the same function, so the two loss landscapes can be compared point for point.

- ``deepen_fcn``: a new hidden layer right after hidden layer ``after`` with identity weights and
  zero biases; ReLU leaves the (non-negative) activations it receives unchanged.
- ``widen_fcn``: more neurons in one hidden layer, with zero incoming and outgoing weights.
- ``widen_cnn``: more channels in every convolution (CNN-1-32 -> CNN-1-64 -> CNN-1-128,
  CNN-2-32 -> CNN-2-64), new filters and their outgoing weights zero (with BatchNorm, the new
  channels get zero scale and shift, so they output zero whatever their statistics).

The functions take and return ``nn.Sequential`` models laid out as ``lossbarcode.models`` builds
them, so the result's flat parameter vector lives in the larger architecture's parameter space.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _hidden_linears(model: nn.Sequential) -> list[int]:
    """Indices of the hidden Linear layers (every Linear but the output one)."""
    linears = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    return linears[:-1]


@torch.no_grad()
def deepen_fcn(model: nn.Sequential, after: int) -> nn.Sequential:
    """Inserts an identity hidden layer after hidden layer ``after`` (1-based)."""
    hidden = _hidden_linears(model)
    if not 1 <= after <= len(hidden):
        raise ValueError(f"after must name a hidden layer, 1..{len(hidden)}; got {after}")
    width = model[hidden[after - 1]].out_features
    identity = nn.Linear(width, width).to(model[hidden[0]].weight)
    identity.weight.copy_(torch.eye(width))
    identity.bias.zero_()
    position = hidden[after - 1] + 2  # past the layer's ReLU
    layers = [copy.deepcopy(m) for m in model]
    return nn.Sequential(*layers[:position], identity, nn.ReLU(), *layers[position:])


@torch.no_grad()
def widen_fcn(model: nn.Sequential, layer: int, width: int) -> nn.Sequential:
    """Hidden layer ``layer`` (1-based) grows to ``width`` neurons with zero in- and out-weights."""
    hidden = _hidden_linears(model)
    if not 1 <= layer <= len(hidden):
        raise ValueError(f"layer must name a hidden layer, 1..{len(hidden)}; got {layer}")
    index = hidden[layer - 1]
    old, following = model[index], model[index + 2]
    if width < old.out_features:
        raise ValueError(f"cannot widen a layer of {old.out_features} neurons to {width}")
    grown = nn.Linear(old.in_features, width).to(old.weight)
    grown.weight.zero_(), grown.bias.zero_()
    grown.weight[: old.out_features] = old.weight
    grown.bias[: old.out_features] = old.bias
    after = nn.Linear(width, following.out_features).to(old.weight)
    after.weight.zero_()
    after.weight[:, : old.out_features] = following.weight
    after.bias.copy_(following.bias)
    layers = [copy.deepcopy(m) for m in model]
    layers[index], layers[index + 2] = grown, after
    return nn.Sequential(*layers)


@torch.no_grad()
def widen_cnn(model: nn.Sequential, width: int) -> nn.Sequential:
    """Every convolution grows to ``width`` channels; the network's outputs do not change."""
    bigger = copy.deepcopy(model)
    channels_in = None  # input channels of the next layer: the image's for the first conv
    for i, m in enumerate(model):
        if isinstance(m, nn.Conv2d):
            if width < m.out_channels:
                raise ValueError(f"cannot widen a convolution of {m.out_channels} channels to {width}")
            inputs = m.in_channels if channels_in is None else width
            conv = nn.Conv2d(inputs, width, m.kernel_size, m.stride, m.padding).to(m.weight)
            conv.weight.zero_(), conv.bias.zero_()
            conv.weight[: m.out_channels, : m.in_channels] = m.weight
            conv.bias[: m.out_channels] = m.bias
            bigger[i], channels_in, old_channels = conv, width, m.out_channels
        elif isinstance(m, nn.BatchNorm2d):
            bn = nn.BatchNorm2d(width).to(m.weight)
            bn.weight.zero_(), bn.bias.zero_()
            bn.weight[:old_channels], bn.bias[:old_channels] = m.weight, m.bias
            bn.running_mean[:old_channels], bn.running_var[:old_channels] = m.running_mean, m.running_var
            bigger[i] = bn
        elif isinstance(m, nn.Linear):
            spatial = m.in_features // old_channels
            linear = nn.Linear(width * spatial, m.out_features).to(m.weight)
            linear.weight.zero_()
            linear.weight.view(m.out_features, width, spatial)[:, :old_channels] = m.weight.view(
                m.out_features, old_channels, spatial
            )
            linear.bias.copy_(m.bias)
            bigger[i] = linear
    return bigger


def norm_shift(coefficient: float, added_identity_weights: int) -> float:
    """How much an embedding raises a regularised loss ``L + coefficient * |w|^2``: each identity
    layer adds its diagonal of ones to |w|^2, zero weights add nothing. Paper 002 §3.5 shifts the
    embedded network's values by the number of neurons added times the weight decay before
    comparing barcodes; subtract this from them."""
    return coefficient * added_identity_weights


def embed(model: nn.Sequential, source: str, target: str) -> nn.Sequential:
    """``model`` (architecture ``source``) inside architecture ``target``, by the embedding that
    relates them: a wider CNN of the same depth; an FCN of the same width with more layers
    (identity layers after the last hidden one); an FCN of the same depth with wider layers."""
    from . import parse

    (family, small), (target_family, large) = parse(source), parse(target)
    if family != target_family:
        raise ValueError(f"no embedding of {source!r} into a different family ({target!r})")
    if family in ("cnn", "cnn-bn") and small["depth"] == large["depth"]:
        return widen_cnn(model, large["width"])
    if family == "fcn" and large["depth"] >= small["depth"]:
        for _ in range(large["depth"] - small["depth"]):
            model = deepen_fcn(model, len(_hidden_linears(model)))
        return model
    raise ValueError(f"no loss-preserving embedding of {source!r} into {target!r} is known")
