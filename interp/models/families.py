"""What each family's decoder block adds to the residual stream, and where: the per-family table.

Each entry was read off the family's transformers 5.24 `modeling_<family>.py`. A `BlockPlan` says,
for resid_mid, attn_out and mlp_out, which sub-module of one block carries it (a `Placement`), or why
the family has no such point. Families whose block depends on its config get a rule that reads the
block's own attributes, as its forward does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Side = Literal["input", "output"]
BLOCK_KINDS = ("resid_mid", "attn_out", "mlp_out")


@dataclass(frozen=True)
class Placement:
    """One hook kind inside a block: a sub-module, the side of its forward, and how the block uses it.

    `scale`: the block adds `output * scale` to the stream (Granite's residual_multiplier), so the
    hook point reads output * scale and a replacement r is written back as r / scale.
    `edited_in_place`: the block modifies this output in place afterwards (Falcon adds attention
    into the MLP output), so hooks must hand the block a copy.
    """

    path: str
    side: Side = "output"
    scale: float = 1.0
    edited_in_place: bool = False


@dataclass(frozen=True)
class BlockPlan:
    """Where one family's block holds resid_mid, attn_out and mlp_out.

    A kind the family lacks maps, in `missing`, to why; the reason completes "{family} ...".
    """

    placements: Mapping[str, Placement]
    missing: Mapping[str, str] = field(default_factory=dict)


# ---- reasons a kind is missing (each completes "{family} ...") -----------------------------------
PARALLEL = "runs attention and MLP in parallel"
UNREAD = "has blocks that are not laid out like any family interp has read"
POST_LN = "normalises the residual stream after each addition (post-LN)"
ADDS_INSIDE_ATTN = "adds the residual inside its attention module"
ADDS_INSIDE_MLP = "adds the residual inside its MLP module"


# ---- block plans ---------------------------------------------------------------------------------
def sequential(
    attn: str = "self_attn",
    mlp: str = "mlp",
    mid_norm: str = "post_attention_layernorm",
    scale: float = 1.0,
) -> BlockPlan:
    """x + attn(norm(x)) then + mlp(mid_norm(.)): the block adds the modules' outputs (times scale),
    and the stream between the halves is the input of the pre-MLP norm."""
    return BlockPlan(
        {
            "resid_mid": Placement(mid_norm, "input"),
            "attn_out": Placement(attn, scale=scale),
            "mlp_out": Placement(mlp, scale=scale),
        }
    )


def post_normed(attn_norm: str, mlp_norm: str, mid: Placement, scale: float = 1.0) -> BlockPlan:
    """Attention and MLP outputs are normalised before they are added (Gemma 2/3, OLMo 2), so what
    the block adds is the output of those norms."""
    return BlockPlan(
        {
            "resid_mid": mid,
            "attn_out": Placement(attn_norm, scale=scale),
            "mlp_out": Placement(mlp_norm, scale=scale),
        }
    )


def parallel(attn: str = "self_attn", mlp: str = "mlp", mlp_edited: bool = False) -> BlockPlan:
    """x + attn(norm(x)) + mlp(norm'(x)): both read the block input, so no stream lies between them."""
    return BlockPlan(
        {"attn_out": Placement(attn), "mlp_out": Placement(mlp, edited_in_place=mlp_edited)},
        {"resid_mid": PARALLEL},
    )


def only_stream(reason: str) -> BlockPlan:
    return BlockPlan({}, dict.fromkeys(BLOCK_KINDS, reason))


def without(plan: BlockPlan, reasons: Mapping[str, str]) -> BlockPlan:
    """`plan` less the kinds in `reasons`."""
    kept = {kind: p for kind, p in plan.placements.items() if kind not in reasons}
    return BlockPlan(kept, {**plan.missing, **reasons})


# ---- families whose block depends on its config (read off the block, as its forward does) ------
# A rule gets one decoder layer (typed Any: its attributes are the family's own).
Rule = Callable[[Any], BlockPlan]


def _granite(block: Any) -> BlockPlan:
    scale = float(block.residual_multiplier)
    return sequential(mlp=_child(block, "mlp", "block_sparse_moe"), scale=scale)


def _granitemoeshared(block: Any) -> BlockPlan:
    shared = "adds the sum of its expert and shared MLPs, which no single module outputs"
    return without(_granite(block), {"mlp_out": shared})


def _hyperclovax(block: Any) -> BlockPlan:
    mid = Placement("post_attention_layernorm", "input")
    return post_normed("post_norm1", "post_norm2", mid, float(block.residual_multiplier))


def _gpt_neox(block: Any) -> BlockPlan:
    if block.use_parallel_residual:
        return parallel("attention")
    return sequential("attention")


def _stablelm(block: Any) -> BlockPlan:
    return parallel() if block.use_parallel_residual else sequential()


def _falcon(block: Any) -> BlockPlan:
    config = block.config
    if config.new_decoder_architecture or config.parallel_attn:
        # `mlp_output += attention_output`: the MLP's output tensor is edited after the hook.
        return parallel("self_attention", mlp_edited=True)
    return sequential("self_attention")


def _opt(block: Any) -> BlockPlan:
    if not block.do_layer_norm_before:
        return only_stream(POST_LN)
    flat = "flattens batch and positions around its MLP"
    return without(
        sequential(mlp="fc2", mid_norm="final_layer_norm"),
        dict.fromkeys(("resid_mid", "mlp_out"), flat),
    )


def _bloom(block: Any) -> BlockPlan:
    if block.apply_residual_connection_post_layernorm:
        return only_stream(POST_LN)
    inside = {"attn_out": ADDS_INSIDE_ATTN, "mlp_out": ADDS_INSIDE_MLP}
    return without(sequential("self_attention"), inside)


def _llama4(block: Any) -> BlockPlan:
    moe = "returns its MoE output flattened over batch and positions"
    return without(sequential(mlp="feed_forward"), {"mlp_out": moe})


def _fixed(plan: BlockPlan) -> Rule:
    return lambda block: plan


LLAMA_LIKE = sequential()
GPT2_LIKE = sequential("attn", "mlp", "ln_2")
GEMMA2_LIKE = post_normed(
    "post_attention_layernorm",
    "post_feedforward_layernorm",
    Placement("pre_feedforward_layernorm", "input"),
)
# OLMo 2 normalises after attention and MLP and has no pre-norms: the MLP reads the stream itself.
OLMO2_LIKE = post_normed(
    "post_attention_layernorm", "post_feedforward_layernorm", Placement("mlp", "input")
)
GLM4_LIKE = post_normed(
    "post_self_attn_layernorm", "post_mlp_layernorm", Placement("post_attention_layernorm", "input")
)

# model_type -> (decoder-layer class, plan from one block). Each entry was read off
# transformers 5.24's modeling_<family>.py; the class names let an unknown family whose block runs
# the same code borrow the plan (see `plan_for`).
FAMILIES: dict[str, tuple[str, Rule]] = {
    # Llama's block: x + self_attn(input_layernorm(x)), then + mlp(post_attention_layernorm(.)).
    **{
        family: (layer, _fixed(LLAMA_LIKE))
        for family, layer in {
            "llama": "LlamaDecoderLayer",
            "mistral": "MistralDecoderLayer",
            "mixtral": "MixtralDecoderLayer",
            "ministral": "MinistralDecoderLayer",
            "qwen2": "Qwen2DecoderLayer",
            "qwen2_moe": "Qwen2MoeDecoderLayer",
            "qwen3": "Qwen3DecoderLayer",
            "qwen3_moe": "Qwen3MoeDecoderLayer",
            "gemma": "GemmaDecoderLayer",
            "phi3": "Phi3DecoderLayer",
            "phimoe": "PhimoeDecoderLayer",
            "olmo": "OlmoDecoderLayer",
            "olmoe": "OlmoeDecoderLayer",
            "starcoder2": "Starcoder2DecoderLayer",
            "helium": "HeliumDecoderLayer",
            "smollm3": "SmolLM3DecoderLayer",
            "seed_oss": "SeedOssDecoderLayer",
            "glm": "GlmDecoderLayer",
            "arcee": "ArceeDecoderLayer",
            "bitnet": "BitNetDecoderLayer",
            "nemotron": "NemotronDecoderLayer",
            "persimmon": "PersimmonDecoderLayer",
            "gpt_oss": "GptOssDecoderLayer",
            "exaone": "LlamaDecoderLayer",  # exaone and internlm3 run Llama's own classes
            "internlm3": "LlamaDecoderLayer",
        }.items()
    },
    "jetmoe": ("JetMoeDecoderLayer", _fixed(sequential("self_attention"))),
    "apertus": ("ApertusDecoderLayer", _fixed(sequential(mid_norm="feedforward_layernorm"))),
    "vaultgemma": (
        "VaultGemmaDecoderLayer",
        _fixed(sequential(mid_norm="pre_feedforward_layernorm")),
    ),
    "granite": ("GraniteDecoderLayer", _granite),
    "granitemoe": ("GraniteMoeDecoderLayer", _granite),
    "granitemoeshared": ("GraniteMoeSharedDecoderLayer", _granitemoeshared),
    "llama4_text": ("Llama4TextDecoderLayer", _llama4),
    # GPT-2's block: x + attn(ln_1(x)), then + mlp(ln_2(.)).
    "gpt2": ("GPT2Block", _fixed(GPT2_LIKE)),
    "gpt_bigcode": ("GPTBigCodeBlock", _fixed(GPT2_LIKE)),
    "gpt_neo": ("GPTNeoBlock", _fixed(GPT2_LIKE)),
    # The MLP is fc1 -> activation -> fc2 inline in the block; fc2's output is what is added.
    "biogpt": ("BioGptDecoderLayer", _fixed(sequential(mlp="fc2", mid_norm="final_layer_norm"))),
    "xglm": ("XGLMDecoderLayer", _fixed(sequential(mlp="fc2", mid_norm="final_layer_norm"))),
    "opt": ("OPTDecoderLayer", _opt),
    "mpt": (
        "MptBlock",
        _fixed(without(sequential("attn", "ffn", "norm_2"), {"mlp_out": ADDS_INSIDE_MLP})),
    ),
    "bloom": ("BloomBlock", _bloom),
    # Post-norms: what is added is the output of a norm after attention and after the MLP.
    "gemma2": ("Gemma2DecoderLayer", _fixed(GEMMA2_LIKE)),
    "gemma3": ("Gemma3DecoderLayer", _fixed(GEMMA2_LIKE)),
    "gemma3_text": ("Gemma3DecoderLayer", _fixed(GEMMA2_LIKE)),
    "olmo2": ("Olmo2DecoderLayer", _fixed(OLMO2_LIKE)),
    "olmo3": ("Olmo3DecoderLayer", _fixed(OLMO2_LIKE)),
    "exaone4": ("Exaone4DecoderLayer", _fixed(OLMO2_LIKE)),
    "glm4": ("Glm4DecoderLayer", _fixed(GLM4_LIKE)),
    "afmoe": (
        "AfmoeDecoderLayer",
        _fixed(
            post_normed(
                "post_attention_layernorm",
                "post_mlp_layernorm",
                Placement("pre_mlp_layernorm", "input"),
            )
        ),
    ),
    "hyperclovax": ("HyperCLOVAXDecoderLayer", _hyperclovax),
    # Parallel blocks: x + attn(norm(x)) + mlp(norm(x)).
    "gptj": ("GPTJBlock", _fixed(parallel("attn"))),
    "codegen": ("CodeGenBlock", _fixed(parallel("attn"))),
    "phi": ("PhiDecoderLayer", _fixed(parallel())),
    "cohere": ("CohereDecoderLayer", _fixed(parallel())),
    "cohere2": ("Cohere2DecoderLayer", _fixed(parallel())),
    "gpt_neox": ("GPTNeoXLayer", _gpt_neox),
    "stablelm": ("StableLmDecoderLayer", _stablelm),
    "falcon": ("FalconDecoderLayer", _falcon),
    # residual * alpha + attention * beta: nothing is added to the stream unchanged.
    "minimax": (
        "MiniMaxDecoderLayer",
        _fixed(only_stream("rescales the residual stream in each block")),
    ),
}


def _child(block: Any, *names: str) -> str:
    return next(name for name in names if hasattr(block, name))
