"""A contrast direction steers a real model toward its side, beyond random directions.

From positive and negative prompts (for example happy and sad story openings), take the
difference of means of the residual stream at one layer; add it, scaled relative to the typical
residual norm there, at every position of held-out neutral prompts. The effect is the change in
log p(positive words) - log p(negative words) as the next words, with a bootstrap interval over
prompts; controls are random directions of the same norm and the negated direction; the cost is
the KL divergence from the unsteered next-token distributions and the change in loss on the
neutral prompts themselves.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from interp.capture.batching import encode_item, make_batch
from interp.capture.items import Item
from interp.capture.run import capture
from interp.errors import InterpError
from interp.experiments.scoring import bootstrap_mean_ci, continuation_logprobs, next_token_kl
from interp.models.model import Model
from interp.steer import Steer, steering


@dataclass(frozen=True)
class ContrastSteeringConfig:
    positive: list[str]
    negative: list[str]
    neutral: list[str]
    positive_words: list[str]
    negative_words: list[str]
    layer: int
    alpha: float = 1.0  # added vector norm, as a multiple of the mean residual norm at `layer`
    n_controls: int = 20
    seed: int = 0
    hook_kind: str = "resid_post"
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("positive", "negative", "neutral", "positive_words", "negative_words"):
            if not getattr(self, name):
                raise InterpError(
                    f"the contrast-steering config has no {name}",
                    fix=f"give at least one entry in {name}",
                )


def side_score(
    model: Model, prompts: list[str], positive_words: list[str], negative_words: list[str]
) -> Tensor:
    """Per prompt: mean log p(positive word) - mean log p(negative word) as the continuation."""
    words = positive_words + negative_words
    items = [Item(p, response=w) for p in prompts for w in words]
    lp = continuation_logprobs(model, items).view(len(prompts), len(words))
    return lp[:, : len(positive_words)].mean(-1) - lp[:, len(positive_words) :].mean(-1)


def run_contrast_steering(
    model: Model, config: ContrastSteeringConfig, out: Path | None = None
) -> dict:
    """Run the study; with `out`, write config, metrics, report and a figure there (atomically)."""
    hook = f"blocks.{config.layer % model.n_layers}.hook_{config.hook_kind}"
    items = [Item(p, label="positive") for p in config.positive] + [
        Item(p, label="negative") for p in config.negative
    ]
    got = capture(model, items, hook, positions="all", reduce="label_mean", progress=False)
    means = got.label_means[hook].means
    direction = means[got.labels.index("positive")] - means[got.labels.index("negative")]
    scale = config.alpha * _mean_residual_norm(model, config.neutral, hook)

    def effect(vector: Tensor) -> Tensor:
        with steering(
            model, Steer(hook, "add", vector, alpha=scale / float(vector.norm()), positions="all")
        ):
            return side_score(model, config.neutral, config.positive_words, config.negative_words)

    base = side_score(model, config.neutral, config.positive_words, config.negative_words)
    shift = effect(direction) - base
    negated = effect(-direction) - base
    generator = torch.Generator().manual_seed(config.seed)
    controls = []
    for _ in range(config.n_controls):
        random = torch.randn(direction.shape, generator=generator)
        controls.append(float((effect(random / random.norm() * direction.norm()) - base).mean()))
    controls_t = torch.tensor(controls)
    kl, loss_change = _cost(
        model,
        config.neutral,
        Steer(hook, "add", direction, alpha=scale / float(direction.norm()), positions="all"),
    )
    metrics = {
        "hook": hook,
        "added_norm": scale,
        "direction_norm": float(direction.norm()),
        "unsteered_score": float(base.mean()),
        "effect": float(shift.mean()),
        "effect_ci95": list(bootstrap_mean_ci(shift, seed=config.seed)),
        "negated_effect": float(negated.mean()),
        "negated_effect_ci95": list(bootstrap_mean_ci(negated, seed=config.seed)),
        "random_control_effect_p95": float(controls_t.quantile(0.95)),
        "random_control_effect_p05": float(controls_t.quantile(0.05)),
        "random_control_abs_max": float(controls_t.abs().max()),
        "kl_neutral": kl,
        "loss_change_neutral": loss_change,
        "n_neutral": len(config.neutral),
        "n_controls": config.n_controls,
        "beats_controls": float(shift.mean()) > float(controls_t.quantile(0.95))
        and bootstrap_mean_ci(shift, seed=config.seed)[0] > 0,
    }
    if out is not None:
        _write(out, config, metrics, controls)
    return metrics


def _mean_residual_norm(model: Model, prompts: list[str], hook: str) -> float:
    got = capture(model, prompts, hook, positions="all", progress=False)
    return float(got.activations[hook].norm(dim=-1).mean())


@torch.no_grad()
def _cost(model: Model, prompts: list[str], steer: Steer) -> tuple[float, float]:
    """KL(unsteered || steered) per token and the change in next-token loss, on `prompts`."""
    encoded = [encode_item(model.tokenizer, Item(p)) for p in prompts]
    batch = make_batch(
        encoded, [[] for _ in encoded], range(len(encoded)), model.tokenizer.pad_token_id, "right"
    )
    base = model.forward(batch.input_ids, batch.attention_mask)
    with steering(model, steer):
        steered = model.forward(batch.input_ids, batch.attention_mask)
    kl = next_token_kl(model, base, steered, batch.attention_mask)
    target_mask = batch.attention_mask[:, 1:].bool()

    def loss(logits: Tensor) -> float:
        lp = (
            logits.float()
            .log_softmax(-1)[:, :-1]
            .gather(-1, batch.input_ids[:, 1:, None])
            .squeeze(-1)
        )
        return float(-lp[target_mask].mean())

    return kl, loss(steered) - loss(base)


def _write(out: Path, config: ContrastSteeringConfig, metrics: dict, controls: list[float]) -> None:
    from interp.files import atomic_directory, atomic_write_json, atomic_write_text
    from interp.reports.figures import effect_vs_controls

    with atomic_directory(out) as tmp:
        atomic_write_json(tmp / "config.json", asdict(config))
        atomic_write_json(tmp / "metrics.json", metrics)
        effect_vs_controls(
            tmp / "figures" / "controls.png",
            metrics["effect"],
            controls,
            title=f"steering at {metrics['hook']}",
            xlabel="change in log p(positive) - log p(negative)",
        )
        atomic_write_text(tmp / "report.md", _report(metrics))


def _report(m: dict) -> str:
    lo, hi = m["effect_ci95"]
    return f"""# Contrast steering

Adding the positive-minus-negative direction at `{m["hook"]}` (norm {m["added_norm"]:.3f}) to {m["n_neutral"]}
neutral prompts changes log p(positive words) - log p(negative words) by **{m["effect"]:.3f}**
(95% bootstrap interval {lo:.3f} to {hi:.3f}); the negated direction changes it by {m["negated_effect"]:.3f}.
{m["n_controls"]} random directions of the same norm: 5th-95th percentile {m["random_control_effect_p05"]:.3f} to
{m["random_control_effect_p95"]:.3f}. Cost: KL {m["kl_neutral"]:.4f} nats per token from the unsteered model,
loss on the neutral prompts {m["loss_change_neutral"]:+.4f} nats per token.

![controls](figures/controls.png)

```json
{json.dumps(m, indent=2)}
```
"""
