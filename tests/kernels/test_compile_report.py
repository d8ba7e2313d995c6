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
    seen = set()
    for case, launches in results:
        assert launches, case.name
        for launch in launches:
            where = f"{case.name}: {launch.kernel} {launch.tile} {launch.path}"
            seen.add(launch.kernel)
            assert launch.spill_bytes == 0, where
            assert launch.registers <= 128, where  # leaves room for two programs per SM
            assert max(launch.loads) == 128, f"{where}: widest load {launch.load_widths}"
        if case.wgmma_expected:
            assert all(launch.wgmma > 0 for launch in launches), case.name
        else:
            assert all(launch.wgmma == 0 for launch in launches), case.name
    assert seen == {"capture_reduce", "project", "steer_update", "steer_stats"}


@pytest.mark.slow
def test_the_table_names_every_launch(results):
    report = load_report()
    table = report.rows(results)
    assert len(table) == sum(len(launches) for _, launches in results)
    text = report.format_table(table, markdown=True)
    assert text.count("\n") == len(table) + 1 and "wgmma" in text
