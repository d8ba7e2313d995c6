"""`Model`: a loaded causal LM, its tokenizer, and the backend that runs it.

Two backends share one interface. `hf` runs the Hugging Face module directly (the fast path, SDPA
attention); `bridge` runs it through TransformerLens' `TransformerBridge`, whose hook points are the
TransformerLens names. Either way `model.hf` is the underlying Hugging Face module, so weights,
config and tokenizer are the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from interp.hashing import config_hash
from interp.models.kv_cache import last_logits_kwargs
from interp.models.passes import StepMasks, step

Backend = Literal["hf", "bridge"]


@dataclass
class Model:
    """A causal LM ready for capture and steering.

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> model.n_layers, model.d_model, model.architecture, model.backend
    (2, 64, 'llama', 'hf')
    """

    hf: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    spec: str
    backend: Backend = "hf"
    bridge: Any = None  # TransformerBridge when backend == "bridge"
    meta: dict[str, str] = field(default_factory=dict)

    # ---- shape of the model -------------------------------------------------------------
    @property
    def config(self) -> Any:
        return self.hf.config

    @property
    def architecture(self) -> str:
        return str(self.config.model_type)

    @property
    def n_layers(self) -> int:
        return int(self.config.num_hidden_layers)

    @property
    def d_model(self) -> int:
        return int(self.config.hidden_size)

    @property
    def n_heads(self) -> int:
        return int(self.config.num_attention_heads)

    @property
    def vocab_size(self) -> int:
        return int(self.config.vocab_size)

    @property
    def device(self) -> torch.device:
        """Where input ids go: the input embedding's device (under a device map, where accelerate
        runs it, which for weights offloaded to the CPU or disk is not where they are stored)."""
        embedding = self.hf.get_input_embeddings()
        hook = getattr(embedding, "_hf_hook", None)
        execution = getattr(hook, "execution_device", None)
        if execution is not None:
            return torch.device(f"cuda:{execution}" if isinstance(execution, int) else execution)
        device = cast(Tensor, embedding.weight).device
        return torch.device("cpu") if device.type == "meta" else device

    @property
    def device_map(self) -> dict[str, Any] | None:
        """Module name -> device where accelerate spread the model, None on one device."""
        return getattr(self.hf, "hf_device_map", None)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf.parameters()).dtype

    @property
    def runner(self) -> nn.Module:
        """The module whose forward runs: the bridge or the Hugging Face model."""
        return self.bridge if self.backend == "bridge" else self.hf

    def config_hash(self) -> str:
        """A short hash of the model's config, recorded in every artifact made from it."""
        return config_hash(self.config.to_dict())

    # ---- running ------------------------------------------------------------------------
    @torch.no_grad()
    def forward(
        self,
        input_ids: Int[Tensor, "batch pos"],
        attention_mask: Int[Tensor, "batch pos"] | None = None,
        prompt_width: int | None = None,
        last_logits_only: bool = False,
    ) -> Float[Tensor, "batch pos vocab"]:
        """Logits for a (possibly padded) batch; positions are counted from each row's first real
        token. Columns from `prompt_width` on count as generated tokens (for steering by phase), as
        when generation feeds the whole sequence again; by default every column is prompt.
        `last_logits_only`: the caller needs the last position's logits at most (capture needs
        none), so the others need not be computed where the model allows it."""
        input_ids = input_ids.to(self.device)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        attention_mask = attention_mask.to(self.device)
        position_ids = positions_from_mask(attention_mask)
        with step(StepMasks.for_prompts(attention_mask, prompt_width)):
            if self.backend == "bridge":
                return self.bridge(
                    input_ids,
                    attention_mask=attention_mask,
                    position_ids=position_ids,
                    return_type="logits",
                )
            keep = last_logits_kwargs(self.hf) if last_logits_only else {}
            return self.hf(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                **keep,
            ).logits

    def describe(self) -> dict[str, Any]:
        """What `interp info` prints."""
        return {
            "spec": self.spec,
            "backend": self.backend,
            "architecture": self.architecture,
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "n_heads": self.n_heads,
            "vocab_size": self.vocab_size,
            "n_params": sum(p.numel() for p in self.hf.parameters()),
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "device_map": _summarize_device_map(self.device_map),
            "config_hash": self.config_hash(),
        }


def positions_from_mask(attention_mask: Int[Tensor, "batch pos"]) -> Int[Tensor, "batch pos"]:
    """Position ids that start at 0 on each row's first real token, so left padding shifts nothing."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _summarize_device_map(device_map: dict[str, Any] | None) -> str | None:
    """How many modules sit on each device, e.g. "cpu: 5, disk: 2"."""
    if not device_map:
        return None
    counts: dict[str, int] = {}
    for device in device_map.values():
        counts[str(device)] = counts.get(str(device), 0) + 1
    return ", ".join(f"{device}: {n}" for device, n in counts.items())
