"""LoRA adapters in peft's format: `BASE+ADAPTER` specs load as the merged model, checked first."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from interp.errors import InterpError
from interp.models.adapters import (
    CONFIG,
    WEIGHTS,
    LoraConfig,
    read_adapter,
    save_adapter,
)
from interp.models.base_fingerprint import FINGERPRINT, base_fingerprint
from interp.models.load import load_model
from interp.models.specs import resolve_spec, split_adapter
from interp.models.tiny import save_tiny_model, tiny_model

TARGETS = ("q_proj", "v_proj", "down_proj")
IDS = torch.tensor([[1, 5, 9, 14, 20, 33, 40, 7]])


def lora_weights(model, config: LoraConfig, seed: int = 0) -> dict:
    """Random A and B (B is not zero, so the adapter changes something) for every target."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for name, module in model.named_modules():
        if config.targets(name) and isinstance(module, torch.nn.Linear):
            r = config.rank(name)
            a = torch.randn(r, module.in_features, generator=generator) * 0.1
            b = torch.randn(module.out_features, r, generator=generator) * 0.1
            weights[name] = (a, b)
    return weights


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return save_tiny_model(
        tmp_path_factory.mktemp("base") / "llama", "llama", d_model=32, n_layers=3
    )


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory, base_dir):
    base = load_model(base_dir).hf
    config = LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, base_model_name_or_path="tiny")
    weights = lora_weights(base, config)
    fingerprint = base_fingerprint(base, weights, base="tiny")
    return save_adapter(tmp_path_factory.mktemp("adapter") / "a", config, weights, fingerprint)


def copy_adapter(adapter_dir, tmp_path):
    return shutil.copytree(adapter_dir, tmp_path / "adapter")


def lora_forward_logits(base_dir, adapter_dir):
    """The unmerged LoRA forward, computed by hand: each target adds scale * x A^T B^T."""
    model = load_model(base_dir)
    weights = load_file(adapter_dir / WEIGHTS)
    config = json.loads((adapter_dir / CONFIG).read_text())
    scale = config["lora_alpha"] / config["r"]
    handles = []
    for name, module in model.hf.named_modules():
        key = f"base_model.model.{name}.lora_A.weight"
        if key in weights:
            a, b = weights[key], weights[key.replace("lora_A", "lora_B")]

            def add(module, inputs, output, a=a, b=b):
                return output + scale * (inputs[0] @ a.T @ b.T)

            handles.append(module.register_forward_hook(add))
    try:
        return model.forward(IDS)
    finally:
        for handle in handles:
            handle.remove()


def test_merged_logits_equal_the_lora_forward(base_dir, adapter_dir):
    merged = load_model(f"{base_dir}+{adapter_dir}")
    plain = load_model(base_dir)
    expected = lora_forward_logits(base_dir, adapter_dir)
    torch.testing.assert_close(merged.forward(IDS), expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(plain.forward(IDS), expected, atol=1e-3)  # the adapter does something
    assert merged.spec == f"{base_dir}+{adapter_dir}"


def test_peft_gives_the_same_logits(base_dir, adapter_dir):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    with_peft = peft.PeftModel.from_pretrained(base, adapter_dir).eval()
    merged = load_model(f"{base_dir}+{adapter_dir}")
    with torch.no_grad():
        expected = with_peft(input_ids=IDS).logits
    torch.testing.assert_close(merged.forward(IDS), expected, atol=1e-5, rtol=1e-5)


def test_files_use_peft_key_names(adapter_dir):
    keys = set(load_file(adapter_dir / WEIGHTS))
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in keys
    assert "base_model.model.model.layers.2.mlp.down_proj.lora_B.weight" in keys
    config = json.loads((adapter_dir / CONFIG).read_text())
    assert config["peft_type"] == "LORA" and config["target_modules"] == sorted(TARGETS)


def test_bfloat16_base_passes_the_fingerprint(base_dir, adapter_dir):
    merged = load_model(f"{base_dir}+{adapter_dir}", dtype="bfloat16")
    assert merged.dtype == torch.bfloat16


def test_a_different_base_is_refused(tmp_path, adapter_dir):
    other = save_tiny_model(tmp_path / "other", "llama", d_model=32, n_layers=3, seed=1)
    with pytest.raises(InterpError, match=r"was made for tiny, not this base: \d+ of \d+ sampled"):
        load_model(f"{other}+{adapter_dir}")


def test_another_width_is_refused(tmp_path, adapter_dir):
    wide = save_tiny_model(tmp_path / "wide", "llama", d_model=48, n_layers=3)
    with pytest.raises(InterpError, match=r"needs model.layers.0.mlp.down_proj to be 64 -> 32"):
        load_model(f"{wide}+{adapter_dir}")


def test_another_family_is_refused(tmp_path, adapter_dir):
    gpt2 = save_tiny_model(tmp_path / "gpt2", "gpt2", d_model=32, n_layers=3)
    with pytest.raises(InterpError, match=r"does not have"):
        load_model(f"{gpt2}+{adapter_dir}")


def test_missing_weights_file(tmp_path, base_dir, adapter_dir):
    adapter = copy_adapter(adapter_dir, tmp_path)
    (adapter / WEIGHTS).unlink()
    with pytest.raises(InterpError, match=r"has no adapter_model.safetensors"):
        load_model(f"{base_dir}+{adapter}")


def test_missing_adapter_directory(base_dir, tmp_path):
    with pytest.raises(InterpError, match=r"no adapter directory at .*nowhere"):
        resolve_spec(f"{base_dir}+{tmp_path / 'nowhere'}")


def test_rank_that_disagrees_with_the_tensors(tmp_path, base_dir, adapter_dir):
    adapter = copy_adapter(adapter_dir, tmp_path)
    config = json.loads((adapter / CONFIG).read_text())
    (adapter / CONFIG).write_text(json.dumps({**config, "r": 8}))
    with pytest.raises(InterpError, match=r"do not have rank r=8"):
        load_model(f"{base_dir}+{adapter}")


def test_config_that_targets_other_modules(tmp_path, base_dir, adapter_dir):
    adapter = copy_adapter(adapter_dir, tmp_path)
    config = json.loads((adapter / CONFIG).read_text())
    (adapter / CONFIG).write_text(json.dumps({**config, "target_modules": ["q_proj", "k_proj"]}))
    with pytest.raises(InterpError, match=r"targets but holds no tensors for .*k_proj"):
        load_model(f"{base_dir}+{adapter}")


def test_unpaired_and_foreign_tensors(tmp_path, base_dir, adapter_dir):
    adapter = copy_adapter(adapter_dir, tmp_path)
    tensors = load_file(adapter / WEIGHTS)
    del tensors["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"]
    save_file(tensors, adapter / WEIGHTS)
    with pytest.raises(InterpError, match=r"no lora_B for model.layers.1.self_attn.v_proj"):
        read_adapter(adapter)
    save_file({**tensors, "base_model.model.lm_head.weight": torch.zeros(2, 2)}, adapter / WEIGHTS)
    with pytest.raises(InterpError, match=r"lm_head.weight, which is not a LoRA A or B weight"):
        read_adapter(adapter)


def test_options_a_merge_cannot_reproduce(tmp_path, adapter_dir):
    adapter = copy_adapter(adapter_dir, tmp_path)
    config = json.loads((adapter / CONFIG).read_text())
    (adapter / CONFIG).write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(InterpError, match=r"sets use_dora, which interp cannot merge"):
        read_adapter(adapter)


def test_pickled_adapter_is_not_read(tmp_path, adapter_dir):
    adapter = copy_adapter(adapter_dir, tmp_path)
    (adapter / WEIGHTS).rename(adapter / "adapter_model.bin")
    with pytest.raises(InterpError, match=r"pickled adapter_model.bin is not read"):
        read_adapter(adapter)


def test_corrupt_fingerprint_names_the_file(tmp_path, base_dir, adapter_dir):
    adapter = copy_adapter(adapter_dir, tmp_path)
    (adapter / FINGERPRINT).write_text("{")
    with pytest.raises(InterpError, match=r"base_fingerprint.json is not valid JSON"):
        load_model(f"{base_dir}+{adapter}")


def test_without_fingerprint_shapes_are_still_checked(tmp_path, adapter_dir):
    adapter = copy_adapter(adapter_dir, tmp_path)
    (adapter / FINGERPRINT).unlink()
    other = save_tiny_model(tmp_path / "other", "llama", d_model=32, n_layers=3, seed=1)
    assert load_model(f"{other}+{adapter}").n_layers == 3  # same shapes: nothing can tell
    wide = save_tiny_model(tmp_path / "wide", "llama", d_model=48, n_layers=3)
    with pytest.raises(InterpError, match=r"needs .* to be"):
        load_model(f"{wide}+{adapter}")


def test_targeting_rules_follow_peft():
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=("q_proj", "down_proj"),
        layers_to_transform=(1, 2),
        rank_pattern={"down_proj": 2},
        alpha_pattern={"layers.2.self_attn.q_proj": 16},
    )
    assert config.targets("model.layers.1.self_attn.q_proj")
    assert not config.targets("model.layers.0.self_attn.q_proj")  # layer not transformed
    assert not config.targets("model.layers.1.self_attn.k_proj")
    assert config.rank("model.layers.1.mlp.down_proj") == 2
    assert config.scale("model.layers.1.mlp.down_proj") == 4.0
    assert config.scale("model.layers.2.self_attn.q_proj") == 4.0
    assert config.scale("model.layers.1.self_attn.q_proj") == 2.0
    regex = LoraConfig(r=4, lora_alpha=4, target_modules=r".*\.layers\.0\..*_proj", use_rslora=True)
    assert regex.targets("model.layers.0.mlp.up_proj") and not regex.targets(
        "model.layers.1.mlp.up_proj"
    )
    assert regex.scale("x") == 2.0  # rsLoRA: alpha / sqrt(r)


def test_layers_to_transform_round_trips_through_the_files(tmp_path, base_dir):
    base, _ = tiny_model("llama", d_model=32, n_layers=3)
    config = LoraConfig(r=2, lora_alpha=2, target_modules=("o_proj",), layers_to_transform=(2,))
    adapter = save_adapter(tmp_path / "late", config, lora_weights(base, config))
    read = read_adapter(adapter)
    assert list(read.weights) == ["model.layers.2.self_attn.o_proj"]
    assert read.config.layers_to_transform == (2,)
    load_model(f"{base_dir}+{adapter}")  # no fingerprint; shapes and targets agree


def test_split_adapter_prefers_existing_paths(tmp_path):
    plus = tmp_path / "a+b"
    plus.mkdir()
    assert split_adapter(str(plus)) == (str(plus), None)
    assert split_adapter(f"{plus}+{tmp_path}") == (str(plus), tmp_path)
    assert split_adapter("organism:add-small+x") == ("organism:add-small", split_adapter("a+x")[1])
    assert split_adapter("Qwen/Qwen2.5-0.5B") == ("Qwen/Qwen2.5-0.5B", None)


def test_convert_writes_the_merged_model(tmp_path, base_dir, adapter_dir):
    from interp.models.convert import convert_model

    out = convert_model(f"{base_dir}+{adapter_dir}", tmp_path / "merged")
    merged = load_model(out)
    torch.testing.assert_close(
        merged.forward(IDS), lora_forward_logits(base_dir, adapter_dir), atol=1e-5, rtol=1e-5
    )
