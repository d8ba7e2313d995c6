"""The key/value cache keyword of a Hugging Face causal LM, across transformers releases.

Older transformers releases (5.17 among them) take and return the cache as `past_key_values`;
newer ones (5.24 among them) call it `cache` and warn on the old name, which they will drop.
Callers pass and read it through these two functions so that generation works, quietly, on both.

    >>> out = model.hf(input_ids=ids, use_cache=True)                       # doctest: +SKIP
    >>> model.hf(input_ids=next_ids, **cache_kwargs(model.hf, returned_cache(out)), use_cache=True)  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

from torch import nn


@cache
def _cache_keyword(forward: Any) -> str:
    parameters = inspect.signature(forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_kwargs(module: nn.Module, past: Any) -> dict[str, Any]:
    """`{keyword: past}` for `module`'s forward, under the name its transformers release uses."""
    return {_cache_keyword(type(module).forward): past}


def returned_cache(output: Any) -> Any:
    """The cache a forward returned (None when it returned none), without the deprecated alias."""
    for key in ("cache", "past_key_values"):
        if key in output.keys():
            return output[key]
    return None


@cache
def _keeps_logits(forward: Any) -> bool:
    return "logits_to_keep" in inspect.signature(forward).parameters


def last_logits_kwargs(module: nn.Module) -> dict[str, Any]:
    """Ask `module` for the last position's logits only, where its forward can: with a large
    vocabulary (Gemma's 262k) the logits of every prompt position cost more than the blocks."""
    return {"logits_to_keep": 1} if _keeps_logits(type(module).forward) else {}
