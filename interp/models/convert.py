"""Write a llama2.c checkpoint out as a Hugging Face directory, checked by reloading it."""

from __future__ import annotations

from pathlib import Path

import torch

from interp.errors import InterpError


def convert_llama2c(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    tokenizer: str | Path | None = None,
    verify: bool = True,
) -> Path:
    """Convert `checkpoint` (with its tok*.bin) into `out_dir`; the directory appears only when complete.

    >>> convert_llama2c("stories260K.bin", "stories260K-hf")   # doctest: +SKIP
    """
    from interp.files import atomic_directory
    from interp.models.llama2c import llama2c_to_hf

    model, hf_tokenizer = llama2c_to_hf(checkpoint, tokenizer)
    out = Path(out_dir)
    with atomic_directory(out) as tmp:
        model.save_pretrained(tmp)
        hf_tokenizer.save_pretrained(tmp)
        if verify:
            _check_reload(model, tmp)
    return out


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
            f"the converted model in {directory} does not reproduce the checkpoint's logits",
            fix="report this as a bug with the checkpoint's header",
        )
