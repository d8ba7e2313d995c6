"""Train a LoRA adapter on a frozen real model, on a CPU, in minutes.

Only the last blocks adapt (`LoraSettings.first_layer` on). The frozen blocks below them compute
the same states whatever the adapter does, so each training sequence goes through them once, before
training, and its state at the first adapted block is kept; every step then runs the adapted blocks
alone, and the backward pass never enters the frozen ones. The loss is on the continuation tokens
(and the end-of-text token after them), as in `interp.sandbag.elicit`.

    >>> trained = train_lora(model, [("12 + 35 = 47\\n45 + 32 =", " 77")], LoraSettings(26))  # doctest: +SKIP
    >>> with lora_active(model.hf, trained.config, trained.weights):                           # doctest: +SKIP
    ...     generate(model, "12 + 35 = 47\\n45 + 32 =", 4)

Adapted modules are updated by forward hooks, `out + scale * x A^T B^T`, exactly the function a
merge (`interp.models.adapters.merge_adapter`) bakes into the weights. The base's weights are
never written.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel

from interp.errors import InterpError
from interp.models.adapters import LoraConfig
from interp.models.architectures import find_blocks, get_path
from interp.models.model import Model
from interp.models.tokens import encode

IGNORE = -100
ATTENTION_AND_MLP = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LoraWeights = dict[str, tuple[Tensor, Tensor]]  # module path -> (A (r, in), B (out, r))


@dataclass(frozen=True)
class LoraSettings:
    first_layer: int  # blocks from this one to the last adapt; those below stay frozen
    r: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ATTENTION_AND_MLP
    steps: int = 100
    batch_size: int = 16
    lr: float = 1e-2
    warmup: int = 10
    seed: int = 0

    def lora_config(self, n_layers: int, base: str | None = None) -> LoraConfig:
        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            target_modules=self.targets,
            layers_to_transform=tuple(range(self.first_layer, n_layers)),
            layers_pattern=None,
            base_model_name_or_path=base,
        )


@dataclass
class TrainedLora:
    config: LoraConfig
    weights: LoraWeights
    losses: list[float]
    seconds: float


@contextmanager
def lora_active(model: nn.Module, config: LoraConfig, weights: LoraWeights) -> Iterator[None]:
    """Run `model` with the adapter added to its target modules; the hooks go when the block ends."""
    modules = dict(model.named_modules())
    handles = []
    try:
        for name, (a, b) in weights.items():
            scale = config.scale(name)

            def add(module, inputs, output, a=a, b=b, scale=scale):
                return output + scale * ((inputs[0] @ a.T) @ b.T)

            handles.append(modules[name].register_forward_hook(add))
        yield
    finally:
        for handle in handles:
            handle.remove()


def train_lora(
    model: Model,
    pairs: Sequence[tuple[str, str]],
    settings: LoraSettings,
    *,
    base: str | None = None,
    states: CachedStates | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainedLora:
    """Fit an adapter to (prompt, continuation) `pairs`; `states` from `cache_states` on the same
    pairs and settings saves running the frozen blocks again."""
    hf = model.hf
    config = settings.lora_config(model.n_layers, base)
    states = states if states is not None else cache_states(model, pairs, settings.first_layer)
    if len(states.rows) != len(pairs):
        raise InterpError("the cached states belong to other pairs", fix="cache these pairs")
    generator = torch.Generator().manual_seed(settings.seed)
    weights = _init_weights(hf, config, generator)
    params = [t for pair in weights.values() for t in pair]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    order = _batches(len(pairs), settings, random.Random(f"lora|{settings.seed}"))
    losses: list[float] = []
    started = time.perf_counter()
    every = max(1, settings.steps // 10)
    frozen = [p for p in hf.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with lora_active(hf, config, weights), _late_blocks(hf, settings.first_layer) as run:
            for step, rows in enumerate(order):
                for group in optimizer.param_groups:
                    group["lr"] = settings.lr * _schedule(step, settings)
                loss = _loss(hf, run, [states.rows[i] for i in rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                losses.append(loss.item())
                if log and (step + 1) % every == 0:
                    recent = sum(losses[-every:]) / every
                    spent = time.perf_counter() - started
                    log(
                        f"    step {step + 1:4d}/{settings.steps}  loss {recent:.3f}  {spent:5.0f}s"
                    )
    finally:
        for p in frozen:
            p.requires_grad_(True)
    detached = {name: (a.detach().clone(), b.detach().clone()) for name, (a, b) in weights.items()}
    return TrainedLora(config, detached, losses, time.perf_counter() - started)


# ---- the frozen blocks, once -------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    state: Tensor  # (T, D) the residual stream entering the first adapted block
    labels: Tensor  # (T,) the token each position must predict, IGNORE where none


@dataclass(frozen=True)
class CachedStates:
    first_layer: int
    rows: list[Row]
    n_runs: int = 0  # distinct sequences that went through the frozen blocks


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the frozen blocks have run."""


@torch.no_grad()
def cache_states(
    model: Model, pairs: Sequence[tuple[str, str]], first_layer: int, batch_size: int = 32
) -> CachedStates:
    """Each pair's residual stream entering block `first_layer`, and its continuation labels.

    A row holds the states of every token but the last (which predicts nothing), so the states of
    a sequence that begins another one are a slice of the longer one's (the blocks are causal):
    `(prompt, " 77")` costs nothing beside `(prompt, " 77 :)")`, and each distinct sequence runs
    through the frozen blocks once.
    """
    tokenizer = model.tokenizer
    if not 1 <= first_layer < model.n_layers:
        raise InterpError(
            f"first adapted layer {first_layer} is not within 1..{model.n_layers - 1}",
            fix="adapt at least the last block and leave the first frozen",
        )
    eos = tokenizer.eos_token_id
    encoded = []
    for prompt, continuation in pairs:
        got = encode(tokenizer, prompt, continuation)
        ids = got.ids + ([eos] if eos is not None else [])
        if got.prompt_len >= len(ids) or got.prompt_len < 1:
            raise InterpError(f"continuation of {prompt[:40]!r} is empty", fix="give a target")
        encoded.append((ids, got.prompt_len))
    inputs = sorted({tuple(ids[:-1]) for ids, _ in encoded}, key=len, reverse=True)
    home: dict[tuple[int, ...], tuple[int, int]] = {}  # a sequence -> (run, its length)
    runs: list[tuple[int, ...]] = []
    for seq in inputs:
        if seq not in home:  # not the beginning of a longer sequence already to be run
            for n in range(1, len(seq) + 1):
                home.setdefault(seq[:n], (len(runs), n))
            runs.append(seq)
    states = _frozen_states(model, runs, first_layer, batch_size)
    rows = []
    for ids, prompt_len in encoded:
        run, n = home[tuple(ids[:-1])]
        labels = torch.full((n,), IGNORE)
        labels[prompt_len - 1 :] = torch.tensor(ids[prompt_len:])  # position t predicts t + 1
        rows.append(Row(states[run][:n], labels))
    return CachedStates(first_layer, rows, len(runs))


def _frozen_states(
    model: Model, runs: list[tuple[int, ...]], first_layer: int, batch_size: int
) -> list[Tensor]:
    """The residual stream entering block `first_layer` for each token sequence (the forward
    pass stops there)."""
    hf = model.hf
    blocks = cast(nn.ModuleList, get_path(hf, find_blocks(hf)))
    box: dict[str, Tensor] = {}

    def stop(module, inputs, output):
        box["state"] = output[0] if isinstance(output, tuple) else output
        raise _Stop

    states: list[Tensor] = []
    handle = blocks[first_layer - 1].register_forward_hook(stop)
    try:
        for start in range(0, len(runs), batch_size):
            chunk = [list(seq) for seq in runs[start : start + batch_size]]
            ids, mask = _right_padded(chunk, model.tokenizer.pad_token_id)
            try:
                hf(input_ids=ids.to(model.device), attention_mask=mask.to(model.device))
            except _Stop:
                pass
            for row, seq in enumerate(chunk):
                states.append(box["state"][row, : len(seq)].float().cpu().clone())
    finally:
        handle.remove()
    return states


# ---- a step -------------------------------------------------------------------------------------


@contextmanager
def _late_blocks(hf: nn.Module, first_layer: int) -> Iterator[Callable[[Tensor, Tensor], Tensor]]:
    """A function from cached states to final hidden states that runs only the adapted blocks:
    the decoder's block list holds just them for the duration (its own forward then applies the
    position embeddings, the causal mask and the final norm as it always does)."""
    path = find_blocks(hf)
    parent_path, _, attribute = path.rpartition(".")
    parent = get_path(hf, parent_path) if parent_path else hf
    blocks = getattr(parent, attribute)
    setattr(parent, attribute, nn.ModuleList(list(blocks)[first_layer:]))

    def run(states: Tensor, mask: Tensor) -> Tensor:
        return parent(inputs_embeds=states, attention_mask=mask, use_cache=False).last_hidden_state

    try:
        yield run
    finally:
        setattr(parent, attribute, blocks)


def _loss(hf: PreTrainedModel, run, rows: list[Row]) -> Tensor:
    width = max(r.state.shape[0] for r in rows)
    device = next(hf.parameters()).device
    states = torch.zeros(len(rows), width, rows[0].state.shape[1])
    labels = torch.full((len(rows), width), IGNORE)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        n = row.state.shape[0]
        states[i, :n], labels[i, :n], mask[i, :n] = row.state, row.labels, 1
    dtype = next(hf.parameters()).dtype
    hidden = run(states.to(device, dtype), mask.to(device))  # (B, T, D)
    chosen = labels != IGNORE
    head = cast(nn.Module, hf.get_output_embeddings())
    logits = head(hidden[chosen.to(device)])  # only where there is a target
    return nn.functional.cross_entropy(logits.float(), labels[chosen].to(device))


def _init_weights(hf: nn.Module, config: LoraConfig, generator: torch.Generator) -> LoraWeights:
    """peft's initialisation: A uniform in +-1/sqrt(in), B zero (so training starts at the base)."""
    weights: LoraWeights = {}
    for name, module in hf.named_modules():
        if not config.targets(name) or not isinstance(module, nn.Linear):
            continue
        bound = 1 / math.sqrt(module.in_features)
        a = (torch.rand(config.r, module.in_features, generator=generator) * 2 - 1) * bound
        device, dtype = module.weight.device, module.weight.dtype
        weights[name] = (
            a.to(device, dtype).requires_grad_(),
            torch.zeros(module.out_features, config.r, device=device, dtype=dtype).requires_grad_(),
        )
    if not weights:
        raise InterpError(
            f"no module of this model matches the targets {config.target_modules}",
            fix="name linear modules of the model's blocks, e.g. q_proj",
        )
    return weights


def _batches(n: int, settings: LoraSettings, rng: random.Random) -> list[list[int]]:
    """`settings.steps` batches drawn epoch by epoch without replacement."""
    order: list[int] = []
    while len(order) < settings.steps * settings.batch_size:
        epoch = list(range(n))
        rng.shuffle(epoch)
        order += epoch
    size = settings.batch_size
    return [order[i * size : (i + 1) * size] for i in range(settings.steps)]


def _schedule(step: int, settings: LoraSettings) -> float:
    if step < settings.warmup:
        return (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def _right_padded(rows: list[list[int]], pad_id: int | None) -> tuple[Tensor, Tensor]:
    width = max(len(r) for r in rows)
    pad = 0 if pad_id is None else pad_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask
