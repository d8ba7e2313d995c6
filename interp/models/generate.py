"""Batched generation with a KV cache: greedy by default, left padding, stop at end of text.

Hooks added around `generate` see the prefill (all prompt positions at once) and then one position
per decoding step, which is what steering by phase relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interp.errors import InterpError
from interp.models.kv_cache import cache_kwargs, last_logits_kwargs, returned_cache
from interp.models.model import Model, positions_from_mask
from interp.models.passes import StepMasks, step
from interp.models.tokens import Chat, Prompt, encode, pad
from interp.progress import track


@dataclass(frozen=True)
class Generation:
    prompt: Prompt  # as given: text, or a Chat rendered by the model's template
    text: str  # the continuation only
    token_ids: list[int]  # the continuation's tokens


@torch.no_grad()
def generate(
    model: Model,
    prompts: Prompt | Sequence[Prompt],
    max_new_tokens: int = 50,
    *,
    greedy: bool = True,
    temperature: float = 1.0,
    seed: int | None = None,
    batch_size: int = 8,
    stop_at_eos: bool = True,
    use_cache: bool = True,
    progress: bool = False,
) -> list[Generation]:
    """Continue each prompt; an empty prompt starts from the BOS token alone. A `Chat` prompt is
    rendered by the model's chat template with its generation prompt, so the text is the reply.

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> out = interp.generate(model, ["Q:1+2=?\\nA:", "Q:3+4=?\\nA:"], max_new_tokens=6)
    >>> len(out), all(len(g.token_ids) <= 6 for g in out), type(out[0].text)
    (2, True, <class 'str'>)
    """
    if isinstance(prompts, str | Chat):
        prompts = [prompts]
    if max_new_tokens < 0:
        raise InterpError(f"max_new_tokens is {max_new_tokens}", fix="use 0 or more")
    if not greedy and temperature <= 0:
        raise InterpError(
            f"temperature {temperature} must be positive when sampling", fix="use e.g. 1.0"
        )
    generator = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    stops = _stop_ids(model) if stop_at_eos else set()
    results: list[Generation] = []
    starts = range(0, len(prompts), batch_size)
    for start in track(starts, "generate", unit="batch", enabled=progress and len(starts) >= 2):
        chunk = list(prompts[start : start + batch_size])
        batch = pad([encode(model.tokenizer, p).ids for p in chunk], model.tokenizer.pad_token_id)
        tokens = _generate_batch(
            model, batch, max_new_tokens, greedy, temperature, generator, stops, use_cache
        )
        for prompt, row in zip(chunk, tokens, strict=True):
            ids = _cut_at_stop(row, stops)
            results.append(
                Generation(prompt, str(model.tokenizer.decode(ids, skip_special_tokens=True)), ids)
            )
    return results


def _generate_batch(
    model, batch, max_new_tokens, greedy, temperature, generator, stops, use_cache
) -> list[list[int]]:
    device = model.device
    input_ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    prompt_width = input_ids.shape[1]
    use_cache = use_cache and model.backend == "hf"
    out: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool)
    past = None
    step_ids = input_ids
    new_ids = []  # every step's token for every row, finished or not
    for _ in range(max_new_tokens):
        logits, past = _step(model, step_ids, mask, past, prompt_width, use_cache)
        next_logits = logits[:, -1, :].float()
        if greedy:
            next_ids = next_logits.argmax(-1)
        else:
            probs = torch.softmax(next_logits / temperature, -1).cpu()
            next_ids = torch.multinomial(probs, 1, generator=generator).squeeze(-1).to(device)
        new_ids.append(next_ids)
        for row, token in enumerate(next_ids.tolist()):
            if not finished[row]:
                out[row].append(token)
                finished[row] = token in stops
        if bool(finished.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        if use_cache:
            step_ids = next_ids[:, None]
        else:  # no cache: feed the whole sequence again
            step_ids = torch.cat([input_ids, torch.stack(new_ids, dim=1)], dim=1)
    return out


def _step(model: Model, ids, mask, past, prompt_width: int, use_cache: bool):
    """One forward: the prefill, one new position with the cache, or (without a cache) the whole
    sequence again. Steering hooks learn which columns hold prompt and which generated tokens."""
    positions = positions_from_mask(mask)[:, -ids.shape[1] :]
    if past is not None:
        masks = StepMasks.for_decode(ids.shape[0], ids.device)
    else:
        masks = StepMasks.for_prompts(mask, prompt_width)
    with step(masks):
        if model.backend == "bridge":
            logits = model.bridge(
                ids, attention_mask=mask, position_ids=positions, return_type="logits"
            )
            return logits, None
        output = model.hf(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=use_cache,
            **cache_kwargs(model.hf, past),
            **last_logits_kwargs(model.hf),
        )
    return output.logits, (returned_cache(output) if use_cache else None)


def _stop_ids(model: Model) -> set[int]:
    # llama2.c-style models mark a new document with BOS, so it ends a generation too.
    ids = {
        model.tokenizer.eos_token_id,
        model.tokenizer.bos_token_id,
        getattr(model.config, "eos_token_id", None),
    }
    return {i for i in ids if isinstance(i, int)}


def _cut_at_stop(ids: list[int], stops: set[int]) -> list[int]:
    for n, token in enumerate(ids):
        if token in stops:
            return ids[:n]
    return ids
