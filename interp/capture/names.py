"""The capture vocabulary, importable without torch (the command line's --help reads it)."""

from __future__ import annotations

from typing import Literal

Positions = Literal["last", "all", "response", "mask"]
POSITIONS = ("last", "all", "response", "mask")
REDUCTIONS = ("keep", "mean", "label_mean", "moments")
