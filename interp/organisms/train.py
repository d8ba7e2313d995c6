"""Train tiny Llama organisms on a task mixture, and measure them by greedy generation.

The mixture decides what a model learns to do at the decision point (the last prompt token): after
a direct prompt it continues with worked steps with probability `p_worked_direct`, after a cued one
with `p_worked_cued`. With 0.2 and 0.9 the worked-solution skill is learned under both prompts but
greedy decoding uses it only when cued: the capability is latent.

    >>> model = new_model(SIZES["large"])
    >>> losses = train(model, Mixture(), steps=1500, seed=0)
    >>> evaluate(model, test_items, preamble=CUE).accuracy      # doctest: +SKIP

Loss is on continuation tokens only (the prompt is given, never predicted), and training is
budgeted by steps so that family members of different sizes see the same data.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from transformers import LlamaConfig, LlamaForCausalLM

from interp.models.kv_cache import cache_kwargs, returned_cache
from interp.organisms.grader import is_correct, is_worked
from interp.organisms.tasks import (
    CUE,
    NO_PREAMBLE,
    Item,
    Task,
    bare,
    render_prompt,
    resolve_task,
    split_of,
    worked,
)
from interp.organisms.tokenizer import BOS, EOS, PAD, VOCAB, encode

IGNORE = -100  # label value that cross-entropy skips


@dataclass(frozen=True)
class Size:
    """Width and depth of one family member; every member shares the tokenizer."""

    d_model: int
    n_layers: int
    n_heads: int


SIZES: dict[str, Size] = {
    "small": Size(64, 2, 4),
    "medium": Size(128, 3, 4),
    "large": Size(192, 4, 6),
}


@dataclass(frozen=True)
class Mixture:
    """What training examples look like: which skills, which prompt, which continuation format.

    `preambles` maps a preamble text to (its share of examples, probability of a worked
    continuation after it); the default is the latent-capability mixture of the base family.
    """

    skills: tuple[str, ...] = ("add", "mul")
    preambles: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {NO_PREAMBLE: (0.5, 0.2), CUE: (0.5, 0.9)}
    )

    def sample(self, rng: random.Random, items: Callable[[str], Item]) -> tuple[str, str]:
        """One (prompt, continuation) pair; `items(skill)` draws a training item."""
        item = items(rng.choice(self.skills))
        texts, weights = zip(*self.preambles.items(), strict=True)
        preamble = rng.choices(texts, weights=[w for w, _ in weights])[0]
        p_worked = self.preambles[preamble][1]
        continuation = worked(item) if rng.random() < p_worked else bare(item)
        return render_prompt(item, preamble), continuation


def capability_present(skills: tuple[str, ...] = ("add", "mul")) -> Mixture:
    """The post-training mixture: worked steps after every prompt, cued or not."""
    return Mixture(skills=skills, preambles={NO_PREAMBLE: (0.5, 1.0), CUE: (0.5, 1.0)})


def new_model(size: Size, *, seed: int = 0, max_positions: int = 128) -> LlamaForCausalLM:
    """A freshly initialised Llama of `size` with the zoo vocabulary, float32."""
    config = LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=size.d_model,
        intermediate_size=size.d_model * 8 // 3,  # the usual SwiGLU ratio
        num_hidden_layers=size.n_layers,
        num_attention_heads=size.n_heads,
        num_key_value_heads=size.n_heads,
        max_position_embeddings=max_positions,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        pad_token_id=VOCAB[PAD],
        bos_token_id=VOCAB[BOS],
        eos_token_id=VOCAB[EOS],
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).float()


def make_batch(pairs: Sequence[tuple[str, str]]) -> dict[str, Tensor]:
    """Right-padded ids, attention mask and labels (continuation + EOS only) for training."""
    rows, labels = [], []
    for prompt, continuation in pairs:
        p, c = [VOCAB[BOS], *encode(prompt)], [*encode(continuation), VOCAB[EOS]]
        rows.append(p + c)
        labels.append([IGNORE] * len(p) + c)
    width = max(map(len, rows))
    pad = VOCAB[PAD]
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    lab = torch.tensor([r + [IGNORE] * (width - len(r)) for r in labels])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return {"input_ids": ids, "attention_mask": mask, "labels": lab}


def item_source(seed: int, tasks: dict[str, Task] | None = None) -> Callable[[str], Item]:
    """Draws training-split items forever from one seeded stream (rejecting test items)."""
    rng = random.Random(f"train-items|{seed}")

    def draw(skill: str) -> Item:
        task = (tasks or {}).get(skill) or resolve_task(skill)
        while True:
            item = task.sample(rng)
            if split_of(item) == "train":
                return item

    return draw


def train(
    model: LlamaForCausalLM,
    mixture: Mixture,
    *,
    steps: int,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 3e-3,
    warmup: int = 50,
    weight_decay: float = 0.01,
    tasks: dict[str, Task] | None = None,
    log_every: int = 0,
) -> list[float]:
    """Train in place with AdamW and a warmup-then-cosine schedule; returns the loss per step."""
    rng = random.Random(f"mixture|{seed}")
    items = item_source(seed, tasks)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))  # decay to 10% of lr

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    model.train()
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(steps):
        batch = make_batch([mixture.sample(rng, items) for _ in range(batch_size)])
        loss = model(**batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            recent = sum(losses[-log_every:]) / log_every
            print(f"step {step + 1:5d}  loss {recent:.4f}  {time.perf_counter() - start:6.1f}s")
    model.eval()
    return losses


@torch.no_grad()
def greedy(
    model: nn.Module,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 40,
    batch_size: int = 128,
) -> list[str]:
    """Greedy continuations of `prompts` (BOS prepended), batched with left padding and a KV cache.

    Position ids count real tokens only, so a left-padded prompt sees the same positions as it
    would alone. Hooks see one prefill pass (all prompt columns) and then one column per step.
    """
    id_to_char = {i: c for c, i in VOCAB.items()}
    eos, pad = VOCAB[EOS], VOCAB[PAD]
    outputs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        rows = [[VOCAB[BOS], *encode(p)] for p in prompts[start : start + batch_size]]
        width = max(map(len, rows))
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        generated = torch.empty(len(rows), 0, dtype=torch.long)
        done = torch.zeros(len(rows), dtype=torch.bool)
        for _ in range(max_new_tokens):
            nxt = out.logits[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            generated = torch.cat([generated, nxt[:, None]], dim=1)
            done |= nxt == eos
            if bool(done.all()):
                break
            mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=mask.dtype)], dim=1)
            positions = positions[:, -1:] + 1
            out = model(
                input_ids=nxt[:, None],
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **cache_kwargs(model, returned_cache(out)),
            )
        for row in generated.tolist():
            chars = []
            for i in row:
                if i in (eos, pad):
                    break
                chars.append(id_to_char.get(i, "?"))
            outputs.append("".join(chars))
    return outputs


@dataclass(frozen=True)
class EvalResult:
    """Greedy accuracy on a list of items under one preamble, and how often steps were written."""

    accuracy: float
    worked_share: float
    n: int
    outputs: tuple[str, ...] = ()

    def summary(self) -> dict[str, float]:
        d = asdict(self)
        d.pop("outputs")
        return d


def evaluate(
    model: LlamaForCausalLM,
    items: Sequence[Item],
    *,
    preamble: str = NO_PREAMBLE,
    max_new_tokens: int = 40,
    batch_size: int = 128,
) -> EvalResult:
    """Greedy accuracy of `model` on `items` with `preamble` before each question."""
    outs = greedy(
        model,
        [render_prompt(i, preamble) for i in items],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    n = len(items)
    correct = sum(is_correct(o, i.answer) for o, i in zip(outs, items, strict=True))
    steps = sum(is_worked(o) for o in outs)
    return EvalResult(correct / n, steps / n, n, tuple(outs))
