"""Head-level hook points (q, k, v, z, pattern) on the TransformerLens bridge, in interp's layout.

The bridge's own points hold the same activations in other layouts: `attn.hook_q/k/v` and
`attn.hook_z` are flat `[batch, pos, head * d_head]`, and `hook_q/k` are read BEFORE rotary
embedding and q/k norms; the query and key that reach attention are at `attn.hook_rot_q/rot_k`,
`[batch, head, pos, d_head]`. Each name is mapped to the bridge point that carries what the hf
backend reads (`interp.models.attention_heads`), and hook functions see it as the hf backend
shows it: q, z `[batch, pos, head, d_head]`, k, v `[batch, pos, kv_head, d_head]`, pattern
`[batch, head, q_pos, k_pos]`, one head's slice for `hook_z[4]`. A replacement is put back in the
bridge's layout (into that head only), so steering and patching act on the running model.

Only attention classes whose forward was checked against the hf backend are read; on any other,
or where the bridge has no point after the model's last edit of a tensor (rotary applied inside
GPT-NeoX's and Phi-3's fused-qkv attention), the name is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from torch import Tensor

from interp.errors import InterpError
from interp.hooks.names import HookPoint

if TYPE_CHECKING:
    from interp.models.model import Model

HookFn = Callable[[Tensor], Tensor | None]
Layout = Literal["flat", "heads_first", "pattern"]

# Attention classes read here, by name: a subclass may change the forward (another norm, a gate).
_ROTARY = "PositionEmbeddingsAttentionBridge"  # fires hook_rot_q/rot_k after rotary and q/k norms
_FUSED = "JointQKVAttentionBridge"  # GPT-2: no rotary, so hook_q/k are what attention reads
_FUSED_ROTARY = "JointQKVPositionEmbeddingsAttentionBridge"  # rotary with no hook after it


@dataclass(frozen=True)
class BridgeHead:
    """The bridge point that carries a head-level name, its layout, and the head counts."""

    hook: str
    layout: Layout
    head: int | None
    n_heads: int
    n_kv_heads: int
    d_head: int

    def adapt(self, fn: HookFn) -> HookFn:
        """`fn` as the bridge point calls it: sees interp's layout, replaces in the bridge's."""
        layout, head, d_head = self.layout, self.head, self.d_head
        head_dim = 1 if layout == "pattern" else 2

        def adapted(x: Tensor) -> Tensor | None:
            full = _to_interp(x, layout, d_head)
            replaced = fn(full if head is None else full.select(head_dim, head))
            if replaced is None:
                return None
            if head is None:
                full = replaced.to(full.dtype)
            else:
                full = full.clone()
                full.select(head_dim, head).copy_(replaced)
            return _to_bridge(full, layout)

        return adapted


def bridge_head(model: Model, point: HookPoint) -> BridgeHead:
    """Where `point` (a head-level name) is read on `model`'s bridge, checked; refused with the
    reason where the bridge holds no tensor equal to the hf backend's."""
    attn = getattr(model.bridge.blocks[point.layer], "attn", None)
    cfg = model.bridge.cfg
    n_heads, d_head = int(cfg.n_heads), int(cfg.d_head)
    n_kv = int(getattr(cfg, "n_key_value_heads", None) or n_heads)
    why = _why_not(attn, cfg, point.kind)
    if why is not None:
        raise InterpError(
            f"{point.name} cannot be read on the bridge of this {model.architecture} model: {why}",
            fix=f"use --backend hf (backend='hf'), which reads {point.name} on every family "
            "with transformers' attention interface",
        )
    count = n_kv if point.kind in ("k", "v") else n_heads
    if point.head is not None and not 0 <= point.head < count:
        noun = "key-value heads" if point.kind in ("k", "v") else "heads"
        raise InterpError(
            f"head {point.head} in {point.name} is out of range: {model.architecture} has "
            f"{count} {noun} per layer",
            fix=f"use a head index in 0..{count - 1}",
        )
    hook, layout = _point_of(attn, point.kind)
    if f"blocks.{point.layer}.attn.{hook}" not in model.bridge.hook_dict:
        raise InterpError(
            f"{point.name} cannot be read on the bridge of this {model.architecture} model: it "
            f"has no blocks.{point.layer}.attn.{hook}",
            fix="use --backend hf (backend='hf')",
        )
    return BridgeHead(
        f"blocks.{point.layer}.attn.{hook}", layout, point.head, n_heads, n_kv, d_head
    )


def supports(model: Model, point: HookPoint) -> bool:
    """Whether `point` reads on this bridge (for listing hook points)."""
    attn = getattr(model.bridge.blocks[point.layer], "attn", None)
    return _why_not(attn, model.bridge.cfg, point.kind) is None


def _point_of(attn: object, kind: str) -> tuple[str, Layout]:
    if kind == "pattern":
        return "hook_pattern", "pattern"
    if kind in ("q", "k") and type(attn).__name__ == _ROTARY:
        return f"hook_rot_{kind}", "heads_first"
    return f"hook_{kind}", "flat"


def _why_not(attn: object, cfg: object, kind: str) -> str | None:
    """Why the bridge has no point equal to the hf backend's `kind` here, or None."""
    name = type(attn).__name__
    if name not in (_ROTARY, _FUSED, _FUSED_ROTARY):
        return f"its attention ({name}) is not one interp has checked against the hf backend"
    if kind in ("q", "k"):
        if name == _FUSED_ROTARY:
            return (
                "TransformerLens applies rotary embedding inside this fused-qkv attention with "
                "no hook point after it, so its hook_q/hook_k are before rotary"
            )
        if name == _FUSED and getattr(cfg, "positional_embedding_type", None) == "rotary":
            return "its hook_q/hook_k are before rotary embedding"
        if getattr(cfg, "qk_norm_after_rope", False):
            return "the q/k norms run after the bridge's post-rotary hook points"
    hf_config = getattr(getattr(attn, "original_component", None), "config", None)
    if kind == "v" and getattr(hf_config, "clip_qkv", None) is not None:
        return "the bridge clamps v (clip_qkv) after its hook_v"
    gated = getattr(cfg, "gated_q_proj", False) or "gate" in getattr(attn, "_modules", {})
    if kind == "z" and gated:
        return "its hook_z is after the attention gate, the hf backend's before it"
    return None


def _to_interp(x: Tensor, layout: Layout, d_head: int) -> Tensor:
    if layout == "flat":
        return x.view(*x.shape[:-1], x.shape[-1] // d_head, d_head)
    if layout == "heads_first":
        return x.transpose(1, 2)
    return x


def _to_bridge(x: Tensor, layout: Layout) -> Tensor:
    if layout == "flat":
        return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])
    if layout == "heads_first":
        return x.transpose(1, 2)
    return x
