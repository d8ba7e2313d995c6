"""The hook-point vocabulary: TransformerLens names, parsed, checked and expanded.

`blocks.{l}.hook_{kind}` with kind one of resid_pre, resid_mid, resid_post, attn_out, mlp_out.
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
_NAME = re.compile(r"^blocks\.(-?\d+|\*)\.hook_(\w+)$")


@dataclass(frozen=True, order=True)
class HookPoint:
    """One place in the residual stream: a block index and what is read there."""

    layer: int
    kind: str

    @property
    def name(self) -> str:
        return f"blocks.{self.layer}.hook_{self.kind}"

    def __str__(self) -> str:
        return self.name


def parse_hook(name: str | HookPoint, n_layers: int) -> HookPoint:
    """Parse one hook name, resolving a negative layer.

    >>> parse_hook("blocks.-1.hook_resid_post", n_layers=5)
    HookPoint(layer=4, kind='resid_post')
    """
    if isinstance(name, HookPoint):
        name = name.name
    match = _NAME.match(name.strip())
    if not match or match.group(2) not in HOOK_KINDS or match.group(1) == "*":
        raise InterpError(
            f"unknown hook point {name!r}",
            fix=f"use blocks.{{layer}}.hook_{{kind}} with kind one of {', '.join(HOOK_KINDS)} "
            f"and layer in 0..{n_layers - 1} (negative counts from the end), e.g. blocks.0.hook_resid_post",
        )
    layer = int(match.group(1))
    if not -n_layers <= layer < n_layers:
        raise InterpError(
            f"layer {layer} in {name!r} is out of range for a model with {n_layers} layers",
            fix=f"use a layer in 0..{n_layers - 1}, or -1..-{n_layers} from the end",
        )
    return HookPoint(layer % n_layers, match.group(2))


def expand_hooks(specs: str | list[str], n_layers: int) -> list[HookPoint]:
    """Expand user hook specs into hook points, in order, without duplicates.

    A spec is a full name (`blocks.3.hook_resid_post`), a wildcard (`blocks.*.hook_mlp_out`), or a
    bare kind meaning every layer (`resid_post`). Comma-separated lists are accepted.

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
        kind = part.removeprefix("hook_")
        wildcard = _NAME.match(part)
        if wildcard and wildcard.group(1) == "*":
            kind = wildcard.group(2)
        if kind in HOOK_KINDS and (wildcard is None or wildcard.group(1) == "*"):
            points.extend(HookPoint(layer, kind) for layer in range(n_layers))
        else:
            points.append(parse_hook(part, n_layers))
    return list(dict.fromkeys(points))


def all_hook_names(model: Model) -> list[str]:
    """Every hook point that resolves on this model and backend.

    >>> import interp
    >>> names = interp.all_hook_names(interp.load_model("organism:add-small"))
    >>> len(names), names[:3]
    (10, ['blocks.0.hook_resid_pre', 'blocks.0.hook_resid_mid', 'blocks.0.hook_resid_post'])
    """
    from interp.hooks.resolve import supports

    return [
        HookPoint(layer, kind).name
        for layer in range(model.n_layers)
        for kind in HOOK_KINDS
        if supports(model, HookPoint(layer, kind))
    ]
