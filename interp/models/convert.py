"""Write a GGUF file or a llama2.c checkpoint out as a Hugging Face directory, checked by reloading it.

A GGUF load reads the file's metadata three times (config, tokenizer, weights), builds its tokenizer
and dequantizes every tensor; converted once, the model loads from the directory in a fraction of
that (benchmarks/bench_load.py measures both). The tokenizer, chat template included, is saved
beside the weights.
"""

from __future__ import annotations

from pathlib import Path

import torch

from interp.errors import InterpError
from interp.files import atomic_directory
from interp.models.specs import resolve_spec


def convert_model(
    source: str | Path,
    out_dir: str | Path,
    *,
    tokenizer: str | Path | None = None,
    verify: bool = True,
) -> Path:
    """Convert a `.gguf` or llama2.c `.bin` (or any base with a LoRA adapter merged in,
    `BASE+ADAPTER_DIR`) into `out_dir`; the directory appears only when complete.

    >>> convert_model("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-hf")   # doctest: +SKIP
    >>> convert_model("stories260K.bin", "stories260K-hf")                # doctest: +SKIP
    """
    kind, where = resolve_spec(source)
    if kind == "adapter":
        from interp.models.load import load_model

        merged = load_model(source, device="cpu", dtype=torch.float32, tokenizer=tokenizer)
        model, hf_tokenizer = merged.hf, merged.tokenizer
    elif kind == "gguf":
        from interp.models.gguf import load_gguf

        model, hf_tokenizer = load_gguf(Path(where), dtype=torch.float32)
    elif kind == "llama2c":
        from interp.models.llama2c import llama2c_to_hf

        model, hf_tokenizer = llama2c_to_hf(Path(where), tokenizer)
    else:
        raise InterpError(
            f"{source} is already a Hugging Face model ({kind}); there is nothing to convert",
            fix="convert a .gguf file or a llama2.c .bin checkpoint",
        )
    return save_hf_directory(model, hf_tokenizer, out_dir, verify=verify)


def save_hf_directory(model, tokenizer, out_dir: str | Path, *, verify: bool = True) -> Path:
    """A loaded Hugging Face model and its tokenizer as a directory that appears only when complete
    (one loaded from a GGUF included), checked by reloading it when `verify`."""
    model = _without_quantizer(model) if getattr(model, "hf_quantizer", None) else model.eval()
    out = Path(out_dir)
    with atomic_directory(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if verify:
            _check_reload(model, tmp)
    return out


def _without_quantizer(model):
    """The same tensors in a model that transformers saves: one loaded from a GGUF keeps a GGUF
    quantizer (and refuses save_pretrained) although its weights are plain floats by then."""
    import copy

    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=next(model.parameters()).dtype)
    plain.load_state_dict(model.state_dict())
    return plain.eval()


def _check_reload(model, directory: Path) -> None:
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(
        directory, local_files_only=True, dtype=torch.float32
    ).eval()
    probe = torch.arange(1, min(33, model.config.vocab_size))[None]
    with torch.no_grad():
        expected, got = model(probe).logits, reloaded(probe).logits
    if not torch.allclose(expected, got, atol=1e-5, rtol=0):
        raise InterpError(
            f"the converted model in {directory} does not reproduce the source's logits",
            fix="report this as a bug with the source file's header",
        )
