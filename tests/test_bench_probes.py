"""The probe-bank benchmark runs end to end (--quick) and ends with one JSON line of its timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_probes.py"


def test_bench_probes_quick_reports_the_ratio(tmp_path):
    csv_path = tmp_path / "results.csv"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--csv", str(csv_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = result.stdout.strip().splitlines()
    assert "score_many" in result.stdout and "project" in result.stdout  # the table
    report = json.loads(lines[-1])
    assert report["bench"] == "probes" and report["probes"] == 16 and report["shape"] == [2, 64, 64]
    for key in ("score_many_one_ms", "score_many_bank_ms", "project_one_ms", "project_bank_ms"):
        assert report[key] > 0
    assert report["ratio"] == pytest.approx(
        report["score_many_bank_ms"] / report["score_many_one_ms"]
    )
    assert report["goal_ratio"] == 1.2 and isinstance(report["meets_goal"], bool)
    assert {"device", "backend", "torch", "time"} <= set(report)
    assert len(csv_path.read_text().splitlines()) == 1 + 4  # header, 2 calls x 2 probe counts
