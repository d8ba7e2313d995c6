"""`"engine"` in a transfer config and `--engine` on `interp transfer`: checked on load, and vLLM
missing said in one line before any model is loaded. (The study on vLLM itself is tested in
tests/engines/test_transfer_engine.py, in the vLLM environment.)"""

from __future__ import annotations

import json

import pytest

from interp.cli.main import main
from interp.errors import InterpError
from interp.experiments.transfer_config import TransferConfig

CONFIG = {"source_locked": "organism:add-small", "target": "organism:add-large"}


@pytest.fixture
def no_vllm(monkeypatch):
    """vLLM absent (whether or not it is installed here), and any model load a failure."""
    monkeypatch.setattr("interp.engines.availability.vllm_available", lambda: False)

    def no_model_time(config, spec):
        raise AssertionError(f"{spec} was loaded before the engine was checked")

    monkeypatch.setattr("interp.experiments.transfer.load_study_model", no_model_time)


@pytest.mark.parametrize(("in_config", "flag"), [("vllm", []), ("hf", ["--engine", "vllm"])])
def test_engine_vllm_without_vllm_is_one_line_naming_the_setup(
    no_vllm, tmp_path, capsys, in_config, flag
):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG | {"engine": in_config}))
    out = tmp_path / "run"
    assert main(["transfer", "--config", str(path), "--out", str(out), *flag]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "make setup-vllm" in lines[0], lines
    assert not out.exists() and not (tmp_path / ".run.partial").exists()


def test_engine_is_hf_by_default_and_checked():
    assert TransferConfig.from_dict(CONFIG).engine == "hf"
    assert TransferConfig.from_dict(CONFIG | {"engine": "vllm"}).engine == "vllm"
    with pytest.raises(InterpError, match="engine"):
        TransferConfig.from_dict(CONFIG | {"engine": "tgi"})
