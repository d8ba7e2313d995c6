"""Resolve a hook point to the module that carries it on each backend.

A `Site` is a module plus which side of its forward holds the activation: the first input
(`input`, read with a forward pre-hook) or the output (`output`, read with a forward hook).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from torch import nn

from interp.errors import InterpError
from interp.hooks.names import HOOK_KINDS, HookPoint
from interp.models.architectures import get_path, layout_for

if TYPE_CHECKING:
    from interp.models.model import Model


@dataclass(frozen=True)
class Site:
    module: nn.Module
    side: Literal["input", "output"]


def resolve(model: Model, point: HookPoint) -> Site:
    """The module and side that carry `point` on `model`'s backend."""
    if model.backend == "bridge":
        hook_dict = model.bridge.hook_dict
        if point.name not in hook_dict:
            raise InterpError(
                f"hook point {point.name} does not exist on this {model.architecture} bridge",
                fix=f"use one of {', '.join(model.hook_names()[:10])}, ...",
            )
        return Site(hook_dict[point.name], "output")
    layout = layout_for(model.hf)
    blocks = cast(nn.ModuleList, get_path(model.hf, layout.blocks))
    block = blocks[point.layer]
    if point.kind == "resid_pre":
        return Site(block, "input")
    if point.kind == "resid_post":
        return Site(block, "output")
    if point.kind == "attn_out":
        return Site(get_path(block, layout.block_attn), "output")
    if point.kind == "mlp_out":
        return Site(get_path(block, layout.block_mlp), "output")
    if point.kind == "resid_mid":
        if layout.block_mid_norm is None:
            raise InterpError(
                f"{model.architecture} runs attention and MLP in parallel, so it has no {point.name}",
                fix="read hook_resid_pre, hook_attn_out, hook_mlp_out or hook_resid_post instead",
            )
        return Site(get_path(block, layout.block_mid_norm), "input")
    raise InterpError(
        f"unknown hook kind {point.kind!r}", fix=f"use one of {', '.join(HOOK_KINDS)}"
    )


def supports(model: Model, point: HookPoint) -> bool:
    """Whether `point` resolves on this model (for listing hook points)."""
    if model.backend == "bridge":
        return point.name in model.bridge.hook_dict
    if point.kind == "resid_mid":
        return layout_for(model.hf).block_mid_norm is not None
    return True
