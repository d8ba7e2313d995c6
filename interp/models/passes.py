"""Which tokens the current forward pass holds: prompt or generated, and where each prompt ends.

Steering applies by position (last prompt token, prompt tokens, generated tokens) and phase
(prefill, decode). A forward hook sees only a tensor, so `generate` and `Model.forward` publish the
masks of the pass they are running here, in a context variable that the steering hooks read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from jaxtyping import Bool
from torch import Tensor


@dataclass(frozen=True)
class StepMasks:
    prompt: Bool[Tensor, "batch pos"]  # real prompt tokens in this pass
    last_prompt: Bool[Tensor, "batch pos"]  # each row's last prompt token, if in this pass
    generated: Bool[Tensor, "batch pos"]  # generated tokens in this pass

    @staticmethod
    def for_prompts(attention_mask: Tensor, prompt_width: int | None = None) -> StepMasks:
        """Masks for a pass over left- or right-padded prompts, followed by `T - prompt_width`
        generated columns when the whole sequence is fed again (no KV cache)."""
        mask = attention_mask.bool()
        width = mask.shape[1] if prompt_width is None else prompt_width
        columns = torch.arange(mask.shape[1], device=mask.device)
        prompt = mask & (columns < width)
        # The last prompt token is the last real column before the generated ones.
        last_index = (prompt.long() * (columns + 1)).argmax(-1)
        last = torch.zeros_like(prompt)
        last[torch.arange(mask.shape[0]), last_index] = prompt.any(-1)
        return StepMasks(prompt, last, mask & (columns >= width))

    @staticmethod
    def for_decode(batch: int, device: torch.device | str = "cpu") -> StepMasks:
        """Masks for one decoding step with a KV cache: a single generated column."""
        none = torch.zeros(batch, 1, dtype=torch.bool, device=device)
        return StepMasks(none, none, ~none)


_current: ContextVar[StepMasks | None] = ContextVar("interp_step_masks", default=None)


@contextmanager
def step(masks: StepMasks) -> Iterator[None]:
    token = _current.set(masks)
    try:
        yield
    finally:
        _current.reset(token)


def current_step(h: Tensor) -> StepMasks:
    """The masks of the pass running now; a bare forward counts as a pass over unpadded prompts."""
    masks = _current.get()
    if masks is None or masks.prompt.shape != h.shape[:2]:
        return StepMasks.for_prompts(torch.ones(h.shape[:2], dtype=torch.bool, device=h.device))
    return masks
