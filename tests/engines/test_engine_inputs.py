"""The engine's parts that need no vLLM: which rows of a packed pass are which tokens, capture in
bounded memory, model specs the engine refuses, and the one-line error where vLLM is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from interp.engines.availability import vllm_available
from interp.engines.engine_capture import CaptureAccumulator
from interp.engines.model_source import (
    check_head_size,
    check_vllm_runs,
    engine_model_dir,
    head_size,
    position_limit,
)
from interp.engines.payload import steer_from_payload, steer_to_payload
from interp.engines.token_masks import step_layout
from interp.errors import InterpError
from interp.models.passes import StepMasks
from interp.steer.steering import Steer


def test_layout_marks_prompt_last_and_generated_rows_per_request():
    # Request 0: a whole prompt of 3 tokens (prefill); request 1: a decode step at position 5 of a
    # 4-token prompt; request 2: the second chunk (positions 2..3) of a 4-token prompt; 2 padding rows.
    positions = torch.tensor([0, 1, 2, 5, 2, 3, 0, 0])
    layout = step_layout(positions, torch.tensor([0, 3, 4, 6]), torch.tensor([3, 4, 4]), 8)
    assert layout.request.tolist() == [0, 0, 0, 1, 2, 2, -1, -1]
    m = layout.masks
    assert m.prompt[0].tolist() == [True, True, True, False, True, True, False, False]
    assert m.last_prompt[0].tolist() == [False, False, True, False, False, True, False, False]
    assert m.generated[0].tolist() == [False, False, False, True, False, False, False, False]
    only_second = layout.of_requests(torch.tensor([False, True, False]))
    assert only_second.generated[0].tolist() == [False, False, False, True] + [False] * 4
    assert not bool(only_second.prompt.any())


def test_layout_selection_matches_the_hf_step_masks():
    """A prompt's prefill, then decode steps: the engine's rows select what StepMasks select."""
    hf_prefill = StepMasks.for_prompts(torch.ones(1, 4, dtype=torch.long))
    engine_prefill = step_layout(torch.arange(4), torch.tensor([0, 4]), torch.tensor([4]), 4).masks
    hf_decode = StepMasks.for_decode(1)
    engine_decode = step_layout(torch.tensor([6]), torch.tensor([0, 1]), torch.tensor([4]), 1).masks
    v = torch.ones(3)
    for positions in ("last", "prompt", "generated", "all"):
        for phase in ("prefill", "decode", "both"):
            steer = Steer("blocks.0.hook_resid_post", "add", v, positions=positions, phase=phase)
            assert torch.equal(steer.select(hf_prefill), steer.select(engine_prefill))
            assert torch.equal(steer.select(hf_decode), steer.select(engine_decode))


def test_capture_keeps_last_rows_and_response_means_per_request():
    acc = CaptureAccumulator()
    h = torch.arange(8 * 2, dtype=torch.float32).reshape(8, 2)
    prefill = step_layout(
        torch.tensor([0, 1, 2, 0, 1]), torch.tensor([0, 3, 5]), torch.tensor([3, 2]), 5
    )
    acc.add("blocks.0.hook_resid_post", h[:5], prefill, ["a", None])
    decode = step_layout(torch.tensor([3, 2]), torch.tensor([0, 1, 2]), torch.tensor([3, 2]), 2)
    acc.add("blocks.0.hook_resid_post", h[5:7], decode, ["a", None])
    acc.add(
        "blocks.0.hook_resid_post",
        h[7:8],
        step_layout(torch.tensor([4]), torch.tensor([0, 1]), torch.tensor([3]), 1),
        ["a"],
    )
    taken = acc.take()
    assert set(taken) == {"a"}
    got = taken["a"]
    assert got["last"]["blocks.0.hook_resid_post"] == h[2].tolist()
    assert got["counts"]["blocks.0.hook_resid_post"] == 2
    assert got["sums"]["blocks.0.hook_resid_post"] == (h[5] + h[7]).tolist()
    assert acc.take() == {}


def test_steers_travel_as_plain_data():
    s = Steer(
        "blocks.2.hook_resid_post", "clamp", torch.randn(2, 5), values=torch.tensor([1.0, -1.0])
    )
    payload = steer_to_payload(s)
    json.dumps(payload)  # plain data: no tensors, no pickle
    back = steer_from_payload(payload)
    assert torch.equal(back.vectors, s.vectors) and torch.equal(back.values, s.values)
    assert (back.operator, back.positions, back.phase) == ("clamp", "all", "both")


def test_a_model_vllm_cannot_run_is_refused_with_the_hf_engine_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["MadeUpForCausalLM"]}))
    with pytest.raises(InterpError, match="vLLM cannot run .*MadeUpForCausalLM.*--engine hf"):
        check_vllm_runs(tmp_path, {"LlamaForCausalLM"})
    check_vllm_runs(tmp_path, {"MadeUpForCausalLM"})
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert engine_model_dir(tmp_path) == tmp_path  # a directory goes to vLLM as it is


def test_heads_the_attention_kernels_lack_are_refused_before_the_engine_starts(tmp_path):
    zoo = Path(__file__).resolve().parents[2] / "interp" / "organisms" / "zoo" / "add-medium"
    assert head_size(zoo) == 24  # the organism zoo's heads: vLLM's CPU kernels have none
    with pytest.raises(InterpError, match="heads of width 24.*supports 32, 64.*--engine hf"):
        check_head_size(zoo, [32, 64], "CPU")
    check_head_size(zoo, [24], "CPU")
    assert position_limit(zoo) == 128  # the engine's max_model_len is lowered to it
    # Gemma 3 keeps the width under text_config and says it outright (head_dim), not by division.
    config = {"text_config": {"head_dim": 256, "hidden_size": 640, "num_attention_heads": 4}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert head_size(tmp_path) == 256


def test_a_hub_id_is_refused_for_the_engine(monkeypatch):
    monkeypatch.setattr("interp.engines.model_source.resolve_spec", lambda s: ("hub", s))
    with pytest.raises(InterpError, match="local models only"):
        engine_model_dir("someone/model")


@pytest.mark.skipif(vllm_available(), reason="vLLM is installed here")
def test_engine_vllm_without_vllm_is_one_line_naming_the_setup(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "interp.cli.main",
            "generate",
            "organism:add-small",
            "--engine",
            "vllm",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "make setup-vllm" in lines[0] and "interp[vllm]" in lines[0]


def test_generate_prompts_file_gives_one_record_per_prompt_as_single_runs_do(
    tiny_dirs, tmp_path, capsys
):
    from interp.cli.main import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "the cat"}\n{"prompt": "a dog sat"}\n')
    common = ["generate", str(tiny_dirs["llama"]), "--max-new-tokens", "4", "--json"]
    assert main([*common, "--prompts", str(prompts)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["prompt"] for r in records] == ["the cat", "a dog sat"]
    assert all(r["engine"] == "hf" for r in records)
    for record in records:
        assert main([*common, "--prompt", record["prompt"]]) == 0
        single = json.loads(capsys.readouterr().out)
        assert single["token_ids"] == record["token_ids"]
