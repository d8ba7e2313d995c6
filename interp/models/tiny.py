"""Tiny random models of several architectures, made on the spot, for tests and the offline demo.

Every model shares one character-level tokenizer, so prompts mean the same tokens everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from interp.errors import InterpError
from interp.models.architectures import attention_implementation

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-+=*/()\n"
TINY_ARCHITECTURES = ("llama", "gpt2", "qwen2", "gpt_neox")


def char_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level tokenizer with BOS prepended; unknown characters map to <unk>."""
    vocab = {token: i for i, token in enumerate(SPECIALS + list(dict.fromkeys(CHARACTERS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def tiny_model(
    architecture: str = "llama",
    *,
    d_model: int = 64,
    n_layers: int = 4,
    n_heads: int = 4,
    seed: int = 0,
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A randomly initialised causal LM of the given architecture, in float32 and eval mode.

    >>> model, tokenizer = tiny_model("gpt2", d_model=32, n_layers=2)
    >>> model.config.num_hidden_layers
    2
    """
    tokenizer = char_tokenizer()
    vocab = len(tokenizer)
    ids: dict[str, Any] = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
    config: PretrainedConfig
    cls: type[PreTrainedModel]
    # Llama and Qwen2 share their field names; GPT-2 and GPT-NeoX name theirs their own way.
    common = dict(vocab_size=vocab, max_position_embeddings=256, **ids)
    if architecture in ("llama", "qwen2"):
        config_class, cls = {
            "llama": (LlamaConfig, LlamaForCausalLM),
            "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        }[architecture]
        config = config_class(
            hidden_size=d_model,
            intermediate_size=2 * d_model,
            num_hidden_layers=n_layers,
            num_attention_heads=n_heads,
            num_key_value_heads=max(1, n_heads // 2),
            **common,
        )
    elif architecture == "gpt2":
        config = GPT2Config(
            vocab_size=vocab,
            n_embd=d_model,
            n_layer=n_layers,
            n_head=n_heads,
            n_positions=256,
            **ids,
        )
        cls = GPT2LMHeadModel
    elif architecture == "gpt_neox":
        config = GPTNeoXConfig(
            hidden_size=d_model,
            intermediate_size=2 * d_model,
            num_hidden_layers=n_layers,
            num_attention_heads=n_heads,
            **common,
        )
        cls = GPTNeoXForCausalLM
    else:
        raise InterpError(
            f"no tiny model for architecture {architecture!r}",
            fix=f"use one of {', '.join(TINY_ARCHITECTURES)}",
        )
    config._attn_implementation = attention_implementation(config)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = cls(config).eval()
    finally:
        torch.random.set_rng_state(generator_state)
    return model, tokenizer


# Small sizes every family accepts: 4 heads of 8, 2 key-value heads, and the char tokenizer's vocab.
FAMILY_SIZES: dict[str, Any] = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=128,
)
# Fields a family names its own way, or defaults that do not fit the small sizes above.
FAMILY_OVERRIDES: dict[str, dict[str, Any]] = {
    "gptj": dict(rotary_dim=4),
    "codegen": dict(rotary_dim=4),
    "falcon": dict(head_dim=None),  # derived from hidden_size / heads; it has no setter
    "gpt_neo": dict(attention_types=[[["global", "local", "global"], 1]]),
}


def tiny_family_model(
    model_type: str, *, seed: int = 0, **overrides: Any
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A tiny random float32 eval model of any family transformers builds from a config alone.

    Sizes are `FAMILY_SIZES` (3 blocks of width 32) with the family's `FAMILY_OVERRIDES`, then
    `overrides` (e.g. `use_parallel_residual=False`); the vocabulary is the char tokenizer's.
    Not part of `TINY_ARCHITECTURES`, whose models many other tests are parametrized over.

    >>> model, tokenizer = tiny_family_model("gemma2")
    >>> type(model).__name__, model.config.num_hidden_layers
    ('Gemma2ForCausalLM', 3)
    """
    if model_type not in CONFIG_MAPPING:
        raise InterpError(
            f"transformers has no config for model type {model_type!r}",
            fix="use a model_type from transformers' CONFIG_MAPPING, e.g. llama",
        )
    config_class: Any = CONFIG_MAPPING[model_type]
    # Only fields the family has: an unknown one would be set anyway and could mislead readers of
    # the config (TransformerLens takes num_key_value_heads on GPT-2 for grouped-query attention).
    defaults = config_class()
    sizes = {**FAMILY_SIZES, **FAMILY_OVERRIDES.get(model_type, {})}
    fields = {k: v for k, v in sizes.items() if v is not None and hasattr(defaults, k)}
    tokenizer = char_tokenizer()
    ids = dict(vocab_size=len(tokenizer), pad_token_id=0, bos_token_id=1, eos_token_id=2)
    config = config_class(**{**fields, **overrides, **ids})
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = AutoModelForCausalLM.from_config(
            config, attn_implementation=attention_implementation(config), dtype=torch.float32
        ).eval()
    finally:
        torch.random.set_rng_state(generator_state)
    # As save_pretrained records it: TransformerLens' bridge picks its adapter by this name.
    model.config.architectures = [type(model).__name__]
    return model, tokenizer


def save_tiny_model(out_dir: str | Path, architecture: str = "llama", **kwargs: int) -> Path:
    """Write a tiny model and its tokenizer as a Hugging Face directory (loads offline everywhere)."""
    model, tokenizer = tiny_model(architecture, **kwargs)
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
