"""The vLLM engine against the hf path on SmolLM2-135M-Instruct in float32: greedy continuations,
steered continuations (every operator, position and phase, all in one batch of the engine), and
captured activations. Runs in the vLLM environment (`make setup-vllm`; CI runs
`.venv-vllm/bin/python -m pytest tests/engines`); skipped where vLLM is not installed.
"""

from __future__ import annotations

import os

import pytest
import torch

pytest.importorskip(
    "vllm", reason="vLLM is not installed here; `make setup-vllm` builds .venv-vllm, which has it"
)

from interp.engines.model_source import engine_model_dir  # noqa: E402
from interp.engines.vllm_engine import VLLMEngine  # noqa: E402
from interp.errors import InterpError  # noqa: E402
from interp.hooks.context import hooked  # noqa: E402
from interp.models.generate import generate  # noqa: E402
from interp.models.load import load_model  # noqa: E402
from interp.models.tokens import Chat, encode  # noqa: E402
from interp.steer.steering import Steer, steering  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village,",
    "def fibonacci(n):",
    "The three primary colors are",
    "Water boils at a temperature of",
    "My favourite food is",
    "In 1492, Columbus",
    "The best way to learn a language is",
    Chat.of("Describe your morning in one sentence."),
    Chat.of("What is 12 plus 30?"),
    Chat.of("Name a large animal."),
    Chat.of("Write a haiku about rain."),
]
NEW_TOKENS = 16
GEMMA_TOKENS = 12
LAYER = 10
SHARE = 0.9  # the bar: identical greedy continuations on at least 90% of prompts
NEAR_TIE = 0.5  # logits; where continuations differ, the hf top-2 margin there must be below it


def _settings(d_model: int) -> dict[str, list[Steer]]:
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(d_model, generator=gen)
    basis = torch.randn(2, d_model, generator=gen)
    hook = f"blocks.{LAYER}.hook_resid_post"
    return {
        "add all/both": [Steer(hook, "add", v, alpha=6.0, positions="all", phase="both")],
        "rotate last/prefill": [
            Steer(hook, "rotate", v, alpha=0.5, positions="last", phase="prefill")
        ],
        "rotate generated/decode": [
            Steer(hook, "rotate", -v, alpha=0.3, positions="generated", phase="decode")
        ],
        "ablate prompt/both": [
            Steer(hook, "ablate", basis, positions="prompt", phase="both"),
        ],
        "clamp all/both + resid_pre": [
            Steer(hook, "clamp", basis, positions="all", values=torch.tensor([3.0, -3.0])),
            Steer("blocks.4.hook_resid_pre", "add", v, alpha=3.0, positions="prompt"),
        ],
    }


@pytest.fixture(scope="module")
def hf_model(smollm2_gguf):
    return load_model(smollm2_gguf, device="cpu", dtype="float32")


def test_the_engine_reads_exactly_the_weights_the_hf_backend_dequantizes(hf_model, smollm2_gguf):
    """What makes the two engines comparable: the directory vLLM reads holds the GGUF file's
    weights as the hf backend dequantizes them, bit for bit."""
    converted = load_model(engine_model_dir(smollm2_gguf), device="cpu", dtype="float32")
    ours = converted.hf.state_dict()
    for name, tensor in hf_model.hf.state_dict().items():
        assert torch.equal(ours[name], tensor), name


@pytest.fixture(scope="module")
def engine(smollm2_gguf):
    with VLLMEngine(smollm2_gguf, kv_cache_gib=1, max_model_len=512) as started:
        yield started


def _margin(model, prompt, tokens: list[int], at: int, steers: list[Steer]) -> float:
    """The hf model's top-1 minus top-2 logit where the continuations part."""
    prompt_ids = encode(model.tokenizer, prompt).ids
    ids = torch.tensor([prompt_ids + tokens[:at]])
    with steering(model, steers):
        logits = model.forward(ids, prompt_width=len(prompt_ids))[0, -1]
    top = logits.topk(2).values
    return float(top[0] - top[1])


def _check_agreement(model, engine_out, hf_out, steers, label: str) -> None:
    same = [e.token_ids == h.token_ids for e, h in zip(engine_out, hf_out, strict=True)]
    margins = []
    for e, h, ok in zip(engine_out, hf_out, same, strict=True):
        if ok:
            continue
        at = next(
            (i for i, (a, b) in enumerate(zip(e.token_ids, h.token_ids, strict=False)) if a != b),
            min(len(e.token_ids), len(h.token_ids)),
        )
        margins.append(_margin(model, h.prompt, h.token_ids, at, steers))
    print(f"{label}: {sum(same)}/{len(same)} identical; margins where they part: {margins}")
    assert sum(same) >= SHARE * len(same), (label, margins)
    assert all(m < NEAR_TIE for m in margins), (label, margins)


def test_greedy_continuations_agree_with_hf(engine, hf_model):
    engine_out = engine.generate(PROMPTS, NEW_TOKENS)
    hf_out = generate(hf_model, PROMPTS, NEW_TOKENS, batch_size=len(PROMPTS))
    assert [g.prompt for g in engine_out] == PROMPTS
    _check_agreement(hf_model, engine_out, hf_out, [], "unsteered")


def test_steered_continuations_agree_with_hf_all_settings_in_one_batch(engine, hf_model):
    """Every setting's requests (and unsteered ones, with the same prompts) share one engine batch:
    per-request steering, and no steer leaking to another request's tokens."""
    settings = _settings(engine.d_model)
    plan = [None] + list(settings.values())
    prompts = [p for _ in plan for p in PROMPTS]
    per_prompt = [steers for steers in plan for _ in PROMPTS]
    engine_out = engine.generate(prompts, NEW_TOKENS, steers=per_prompt)
    plain = generate(hf_model, PROMPTS, NEW_TOKENS, batch_size=len(PROMPTS))
    _check_agreement(hf_model, engine_out[: len(PROMPTS)], plain, [], "unsteered in the batch")
    for n, (label, steers) in enumerate(settings.items(), 1):
        with steering(hf_model, steers):
            hf_out = generate(hf_model, PROMPTS, NEW_TOKENS, batch_size=len(PROMPTS))
        mine = engine_out[n * len(PROMPTS) : (n + 1) * len(PROMPTS)]
        _check_agreement(hf_model, mine, hf_out, steers, label)
        moved = sum(h.token_ids != p.token_ids for h, p in zip(hf_out, plain, strict=True))
        assert moved > 0, f"{label} changed no continuation, so agreement shows nothing"


@pytest.mark.parametrize("which", ["every weight", "the tied embedding only"])
def test_weights_loaded_into_the_running_engine_agree_with_hf(engine, hf_model, which):
    """The audit's noise and fine-tuning change the hf model's weights and hand them to the engine:
    the engine then continues as the changed hf model does, and as before once the weights are
    restored. The embedding alone checks the output head tied to it (a packed copy on the CPU)."""
    clean = engine.generate(PROMPTS, NEW_TOKENS)
    saved = {k: v.clone() for k, v in hf_model.hf.state_dict().items()}
    gen = torch.Generator().manual_seed(1)
    try:
        with torch.no_grad():
            for name, p in hf_model.hf.named_parameters():
                if which == "every weight" or "embed_tokens" in name:
                    p.add_(torch.randn(p.shape, generator=gen) * p.std() * 0.1)
        assert engine.load_weights(hf_model.hf.state_dict().items()) > 0
        engine_out = engine.generate(PROMPTS, NEW_TOKENS)
        hf_out = generate(hf_model, PROMPTS, NEW_TOKENS, batch_size=len(PROMPTS))
        _check_agreement(hf_model, engine_out, hf_out, [], f"noise on {which}")
        moved = sum(e.token_ids != c.token_ids for e, c in zip(engine_out, clean, strict=True))
        assert moved >= len(PROMPTS) // 2, f"the noise on {which} changed {moved} continuations"
    finally:
        hf_model.hf.load_state_dict(saved)
        engine.load_weights(hf_model.hf.state_dict().items())
    restored = engine.generate(PROMPTS, NEW_TOKENS)
    assert [g.token_ids for g in restored] == [g.token_ids for g in clean]


def test_captured_activations_match_hf(engine, hf_model):
    hooks = ["blocks.3.hook_resid_post", f"blocks.{LAYER}.hook_resid_pre"]
    steers = _settings(engine.d_model)["add all/both"]
    out, captured = engine.generate_with_capture(PROMPTS[:6], hooks, 8, steers=steers)
    for i, g in enumerate(out):
        prompt_ids = encode(hf_model.tokenizer, g.prompt).ids
        fed = torch.tensor([prompt_ids + g.token_ids[:-1]])
        rows: dict[str, torch.Tensor] = {}
        with steering(hf_model, steers), hooked(hf_model, [(h, _reader(rows, h)) for h in hooks]):
            hf_model.forward(fed, prompt_width=len(prompt_ids))
        for h in hooks:
            scale = float(rows[h].norm(dim=-1).mean())
            last = rows[h][len(prompt_ids) - 1]
            assert float((captured.last[h][i] - last).abs().max()) < 1e-3 * scale, h
            n = len(g.token_ids) - 1
            assert int(captured.response_count[h][i]) == n
            if n:
                mean = rows[h][len(prompt_ids) :].mean(0)
                assert float((captured.response_mean[h][i] - mean).abs().max()) < 1e-3 * scale


def _reader(rows: dict, name: str):
    def read(h):
        rows[name] = h[0].detach().clone()

    return read


def test_bad_steers_are_refused_in_one_line(engine):
    with pytest.raises(InterpError, match="width 100 but the model's is 576"):
        engine.generate(
            ["Hi"], 2, steers=[Steer("blocks.1.hook_resid_post", "add", torch.ones(100))]
        )
    with pytest.raises(InterpError, match="only the residual stream"):
        engine.generate(["Hi"], 2, steers=[Steer("blocks.1.hook_mlp_out", "add", torch.ones(576))])
    with pytest.raises(InterpError, match="2 steer lists for 1 prompts"):
        engine.generate(["Hi"], 2, steers=[None, None])
    # The engine still serves after refusing.
    assert len(engine.generate(["Hi"], 2)[0].token_ids) <= 2


def test_an_engine_that_fails_to_start_leaves_no_process(smollm2_gguf, tmp_path):
    """Weights of another model: the config passes, the engine's processes start, and the worker
    fails loading them; the error is one line and every process it started is gone."""
    import psutil
    from safetensors.torch import save_file

    source = engine_model_dir(smollm2_gguf)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    save_file({"unrelated.weight": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    before = {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}
    with pytest.raises(InterpError, match="did not start") as caught:
        VLLMEngine(tmp_path, max_model_len=512)
    assert "\n" not in str(caught.value)
    after = {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}
    assert after <= before


def test_gemma3_agrees_with_hf_unsteered_and_under_every_setting(gemma3_gguf):
    """Gemma-3-270M (one kv head of width 256, q/k norms, sliding-window layers, a scaled
    embedding, a 262k vocabulary that makes each hf step slow): the first eight prompts, 12 new
    tokens, unsteered and under each setting, all in one batch."""
    # The hf side reads the directory the engine reads (the GGUF dequantized once, as the test
    # above checks for SmolLM2), which loads in seconds.
    model = load_model(engine_model_dir(gemma3_gguf), device="cpu", dtype="float32")
    prompts = PROMPTS[:8]
    settings = _settings(model.d_model)
    plan = [None] + list(settings.values())
    with VLLMEngine(gemma3_gguf, kv_cache_gib=1, max_model_len=512) as engine:
        engine_out = engine.generate(
            [p for _ in plan for p in prompts],
            GEMMA_TOKENS,
            steers=[steers for steers in plan for _ in prompts],
        )
    for n, (label, steers) in enumerate([("unsteered", [])] + list(settings.items())):
        with steering(model, steers):
            hf_out = generate(model, prompts, GEMMA_TOKENS, batch_size=len(prompts))
        mine = engine_out[n * len(prompts) : (n + 1) * len(prompts)]
        _check_agreement(model, mine, hf_out, steers, f"gemma3 {label}")
