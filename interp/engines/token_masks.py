"""Which request, and which kind of token, each row of a vLLM forward pass holds.

vLLM packs the scheduled tokens of every request in a step into one (tokens, d_model) tensor:
request i owns rows `query_start_loc[i]:query_start_loc[i+1]`, and each row carries its absolute
position in its sequence. A row is a prompt token when its position is below the request's prompt
length and a generated token otherwise, whatever the step (a prefill, a decode step, or a mix), so
the masks here are `interp.models.passes.StepMasks` over a batch of one row of all tokens, which is
what `interp.steer.Steer.select` reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interp.models.passes import StepMasks


@dataclass(frozen=True)
class StepLayout:
    """The requests of one forward pass, row by row."""

    request: Tensor  # (tokens,) long: index of the row's request, -1 for padding rows
    masks: StepMasks  # (1, tokens) each: prompt, last prompt token, generated

    @property
    def n_tokens(self) -> int:
        return int(self.request.shape[0])

    def of_requests(self, chosen: Tensor) -> StepMasks:
        """The masks restricted to the rows of the requests where `chosen` (n_requests,) is True."""
        mine = (self.request >= 0) & chosen[self.request.clamp(min=0)]
        mine = mine[None]
        m = self.masks
        return StepMasks(m.prompt & mine, m.last_prompt & mine, m.generated & mine)


def step_layout(
    positions: Tensor, query_start_loc: Tensor, prompt_lengths: Tensor, n_tokens: int
) -> StepLayout:
    """The layout of a pass of `n_tokens` rows (padding included) from the scheduled requests'
    `query_start_loc` (n_requests + 1,), their `prompt_lengths` (n_requests,) and every row's
    absolute `positions`.

    >>> layout = step_layout(torch.tensor([0, 1, 2, 5]), torch.tensor([0, 3, 4]), torch.tensor([3, 4]), 4)
    >>> layout.request.tolist(), layout.masks.last_prompt.tolist(), layout.masks.generated.tolist()
    ([0, 0, 0, 1], [[False, False, True, False]], [[False, False, False, True]])
    """
    starts = query_start_loc.to(torch.long)
    counts = starts[1:] - starts[:-1]
    n_real = int(starts[-1]) if starts.numel() else 0
    request = torch.full((n_tokens,), -1, dtype=torch.long)
    request[:n_real] = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    real = request >= 0
    length = torch.zeros(n_tokens, dtype=torch.long)
    length[:n_real] = prompt_lengths.to(torch.long)[request[:n_real]]
    pos = positions[:n_tokens].to(torch.long)
    prompt = real & (pos < length)
    last = real & (pos == length - 1)
    generated = real & (pos >= length)
    return StepLayout(request, StepMasks(prompt[None], last[None], generated[None]))
