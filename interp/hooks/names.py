"""The hook-point vocabulary: TransformerLens names, parsed, checked and expanded.

`blocks.{l}.hook_{kind}` with kind one of resid_pre, resid_mid, resid_post, attn_out, mlp_out, and
the head-level points `blocks.{l}.attn.hook_{kind}` with kind one of q, k, v, z, pattern (see
`interp.models.attention_heads`), optionally with one head: `blocks.{l}.attn.hook_z[4]`.
Negative layers count from the end (`blocks.-1.hook_resid_post` is the last block). Everything
downstream (capture, directions, steering) is keyed by the canonical name with a non-negative layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interp.errors import InterpError

if TYPE_CHECKING:
    from interp.models.model import Model

HOOK_KINDS = ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")
HEAD_KINDS = ("q", "k", "v", "z", "pattern")  # under `attn.`: interp.models.attention_heads
_NAME = re.compile(r"^blocks\.(-?\d+|\*)\.(attn\.)?hook_(\w+?)(?:\[(\d+)\])?$")
_BARE_HEAD = re.compile(r"^attn\.(?:hook_)?(\w+?)(?:\[(\d+)\])?$")


@dataclass(frozen=True, order=True)
class HookPoint:
    """One place in the residual stream: a block index and what is read there."""

    layer: int
    kind: str
    head: int | None = None  # one head of a head-level point; None: all heads

    @property
    def name(self) -> str:
        if self.kind in HEAD_KINDS:
            one = "" if self.head is None else f"[{self.head}]"
            return f"blocks.{self.layer}.attn.hook_{self.kind}{one}"
        return f"blocks.{self.layer}.hook_{self.kind}"

    @property
    def is_head(self) -> bool:
        """A head-level point (q, k, v, z, pattern) rather than a residual-stream one."""
        return self.kind in HEAD_KINDS

    def __str__(self) -> str:
        return self.name


def parse_hook(name: str | HookPoint, n_layers: int) -> HookPoint:
    """Parse one hook name, resolving a negative layer.

    >>> parse_hook("blocks.-1.hook_resid_post", n_layers=5)
    HookPoint(layer=4, kind='resid_post', head=None)
    >>> parse_hook("blocks.2.attn.hook_z[3]", n_layers=5).head
    3
    """
    if isinstance(name, HookPoint):
        name = name.name
    match = _NAME.match(name.strip())
    if not match or not _known(match) or match.group(1) == "*":
        raise InterpError(
            f"unknown hook point {name!r}",
            fix=f"use blocks.{{layer}}.hook_{{kind}} with kind one of {', '.join(HOOK_KINDS)}, "
            f"or blocks.{{layer}}.attn.hook_{{kind}}[head] with kind one of {', '.join(HEAD_KINDS)}, "
            f"and layer in 0..{n_layers - 1} (negative counts from the end), e.g. blocks.0.hook_resid_post",
        )
    layer = int(match.group(1))
    if not -n_layers <= layer < n_layers:
        raise InterpError(
            f"layer {layer} in {name!r} is out of range for a model with {n_layers} layers",
            fix=f"use a layer in 0..{n_layers - 1}, or -1..-{n_layers} from the end",
        )
    head = None if match.group(4) is None else int(match.group(4))
    return HookPoint(layer % n_layers, match.group(3), head)


def _known(match: re.Match[str]) -> bool:
    """`attn.` comes with exactly the head kinds, and a head index only with them."""
    if match.group(2):
        return match.group(3) in HEAD_KINDS
    return match.group(3) in HOOK_KINDS and match.group(4) is None


def expand_hooks(specs: str | list[str], n_layers: int) -> list[HookPoint]:
    """Expand user hook specs into hook points, in order, without duplicates.

    A spec is a full name (`blocks.3.hook_resid_post`), a wildcard (`blocks.*.hook_mlp_out`), or a
    bare kind meaning every layer (`resid_post`, `attn.hook_z`, `attn.hook_z[2]`).
    Comma-separated lists are accepted.

    >>> [p.name for p in expand_hooks("resid_post", n_layers=2)]
    ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post']
    """
    items = [specs] if isinstance(specs, str) else list(specs)
    parts = [part.strip() for item in items for part in item.split(",") if part.strip()]
    if not parts:
        raise InterpError(
            "no hook points given", fix="pass e.g. --hooks resid_post or blocks.-1.hook_resid_post"
        )
    points: list[HookPoint] = []
    for part in parts:
        bare_head = _BARE_HEAD.match(part)
        if bare_head and bare_head.group(1) in HEAD_KINDS:
            head = None if bare_head.group(2) is None else int(bare_head.group(2))
            points.extend(HookPoint(layer, bare_head.group(1), head) for layer in range(n_layers))
            continue
        kind = part.removeprefix("hook_")
        wildcard = _NAME.match(part)
        if wildcard and wildcard.group(1) == "*" and _known(wildcard):
            head = None if wildcard.group(4) is None else int(wildcard.group(4))
            points.extend(HookPoint(layer, wildcard.group(3), head) for layer in range(n_layers))
        elif kind in HOOK_KINDS and wildcard is None:
            points.extend(HookPoint(layer, kind) for layer in range(n_layers))
        else:
            points.append(parse_hook(part, n_layers))
    return list(dict.fromkeys(points))


def all_hook_names(model: Model) -> list[str]:
    """Every hook point that resolves on this model and backend.

    >>> import interp
    >>> names = interp.all_hook_names(interp.load_model("organism:add-small"))
    >>> len(names), names[:3], names[5:7]
    (20, ['blocks.0.hook_resid_pre', 'blocks.0.hook_resid_mid', 'blocks.0.hook_resid_post'], ['blocks.0.attn.hook_q', 'blocks.0.attn.hook_k'])
    """
    from interp.hooks.resolve import supports

    return [
        HookPoint(layer, kind).name
        for layer in range(model.n_layers)
        for kind in (*HOOK_KINDS, *HEAD_KINDS)
        if supports(model, HookPoint(layer, kind))
    ]
