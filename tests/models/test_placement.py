"""Precision and placement: dtype defaults, bf16 models, and a device map that offloads blocks to disk,
with hooks, capture, steering and generation unchanged by where the blocks sit."""

from __future__ import annotations

import json

import pytest
import torch

from interp.capture.run import capture
from interp.cli.main import main
from interp.directions.aggregators import get_aggregator
from interp.errors import InterpError
from interp.hooks.context import count_hooks
from interp.models.generate import generate
from interp.models.load import load_model
from interp.steer import Steer, steering

PROMPTS = ["hello there", "a b c d", "what a day"]


def offloading_map(n_layers: int) -> dict[str, str]:
    """The first block in memory, the rest on disk: accelerate streams them in per forward."""
    placement = {"model.embed_tokens": "cpu", "model.norm": "cpu", "lm_head": "cpu"}
    placement["model.rotary_emb"] = "cpu"
    for layer in range(n_layers):
        placement[f"model.layers.{layer}"] = "cpu" if layer == 0 else "disk"
    return placement


@pytest.fixture(scope="module")
def offloaded(tiny_dirs, tmp_path_factory):
    return load_model(
        tiny_dirs["llama"],
        device_map=offloading_map(3),
        offload_folder=tmp_path_factory.mktemp("offload"),
    )


def test_dtype_defaults_to_float32_on_a_cpu(tiny_dirs):
    model = load_model(tiny_dirs["llama"])
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    assert model.device_map is None


def test_bfloat16_model_captures_steers_and_statistics_stay_float32(tiny_dirs):
    model = load_model(tiny_dirs["llama"], dtype="bfloat16")
    assert model.dtype == torch.bfloat16
    got = capture(model, PROMPTS, hooks="resid_post", positions="last")
    rows = got.activations["blocks.1.hook_resid_post"]
    assert rows.dtype == torch.bfloat16
    direction = get_aggregator("class_mean_difference")(rows[:2], rows[2:])
    assert direction.dtype == torch.float32
    labelled = capture(
        model,
        [{"prompt": p, "label": i % 2} for i, p in enumerate(PROMPTS)],
        hooks="resid_post",
        positions="last",
        reduce="label_mean",
    )
    assert labelled.label_means["blocks.1.hook_resid_post"].means.dtype == torch.float32
    before = generate(model, "hello", max_new_tokens=5)[0].token_ids
    with steering(model, Steer("blocks.1.hook_resid_post", "add", direction, alpha=50.0)):
        steered = generate(model, "hello", max_new_tokens=5)[0].token_ids
    assert steered != before
    assert generate(model, "hello", max_new_tokens=5)[0].token_ids == before
    assert count_hooks(model.hf) == 0


def test_offloaded_blocks_read_and_steer_as_on_one_device(tiny_dirs, offloaded):
    whole = load_model(tiny_dirs["llama"])
    assert offloaded.device == torch.device("cpu")
    assert "disk: 2" in offloaded.describe()["device_map"]
    a = capture(whole, PROMPTS, hooks="resid_post", positions="all").activations
    b = capture(offloaded, PROMPTS, hooks="resid_post", positions="all").activations
    for hook in a:
        assert torch.equal(a[hook], b[hook])
    v = torch.randn(whole.d_model, generator=torch.Generator().manual_seed(1))
    steer = Steer("blocks.2.hook_resid_post", "add", v, alpha=3.0, positions="all", phase="both")
    texts = []
    for model in (whole, offloaded):
        with steering(model, steer):
            texts.append([g.token_ids for g in generate(model, PROMPTS, max_new_tokens=6)])
        assert count_hooks(model.hf) == 0
    assert texts[0] == texts[1]


def test_placement_refusals(tiny_dirs, tmp_path, offloaded):
    with pytest.raises(InterpError, match="bridge runs on one device"):
        load_model(tiny_dirs["llama"], backend="bridge", device_map="auto")
    from interp.models.load import with_backend

    with pytest.raises(InterpError, match="bridge runs on one device"):
        with_backend(offloaded, "bridge")
    checkpoint = tmp_path / "model.bin"
    checkpoint.write_bytes(b"\0" * 8)
    with pytest.raises(InterpError, match="built in memory"):
        load_model(checkpoint, device_map="auto")
    with pytest.raises(InterpError, match="only apply with a device map"):
        load_model(tiny_dirs["llama"], max_memory={"cpu": "1GiB"})
    with pytest.raises(InterpError, match="unknown dtype"):
        load_model(tiny_dirs["llama"], dtype="float8")


def test_cli_takes_dtype_and_device_map(tiny_dirs, tmp_path, capsys):
    placement = json.dumps(offloading_map(3))
    argv = ["info", str(tiny_dirs["llama"]), "--json", "--dtype", "bfloat16"]
    argv += ["--device-map", placement, "--offload-folder", str(tmp_path / "off")]
    assert main(argv) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["dtype"] == "bfloat16" and "disk: 2" in info["device_map"]
    for bad, words in [
        (["--device-map", "{not json"], "not valid JSON"),
        (["--device-map", "auto", "--max-memory", "cpu"], "not DEVICE=AMOUNT"),
    ]:
        assert main(["info", str(tiny_dirs["llama"]), *bad]) == 2
        assert words in capsys.readouterr().err


def test_study_configs_check_dtype(tmp_path):
    from interp.experiments.transfer_config import TransferConfig

    with pytest.raises(InterpError, match="dtype 'half' is not one of"):
        TransferConfig.from_dict({"source_locked": "a", "target": "b", "dtype": "half"})
    config = TransferConfig.from_dict({"source_locked": "a", "target": "b", "dtype": "bfloat16"})
    assert config.dtype == "bfloat16"
