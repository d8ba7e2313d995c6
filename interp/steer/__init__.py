"""Steering operators applied at hook points, by token position and phase, reversibly."""

from interp.steer.steering import (
    Steer,
    apply_operator,
    steered,
    steering,
    steers_from_directions,
)

__all__ = ["Steer", "apply_operator", "steered", "steering", "steers_from_directions"]
