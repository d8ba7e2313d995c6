"""Head-level hook points on a loaded model: where they sit, and how wide one read of them is.

The attention wrapper that reads them lives in `interp.models.attention_heads`; this module turns a
parsed `HookPoint` of kind q, k, v, z or pattern into its site on the model's backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interp.errors import InterpError
from interp.hooks.names import HookPoint, parse_hook
from interp.models.attention_heads import HeadSite, head_site, supports_heads

if TYPE_CHECKING:
    from interp.models.model import Model


def site_of(model: Model, point: HookPoint) -> HeadSite:
    """The attention module and head that `point` reads (the hf backend)."""
    return head_site(model.hf, point.layer, point.kind, point.head)


def has_heads(model: Model) -> bool:
    """Whether the head-level points resolve on this model (every block's attention is read)."""
    return model.backend == "hf" and supports_heads(model.hf)


def hook_width(model: Model, hook: str) -> int:
    """The last dimension of what a hook function sees at `hook`, for checking a vector's width:
    d_model in the residual stream, d_head at one head; a point with every head (or the pattern)
    has no single width, and is refused with how to name one head instead."""
    point = parse_hook(hook, model.n_layers)
    if not point.is_head:
        return model.d_model
    if point.kind == "pattern" or point.head is None:
        raise InterpError(
            f"{point.name} holds every head ({'probabilities' if point.kind == 'pattern' else 'vectors per head'}), "
            "so no single vector applies to it",
            fix=f"name one head, e.g. blocks.{point.layer}.attn.hook_{'z' if point.kind == 'pattern' else point.kind}[0]",
        )
    if model.backend == "bridge":
        from interp.hooks.bridge_heads import bridge_head

        return bridge_head(model, point).d_head
    return site_of(model, point).d_head
