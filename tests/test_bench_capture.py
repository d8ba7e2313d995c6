"""The capture benchmark runs end to end (small sizes) and reports agreeing means and memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_capture.py"


@pytest.mark.slow
def test_bench_capture_quick():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeats", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["means_max_abs_diff"] < 1e-4
    assert set(report["peak_mb"]) == {"plain", "streaming", "run_with_cache"}
    assert report["streaming_over_plain"] > 0 and report["run_with_cache_over_plain"] > 0
