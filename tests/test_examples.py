"""The literate examples run from top to bottom as a user would run them, and say what they found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_capture_and_steer_runs_on_a_tiny_model():
    out = run_example("capture_and_steer.py").stdout
    assert "torch.Size([2, 64])" in out


@pytest.mark.slow
def test_the_smollm2_notebook_captures_steers_and_probes(smollm2_gguf):
    """capture -> direction -> steer -> probe on SmolLM2, ending in one line of JSON."""
    out = run_example("notebook_smollm2.py", INTERP_MODELS=str(smollm2_gguf.parent)).stdout
    found = json.loads(out.splitlines()[-1])
    assert found["layers"] == found["direction_layers"] == 30
    assert found["steer_kl_mean"] > 0.01 and found["steer_argmax_changed"] > 0
    assert found["probe_cv_auroc"] > 0.75 and found["held_out_auroc"] >= 0.75
