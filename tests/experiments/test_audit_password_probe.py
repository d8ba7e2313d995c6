"""The password-contrast probe example runs end to end at small sizes: it builds its own known
sandbagger, trains the probe on that organism's password contrast and audits the zoo with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from interp.probes import LinearProbe

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "audit_password_probe" / "run.py"


def test_password_probe_example_quick(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), "--quick"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    metrics = json.loads((out / "audit" / "metrics.json").read_text())
    known = out / "known-organism" / "add-medium-known"
    assert (known / "model.safetensors").is_file()
    assert metrics["probe"]["model"] == str(known)
    probe = LinearProbe.load(out / "audit" / "probe.safetensors")
    assert probe.model is not None and probe.model.spec == str(known)
    assert set(metrics["score"]["truth"]) == set(summary["flag_share"])
    assert summary["flag_share"]["add-large-post"] is None  # another width: not probed
    assert 0.0 <= summary["transcript_auroc"] <= 1.0

    again = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), "--quick"],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "not empty" in again.stderr
