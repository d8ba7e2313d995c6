"""Head-level hook points (q, k, v, pattern, z) on the Hugging Face backend.

Every decoder family transformers writes with its attention interface (Llama, Mistral, Qwen 2/3,
Gemma 1/2/3, Phi-3, OLMo 1/2/3, Starcoder2, Granite, GPT-2, GPT-NeoX, GPT-J, Cohere, ...) hands one
function the per-head queries, keys and values after everything the model does to them (rotary
embedding, q/k norms) and receives the per-head outputs that go into the output projection. While a
head hook is attached, interp routes that call through a wrapper registered as an attention
implementation of its own: it applies the hooks and calls the implementation the model was running
(sdpa, eager, flash), with that implementation's own mask, so what is read is exactly what the model
computes. Reading the pattern needs the probabilities, which only the family's eager function
returns: while a pattern hook is attached, the whole model runs eager attention, and only then.

Shapes are TransformerLens': q, z `[batch, pos, head, d_head]`; k, v `[batch, pos, kv_head, d_head]`,
one row per key-value head as the model stores them (grouped-query heads are NOT expanded: query head
h reads kv head `h // (n_heads // n_kv_heads)`); pattern `[batch, head, q_pos, k_pos]`. A name with a
head index (`blocks.3.attn.hook_z[4]`) hands its function one head, `[batch, pos, d_head]` or
`[batch, q_pos, k_pos]`; a replacement is written back into that head only.

With a KV cache (generation), k and v hold the cached positions too; replacing them there would
disagree with what the cache keeps, so it is refused (generation without a cache is exact).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import Tensor, nn

from interp.errors import InterpError
from interp.models.architectures import get_path, layout_for

HEAD_KINDS = ("q", "k", "v", "z", "pattern")
HeadFn = Callable[[Tensor], Tensor | None]
_HOOKS = "_interp_head_hooks"  # attribute on an attention module: handle id -> (kind, head, fn)
_PREFIX = "interp_heads_"


@dataclass(frozen=True)
class HeadSite:
    """One attention module and what to read there: a kind, and one head or all (None)."""

    module: nn.Module
    config: Any
    layer: int
    kind: str
    head: int | None
    n_heads: int
    n_kv_heads: int
    d_head: int


class HeadHandle:
    """Removes one head hook, and gives the model back its attention once none is left."""

    def __init__(self, site: HeadSite, key: int) -> None:
        self.site, self.key = site, key

    def remove(self) -> None:
        if getattr(self.site.module, _HOOKS, {}).pop(self.key, None) is not None:
            _switch(self.site.config, self.site.kind, -1)


def head_site(model: nn.Module, layer: int, kind: str, head: int | None = None) -> HeadSite:
    """The attention module of block `layer`, checked: the family calls the attention interface
    and `head` is one of its heads (of its key-value heads for k and v)."""
    layout = layout_for(model)
    block = get_path(model, layout.blocks)[layer]  # type: ignore[index]
    module = _attention_in(block)
    if module is None:
        raise InterpError(
            f"{layout.family}'s attention does not go through transformers' attention interface, "
            f"so interp cannot read its heads (blocks.{layer}.attn.hook_{kind})",
            fix="use a block-level hook (attn_out), or a family such as llama, qwen2, gemma3, "
            "phi3, olmo2, gpt2 or gpt_neox",
        )
    config = module.config
    n_heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0))
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    d_head = int(getattr(module, "head_dim", 0) or getattr(module, "head_size", 0))
    count = n_kv if kind in ("k", "v") else n_heads
    if head is not None and not 0 <= head < count:
        noun = "key-value heads" if kind in ("k", "v") else "heads"
        raise InterpError(
            f"head {head} in blocks.{layer}.attn.hook_{kind}[{head}] is out of range: "
            f"{layout.family} has {count} {noun} per layer",
            fix=f"use a head index in 0..{count - 1}",
        )
    return HeadSite(module, config, layer, kind, head, n_heads, n_kv, d_head)


def supports_heads(model: nn.Module) -> bool:
    """Whether every block's attention goes through the attention interface."""
    blocks = get_path(model, layout_for(model).blocks)
    return all(_attention_in(block) is not None for block in blocks.children())


def add_head_hook(site: HeadSite, fn: HeadFn) -> HeadHandle:
    """Attach `fn` at `site`; remove it with the handle's `remove()`."""
    hooks = getattr(site.module, _HOOKS, None)
    if hooks is None:
        hooks = {}
        object.__setattr__(site.module, _HOOKS, hooks)  # a plain attribute, not a submodule
    key = _next_key()
    hooks[key] = (site.kind, site.head, fn)
    _switch(site.config, site.kind, +1)
    return HeadHandle(site, key)


# ---- which attention runs ----------------------------------------------------------------------
@dataclass
class _Routed:
    """A config whose attention runs through the wrapper: what it ran before, and how many hooks
    of each kind its modules hold."""

    config: Any
    original: str
    counts: dict[str, int]


_routed: dict[int, _Routed] = {}  # id(config) -> its state while any of its modules has hooks


def _switch(config: Any, kind: str, change: int) -> None:
    """Count a hook attached (+1) or removed (-1); route the config's attention through the
    wrapper while it has any (eager under it while a pattern is read), else restore it."""
    routed = _routed.get(id(config))
    if routed is None:
        routed = _routed[id(config)] = _Routed(config, str(config._attn_implementation), {})
    routed.counts[kind] = routed.counts.get(kind, 0) + change
    if sum(routed.counts.values()) <= 0:
        config._attn_implementation = routed.original
        del _routed[id(config)]
        return
    base = "eager" if routed.counts.get("pattern", 0) > 0 else routed.original
    config._attn_implementation = _register(base)


def _hooks(module: nn.Module) -> dict[int, tuple[str, int | None, HeadFn]]:
    return getattr(module, _HOOKS, None) or {}


_counter = [0]


def _next_key() -> int:
    _counter[0] += 1
    return _counter[0]


@cache
def _register(base: str) -> str:
    """Register `interp_heads_{base}`: the wrapper around `base`, with `base`'s mask."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    from transformers.modeling_utils import AttentionInterface

    name = _PREFIX + base
    AttentionInterface.register(name, _wrapper(base))
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[base])
    return name


def _base_function(module: nn.Module, base: str) -> Callable[..., Any]:
    if base == "eager":
        eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
        if eager is None:
            raise InterpError(
                f"{type(module).__name__} has no eager attention function to read patterns from",
                fix="read q and k (hook_q, hook_k) and compute the pattern from them",
            )
        return eager
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    return ALL_ATTENTION_FUNCTIONS[base]


def _wrapper(base: str) -> Callable[..., Any]:
    def attention(
        module: nn.Module, query: Tensor, key: Tensor, value: Tensor, mask: Any, **kwargs: Any
    ) -> tuple[Tensor, Tensor | None]:
        run = _base_function(module, base)
        hooks = list(_hooks(module).values())
        if not hooks:
            return run(module, query, key, value, mask, **kwargs)
        cached = key.shape[2] != query.shape[2]
        # The interface takes [batch, head, pos, d_head]; hook functions see [batch, pos, head, d].
        query = _apply(hooks, "q", query.transpose(1, 2), 2).transpose(1, 2)
        key = _apply(hooks, "k", key.transpose(1, 2), 2, refuse=cached).transpose(1, 2)
        value = _apply(hooks, "v", value.transpose(1, 2), 2, refuse=cached).transpose(1, 2)
        out, weights = run(module, query, key, value, mask, **kwargs)
        if any(kind == "pattern" for kind, _, _ in hooks):
            changed = _apply(hooks, "pattern", weights, 1)
            if changed is not weights:
                # The eager functions compute out = weights @ values, per query head.
                repeats = query.shape[1] // value.shape[1]
                values = value.repeat_interleave(repeats, dim=1)
                out = torch.matmul(changed.to(values.dtype), values).transpose(1, 2)
                weights = changed
        out = _apply(hooks, "z", out, 2)
        return out, weights

    return attention


def _apply(
    hooks: list[tuple[str, int | None, HeadFn]],
    kind: str,
    x: Tensor,
    head_dim: int,
    refuse: bool = False,
) -> Tensor:
    """`x` through every hook of `kind` in the order attached; a head-indexed hook sees and
    replaces its head only (along `head_dim`)."""
    for hook_kind, head, fn in hooks:
        if hook_kind != kind:
            continue
        seen = x if head is None else x.select(head_dim, head)
        replaced = fn(seen)
        if replaced is None:
            continue
        if refuse:
            raise InterpError(
                f"hook_{kind} was replaced in a pass with a KV cache, whose cached {kind} "
                "would disagree with the replacement",
                fix="generate without a KV cache, or steer hook_q or hook_z instead",
            )
        if head is None:
            x = replaced.to(x.dtype)
        else:
            x = x.clone()
            x.select(head_dim, head).copy_(replaced)
    return x


# ---- finding the attention module ----------------------------------------------------------------
def _attention_in(block: nn.Module) -> nn.Module | None:
    """The first sub-module of `block` whose forward calls the attention interface."""
    return next((m for m in block.modules() if _calls_interface(type(m))), None)


_interface_callers: dict[type, bool] = {}


def _calls_interface(module_class: type) -> bool:
    """Whether the class's forward looks its attention up in transformers' interface (read once
    per class from its source)."""
    if module_class not in _interface_callers:
        forward = getattr(module_class, "forward", None)
        source = ""
        if forward is not None and not module_class.__module__.startswith("torch."):
            try:
                source = inspect.getsource(forward)
            except (OSError, TypeError):
                pass
        calls = "ALL_ATTENTION_FUNCTIONS" in source and "attention_interface(" in source
        _interface_callers[module_class] = calls
    return _interface_callers[module_class]
