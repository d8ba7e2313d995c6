"""Independent units on Ray: a local Ray on the CPU gives the metrics of the sequential run, field for
field, for an audit of the organism zoo and a transfer grid; checkpointed units are not run again;
a unit's bad input is one line; without Ray, `--ray` says which extra to install."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from interp.cli.main import main
from interp.errors import InterpError
from interp.experiments.run_dir import RunDir
from interp.experiments.units import RayCluster, Sequential, Unit, given, run_units

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="Ray is not installed (pip install 'interp[ray]')",
)

AUDIT = {
    "suspects": ["organism:add-medium-m1", "organism:add-medium", "organism:add-small-post"],
    "reference": "organism:add-medium-m4",
    "probe": {
        "model": "organism:add-medium-m4",
        "n_items": 12,
        "layers": [1],
        "folds": 2,
        "fpr": 0.1,
        "n_control": 50,
    },
    "noise": {"stds": [0.02], "seeds": [0]},
    "elicitation": {"n_demonstrations": 2, "steps": 2},
    "n_items": 12,
    "n_bootstrap": 50,
    "answer_key": "zoo",
}

TRANSFER = {
    "source_locked": "organism:add-small",
    "target": "organism:add-medium",
    "contrast": "prompt",
    "skill": "add",
    "n_operands": 3,
    "digits": 2,
    "locked_preamble": "",
    "unlocked_preamble": "Show steps.\n",
    "n_values": [8, 16],
    "ranks": [2, 8],
    "alphas": [0.2, 1.0],
    "n_select": 12,
    "n_test": 12,
    "n_controls": 2,
    "n_bootstrap": 100,
    "max_new_tokens": 32,
    "batch_size": 16,
}


@pytest.fixture(scope="module")
def local_ray():
    import ray

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("INTERP_ZOO", raising=False)  # before Ray starts: its workers inherit it
        started = not ray.is_initialized()
        if started:
            ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        # The toy units below live in this file, which the workers cannot import by name.
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        yield RayCluster("auto")
        if started:
            ray.shutdown()


def metrics(out: Path) -> dict:
    record = json.loads((out / "metrics.json").read_text())
    record.pop("elapsed_s", None), record.pop("seconds", None)  # wall time, not a result
    return record


def assert_same_fields(ray_run: dict, sequential: dict, where: str = "") -> None:
    """Field for field, so that a difference names its field."""
    assert set(ray_run) == set(sequential), where
    for key, value in sequential.items():
        if isinstance(value, dict):
            assert_same_fields(ray_run[key], value, f"{where}.{key}")
        else:
            assert ray_run[key] == value, f"{where}.{key}"


@needs_ray
@pytest.mark.slow
def test_audit_on_ray_gives_the_sequential_metrics(local_ray, tmp_path):
    from interp.experiments.audit import run_audit
    from interp.experiments.audit_config import AuditConfig

    config = AuditConfig.from_dict(AUDIT)
    run_audit(config, tmp_path / "here", progress=False)
    run_audit(config, tmp_path / "ray", progress=False, executor=local_ray)
    sequential, on_ray = metrics(tmp_path / "here"), metrics(tmp_path / "ray")
    assert_same_fields(on_ray, sequential)
    assert set(on_ray["suspects"]) == {"add-medium-m1", "add-medium", "add-small-post"}
    # The suspects differ, so equal metrics are not a constant: each unit carried its own model.
    accuracies = {s["accuracy"] for s in on_ray["suspects"].values()}
    assert len(accuracies) > 1
    for name in ("report.md", "config.json"):
        assert (tmp_path / "ray" / name).read_text() == (tmp_path / "here" / name).read_text()


@needs_ray
@pytest.mark.slow
def test_transfer_grid_on_ray_gives_the_sequential_metrics(local_ray, tmp_path, capsys):
    from interp.experiments.transfer import run_transfer
    from interp.experiments.transfer_config import TransferConfig

    run_transfer(TransferConfig.from_dict(TRANSFER), tmp_path / "here", progress=False)
    config = tmp_path / "transfer.json"
    config.write_text(json.dumps(TRANSFER))
    on_cluster = ["--config", str(config), "--out", str(tmp_path / "ray"), "--ray", "auto"]
    assert main(["transfer", *on_cluster, "--json"]) == 0  # joins the Ray this process started
    sequential, on_ray = metrics(tmp_path / "here"), metrics(tmp_path / "ray")
    assert_same_fields(on_ray, sequential)
    grid = on_ray["grid"]
    assert len(grid) == 8 and grid == sequential["grid"]
    # Steering moved the accuracy somewhere on the grid: the points are not all one number.
    assert len({point["select_accuracy"] for point in grid}) > 1


def square(models, x: int, ran: str) -> dict:
    """A toy unit: records that it ran (the workers share this machine's disk)."""
    (Path(ran) / f"{x}").write_text("ran")
    if x < 0:
        raise InterpError(f"no square of {x} here", fix="pass a natural number")
    return {"x": x, "square": x * x, "half": x / 2}


@needs_ray
def test_checkpointed_units_are_read_back_not_run(local_ray, tmp_path):
    ran = tmp_path / "ran"
    ran.mkdir()
    units = [Unit(f"point-{x}", given(x, str(ran))) for x in range(5)]
    sequential = run_units(RunDir.open(tmp_path / "a", {}), units, square, Sequential())
    run = RunDir.open(tmp_path / "b", {"k": 1})
    for x in (1, 3):  # an earlier, killed run had finished these
        run.save(f"point-{x}", {"x": x, "square": x * x, "half": x / 2})
    for path in ran.iterdir():
        path.unlink()
    lines: list[str] = []
    on_ray = run_units(run, units, square, local_ray, lines.append)
    assert sorted(int(p.name) for p in ran.iterdir()) == [0, 2, 4]
    assert on_ray == sequential and list(on_ray) == [u.name for u in units]
    assert sum("done" in line for line in lines) == 3
    for x in range(5):  # each task's result is checkpointed as the sequential path writes it
        assert run.done(f"point-{x}")


@needs_ray
def test_a_unit_that_fails_on_bad_input_fails_the_study_in_one_line(local_ray, tmp_path):
    run = RunDir.open(tmp_path / "run", {})
    units = [Unit("good", given(2, str(tmp_path))), Unit("bad", given(-1, str(tmp_path)))]
    with pytest.raises(InterpError, match=r"unit bad: no square of -1 here; pass a natural"):
        run_units(run, units, square, local_ray)
    assert not run.done("bad")


def test_without_ray_the_option_names_the_extra(tmp_path, monkeypatch, capsys):
    config = tmp_path / "audit.json"
    config.write_text(json.dumps(AUDIT))
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    code = main(["audit", "--config", str(config), "--out", str(tmp_path / "r"), "--ray", "auto"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "interp[ray]" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / ".r.partial").exists()


def test_a_bad_local_cpu_count_is_refused(tmp_path, capsys):
    config = tmp_path / "audit.json"
    config.write_text(json.dumps(AUDIT))
    code = main(
        ["audit", "--config", str(config), "--out", str(tmp_path / "r"), "--ray", "local:x"]
    )
    assert code == 2 and "local:4" in capsys.readouterr().err


def test_the_python_api_takes_the_same_option(monkeypatch, tmp_path):
    import interp

    with pytest.raises(InterpError, match="local:4"):
        interp.audit(AUDIT, out=tmp_path / "a", ray="local:0")
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InterpError, match=r"interp\[ray\]"):
        interp.transfer(TRANSFER, out=tmp_path / "t", ray="auto")
    assert not list(tmp_path.iterdir())  # refused before any run directory
