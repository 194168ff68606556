"""GPT: a ``transformers`` GPT-2 causal language model shaped as karpathy's gpt.py (paper 002 §7).

gpt.py's layout through ``GPT2Config``: ReLU feed-forward, untied input and output embeddings,
dropout after attention and in the residual branches but none on the embeddings, fused
scaled-dot-product attention. Built from the data: ``input_shape`` is ``(block_size,)`` (the
positions it can attend over), ``classes`` the vocabulary size. Against gpt.py it has 6,912 more
parameters per 6 layers of width 384 (GPT-2's fused attention projection has a bias) and V fewer
(its output layer has none): 10,795,776 against 10,788,929 at a vocabulary of 65.
"""

from __future__ import annotations

from transformers import GPT2Config, GPT2LMHeadModel


def build(*, input_shape: tuple[int, ...], classes: int, layers: int, width: int, heads: int,
          dropout: float = 0.0) -> GPT2LMHeadModel:
    (block_size,) = input_shape
    config = GPT2Config(
        vocab_size=classes, n_positions=block_size, n_embd=width, n_layer=layers, n_head=heads,
        activation_function="relu", resid_pdrop=dropout, attn_pdrop=dropout, embd_pdrop=0.0,
        tie_word_embeddings=False, bos_token_id=None, eos_token_id=None,
    )
    return GPT2LMHeadModel._from_config(config, attn_implementation="sdpa")
