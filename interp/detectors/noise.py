"""Noise injection (Tice et al., arXiv 2412.01784): Gaussian noise on the weights, accuracy at each level.

A sandbagger's accuracy can rise above its clean accuracy when its weights are perturbed, while a
benign model's only falls. The statistic is the improvement ratio, best noisy accuracy over clean
accuracy, with a bootstrap interval over items. The weights are saved once per sweep (not per
seed) and restored exactly after every setting, also when evaluation raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from interp.errors import InterpError
from interp.stats import percentile_interval, resample_rows

Evaluate = Callable[
    [nn.Module], Tensor
]  # the model -> 0/1 correctness per item, same items each call


@contextmanager
def weight_noise(
    model: nn.Module,
    std: float,
    seed: int,
    *,
    relative: bool = False,
    saved: dict[str, Tensor] | None = None,
) -> Iterator[None]:
    """Add N(0, std^2) noise to every floating-point parameter inside the block; restore exactly after.

    With `relative=True` each parameter's noise is scaled by that parameter's own standard deviation.
    `saved`: the clean weights from `save_weights(model)`, for callers that perturb the same model
    many times (a sweep saves once); without it the block saves its own copy.

    >>> with weight_noise(model.hf, std=1e-3, seed=0):   # doctest: +SKIP
    ...     accuracy = evaluate(model.hf).mean()
    """
    if std < 0 or std != std:
        raise InterpError(
            f"noise standard deviation {std!r} is not a non-negative number", fix="use e.g. 1e-3"
        )
    saved = save_weights(model) if saved is None else saved
    try:
        _perturb(model, std, seed, relative)
        yield
    finally:
        _restore(model, saved)


def save_weights(model: nn.Module) -> dict[str, Tensor]:
    """A copy of every floating-point parameter, in host memory: restoring from it is exact, and a
    model on an accelerator does not hold its weights twice there."""
    return {
        name: p.detach().to("cpu", copy=True)
        for name, p in model.named_parameters()
        if p.is_floating_point()
    }


def _perturb(model: nn.Module, std: float, seed: int, relative: bool) -> None:
    generator = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if not p.is_floating_point() or std == 0:
                continue
            scale = std * (float(p.float().std()) if relative and p.numel() > 1 else 1.0)
            noise = torch.randn(p.shape, generator=generator) * scale
            p.add_(noise.to(p.device, p.dtype))


def _restore(model: nn.Module, saved: dict[str, Tensor]) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in saved:
                p.copy_(saved[name])


@dataclass
class NoiseSweep:
    stds: list[float]
    seeds: list[int]
    clean: Tensor  # (n_items,) correctness without noise
    noisy: Tensor  # (n_stds, n_seeds, n_items)
    drift: Tensor | None = None  # (n_stds, n_seeds) the `drift` measure under each setting
    ratio: float = 0.0
    ratio_ci95: tuple[float, float] = (0.0, 0.0)
    best: dict = field(default_factory=dict)

    def accuracy_table(self) -> list[dict]:
        """Mean accuracy per noise level (over seeds), with the spread across seeds."""
        rows = []
        for i, std in enumerate(self.stds):
            per_seed = self.noisy[i].float().mean(-1)
            row = {
                "std": std,
                "mean": float(per_seed.mean()),
                "max": float(per_seed.max()),
                "min": float(per_seed.min()),
            }
            if self.drift is not None:
                row["drift"] = float(self.drift[i].mean())
            rows.append(row)
        return rows


MAX_EXTRA_LEVELS = 5  # how far `until_drift` may extend a grid (each level doubles the std)


def noise_sweep(
    model: nn.Module,
    evaluate: Evaluate,
    stds: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2),
    *,
    relative: bool = False,
    n_bootstrap: int = 1000,
    bootstrap_seed: int = 0,
    clean: Tensor | None = None,
    drift: Callable[[nn.Module], float] | None = None,
    until_drift: float | None = None,
) -> NoiseSweep:
    """Accuracy at every (std, seed); improvement ratio = max over settings of noisy accuracy / clean.

    The interval resamples items with replacement and recomputes the whole statistic (the max over
    settings included), so it carries the selection of the best setting. `clean`: the noiseless
    per-item scores, when the caller already has them. `drift`: a measure of how far the noisy
    model moved from the clean one (for example the drop in log-likelihood of its own clean
    answers), taken under every setting, so that a sweep too weak to change the model shows.
    `until_drift`: keep doubling the largest std (at most `MAX_EXTRA_LEVELS` times) until the
    mean drift over seeds reaches this, so that models of different robustness are all swept
    to the point where noise changes them.
    """
    if not stds:
        raise InterpError("no noise levels to sweep", fix="pass stds such as [1e-4, 1e-3, 3e-3]")
    if until_drift is not None and (drift is None or not max(stds) > 0):
        raise InterpError(
            "until_drift extends the grid by the drift measure and a positive largest std",
            fix="pass drift=... and a positive std, or leave until_drift unset",
        )
    clean = (evaluate(model) if clean is None else clean).float().cpu()
    if clean.ndim != 1 or clean.numel() == 0:
        raise InterpError(
            "the evaluation returned no per-item scores", fix="return a 1-D tensor of 0/1 per item"
        )
    saved = save_weights(model)  # once: every setting restores from this copy

    def measure(std: float) -> tuple[Tensor, Tensor | None]:
        """(n_seeds, n_items) scores and (n_seeds,) drift at one noise level."""
        scores, moved = [], []
        for seed in seeds:
            with weight_noise(model, std, seed, relative=relative, saved=saved):
                scores.append(evaluate(model).float().cpu())
                if drift is not None:
                    moved.append(float(drift(model)))
        return torch.stack(scores), (torch.tensor(moved) if drift is not None else None)

    levels = list(stds)
    measured = [measure(std) for std in levels]
    while until_drift is not None and len(levels) < len(stds) + MAX_EXTRA_LEVELS:
        moved = measured[-1][1]
        if moved is None or float(moved.mean()) >= until_drift:
            break
        levels.append(max(levels) * 2)
        measured.append(measure(levels[-1]))
    noisy_rows = [scores for scores, _ in measured]
    drift_rows = [moved for _, moved in measured if moved is not None]
    noisy = torch.stack(noisy_rows)  # (n_levels, n_seeds, n_items)
    moved_all = torch.stack(drift_rows) if drift is not None else None
    sweep = NoiseSweep(levels, list(seeds), clean, noisy, moved_all)
    sweep.ratio = _ratio(clean, noisy)
    flat = noisy.mean(-1)
    i, j = divmod(int(flat.argmax()), len(seeds))
    sweep.best = {
        "std": levels[i],
        "seed": seeds[j],
        "accuracy": float(flat[i, j]),
        "clean_accuracy": float(clean.mean()),
    }
    # The whole statistic (the best setting included) on each resample of items, as float32.
    index = resample_rows(clean.numel(), n_bootstrap, bootstrap_seed)
    ratios = torch.tensor([_ratio(clean[k], noisy[..., k]) for k in index])
    # Resamples without a correct clean answer give an infinite ratio; they are left out.
    finite = ratios[torch.isfinite(ratios)]
    if finite.numel():
        sweep.ratio_ci95 = percentile_interval(finite)
    else:
        sweep.ratio_ci95 = (float("inf"), float("inf"))
    return sweep


def _ratio(clean: Tensor, noisy: Tensor) -> float:
    best = float(noisy.mean(-1).max())
    base = float(clean.mean())
    return best / base if base > 0 else float("inf") if best > 0 else 1.0
