"""Where each Hugging Face architecture keeps its blocks, and which sub-module each hook point reads.

One table instead of guessing from module names: a new architecture is one entry here. Paths are
dotted attribute paths from the `*ForCausalLM` module.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from interp.errors import InterpError


@dataclass(frozen=True)
class Layout:
    """Module paths of one architecture; `block_*` paths are relative to one block."""

    blocks: str
    final_norm: str
    block_attn: str
    block_mlp: str
    # Input of this norm is the residual stream between attention and MLP (hook_resid_mid).
    # None where attention and MLP run in parallel and no such point exists.
    block_mid_norm: str | None


LAYOUTS: dict[str, Layout] = {
    "llama": Layout("model.layers", "model.norm", "self_attn", "mlp", "post_attention_layernorm"),
    "qwen2": Layout("model.layers", "model.norm", "self_attn", "mlp", "post_attention_layernorm"),
    "mistral": Layout("model.layers", "model.norm", "self_attn", "mlp", "post_attention_layernorm"),
    "gpt2": Layout("transformer.h", "transformer.ln_f", "attn", "mlp", "ln_2"),
    "gpt_neox": Layout(
        "gpt_neox.layers",
        "gpt_neox.final_layer_norm",
        "attention",
        "mlp",
        "post_attention_layernorm",
    ),
}


def layout_for(model: nn.Module) -> Layout:
    """The layout of a Hugging Face causal LM, refusing architectures interp does not know."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in LAYOUTS:
        raise InterpError(
            f"architecture {model_type!r} has no hook layout in interp",
            fix=f"use one of {', '.join(sorted(LAYOUTS))}, or the TransformerLens backend (--backend bridge)",
        )
    layout = LAYOUTS[model_type]
    if model_type == "gpt_neox" and getattr(model.config, "use_parallel_residual", True):
        layout = Layout(layout.blocks, layout.final_norm, layout.block_attn, layout.block_mlp, None)
    return layout


def get_path(root: nn.Module, path: str) -> nn.Module:
    module = root
    for part in path.split("."):
        module = getattr(module, part)
    return module
