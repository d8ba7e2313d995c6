"""The benchmark harness in quick mode on the CPU: rows, CSV, JSON line, plot, scripts."""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interp.kernels import bench

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["bench_capture_reduce.py", "bench_project.py", "bench_steer_update.py"]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(
        name.removesuffix(".py"), ROOT / "benchmarks" / name
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run of every op on the CPU, appended twice to the same CSV."""
    path = tmp_path_factory.mktemp("bench") / "results.csv"
    rows = bench.run_benchmarks(quick=True, device="cpu", csv_path=path, ks=[0, 3])
    bench.append_csv(path, rows[:2])  # a second append must not repeat the header
    return path, rows


def test_rows_are_sane(quick_run):
    path, rows = quick_run
    ops = {r["op"] for r in rows}
    assert ops == set(bench.OPS)
    assert {r["provider"] for r in rows} == {"torch-eager"}  # the reference only on a CPU
    for r in rows:
        assert 0 < r["p20_ms"] <= r["median_ms"] <= r["p80_ms"]
        assert r["bytes_moved"] > r["tokens"] * r["d_model"]  # at least one byte per element
        assert r["gb_s"] > 0 and r["copy_gb_s"] > 0
        expected_pct = 100 * r["gb_s"] / r["copy_gb_s"]
        assert r["pct_of_copy_bw"] == pytest.approx(expected_pct, rel=0.01, abs=0.01)
        assert r["device"].startswith("cpu") and r["torch_version"]
    # k = 0 is capture without directions; for the other ops it is skipped, rotate is k = 1.
    assert {r["k"] for r in rows if r["op"] == "capture_reduce"} == {0, 3}
    assert {r["k"] for r in rows if r["op"] == "project"} == {3}
    assert {r["k"] for r in rows if r["op"] == "steer_rotate"} == {1}


def test_csv_has_one_header_and_every_row(quick_run):
    path, rows = quick_run
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(bench.COLUMNS)
    assert sum(line.startswith("utc,") for line in lines) == 1
    written = read_csv(path)
    assert len(written) == len(rows) + 2
    assert written[0]["op"] == rows[0]["op"] and float(written[0]["median_ms"]) > 0


def test_csv_with_other_columns_is_refused(tmp_path, quick_run):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other columns"):
        bench.append_csv(path, quick_run[1][:1])
    assert path.read_text() == "a,b\n1,2\n"


def test_plot_writes_a_png(tmp_path, quick_run):
    plot = load_script("plot.py")
    out = tmp_path / "fig.png"
    assert plot.main(["--csv", str(quick_run[0]), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_main_prints_table_then_one_json_line(tmp_path, capsys):
    path = tmp_path / "r.csv"
    assert bench.main(["--quick", "--ops", "project", "--csv", str(path), "--ks", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split()[:3] == ["op", "provider", "tokens"]
    summary = json.loads(out[-1])
    assert summary["suite"] == "kernels" and summary["csv"] == str(path)
    assert len(summary["rows"]) == 2 and summary["goals"] == []
    assert len(read_csv(path)) == 2


def test_json_only_and_triton_skipped_on_cpu(tmp_path, capsys):
    argv = ["--quick", "--ops", "steer_rotate", "--sizes", "16x32", "--providers",
            "torch-eager,triton", "--no-csv", "--json"]  # fmt: skip
    assert bench.main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    summary = json.loads(out[0])
    assert summary["csv"] is None and [r["provider"] for r in summary["rows"]] == ["torch-eager"]
    assert any("triton provider" in note for note in summary["notes"])


def test_goals_are_judged_from_rows():
    base = {"tokens": 8192, "d_model": 4096, "k": 8, "dtype": "bf16", "device": "gpu"}
    rows = [
        {**base, "op": "project", "provider": "torch-eager", "median_ms": 1.0},
        {**base, "op": "project", "provider": "torch-compile", "median_ms": 0.05},
        {**base, "op": "project", "provider": "triton", "median_ms": 0.04, "pct_of_copy_bw": 85},
    ]
    goals = {g["goal"].rsplit(" ", 2)[-1]: g for g in bench.check_goals(rows)}
    assert all(g["met"] for g in goals.values()) and len(goals) == 3
    rows[2]["median_ms"] = 0.06
    assert not all(g["met"] for g in bench.check_goals(rows))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown op"):
        bench.run_benchmarks(ops=["nope"], quick=True, device="cpu")
    with pytest.raises(ValueError, match="TOKENSxWIDTH"):
        bench.parse_size("8192")


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_help(script, capsys):
    with pytest.raises(SystemExit) as done:
        load_script(script).main(["--help"])
    assert done.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_script_runs_from_a_plain_checkout(tmp_path):
    """Loaded by path (as on a machine without interp installed), quick, in a fresh process."""
    env = {**os.environ, "INTERP_BENCH_FROM_PATH": "1"}
    env.pop("TRITON_INTERPRET", None)
    path = tmp_path / "r.csv"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_project.py"), "--quick", "--csv",
         str(path), "--sizes", "32x64"],  # fmt: skip
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["op"] for r in summary["rows"]] == ["project"]
    assert len(read_csv(path)) == 1


def test_scripts_load_the_checkout_by_path(monkeypatch):
    monkeypatch.setenv("INTERP_BENCH_FROM_PATH", "1")
    loaded = load_script("bench_capture_reduce.py").load_bench()
    assert loaded.__name__ == "_interp_kernels.bench"
    assert Path(loaded.__file__).resolve() == ROOT / "kernels" / "bench.py"
