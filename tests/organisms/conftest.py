"""A reduced zoo (toy sizes, a few steps), built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp.organisms.zoo import build_zoo


@pytest.fixture(scope="session")
def reduced_zoo(tmp_path_factory) -> Path:
    """A reduced zoo built with seed 0; tests that change files must work on a copy."""
    return build_zoo(tmp_path_factory.mktemp("zoo") / "zoo", seed=0, reduced=True, progress=False)
