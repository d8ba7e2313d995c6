"""Is the latent capability steerable? A plain-hook check of the prompt-contrast direction.

Methods section 1, steps 1 and 3, on one model: read the residual stream after each block at the
last prompt token for cued and direct prompts, take d_l = mean(cued - direct), then generate from
direct prompts while rotating the last prompt token's state toward d_l in the prefill only

    u = h/|h| + alpha * v/|v|;   h <- |h| * u/|u|

and compare with the same rotation toward random directions (the rotation normalises v, so equal
norm holds by construction). This module uses plain forward hooks on `model.model.layers[l]` so it
does not depend on the steering package.

    >>> dirs = contrast_directions(model, train_items)
    >>> steered_eval(model, test_items, dirs, alpha=0.5).accuracy   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor
from transformers import LlamaForCausalLM

from interp.organisms.tasks import CUE, NO_PREAMBLE, Item, render_prompt
from interp.organisms.tokenizer import BOS, PAD, VOCAB, encode
from interp.organisms.train import EvalResult, evaluate


def _output_tensor(output) -> Tensor:
    # Llama decoder layers return a tensor in transformers 5 and a tuple before it.
    return output[0] if isinstance(output, tuple) else output


@torch.no_grad()
def last_token_states(model: LlamaForCausalLM, prompts: Sequence[str]) -> Tensor:
    """Residual stream after every block at each prompt's last token: (layers, N, d_model)."""
    rows = [[VOCAB[BOS], *encode(p)] for p in prompts]
    width = max(map(len, rows))
    ids = torch.tensor([[VOCAB[PAD]] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    states: list[Tensor] = []
    handles = [
        layer.register_forward_hook(lambda m, i, o: states.append(_output_tensor(o)[:, -1]))
        for layer in model.model.layers
    ]
    try:
        model(input_ids=ids, attention_mask=mask, position_ids=positions)
    finally:
        for h in handles:
            h.remove()
    return torch.stack(states)  # (L, N, D)


def contrast_directions(
    model: LlamaForCausalLM,
    items: Sequence[Item],
    *,
    positive: str = CUE,
    negative: str = NO_PREAMBLE,
) -> Tensor:
    """d_l = mean over items of (state with `positive` preamble - state with `negative`): (L, D)."""
    pos = last_token_states(model, [render_prompt(i, positive) for i in items])
    neg = last_token_states(model, [render_prompt(i, negative) for i in items])
    return (pos - neg).mean(dim=1)


@contextmanager
def rotate_last_prompt_token(
    model: LlamaForCausalLM, directions: dict[int, Tensor], alpha: float
) -> Iterator[None]:
    """Rotate the last prompt token toward `directions[l]` after block l, prefill passes only.

    A pass with more than one column is the prefill (left padding puts every prompt's last token
    at column -1); decoding passes carry one column and are left alone.
    """

    def hook_for(v: Tensor):
        unit = v / v.norm()

        def hook(module, inputs, output):
            h = _output_tensor(output)
            if h.shape[1] == 1:
                return None
            last = h[:, -1]  # (B, D)
            norm = last.norm(dim=-1, keepdim=True)
            u = last / norm + alpha * unit
            h = h.clone()
            h[:, -1] = norm * u / u.norm(dim=-1, keepdim=True)
            return (h, *output[1:]) if isinstance(output, tuple) else h

        return hook

    handles = [
        model.model.layers[layer].register_forward_hook(hook_for(v))
        for layer, v in directions.items()
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def steered_eval(
    model: LlamaForCausalLM,
    items: Sequence[Item],
    directions: dict[int, Tensor],
    *,
    alpha: float,
    preamble: str = NO_PREAMBLE,
) -> EvalResult:
    """Greedy accuracy on `items` with the rotation applied at the given layers."""
    with rotate_last_prompt_token(model, directions, alpha):
        return evaluate(model, items, preamble=preamble)


def random_like(directions: dict[int, Tensor], seed: int) -> dict[int, Tensor]:
    """Gaussian directions with the same norm as each of `directions`, one seed for all layers."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for layer, v in directions.items():
        r = torch.randn(v.shape, generator=gen, dtype=v.dtype)
        out[layer] = r * v.norm() / r.norm()
    return out


def steering_check(
    model: LlamaForCausalLM,
    *,
    skill: str = "add",
    n_fit: int = 64,
    n_select: int = 100,
    n_test: int = 200,
    alphas: Sequence[float] = (0.1, 0.2, 0.5, 1.0),
    n_random: int = 5,
    seed: int = 0,
) -> dict:
    """Fit d on `n_fit` train items, pick layers and alpha on `n_select` other train items, then
    score once on `n_test` test items against `n_random` random directions at the same setting.

    Layer settings tried: every block at once, and each block alone.
    """
    from interp.organisms.tasks import generate

    fit = generate(skill, n_fit, seed=seed + 101, split="train")
    select = generate(skill, n_select, seed=seed + 202, split="train")
    test = generate(skill, n_test, seed=seed + 303, split="test")
    d = contrast_directions(model, fit)
    n_layers = d.shape[0]
    settings = {"all": list(range(n_layers)), **{f"L{i}": [i] for i in range(n_layers)}}
    grid = []
    for name, layers in settings.items():
        dirs = {i: d[i] for i in layers}
        for alpha in alphas:
            r = steered_eval(model, select, dirs, alpha=alpha)
            grid.append({"layers": name, "alpha": alpha, **r.summary()})
    best = max(grid, key=lambda g: g["accuracy"])
    dirs = {i: d[i] for i in settings[best["layers"]]}
    steered = steered_eval(model, test, dirs, alpha=best["alpha"]).summary()
    controls = [
        steered_eval(model, test, random_like(dirs, seed=s), alpha=best["alpha"]).summary()
        for s in range(n_random)
    ]
    return {
        "skill": skill,
        "n_fit": n_fit,
        "n_select": n_select,
        "selected": {"layers": best["layers"], "alpha": best["alpha"]},
        "test": {
            "direct": evaluate(model, test).summary(),
            "cued": evaluate(model, test, preamble=CUE).summary(),
            "steered": steered,
            "random": controls,
            "random_max_accuracy": max(c["accuracy"] for c in controls),
        },
        "direction_norms": d.norm(dim=-1).tolist(),
        "grid": grid,
    }
