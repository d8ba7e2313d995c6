"""Training plumbing: batches mask the prompt, a few steps lower the loss, greedy is padding-correct."""

from __future__ import annotations

import random

import torch

from interp.organisms.tasks import CUE, NO_PREAMBLE, generate, render_prompt
from interp.organisms.tokenizer import EOS, VOCAB, encode
from interp.organisms.train import (
    IGNORE,
    Mixture,
    Size,
    evaluate,
    greedy,
    make_batch,
    new_model,
    train,
)

TINY = Size(d_model=32, n_layers=2, n_heads=4)


def test_labels_cover_the_continuation_and_eos_only():
    batch = make_batch([("Q:1+2\nA:", "#3"), ("Show steps.\nQ:10+20\nA:", "10+20=30;#30")])
    labels, mask = batch["labels"], batch["attention_mask"]
    assert labels[0][labels[0] != IGNORE].tolist() == [*encode("#3"), VOCAB[EOS]]
    assert labels[1][labels[1] != IGNORE].tolist() == [*encode("10+20=30;#30"), VOCAB[EOS]]
    assert mask[0].sum() < mask.shape[1] and mask[1].all()  # right padding on the short row


def test_mixture_follows_its_preamble_probabilities():
    mix = Mixture(skills=("add",), preambles={NO_PREAMBLE: (0.5, 0.0), CUE: (0.5, 1.0)})
    items = lambda skill: generate(skill, 1, seed=random.randrange(10**6), split="train")[0]  # noqa: E731
    rng = random.Random(0)
    for _ in range(50):
        prompt, continuation = mix.sample(rng, items)
        assert continuation.startswith("#") != prompt.startswith(CUE)


def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = new_model(TINY, seed=0)
    losses = train(model, Mixture(), steps=30, batch_size=16, lr=3e-3, warmup=5, seed=0)
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    assert not model.training


def test_training_is_deterministic_by_seed():
    runs = []
    for _ in range(2):
        model = new_model(TINY, seed=1)
        runs.append(train(model, Mixture(), steps=3, batch_size=4, seed=1))
    assert runs[0] == runs[1]


def test_batched_greedy_matches_one_by_one():
    model = new_model(TINY, seed=2)
    items = generate("add", 3, seed=0, split="test")
    prompts = [render_prompt(items[0], CUE), render_prompt(items[1]), "Q:1\nA:"]
    together = greedy(model, prompts, max_new_tokens=8)
    alone = [greedy(model, [p], max_new_tokens=8)[0] for p in prompts]
    assert together == alone
    result = evaluate(model, items, max_new_tokens=8)
    assert result.n == 3 and 0.0 <= result.accuracy <= 1.0 and len(result.outputs) == 3
