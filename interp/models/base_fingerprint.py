"""Which base an adapter was trained on, recorded so that loading it on another base is refused.

A fingerprint is a few weights sampled at fixed places from the modules an adapter changes (and
from the input embedding), with the shapes of those modules. The same base gives the same values
whichever way it is stored (a GGUF file, the directory `interp convert` makes of it) and within
rounding in whichever dtype it is loaded (bfloat16 keeps 8 bits of mantissa); a different
quantization of the same model, a fine-tune or another model does not.

    {"format": "interp.base_fingerprint/1", "base": "SmolLM2-135M-Instruct.Q4_1.gguf",
     "base_sha256": "...", "model_type": "llama",
     "samples": {"model.layers.29.mlp.down_proj.weight": {"shape": [576, 1536],
                                                          "index": [...], "value": [...]}}}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from interp.errors import InterpError

FINGERPRINT = "base_fingerprint.json"
FORMAT = "interp.base_fingerprint/1"
PER_TENSOR = 8  # sampled values per weight: enough to tell two quantizations apart
RTOL, ATOL = 1e-2, 1e-6  # bfloat16 rounding moves a weight by at most 2**-9 of itself


def base_fingerprint(
    model: nn.Module,
    modules: Iterable[str],
    *,
    base: str | None = None,
    base_sha256: str | None = None,
    per_tensor: int = PER_TENSOR,
) -> dict[str, Any]:
    """Sample `per_tensor` weights of each of `modules` (module paths) and of the input embedding."""
    named = dict(model.named_modules())
    samples: dict[str, Any] = {}
    names = [f"{m}.weight" for m in modules]
    embedding = _embedding_name(model)
    if embedding is not None:
        names.insert(0, embedding)
    params = dict(model.named_parameters())
    for name in names:
        weight = params.get(name)
        if weight is None:
            module = named.get(name.removesuffix(".weight"))
            weight = getattr(module, "weight", None)
        if not isinstance(weight, Tensor):
            raise InterpError(f"the base has no weight {name} to fingerprint", fix="check modules")
        flat = weight.detach().reshape(-1)
        generator = torch.Generator().manual_seed(_seed(name))
        index = torch.randint(0, flat.numel(), (per_tensor,), generator=generator)
        samples[name] = {
            "shape": list(weight.shape),
            "index": index.tolist(),
            "value": [float(v) for v in flat[index.to(flat.device)].float().cpu()],
        }
    config = getattr(model, "config", None)
    return {
        "format": FORMAT,
        "base": base,
        "base_sha256": base_sha256,
        "model_type": getattr(config, "model_type", None),
        "samples": samples,
    }


def check_fingerprint(fingerprint: dict[str, Any], model: nn.Module, *, where: str) -> None:
    """Refuse `model` when it is not the base `fingerprint` was taken from."""
    made_for = fingerprint.get("base") or "another base"
    sha = fingerprint.get("base_sha256")
    fix = f"load the adapter on {made_for}" + (f" (sha256 {sha[:12]}...)" if sha else "")
    fix += ", or rebuild the adapter on this base"
    if fingerprint.get("format") != FORMAT or not isinstance(fingerprint.get("samples"), dict):
        raise InterpError(f"{where}/{FINGERPRINT} is not an interp base fingerprint", fix=fix)
    params = {name: p for name, p in model.named_parameters(remove_duplicate=False)}
    off, largest, total = 0, 0.0, 0
    for name, sample in fingerprint["samples"].items():
        weight = params.get(name)
        if weight is None or list(weight.shape) != sample["shape"]:
            have = "no such weight" if weight is None else f"shape {list(weight.shape)}"
            raise InterpError(
                f"adapter {where} was made for {made_for}, whose {name} has shape "
                f"{sample['shape']}; this base has {have}",
                fix=fix,
            )
        flat = weight.detach().reshape(-1)
        index = torch.tensor(sample["index"], dtype=torch.long, device=flat.device)
        got = flat[index].double().cpu()
        want = torch.tensor(sample["value"], dtype=torch.float64)
        bad = (got - want).abs() > RTOL * want.abs() + ATOL
        off += int(bad.sum())
        total += len(want)
        relative = ((got - want).abs() / want.abs().clamp(min=ATOL)).max()
        largest = max(largest, float(relative))
    if off:
        raise InterpError(
            f"adapter {where} was made for {made_for}, not this base: {off} of {total} sampled "
            f"weights differ (by up to {largest:.0%} of their value)",
            fix=fix,
        )


def _embedding_name(model: nn.Module) -> str | None:
    get = getattr(model, "get_input_embeddings", None)
    embedding = get() if callable(get) else None
    if embedding is None:
        return None
    for name, module in model.named_modules():
        if module is embedding:
            return f"{name}.weight"
    return None


def _seed(name: str) -> int:
    # A seed from the name alone (not Python's salted hash), so a fingerprint reads the same later.
    return sum((i + 1) * ord(c) for i, c in enumerate(name)) % (2**31)
