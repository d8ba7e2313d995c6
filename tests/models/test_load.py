"""Model specs load offline on both backends, and bad specs fail fast with one clear line."""

from __future__ import annotations

import shutil
import time

import pytest
import torch

from interp.errors import InterpError
from interp.models.generate import generate
from interp.models.load import load_model, with_backend
from interp.models.specs import resolve_spec
from interp.models.tiny import TINY_ARCHITECTURES


@pytest.mark.parametrize("arch", TINY_ARCHITECTURES)
def test_local_directory_loads_on_both_backends(tiny_dirs, arch):
    hf = load_model(tiny_dirs[arch])
    bridge = load_model(tiny_dirs[arch], backend="bridge")
    assert (hf.n_layers, hf.d_model, hf.architecture) == (3, 32, arch)
    assert bridge.n_layers == hf.n_layers and bridge.config_hash() == hf.config_hash()
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    torch.testing.assert_close(hf.forward(ids), bridge.forward(ids), atol=1e-5, rtol=0)


def test_with_backend_leaves_the_original_untouched(tiny_dirs):
    model = load_model(tiny_dirs["llama"])
    before = [type(m) for m in model.hf.modules()]
    with_backend(model, "bridge")
    assert [type(m) for m in model.hf.modules()] == before


def test_generation_batched_equals_alone(tiny_dirs):
    model = load_model(tiny_dirs["gpt2"])
    prompts = ["the cat", "a longer prompt here", ""]
    batched = generate(model, prompts, max_new_tokens=8, batch_size=3, stop_at_eos=False)
    for prompt, result in zip(prompts, batched, strict=True):
        (alone,) = generate(model, prompt, max_new_tokens=8, stop_at_eos=False)
        assert alone.token_ids == result.token_ids


def test_generation_cache_equals_bridge_without_cache(tiny_dirs):
    hf = load_model(tiny_dirs["llama"])
    bridge = with_backend(hf, "bridge")
    a = generate(hf, ["the cat", "hello there friend"], max_new_tokens=6, stop_at_eos=False)
    b = generate(bridge, ["the cat", "hello there friend"], max_new_tokens=6, stop_at_eos=False)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]


def test_bad_specs(tmp_path, tiny_dirs):
    with pytest.raises(InterpError, match="no such file"):
        load_model(tmp_path / "missing")
    with pytest.raises(InterpError, match="not a Hugging Face model directory"):
        load_model(tmp_path)
    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_dirs["llama"], no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(InterpError, match="no weights"):
        load_model(no_weights)
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_dirs["llama"], truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(InterpError, match="corrupt or truncated"):
        load_model(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InterpError, match="neither a GGUF model"):
        load_model(text)
    with pytest.raises(InterpError, match="backend"):
        load_model(tiny_dirs["llama"], backend="vllm")


def test_resolve_spec_checks_without_loading(tmp_path, tiny_dirs, monkeypatch):
    import interp.models.load as load

    def no_loading(*args, **kwargs):
        raise AssertionError("resolve_spec loaded a model")

    monkeypatch.setattr(load.AutoModelForCausalLM, "from_pretrained", no_loading)
    assert resolve_spec(tiny_dirs["llama"]) == ("dir", tiny_dirs["llama"])
    assert resolve_spec("organism:add-small")[0] == "dir"
    assert resolve_spec("Qwen/Qwen2.5-0.5B") == ("hub", "Qwen/Qwen2.5-0.5B")
    checkpoint = tmp_path / "model.bin"
    checkpoint.write_bytes(b"\0" * 8)
    assert resolve_spec(checkpoint) == ("llama2c", checkpoint)
    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_dirs["llama"], no_weights)
    (no_weights / "model.safetensors").unlink()
    for spec, words in [
        (tmp_path / "missing", "no such file"),
        (tmp_path, "not a Hugging Face model directory"),
        (no_weights, "no weights"),
        ("organism:no-such-organism", "no-such-organism"),
    ]:
        with pytest.raises(InterpError, match=words):
            resolve_spec(spec)


def test_hub_id_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(InterpError, match="HF_HUB_OFFLINE"):
        load_model("someone/some-model-that-is-not-cached")
    assert time.perf_counter() - start < 10


def test_bridge_wraps_a_model_built_in_memory():
    from interp.models.model import Model
    from interp.models.tiny import tiny_model

    hf, tokenizer = tiny_model("llama", d_model=32, n_layers=2)
    model = Model(hf=hf, tokenizer=tokenizer, spec="in-memory")
    bridge = with_backend(model, "bridge")
    ids = torch.tensor([[1, 5, 6, 7]])
    torch.testing.assert_close(bridge.forward(ids), model.forward(ids), atol=1e-5, rtol=0)
