"""The KV-cache keyword follows the installed transformers release, and generation is quiet."""

from __future__ import annotations

import warnings

import pytest
from torch import nn

import interp
from interp.models.kv_cache import cache_kwargs, returned_cache
from interp.models.tiny import TINY_ARCHITECTURES


class _NewStyle(nn.Module):
    def forward(self, input_ids, cache=None, use_cache=None):
        return {"logits": input_ids, "cache": cache}


class _OldStyle(nn.Module):
    def forward(self, input_ids, past_key_values=None, use_cache=None):
        return {"logits": input_ids, "past_key_values": past_key_values}


def test_keyword_follows_the_forward_signature():
    sentinel = object()
    assert cache_kwargs(_NewStyle(), sentinel) == {"cache": sentinel}
    assert cache_kwargs(_OldStyle(), sentinel) == {"past_key_values": sentinel}


def test_returned_cache_reads_either_name_and_none_when_absent():
    sentinel = object()
    assert returned_cache({"logits": 0, "cache": sentinel}) is sentinel
    assert returned_cache({"logits": 0, "past_key_values": sentinel}) is sentinel
    assert returned_cache({"logits": 0}) is None


@pytest.mark.parametrize("arch", TINY_ARCHITECTURES)
def test_cached_generation_is_quiet_and_matches_recomputation(tiny_dirs, arch):
    model = interp.load_model(str(tiny_dirs[arch]))
    prompts = ["hello there", "a"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        cached = interp.generate(model, prompts, max_new_tokens=6, stop_at_eos=False)
    recomputed = interp.generate(
        model, prompts, max_new_tokens=6, stop_at_eos=False, use_cache=False
    )
    assert [c.token_ids for c in cached] == [r.token_ids for r in recomputed]
    assert all(len(c.token_ids) == 6 for c in cached)
