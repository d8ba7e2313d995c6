"""RunDir: nothing at `out` until a run finishes; a killed run resumes from its checkpoints."""

from __future__ import annotations

import pytest

from interp.errors import InterpError
from interp.experiments.run_dir import RunDir

CONFIG = {"model": "m", "grid": [1, 2], "alpha": 0.1}


def run_study(out, calls, *, fail_at=None, resume=False):
    run = RunDir.open(out, CONFIG, resume=resume)
    results = []
    for k in range(4):

        def compute(k=k):
            if k == fail_at:
                raise KeyboardInterrupt  # killed mid-unit
            calls.append(k)
            return {"k": k, "value": k / 3, "pair": (k, k + 1)}

        results.append(run.unit(f"point-{k}", compute))
    (run.path / "metrics.json").write_text(str(results))
    return run.finish(), results


def test_a_killed_run_resumes_with_identical_results(tmp_path):
    out = tmp_path / "run"
    calls: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        run_study(out, calls, fail_at=2)
    assert calls == [0, 1] and not out.exists()
    with pytest.raises(InterpError, match="pass --resume"):
        run_study(out, calls)
    finished, resumed = run_study(out, calls, resume=True)
    assert calls == [0, 1, 2, 3]  # the finished units were not computed again
    fresh_calls: list[int] = []
    _, fresh = run_study(tmp_path / "fresh", fresh_calls)
    assert resumed == fresh and fresh[0] == {"k": 0, "value": 0.0, "pair": [0, 1]}
    assert sorted(p.name for p in finished.iterdir()) == ["config.json", "metrics.json"]
    assert not (tmp_path / ".run.partial").exists()


def test_refusals(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("mine")
    with pytest.raises(InterpError, match="not empty"):
        RunDir.open(taken, CONFIG)
    RunDir.open(tmp_path / "run", CONFIG)
    with pytest.raises(InterpError, match=r"another config \(differs in alpha\)"):
        RunDir.open(tmp_path / "run", {**CONFIG, "alpha": 0.2}, resume=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    run = RunDir.open(empty, CONFIG)
    assert run.finish() == empty and (empty / "config.json").is_file()
