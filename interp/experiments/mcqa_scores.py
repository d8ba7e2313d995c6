"""Per-head option scores of multiple-choice prompts ("Listening to the Wise Few").

For each prompt, one forward pass reads at every layer the final token's query, the keys at the
option letters ("A" of "A. Paris") and the attention pattern. A head's QK-score of an option is the
dot product of the final query (per query head, after rotary embedding) with the key of the option's
letter (its key-value head's); its attention score is the attention weight the final token puts on
that letter. The logit baseline scores an option by the logit of its letter as the next token
(the larger of "A" and " A" where both are single tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interp.errors import InterpError
from interp.experiments.mcqa_items import LETTERS, MCQItem
from interp.hooks.context import hooked
from interp.models.model import Model
from interp.models.tokens import Chat, render_chat
from interp.progress import track


@dataclass
class OptionScores:
    """Scores of every option of every item, by head and by the logits."""

    qk: Tensor  # (items, layers, heads, options)
    attention: Tensor  # (items, layers, heads, options)
    logits: Tensor  # (items, options)


def score_items(
    model: Model, items: list[MCQItem], *, chat: bool = False, progress: bool = False
) -> OptionScores:
    """Run every item once (batch of one: positions need no padding bookkeeping); with `chat`,
    each prompt is one user message through the model's chat template."""
    n_options = {len(item.label_chars) for item in items}
    if len(n_options) != 1:
        raise InterpError(
            f"items have {sorted(n_options)} options; one study needs one count",
            fix="give every question the same number of options",
        )
    letters = letter_tokens(model, n_options.pop())
    qk, attention, logits = [], [], []
    for item in track(items, "mcqa", unit="item", enabled=progress):
        ids, positions = encode_with_labels(model, item, chat=chat)
        item_qk, item_attention, item_logits = _score_one(model, ids, positions, letters)
        qk.append(item_qk)
        attention.append(item_attention)
        logits.append(item_logits)
    return OptionScores(torch.stack(qk), torch.stack(attention), torch.stack(logits))


def encode_with_labels(
    model: Model, item: MCQItem, *, chat: bool = False
) -> tuple[Tensor, list[int]]:
    """The prompt's token ids (as `encode` makes them) and the token holding each option letter."""
    tokenizer = model.tokenizer
    text, label_chars, special = item.text, list(item.label_chars), True
    if chat:
        # The template writes its special tokens itself; the message sits in it verbatim.
        text = render_chat(tokenizer, Chat.of(item.text))
        start = text.find(item.text)
        if start < 0:
            raise InterpError(
                "the chat template changes the question's text, so its letters cannot be found",
                fix='set "chat": false',
            )
        label_chars, special = [start + c for c in label_chars], False
    try:
        encoded = tokenizer(text, add_special_tokens=special, return_offsets_mapping=True)
    except NotImplementedError as err:
        raise InterpError(
            "the head readout needs a fast tokenizer (character offsets of the option letters)",
            fix="load the model with its tokenizer.json",
        ) from err
    offsets = encoded["offset_mapping"]
    positions = []
    for char in label_chars:
        found = [t for t, (a, b) in enumerate(offsets) if a <= char < b]
        if not found:
            raise InterpError(
                f"no token covers the option letter at character {char} of {item.text[:40]!r}",
                fix="use a tokenizer whose offsets cover the text",
            )
        positions.append(found[0])
    return torch.tensor([encoded["input_ids"]]), positions


def letter_tokens(model: Model, n_options: int) -> list[list[int]]:
    """Per letter, the single tokens that spell it as the next token ("A", " A")."""
    out = []
    for letter in LETTERS[:n_options]:
        ids = {
            spelled[0]
            for text in (letter, f" {letter}")
            if len(spelled := model.tokenizer.encode(text, add_special_tokens=False)) == 1
        }
        if not ids:
            raise InterpError(
                f"the tokenizer has no single token for the letter {letter}",
                fix="the logit baseline needs single-token letters",
            )
        out.append(sorted(ids))
    return out


@torch.no_grad()
def _score_one(
    model: Model, ids: Tensor, positions: list[int], letters: list[list[int]]
) -> tuple[Tensor, Tensor, Tensor]:
    n_layers = model.n_layers
    queries: dict[int, Tensor] = {}
    keys: dict[int, Tensor] = {}
    weights: dict[int, Tensor] = {}
    where = torch.tensor(positions)

    def read(store: dict[int, Tensor], layer: int, kind: str):
        def fn(h: Tensor) -> None:
            if kind == "q":
                store[layer] = h[0, -1].float()  # (heads, d_head)
            elif kind == "k":
                store[layer] = h[0, where.to(h.device)].float()  # (options, kv_heads, d_head)
            else:
                store[layer] = h[0, :, -1, where.to(h.device)].float()  # (heads, options)

        return fn

    fns = []
    for layer in range(n_layers):
        fns.append((f"blocks.{layer}.attn.hook_q", read(queries, layer, "q")))
        fns.append((f"blocks.{layer}.attn.hook_k", read(keys, layer, "k")))
        fns.append((f"blocks.{layer}.attn.hook_pattern", read(weights, layer, "pattern")))
    with hooked(model, fns):
        logits = model.forward(ids, last_logits_only=True)[0, -1].float().cpu()
    qk = []
    for layer in range(n_layers):
        q, k = queries[layer], keys[layer]
        k = k.repeat_interleave(
            q.shape[0] // k.shape[1], dim=1
        )  # query head h reads kv head h // g
        qk.append(torch.einsum("hd,ohd->ho", q, k).cpu())
    attention = torch.stack([weights[layer].cpu() for layer in range(n_layers)])
    letter_logits = torch.stack([logits[torch.tensor(t)].max() for t in letters])
    return torch.stack(qk), attention, letter_logits
