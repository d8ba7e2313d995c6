"""The probe-bank benchmark runs end to end (--quick) and ends with one JSON line of its timings."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_probes.py"


def test_bench_probes_quick_reports_the_ratios(tmp_path):
    csv_path = tmp_path / "results.csv"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--csv", str(csv_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = result.stdout.strip().splitlines()
    for word in ("end to end", "forward+score", "kernel only", "score_many", "project", "restack"):
        assert word in result.stdout  # the table
    report = json.loads(lines[-1])
    assert report["bench"] == "probes" and report["probes"] == 16 and report["shape"] == [2, 64, 64]

    # Kernel only, with a prebuilt bank; the restack cost apart.
    for key in ("score_many_one_ms", "score_many_bank_ms", "project_one_ms", "project_bank_ms"):
        assert report[key] > 0
    assert report["restack_one_ms"] > 0 and report["restack_bank_ms"] > 0
    assert report["ratio"] == pytest.approx(
        report["score_many_bank_ms"] / report["score_many_one_ms"]
    )
    assert report["project_ratio"] == pytest.approx(
        report["project_bank_ms"] / report["project_one_ms"]
    )

    # End to end: a forward over the batch, every token scored at one hook.
    assert report["e2e_shape"] == [2, 32, 64] and report["e2e_layers"] == 2
    assert report["e2e_hook"] == "blocks.1.hook_resid_post" and report["e2e_repeats"] == 3
    for key in ("forward_ms", "forward_one_ms", "forward_bank_ms"):
        assert report[key] > 0
    assert report["end_to_end_ratio"] == pytest.approx(
        report["forward_bank_ms"] / report["forward_one_ms"]
    )

    # The goal is judged on the end-to-end ratio; the kernel-only verdict is reported beside it.
    assert report["goal_ratio"] == 1.2
    assert report["meets_goal"] is (report["end_to_end_ratio"] <= 1.2)
    assert report["kernel_meets_goal"] is (report["ratio"] <= 1.2)
    assert {"device", "backend", "torch", "threads", "time"} <= set(report)

    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    # score_many, project, restack x 2 probe counts; forward alone; forward + 1 and + 16 probes
    assert [(row["call"], int(row["k"])) for row in rows] == [
        ("score_many", 1),
        ("score_many", 16),
        ("project", 1),
        ("project", 16),
        ("restack", 1),
        ("restack", 16),
        ("forward", 0),
        ("forward_score", 1),
        ("forward_score", 16),
    ]
    assert all(float(row["median_ms"]) > 0 for row in rows)
    assert float(rows[-1]["median_ms"]) == pytest.approx(report["forward_bank_ms"])
