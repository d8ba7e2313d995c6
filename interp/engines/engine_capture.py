"""Residual-stream capture inside the engine, per request, in bounded memory.

Each request that asks for capture keeps, per hook point, its last prompt token's row and a running
sum (float64) and count of its generated tokens' rows: O(requests x hooks x d_model) whatever the
length of the generations. A generated token's row is read when the token is fed back to the model,
so the last token of a continuation (sampled, never fed) has none: the response mean is over the
continuation's tokens but its last, which is what a capture of prompt + continuation[:-1] gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from interp.engines.token_masks import StepLayout


@dataclass
class RequestCapture:
    """What one request's capture holds so far, per hook name."""

    last: dict[str, Tensor] = field(default_factory=dict)  # (d_model,) float32
    sums: dict[str, Tensor] = field(default_factory=dict)  # (d_model,) float64
    counts: dict[str, int] = field(default_factory=dict)

    def as_payload(self) -> dict:
        return {
            "last": {h: v.tolist() for h, v in self.last.items()},
            "sums": {h: v.tolist() for h, v in self.sums.items()},
            "counts": dict(self.counts),
        }


class CaptureAccumulator:
    """Rows of the residual stream folded into per-request captures as passes go by."""

    def __init__(self) -> None:
        self.captures: dict[str, RequestCapture] = {}

    def add(self, hook: str, h: Tensor, layout: StepLayout, keys: list[str | None]) -> None:
        """Fold the rows of `h` (tokens, d_model) of the requests with a capture key (`keys[i]`
        for request i of the pass, None for a request that captures nothing)."""
        capturing = torch.tensor([k is not None for k in keys], dtype=torch.bool)
        if not bool(capturing.any()):
            return
        request = layout.request
        mine = (request >= 0) & capturing[request.clamp(min=0)]
        for row in (layout.masks.last_prompt[0] & mine).nonzero().flatten().tolist():
            key = keys[int(request[row])]
            assert key is not None
            self._capture(key).last[hook] = h[row].detach().to("cpu", torch.float32).clone()
        generated = layout.masks.generated[0] & mine
        if not bool(generated.any()):
            return
        rows = generated.nonzero().flatten()
        owners = request[rows]
        # Summed where h is (one transfer per pass, not per request), then brought to the host.
        sums = torch.zeros(len(keys), h.shape[-1], dtype=torch.float64, device=h.device)
        sums.index_add_(0, owners.to(h.device), h[rows.to(h.device)].detach().to(torch.float64))
        sums = sums.cpu()
        counts = torch.bincount(owners, minlength=len(keys)).tolist()
        for i, n in enumerate(counts):
            if not n:
                continue
            key = keys[i]
            assert key is not None
            capture = self._capture(key)
            if hook in capture.sums:
                capture.sums[hook] += sums[i]
            else:
                capture.sums[hook] = sums[i].clone()
            capture.counts[hook] = capture.counts.get(hook, 0) + n

    def _capture(self, key: str) -> RequestCapture:
        return self.captures.setdefault(key, RequestCapture())

    def take(self) -> dict[str, dict]:
        """Every capture as plain data, and forget them."""
        taken = {key: c.as_payload() for key, c in self.captures.items()}
        self.captures.clear()
        return taken
