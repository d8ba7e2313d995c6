"""Resolve a hook point to the module that carries it on each backend.

A `Site` is a module plus which side of its forward holds the activation: the first input
(`input`, read with a forward pre-hook) or the output (`output`, read with a forward hook). On the
hf backend the block list and each family's placements come from `interp.models.architectures`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from torch import Tensor, nn

from interp.errors import InterpError
from interp.hooks.names import HOOK_KINDS, HookPoint
from interp.models.architectures import Layout, get_path, layout_for

if TYPE_CHECKING:
    from interp.models.model import Model

HookFn = Callable[[Tensor], Tensor | None]


@dataclass(frozen=True)
class Site:
    """Where a hook point is read.

    `scale`: the hook point is the module's output times `scale` (what the block adds to the
    stream); hook functions see it scaled and their replacement is divided back.
    `copy`: the model edits this tensor in place after the hook, so the hook hands it a copy.
    `adapt`: wraps a hook function where the module holds the activation in another layout (the
    bridge's head points, `interp.hooks.bridge_heads`): it sees interp's, its replacement is put back.
    """

    module: nn.Module
    side: Literal["input", "output"]
    scale: float = 1.0
    copy: bool = False
    adapt: Callable[[HookFn], HookFn] | None = None


def resolve(model: Model, point: HookPoint) -> Site:
    """The module and side that carry `point` on `model`'s backend."""
    if model.backend == "bridge":
        hook_dict = model.bridge.hook_dict
        if point.is_head:
            from interp.hooks.bridge_heads import bridge_head

            head = bridge_head(model, point)
            return Site(hook_dict[head.hook], "output", adapt=head.adapt)
        if point.name not in hook_dict:
            from interp.hooks.names import all_hook_names

            raise InterpError(
                f"hook point {point.name} does not exist on this {model.architecture} bridge",
                fix=f"use one of {', '.join(all_hook_names(model)[:10])}, ...",
            )
        return Site(hook_dict[point.name], "output")
    if point.kind not in HOOK_KINDS:
        raise InterpError(
            f"unknown hook kind {point.kind!r}", fix=f"use one of {', '.join(HOOK_KINDS)}"
        )
    layout = layout_for(model.hf)
    block = cast(nn.ModuleList, get_path(model.hf, layout.blocks))[point.layer]
    if point.kind == "resid_pre":
        return Site(block, "input")
    if point.kind == "resid_post":
        return Site(block, "output")
    placement = layout.placement(point.kind)
    if placement is None:
        raise _missing(layout, point)
    return Site(
        get_path(block, placement.path),
        placement.side,
        scale=placement.scale,
        copy=placement.edited_in_place,
    )


def supports(model: Model, point: HookPoint) -> bool:
    """Whether `point` resolves on this model (for listing hook points)."""
    if model.backend == "bridge":
        if point.is_head:
            from interp.hooks import bridge_heads

            return bridge_heads.supports(model, point)
        return point.name in model.bridge.hook_dict
    if point.is_head:
        from interp.hooks.heads import has_heads

        return has_heads(model)
    return point.kind in layout_for(model.hf).kinds()


def _missing(layout: Layout, point: HookPoint) -> InterpError:
    has = ", ".join(layout.kinds())
    return InterpError(
        f"{layout.family} {layout.why_missing(point.kind)}, so it has no {point.name}; "
        f"this model has {has}",
        fix=f"read one of {has} instead, or use --backend bridge where TransformerLens supports "
        f"{layout.family}",
    )
