"""The kernel benchmark harness (benchmarks/kernel_harness.py) in quick mode on the CPU: rows,
variants, CSV, table and JSON, the run directory, the scripts, and `interp bench kernels`."""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["bench_capture_reduce.py", "bench_project.py", "bench_steer_update.py"]
SIZES = ["64x32", "4096x32"]  # a decode step (64 sequences) and two sequences of 2048 tokens


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(
        name.removesuffix(".py"), ROOT / "benchmarks" / name
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = load_script("kernel_harness.py")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run of every op on the CPU, appended twice to the same CSV."""
    path = tmp_path_factory.mktemp("bench") / "results.csv"
    rows = harness.run_benchmarks(
        quick=True, device="cpu", csv_path=path, ks=[0, 3], sizes=SIZES, log=lambda m: None
    )
    harness.append_csv(path, rows[:2])  # a second append must not repeat the header
    return path, rows


def test_rows_are_sane(quick_run):
    path, rows = quick_run
    assert {r["op"] for r in rows} == set(harness.OPS)
    assert {r["provider"] for r in rows} == {"torch-eager"}  # native torch only on a CPU
    for r in rows:
        assert 0 < r["p20_ms"] <= r["median_ms"] <= r["p80_ms"]
        read = r["batch"] if r["variant"] == "last" else r["tokens"]
        assert r["bytes_moved"] >= read * r["d_model"] * 2  # every bf16 row it must read
        assert r["gb_s"] > 0 and r["copy_gb_s"] > 0
        expected_pct = 100 * r["gb_s"] / r["copy_gb_s"]
        assert r["pct_of_copy_bw"] == pytest.approx(expected_pct, rel=0.01, abs=0.01)
        assert r["device"].startswith("cpu") and r["torch_version"]
        # Native bf16 against the float32 reference: a few bf16 units in the last place (capture
        # sums thousands of rows in bf16, so only its error is large).
        assert 0 <= float(r["max_abs_err"]) < (10 if r["op"] == "capture_reduce" else 0.25), r
    # k = 0 is capture without directions; for the other ops it is skipped, rotate is k = 1.
    assert {r["k"] for r in rows if r["op"] == "capture_reduce"} == {0, 3}
    assert {r["k"] for r in rows if r["op"] == "project"} == {3}
    assert {r["k"] for r in rows if r["op"] == "steer_rotate"} == {1}


def test_variants(quick_run):
    """Steering out of place, in place and at the last position; `last` only for sequences."""
    rows = quick_run[1]

    def variants(op: str, tokens: int) -> set[str]:
        return {r["variant"] for r in rows if r["op"] == op and r["tokens"] == tokens}

    assert variants("project", 4096) == {"out"}
    assert variants("capture_reduce", 64) == {"out"}
    assert variants("capture_reduce", 4096) == {"out", "last"}
    for op in ("steer_add", "steer_ablate", "steer_clamp", "steer_rotate"):
        assert variants(op, 64) == {"out", "inplace"}  # one token per sequence: last = all
        assert variants(op, 4096) == {"out", "inplace", "last"}
    last = next(r for r in rows if r["op"] == "steer_add" and r["variant"] == "last")
    full = next(r for r in rows if r["op"] == "steer_add" and r["variant"] == "inplace"
                and r["tokens"] == 4096)  # fmt: skip
    assert last["bytes_moved"] < full["bytes_moved"] / 100  # two rows, not 4096


def test_csv_has_one_header_and_every_row(quick_run):
    path, rows = quick_run
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(harness.COLUMNS)
    assert sum(line.startswith("utc,") for line in lines) == 1
    written = read_csv(path)
    assert len(written) == len(rows) + 2
    assert written[0]["op"] == rows[0]["op"] and float(written[0]["median_ms"]) > 0


def test_csv_with_other_columns_is_refused(tmp_path, quick_run):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other columns"):
        harness.append_csv(path, quick_run[1][:1])
    assert path.read_text() == "a,b\n1,2\n"


def test_plot_writes_a_png(tmp_path, quick_run):
    pytest.importorskip("matplotlib")
    plot = load_script("plot.py")
    out = tmp_path / "fig.png"
    assert plot.main(["--csv", str(quick_run[0]), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


# On the CPU whatever the machine has, so the rows are the same everywhere (torch eager only).
ONE_CASE = ["--quick", "--device", "cpu", "--ops", "project", "--sizes", "16x32", "--ks", "2"]


def test_table_for_a_person_into_a_new_run_directory(tmp_path, monkeypatch, capsys):
    """By default: a table (no JSON) and the rows in runs/bench-kernels-<time>/ of the current
    folder, never in the checkout's benchmarks/."""
    monkeypatch.chdir(tmp_path)
    before = set((ROOT / "benchmarks").iterdir())
    assert harness.main(ONE_CASE) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split()[:6] == ["op", "variant", "size", "k", "dtype", "provider"]
    assert "GB/s" in out[0] and "%copy" in out[0]
    assert out[1].split()[:6] == ["project", "out", "16x32", "2", "bf16", "torch-eager"]
    assert not any(line.startswith("{") for line in out)
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("bench-kernels-") and len(read_csv(run / "results.csv")) == 1
    assert out[-1] == f"rows written to {Path('runs') / run.name / 'results.csv'}"
    assert set((ROOT / "benchmarks").iterdir()) == before


def test_out_dir_and_csv_file(tmp_path, capsys):
    assert harness.main([*ONE_CASE, "--out", str(tmp_path / "run")]) == 0
    assert len(read_csv(tmp_path / "run" / "results.csv")) == 1
    assert harness.main([*ONE_CASE, "--csv", str(tmp_path / "mine.csv")]) == 0
    assert harness.main([*ONE_CASE, "--csv", str(tmp_path / "mine.csv")]) == 0
    assert len(read_csv(tmp_path / "mine.csv")) == 2


def test_json_is_one_line_and_triton_is_skipped_on_cpu(tmp_path, capsys):
    argv = ["--quick", "--device", "cpu", "--ops", "steer_rotate", "--sizes", "16x32", "--providers",
            "torch-eager,triton,reference", "--no-csv", "--json"]  # fmt: skip
    assert harness.main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out.strip().splitlines()
    assert len(out) == 1
    summary = json.loads(out[0])
    assert summary["csv"] is None
    assert [(r["variant"], r["provider"]) for r in summary["rows"]] == [
        ("out", "torch-eager"), ("out", "reference"),
        ("inplace", "torch-eager"), ("inplace", "reference"),
    ]  # fmt: skip
    assert any("triton provider" in note for note in summary["notes"])
    assert "triton provider" in captured.err


def test_goals_are_judged_from_rows():
    base = {"tokens": 8192, "d_model": 4096, "k": 8, "dtype": "bf16", "device": "gpu",
            "variant": "out"}  # fmt: skip
    rows = [
        {**base, "op": "project", "provider": "torch-eager", "median_ms": 1.0},
        {**base, "op": "project", "provider": "torch-compile", "median_ms": 0.05},
        {**base, "op": "project", "provider": "triton", "median_ms": 0.04, "pct_of_copy_bw": 85},
    ]
    goals = {g["goal"].rsplit(" ", 2)[-1]: g for g in harness.check_goals(rows)}
    assert all(g["met"] for g in goals.values()) and len(goals) == 3
    rows[2]["median_ms"] = 0.06
    assert not all(g["met"] for g in harness.check_goals(rows))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown op"):
        harness.run_benchmarks(ops=["nope"], quick=True, device="cpu")
    with pytest.raises(ValueError, match="TOKENSxWIDTH"):
        harness.parse_size("8192")
    with pytest.raises(ValueError, match="unknown variant"):
        harness.run_benchmarks(ops=["project"], variants=["sideways"], device="cpu")


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_help(script, capsys):
    with pytest.raises(SystemExit) as done:
        load_script(script).main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {script}") and "--quick" in out and "--variants" in out


def test_script_runs_from_a_plain_checkout(tmp_path):
    """Loaded by path (as on a machine without interp installed), quick, in a fresh process."""
    env = {**os.environ, "INTERP_BENCH_FROM_PATH": "1"}
    env.pop("TRITON_INTERPRET", None)
    path = tmp_path / "r.csv"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_project.py"), "--quick", "--csv",
         str(path), "--sizes", "32x64", "--ks", "4", "--device", "cpu", "--json"],  # fmt: skip
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["op"] for r in summary["rows"]] == ["project"]
    assert len(read_csv(path)) == 1
    assert not (tmp_path / "runs").exists()


def test_harness_loads_the_checkout_by_path(monkeypatch):
    monkeypatch.setenv("INTERP_BENCH_FROM_PATH", "1")
    kernels = harness.load_kernels()
    assert kernels.__name__ == "_interp_kernels"
    assert Path(kernels.__file__).resolve() == ROOT / "kernels" / "__init__.py"


# ----------------------------------------------------------------------------------------------
# `interp bench kernels`
# ----------------------------------------------------------------------------------------------


def test_cli_help_names_the_command(capsys):
    from interp.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["bench", "kernels", "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage: interp bench kernels ")


def test_cli_runs_the_checkout_harness_into_the_current_folder(tmp_path, monkeypatch, capsys):
    from interp.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["bench", "kernels", *ONE_CASE, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip())
    assert summary["csv"].startswith(str(Path("runs") / "bench-kernels-"))
    assert len(read_csv(tmp_path / summary["csv"])) == 1


def test_cli_without_a_checkout_says_how(monkeypatch, capsys):
    from interp.cli import bench
    from interp.cli.main import main

    monkeypatch.setattr(bench, "harness_candidates", lambda: [Path("/nowhere") / bench.HARNESS])
    assert main(["bench", "kernels", "--quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("interp: error: the kernel benchmarks live in")
    assert "pip install -e ." in err[0]


def test_cli_bad_argument_is_one_line(capsys):
    from interp.cli.main import main

    assert (
        main(["bench", "kernels", "--quick", "--device", "cpu", "--sizes", "8192", "--no-csv"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("interp: error: size '8192' is not TOKENSxWIDTH")
