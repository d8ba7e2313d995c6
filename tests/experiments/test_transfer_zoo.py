"""The transfer study on the shipped zoo: the step-by-step direction moves between sizes, beyond controls."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp.experiments.transfer import run_transfer
from interp.experiments.transfer_config import TransferConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize(
    "config", ["transfer_organisms.json", "transfer_organisms_large_to_medium.json"]
)
def test_transfer_between_family_members(config, tmp_path, monkeypatch):
    monkeypatch.delenv("INTERP_ZOO", raising=False)
    result = run_transfer(
        TransferConfig.from_file(EXAMPLES / config), tmp_path / "run", progress=False
    )
    assert result.gain_ci95[0] > 0 and result.beats_controls
    assert result.gap_closed is not None and result.gap_closed > 0.5
