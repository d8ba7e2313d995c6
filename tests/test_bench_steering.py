"""The steering benchmark runs end to end at small sizes and reports its ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_steering.py"


def test_bench_steering_quick():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report["ratio"]) == {"unsteered", "rotate_last_prefill", "add_generated_decode"}
    assert report["ratio"]["unsteered"] == 1.0 and all(
        v > 0 for v in report["tokens_per_s"].values()
    )
