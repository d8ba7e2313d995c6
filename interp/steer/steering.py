"""Steering: operators applied at hook points, restricted to positions and phases, reversibly.

Operators (the math lives in `interp.kernels`, Triton on CUDA and torch elsewhere):
- `add`: h + alpha * v
- `rotate`: the norm-preserving rotation toward v, u = h/|h| + alpha v/|v|, h <- |h| u/|u|
- `ablate`: h - V (V^T h), removing the span of orthonormalised directions
- `clamp`: set the projection of h on each orthonormalised direction to a value

Positions say which tokens (`last` prompt token, all `prompt` tokens, `generated` tokens, `all`);
the phase says in which passes (`prefill`, `decode`, `both`). With a KV cache, a prefill-only
steer reaches later tokens through the cache, as in methods.md's UNLOCK application.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from interp.errors import InterpError
from interp.hooks.context import hooked
from interp.hooks.heads import hook_width
from interp.hooks.names import parse_hook
from interp.models.passes import StepMasks, current_step

if TYPE_CHECKING:
    from interp.models.model import Model

Operator = Literal["add", "rotate", "ablate", "clamp"]
Positions = Literal["last", "prompt", "generated", "all"]
Phase = Literal["prefill", "decode", "both"]
OPERATORS = ("add", "rotate", "ablate", "clamp")
POSITIONS = ("last", "prompt", "generated", "all")
PHASES = ("prefill", "decode", "both")


@dataclass(frozen=True)
class Steer:
    """One intervention at one hook point.

    >>> Steer("blocks.3.hook_resid_post", "rotate", v, alpha=0.2, positions="last", phase="prefill")  # doctest: +SKIP

    `vectors` is one direction `(d_model,)` for add and rotate, or `(k, d_model)` for ablate and
    clamp; `values` are clamp's targets `(k,)`.
    """

    hook: str
    operator: Operator
    vectors: Tensor
    alpha: float = 1.0
    positions: Positions = "all"
    phase: Phase = "both"
    values: Tensor | None = None

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise InterpError(
                f"unknown steering operator {self.operator!r}",
                fix=f"use one of {', '.join(OPERATORS)}",
            )
        if self.positions not in POSITIONS:
            raise InterpError(
                f"unknown steering positions {self.positions!r}",
                fix=f"use one of {', '.join(POSITIONS)}",
            )
        if self.phase not in PHASES:
            raise InterpError(
                f"unknown steering phase {self.phase!r}", fix=f"use one of {', '.join(PHASES)}"
            )
        if (
            isinstance(self.alpha, bool)
            or not isinstance(self.alpha, (int, float))
            or self.alpha != self.alpha
        ):
            raise InterpError(
                f"alpha {self.alpha!r} is not a number", fix="pass a float such as 0.2"
            )
        if self.operator in ("add", "rotate") and self.vectors.ndim != 1:
            raise InterpError(
                f"{self.operator} takes one direction (d_model,), got shape {tuple(self.vectors.shape)}",
                fix="pass a 1-D vector",
            )
        if self.operator in ("ablate", "clamp") and self.vectors.ndim not in (1, 2):
            raise InterpError(
                f"{self.operator} takes directions (k, d_model), got shape {tuple(self.vectors.shape)}",
                fix="stack the directions as rows",
            )
        if self.operator == "clamp" and (
            self.values is None or self.values.numel() != self.directions.shape[0]
        ):
            raise InterpError("clamp needs one target value per direction", fix="pass values=(k,)")
        if not torch.isfinite(self.vectors).all() or float(self.vectors.norm()) == 0.0:
            raise InterpError(
                f"the steering direction at {self.hook} is zero or not finite",
                fix="check the direction file",
            )

    @property
    def directions(self) -> Tensor:
        return self.vectors if self.vectors.ndim == 2 else self.vectors[None]

    def select(self, masks: StepMasks) -> Tensor:
        """The (batch, pos) mask of tokens this steer changes in the current pass."""
        chosen = {
            "last": masks.last_prompt,
            "prompt": masks.prompt,
            "generated": masks.generated,
            "all": masks.prompt | masks.generated,
        }[self.positions]
        if self.phase == "prefill":
            chosen = chosen & masks.prompt
        elif self.phase == "decode":
            chosen = chosen & masks.generated
        return chosen


@dataclass(frozen=True)
class PreparedSteer:
    """A steer's operands on one device, made once per `steering` block rather than per call.

    `operand` is what the kernel reads: add's shift alpha * v (d_model,), rotate's v (d_model,),
    or the orthonormal basis (d_model, k) of ablate and clamp; all float32 on `device`.
    """

    steer: Steer
    device: torch.device
    operand: Tensor
    values: Tensor | None = None  # clamp's targets (k,) float32

    @staticmethod
    def make(steer: Steer, device: torch.device | str) -> PreparedSteer:
        device = torch.device(device)
        # Plain tensors even when first made under inference_mode, so later passes with autograd
        # on can read them.
        with torch.inference_mode(False), torch.no_grad():
            vectors = steer.vectors.to(device, torch.float32)
            if steer.operator == "add":
                operand = steer.alpha * vectors
            elif steer.operator == "rotate":
                operand = vectors.contiguous()
            else:
                operand = orthonormal_basis(steer.directions.to(device, torch.float32))
            values = None
            if steer.values is not None:
                values = steer.values.to(device, torch.float32).reshape(-1).contiguous()
        return PreparedSteer(steer, device, operand, values)

    def apply(self, h: Tensor, select: Tensor, *, inplace: bool) -> Tensor:
        """`steer` applied at the `select`ed rows of h; with `inplace`, only those rows are
        written (in h) and h is returned. No host sync: `select` stays a device tensor."""
        from interp import kernels

        op = self.steer.operator
        if op == "add":
            return kernels.steer_shift(h, self.operand, select, inplace=inplace)
        if op == "rotate":
            return kernels.steer_rotate(h, self.operand, self.steer.alpha, select, inplace=inplace)
        if op == "ablate":
            return kernels.steer_ablate(h, self.operand, select, inplace=inplace)
        assert self.values is not None
        return kernels.steer_clamp(h, self.operand, self.values, select, inplace=inplace)


def apply_operator(h: Tensor, select: Tensor, steer: Steer) -> Tensor:
    """The steered activation: `steer` applied at the selected positions, the rest bit-identical."""
    return PreparedSteer.make(steer, h.device).apply(h, select, inplace=False)


def orthonormal_basis(directions: Tensor) -> Tensor:
    """Columns spanning the rows of `directions` (k, d), orthonormal: (d, k)."""
    q, _ = torch.linalg.qr(directions.T)
    return q


def can_write_in_place(h: Tensor) -> bool:
    """Whether a hook may overwrite `h`: not a tensor autograd needs, not an inference tensor
    outside inference mode, and not a view (writing through it would change another tensor)."""
    if torch.is_grad_enabled() and h.requires_grad:
        return False
    if h.is_inference() and not torch.is_inference_mode_enabled():
        return False
    return not h._is_view()


class _SteerHook:
    """One steer's hook function: operands prepared on first use per device, then reused; the
    selection computed on the device from the pass's masks (never read back to the host)."""

    def __init__(self, steer: Steer) -> None:
        self.steer = steer
        self.prepared: dict[torch.device, PreparedSteer] = {}

    def __call__(self, h: Tensor) -> Tensor:
        prepared = self.prepared.get(h.device)
        if prepared is None:
            prepared = self.prepared[h.device] = PreparedSteer.make(self.steer, h.device)
        select = self.steer.select(current_step(h))
        return prepared.apply(h, select, inplace=can_write_in_place(h))


@contextmanager
def steering(model: Model, steers: Steer | Iterable[Steer]) -> Iterator[None]:
    """Apply `steers` to every forward pass inside the block; the model is untouched after it.

    >>> import interp, torch
    >>> model = interp.load_model("organism:add-small")
    >>> ids, v = torch.tensor([[1, 20, 21]]), torch.randn(model.d_model)
    >>> clean = model.forward(ids)
    >>> with interp.steering(model, interp.Steer("blocks.1.hook_resid_post", "add", v, alpha=4.0)):
    ...     steered = model.forward(ids)
    >>> torch.equal(steered, clean), torch.equal(model.forward(ids), clean)
    (False, True)
    """
    steers = [steers] if isinstance(steers, Steer) else list(steers)
    for steer in steers:
        parse_hook(steer.hook, model.n_layers)  # refuse unknown hooks before anything runs
        width = hook_width(model, steer.hook)  # d_model; d_head at one head (attn.hook_z[4])
        if steer.vectors.shape[-1] != width:
            raise InterpError(
                f"a steering direction at {steer.hook} has width {steer.vectors.shape[-1]} but the model's is {width}",
                fix="use directions extracted from (or aligned to) this model",
            )

    # Each hook prepares its operands once (on the first pass that reaches it) and keeps them for
    # the block: no per-call copies, QR or host syncs, so a steered step can go in a CUDA graph.
    with hooked(model, [(steer.hook, _SteerHook(steer)) for steer in steers]):
        yield


def steers_from_directions(
    directions,
    operator: Operator = "rotate",
    alpha: float = 0.1,
    *,
    positions: Positions = "last",
    phase: Phase = "prefill",
    layers: list[int] | None = None,
) -> list[Steer]:
    """One `Steer` per layer of a `DirectionSet` (all its layers unless `layers` names some).

    The defaults are UNLOCK's application: a rotation toward v at the last prompt token, prefill only.

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> ds = interp.extract_directions(model, ["Show steps.\\nQ:1+2=?\\nA:"], ["Q:1+2=?\\nA:"])
    >>> [(s.hook, s.operator, s.positions, s.phase) for s in interp.steers_from_directions(ds)]
    [('blocks.0.hook_resid_post', 'rotate', 'last', 'prefill'), ('blocks.1.hook_resid_post', 'rotate', 'last', 'prefill')]
    """
    chosen = directions.layers if layers is None else layers
    missing = sorted(set(chosen) - set(directions.layers))
    if missing:
        raise InterpError(
            f"the direction set has no layers {missing} (it has {list(directions.layers)})",
            fix="steer only layers the direction set covers",
        )
    return [
        Steer(
            f"blocks.{layer}.hook_{directions.hook}",
            operator,
            directions.vector(layer),
            alpha,
            positions,
            phase,
        )
        for layer in chosen
    ]


@contextmanager
def steered(
    model: Model,
    directions,
    operator: Operator = "rotate",
    alpha: float = 0.1,
    *,
    positions: Positions = "last",
    phase: Phase = "prefill",
    layers: list[int] | None = None,
) -> Iterator[list[Steer]]:
    """`steering` with one `Steer` per layer of a `DirectionSet` (`steers_from_directions`);
    yields the steers, so `steer_effect` can say how far they moved the model.

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> ds = interp.extract_directions(model, ["Show steps.\\nQ:1+2=?\\nA:"], ["Q:1+2=?\\nA:"])
    >>> with interp.steered(model, ds, "add", alpha=8.0, positions="all", phase="both") as steers:
    ...     out = interp.generate(model, "Q:1+2=?\\nA:", max_new_tokens=8)[0]
    >>> interp.steer_effect(model, "Q:1+2=?\\nA:", out.token_ids, steers).kl_mean > 0
    True
    """
    steers = steers_from_directions(
        directions, operator, alpha, positions=positions, phase=phase, layers=layers
    )
    with steering(model, steers):
        yield steers
