"""The capture benchmark runs end to end (small sizes) and reports agreeing means and memory, on a
random model and on a real pretrained one, and reports run_with_cache as unavailable (rather than
crashing) where TransformerLens' bridge does not support the model."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_capture.py"
MODES = {"plain", "streaming", "run_with_cache"}


def run_bench(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_bench_capture_quick():
    report = run_bench("--quick", "--repeats", "1")
    assert report["means_max_abs_diff"] < 1e-4
    assert set(report["peak_mb"]) == MODES
    assert report["streaming_over_plain"] > 0 and report["run_with_cache_over_plain"] > 0


@pytest.mark.slow
def test_bench_capture_without_bridge(monkeypatch, capsys):
    from interp.errors import InterpError
    from interp.models import load

    def unsupported(model, backend, **kwargs):
        raise InterpError(f"TransformerLens' bridge does not support {model.architecture} models")

    monkeypatch.setattr(load, "with_backend", unsupported)
    spec = importlib.util.spec_from_file_location("bench_capture", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--repeats", "1", "--threads", "1"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "does not support llama" in report["run_with_cache_unavailable"]
    assert (
        report["run_with_cache_over_plain"] is None and report["peak_mb"]["run_with_cache"] is None
    )
    assert report["streaming_over_plain"] > 0 and set(report["peak_mb"]["streaming"]) == {"8", "80"}
    # Without the bridge, streaming is checked against Hugging Face's hidden states, every layer
    # but the last (whose hidden state comes after the final norm).
    assert report["means_reference"] == "hf_hidden_states"
    assert report["means_layers_checked"] == report["n_layers"] - 1
    assert report["means_max_rel_diff"] < 1e-5


@pytest.mark.slow
def test_bench_capture_real_model_quick(smollm2_gguf):
    # One torch thread: the test checks plumbing, not speed, and one thread stays steady on a busy
    # machine where two wait on each other.
    report = run_bench("--model", str(smollm2_gguf), "--quick", "--threads", "1")
    assert (report["architecture"], report["n_layers"], report["d_model"]) == ("llama", 30, 576)
    # SmolLM2 supports the bridge, so streaming is checked against run_with_cache at every layer;
    # its residual stream reaches the thousands, so the tolerance is relative to the largest mean.
    assert report["means_reference"] == "run_with_cache"
    assert report["means_layers_checked"] == 30
    assert report["means_max_rel_diff"] < 1e-5
    assert report["run_with_cache_unavailable"] is None
    assert report["streaming_over_plain"] > 0 and report["run_with_cache_over_plain"] > 0
    n = report["prompts"]
    for mode in MODES:
        assert set(report["peak_mb"][mode]) == {str(n), str(10 * n)}
        assert all(peak > 0 for peak in report["peak_mb"][mode].values())
    assert report["streaming_peak_growth_10x"] > 0 and report["run_with_cache_peak_growth_10x"] > 0
