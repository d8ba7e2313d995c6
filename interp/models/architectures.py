"""Where a Hugging Face causal LM keeps its blocks, and which sub-module carries each hook point.

The residual stream is found generically: the decoder blocks are the shallowest `nn.ModuleList` as
long as the config's layer count, and a block's input and output are resid_pre and resid_post, so a
family interp has never seen still reads them. What a block adds to the stream (attn_out, mlp_out)
and holds between its halves (resid_mid) differs by family, so it comes from `FAMILIES`, written
from each family's transformers source. A family not in the table gets the placement of a family
whose block `forward` is the same code (most new families are generated copies of an old one), and
otherwise only resid_pre and resid_post. Paths are dotted attribute paths; placement paths are
relative to one block.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from dataclasses import dataclass
from functools import cache
from typing import Any

from torch import nn

from interp.errors import InterpError
from interp.models.families import (
    FAMILIES,
    PARALLEL,
    UNREAD,
    BlockPlan,
    Placement,
    only_stream,
)

# Kinds every model has (a block's input and output); the others are placed per family.
STREAM_KINDS = ("resid_pre", "resid_post")
# The order of interp.hooks.names.HOOK_KINDS (models may not import hooks: it is a floor above).
ALL_KINDS = ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")


@dataclass(frozen=True)
class Layout:
    """Where one loaded model's blocks are and where each hook kind sits in them."""

    family: str
    blocks: str
    final_norm: str | None  # None where the model has no norm after its last block
    plan: BlockPlan

    def kinds(self) -> tuple[str, ...]:
        """The hook kinds this model has, in the vocabulary's order."""
        placed = set(STREAM_KINDS) | set(self.plan.placements)
        return tuple(kind for kind in ALL_KINDS if kind in placed)

    def placement(self, kind: str) -> Placement | None:
        return self.plan.placements.get(kind)

    def why_missing(self, kind: str) -> str:
        return self.plan.missing.get(kind, UNREAD)


FINAL_NORM_NAMES = (
    "norm",
    "ln_f",
    "final_layer_norm",
    "final_layernorm",
    "norm_f",
    "final_norm",
    "layer_norm",
    "layernorm",
)


def layout_for(model: nn.Module) -> Layout:
    """The layout of a Hugging Face causal LM: its blocks, final norm and per-kind placements.

    >>> layout = layout_for(tiny_model("gpt2")[0])   # doctest: +SKIP
    >>> layout.blocks, layout.final_norm, layout.kinds()
    ('transformer.h', 'transformer.ln_f', ('resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out'))
    """
    config = getattr(model, "config", None)
    family = str(getattr(config, "model_type", None) or type(model).__name__)
    blocks = find_blocks(model)
    block = next(iter(get_path(model, blocks).children()))
    plan = plan_for(family, block, _text_config(model))
    return Layout(family, blocks, _final_norm(model, blocks), plan)


# Families whose layer-count list is not a list of blocks, so the generic search would mislead.
NO_BLOCK_LIST = {
    "xlm": "keeps its attention, norm and feed-forward layers in separate lists, not in blocks",
}


def find_blocks(model: nn.Module) -> str:
    """Path of the decoder-layer list: the shallowest `nn.ModuleList` with one entry per layer
    (shallowest, so a list of MoE experts that happens to have that length never wins)."""
    family = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    if family in NO_BLOCK_LIST:
        raise InterpError(
            f"{family} {NO_BLOCK_LIST[family]}, so interp cannot read its residual stream",
            fix="use a decoder-only transformer",
        )
    n_layers = _n_layers(model)
    lists = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) == n_layers and name
    ]
    if not lists:
        raise InterpError(
            f"found no list of {n_layers} decoder blocks in this {family} model",
            fix="use --backend bridge if TransformerLens supports it, or a decoder-only causal LM",
        )
    return min(lists, key=lambda name: name.count("."))  # min keeps the first of equal depth


def plan_for(family: str, block: nn.Module, config: Any = None) -> BlockPlan:
    """The family's plan; else the plan of a family whose block forward is the same code; else
    resid_pre/resid_post only (with the parallel reason where `config` says so)."""
    if family in FAMILIES:
        return FAMILIES[family][1](block)
    twin = _same_forward_as(type(block))
    if twin is not None:
        return FAMILIES[twin][1](block)
    if any(getattr(config, flag, False) is True for flag in PARALLEL_FLAGS):
        return BlockPlan({}, {"resid_mid": PARALLEL, "attn_out": UNREAD, "mlp_out": UNREAD})
    return only_stream(UNREAD)


PARALLEL_FLAGS = ("use_parallel_residual", "parallel_attn", "new_decoder_architecture")


def attention_implementation(config: Any) -> str:
    """The attention to load `config`'s model with: sdpa where its class supports it, else eager
    (never one that fails, as forcing sdpa does on Gemma 2)."""
    from transformers import AutoModelForCausalLM

    try:
        model_class = AutoModelForCausalLM._model_mapping[type(config)]
    except KeyError:
        return "eager"
    return "sdpa" if getattr(model_class, "_supports_sdpa", False) else "eager"


def get_path(root: nn.Module, path: str) -> nn.Module:
    module = root
    for part in path.split("."):
        module = getattr(module, part)
    return module


# ---- helpers -------------------------------------------------------------------------------------
def _text_config(model: nn.Module) -> Any:
    """The config of the language model (a multimodal config holds it as a sub-config)."""
    config = getattr(model, "config", None)
    if config is None:
        raise InterpError(
            f"{type(model).__name__} has no config, so its layer count is unknown",
            fix="pass a Hugging Face causal LM (a PreTrainedModel)",
        )
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def _n_layers(model: nn.Module) -> int:
    return int(_text_config(model).num_hidden_layers)


def _final_norm(model: nn.Module, blocks: str) -> str | None:
    """The norm beside the block list (applied after the last block), by its usual names."""
    parent_path = blocks.rpartition(".")[0]
    parent = get_path(model, parent_path) if parent_path else model
    for name in FINAL_NORM_NAMES:
        if isinstance(getattr(parent, name, None), nn.Module):
            return f"{parent_path}.{name}" if parent_path else name
    return None


def _same_forward_as(layer_class: type) -> str | None:
    """A table family whose decoder layer's forward is the same code as `layer_class`'s."""
    mine = _forward_fingerprint(layer_class)
    if mine is None:
        return None
    return _known_fingerprints().get(mine)


@cache
def _known_fingerprints() -> dict[str, str]:
    found: dict[str, str] = {}
    for family, (layer_name, _) in FAMILIES.items():
        layer_class = _layer_class(family, layer_name)
        fingerprint = _forward_fingerprint(layer_class) if layer_class else None
        if fingerprint is not None:
            found.setdefault(fingerprint, family)
    return found


def _layer_class(family: str, layer_name: str) -> type | None:
    from transformers.models.auto.configuration_auto import model_type_to_module_name

    module_name = model_type_to_module_name(family)
    try:
        module = importlib.import_module(
            f"transformers.models.{module_name}.modeling_{module_name}"
        )
    except ImportError:
        return None
    return getattr(module, layer_name, None)


@cache
def _forward_fingerprint(layer_class: type) -> str | None:
    """The body of `layer_class.forward` as canonical code: no docstring, comments, decorators or
    signature, and no `name=name` keyword pass-throughs (families pass different extras along)."""
    forward = getattr(layer_class, "forward", None)
    try:
        source = textwrap.dedent(inspect.getsource(forward))  # type: ignore[arg-type]
        function = ast.parse(source).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return None
    if not isinstance(function, ast.FunctionDef):
        return None
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    module = _DropPassThroughs().visit(ast.Module(body=body, type_ignores=[]))
    return ast.unparse(module)


class _DropPassThroughs(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        node.keywords = [
            k
            for k in node.keywords
            if k.arg is not None  # **kwargs
            and not (isinstance(k.value, ast.Name) and k.value.id == k.arg)
        ]
        return node
