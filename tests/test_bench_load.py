"""The GGUF load benchmark runs end to end on a real model: every part takes time, and the whole
load splits exactly into dequantization and the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_load.py"
PARTS = {"header", "metadata", "dequantize", "tokenizer", "whole", "hf_dir", "rest"}


@pytest.mark.slow
def test_bench_load_smollm2(smollm2_gguf):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(smollm2_gguf), "--repeats", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    seconds = report["seconds"]
    assert set(seconds) == PARTS
    assert all(s > 0 for s in seconds.values())
    assert seconds["dequantize"] + seconds["rest"] == pytest.approx(seconds["whole"], rel=1e-9)
    assert 0 < report["dequantize_share"] < 1
    assert report["convert_seconds"] > 0  # convert checks the directory's logits against the GGUF's
