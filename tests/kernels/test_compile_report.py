"""The sm_90 compile evidence (benchmarks/compile_report.py): every kernel at the sizes that matter
compiles for a Hopper GPU without spills, with `wgmma` where its tiles allow it and 16-byte loads.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_report():
    spec = importlib.util.spec_from_file_location(
        "compile_report", ROOT / "benchmarks" / "compile_report.py"
    )
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results():
    pytest.importorskip("triton")
    report = load_report()
    if not report._tool("ptxas").is_file() or not report._tool("cuobjdump").is_file():
        pytest.skip("this triton wheel has no ptxas / cuobjdump for sm_90")
    return report.report()


@pytest.mark.slow
def test_no_spills_wgmma_where_expected_and_16_byte_loads(results):
    report = load_report()
    seen = set()
    for case, launches in results:
        assert launches, case.name
        for launch in launches:
            where = f"{case.name}: {launch.kernel} {launch.tile} {launch.path}"
            seen.add(launch.kernel)
            assert launch.spill_bytes == 0, where
            assert launch.registers <= 128, where  # leaves room for two programs per SM
            assert max(launch.loads) == 128, f"{where}: widest load {launch.load_widths}"
        projecting = [
            launch for launch in launches if launch.kernel not in report.NO_MATRIX_KERNELS
        ]
        if case.wgmma_expected:
            assert all(launch.wgmma > 0 for launch in projecting), case.name
        else:
            assert all(launch.wgmma == 0 for launch in launches), case.name
    assert seen == {
        "capture_reduce", "capture_columns", "capture_square", "project", "steer_update",
        "steer_stats", "steer_persistent",
    }  # fmt: skip


@pytest.mark.slow
def test_persistent_grids_where_expected(results):
    """Prefill two-pass steering (k 8 and 16) and capture with 8 or 16 directions run on the
    persistent grids (2 x 132 programs in all), each launch with two or fewer global atomic
    sites; the per-block cases keep the grids they had; the in-place persistent steering with
    tl.dot and capture's column kernel issue asynchronous (pipelined) copies."""
    by_name = {case.name: launches for case, launches in results}
    for name in ("steer_ablate prefill bf16 k=8 in place", "steer_clamp prefill bf16 k=8 in place"):
        (launch,) = by_name[name]
        assert launch.kernel == "steer_persistent" and launch.grid == (264,), name
        assert launch.async_copies > 0, name
    for k in (8, 16):
        columns, square = by_name[f"capture_reduce prefill bf16 k={k}"]
        assert (columns.kernel, square.kernel) == ("capture_columns", "capture_square")
        assert columns.grid[0] * columns.grid[1] <= 2 * 132 + columns.grid[0]
        assert columns.async_copies > 0 and columns.atomics <= 2 and square.atomics <= 4
    assert [launch.kernel for launch in by_name["capture_reduce prefill bf16 k=16 per-block"]] == [
        "capture_reduce"
    ]
    per_block = by_name["steer_ablate prefill bf16 k=16 in place per-block"]
    assert [launch.kernel for launch in per_block] == ["steer_update"]


@pytest.mark.slow
def test_the_table_names_every_launch(results):
    report = load_report()
    table = report.rows(results)
    assert len(table) == sum(len(launches) for _, launches in results)
    text = report.format_table(table, markdown=True)
    assert text.count("\n") == len(table) + 1 and "wgmma" in text
