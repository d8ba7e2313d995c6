"""`"engine"` in transfer and audit configs and `--engine` on `interp transfer` and `interp audit`:
checked on load, and vLLM missing said in one line before any model is loaded. (The studies on
vLLM themselves are tested in tests/engines/, in the vLLM environment.)"""

from __future__ import annotations

import json

import pytest

from interp.cli.main import main
from interp.errors import InterpError
from interp.experiments.audit_config import AuditConfig
from interp.experiments.transfer_config import TransferConfig

CONFIGS = {
    "transfer": {"source_locked": "organism:add-small", "target": "organism:add-large"},
    "audit": {"suspects": ["organism:add-medium"], "reference": "organism:add-medium-m4"},
}
LOADERS = {
    "transfer": "interp.experiments.transfer.load_study_model",
    "audit": "interp.experiments.audit.load_study_model",
}


@pytest.fixture
def no_vllm(monkeypatch):
    """vLLM absent (whether or not it is installed here), and any model load a failure."""
    monkeypatch.setattr("interp.engines.availability.vllm_available", lambda: False)

    def no_model_time(config, spec):
        raise AssertionError(f"{spec} was loaded before the engine was checked")

    for loader in LOADERS.values():
        monkeypatch.setattr(loader, no_model_time)


@pytest.mark.parametrize("study", list(CONFIGS))
@pytest.mark.parametrize(("in_config", "flag"), [("vllm", []), ("hf", ["--engine", "vllm"])])
def test_engine_vllm_without_vllm_is_one_line_naming_the_setup(
    no_vllm, tmp_path, capsys, study, in_config, flag
):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIGS[study] | {"engine": in_config}))
    out = tmp_path / "run"
    assert main([study, "--config", str(path), "--out", str(out), *flag]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "make setup-vllm" in lines[0], lines
    assert not out.exists() and not (tmp_path / ".run.partial").exists()


@pytest.mark.parametrize(("study", "kind"), [("transfer", TransferConfig), ("audit", AuditConfig)])
def test_engine_is_hf_by_default_and_checked(study, kind):
    config = CONFIGS[study]
    assert kind.from_dict(config).engine == "hf"
    assert kind.from_dict(config | {"engine": "vllm"}).engine == "vllm"
    with pytest.raises(InterpError, match="engine"):
        kind.from_dict(config | {"engine": "tgi"})


def test_an_audit_on_vllm_leaves_placement_to_vllm():
    with pytest.raises(InterpError, match="device_map applies to the hf engine"):
        AuditConfig.from_dict(CONFIGS["audit"] | {"engine": "vllm", "device_map": "auto"})
