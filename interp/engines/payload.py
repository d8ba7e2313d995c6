"""Steers as plain data, for the trip from the engine's caller to its workers.

vLLM's RPC to its workers carries msgpack-able values (no pickle), so a `Steer` travels as a dict
of numbers and lists and is rebuilt, and checked again, on the worker.
"""

from __future__ import annotations

from typing import Any

import torch

from interp.steer.steering import Steer


def steer_to_payload(steer: Steer) -> dict[str, Any]:
    return {
        "hook": steer.hook,
        "operator": steer.operator,
        "vectors": steer.vectors.detach().to("cpu", torch.float32).tolist(),
        "alpha": float(steer.alpha),
        "positions": steer.positions,
        "phase": steer.phase,
        "values": None
        if steer.values is None
        else steer.values.detach().to("cpu", torch.float32).tolist(),
    }


def steer_from_payload(payload: dict[str, Any]) -> Steer:
    """The `Steer` a payload describes.

    >>> s = Steer("blocks.1.hook_resid_post", "add", torch.ones(4), alpha=2.0, positions="last")
    >>> back = steer_from_payload(steer_to_payload(s))
    >>> (back.hook, back.operator, back.alpha, back.positions, torch.equal(back.vectors, s.vectors))
    ('blocks.1.hook_resid_post', 'add', 2.0, 'last', True)
    """
    values = payload.get("values")
    return Steer(
        hook=payload["hook"],
        operator=payload["operator"],
        vectors=torch.tensor(payload["vectors"], dtype=torch.float32),
        alpha=float(payload["alpha"]),
        positions=payload["positions"],
        phase=payload["phase"],
        values=None if values is None else torch.tensor(values, dtype=torch.float32),
    )
