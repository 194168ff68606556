"""Any ``transformers`` causal language model, by a model name plus config overrides (paper 002 §7's
route for models other than gpt.py's GPT).

``config`` names the architecture: a ``transformers`` model type (``llama``, ``gpt_neox``, ``qwen2``,
``gpt2``...: its default configuration, no download) or a Hub id or local folder holding a
``config.json`` (its configuration, not its weights: minima start from each seed's random
initialisation). ``overrides`` replace configuration fields (``hidden_size``, ``num_hidden_layers``...).
The data decides two fields whatever the overrides say: the vocabulary size (``classes``) and the
positions the model attends over (``input_shape == (block_size,)``). Attention is the fused
scaled-dot-product kernel where the architecture has it.

For example, a two-layer Llama of width 64 with grouped-query attention::

    models: [causal-lm]
    model_args: {config: llama, overrides: {hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
                                            num_attention_heads: 4, num_key_value_heads: 2}}
"""

from __future__ import annotations

import difflib
from pathlib import Path

from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

from .. import hub


def model_config(config: str, overrides: dict, *, vocab_size: int, positions: int):
    """The ``transformers`` configuration of ``config`` with ``overrides`` and the data's sizes."""
    base = _config(config)
    fields = {*base.to_dict(), *base.attribute_map}
    if unknown := sorted(k for k in overrides if k not in fields):
        nearest = sorted({f for k in unknown for f in difflib.get_close_matches(k, fields, n=2)})
        raise ValueError(f"model_args.overrides {unknown} are not fields of the {base.model_type} configuration "
                         f"{f'(the nearest: {nearest}; ' if nearest else '('}a transformers configuration keeps any "
                         "key, so a typo would silently build the default)")
    settings = _config(config, overrides)
    # attribute_map sends these common names to each architecture's own (GPT-2: n_positions)
    settings.vocab_size = vocab_size
    settings.max_position_embeddings = positions
    return settings


def _config(config: str, overrides: dict | None = None):
    overrides = overrides or {}
    if config in CONFIG_MAPPING_NAMES:
        return AutoConfig.for_model(config, **overrides)
    try:
        if Path(config).is_dir():
            return AutoConfig.from_pretrained(config, **overrides)
        try:
            return AutoConfig.from_pretrained(config, local_files_only=True, **overrides)  # downloaded before
        except OSError:
            hub.reach(config)  # a quick question first: transformers retries an unreachable Hub for half a minute
            return AutoConfig.from_pretrained(config, **overrides)
    except (OSError, ValueError) as error:
        nearest = difflib.get_close_matches(config, CONFIG_MAPPING_NAMES, n=3)
        raise ValueError(
            f"model_args.config {config!r} is neither a transformers model type "
            f"({f'the nearest: {nearest}' if nearest else 'e.g. llama, gpt2, gpt_neox, qwen2'}) nor a folder or "
            f"reachable Hub id holding a config.json ({' '.join(str(error).split())}); give a model type, or "
            "download the config.json first (hf download ID config.json --local-dir DIR) and name DIR"
        ) from None


def build(*, input_shape: tuple[int, ...], classes: int, config: str, overrides: dict | None = None) -> PreTrainedModel:
    (block_size,) = input_shape
    settings = model_config(config, overrides or {}, vocab_size=classes, positions=block_size)
    try:
        return AutoModelForCausalLM.from_config(settings, attn_implementation="sdpa")
    except ValueError:  # the architecture has no fused attention: its own
        return AutoModelForCausalLM.from_config(settings)
