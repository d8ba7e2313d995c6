"""`interp demo`: the whole pipeline on a tiny model made on the spot, with no downloads.

It captures a prompt contrast, takes the per-layer difference of means as a direction, adds it in
the middle of the model, and measures the effect against random directions of the same norm and
the KL cost on neutral prompts. The run directory holds config, metrics, report and figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from interp.capture.items import Item
from interp.capture.run import capture
from interp.hooks.context import hooked
from interp.models.model import Model
from interp.models.tiny import tiny_model

POSITIVE = [
    "what a happy sunny day",
    "we laughed and played all day",
    "the party was so much fun",
    "she smiled at the bright flowers",
    "he was glad to see his friend",
    "the puppy jumped with joy",
    "they sang a cheerful song",
    "it was a lovely warm morning",
]
NEGATIVE = [
    "what a sad rainy day",
    "we cried and sat alone all day",
    "the party was so boring",
    "she frowned at the dead flowers",
    "he was upset to lose his friend",
    "the puppy whimpered in fear",
    "they sang a gloomy song",
    "it was a cold dark morning",
]
NEUTRAL = [
    "the box is on the table",
    "a train goes to the city",
    "the door is made of wood",
    "he counts to ten",
]


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 0
    d_model: int = 64
    n_layers: int = 4
    steer_layer: int = 1
    alpha: float = 4.0
    n_controls: int = 32


def run_demo(out: Path, config: DemoConfig = DemoConfig(), progress: bool = False) -> dict:
    """Run the demo into `out` (created whole at the end) and return its metrics."""
    from interp.reports.figures import bar_chart, effect_vs_controls
    from interp.store.atomic import (
        atomic_directory,
        atomic_write_json,
        atomic_write_text,
        save_safetensors_atomic,
    )

    started = time.perf_counter()
    hf, tokenizer = tiny_model(
        "llama", d_model=config.d_model, n_layers=config.n_layers, seed=config.seed
    )
    model = Model(
        hf=hf,
        tokenizer=tokenizer,
        spec=f"tiny:llama-d{config.d_model}-l{config.n_layers}-seed{config.seed}",
    )
    items = [Item(p, label="positive") for p in POSITIVE] + [
        Item(p, label="negative") for p in NEGATIVE
    ]
    got = capture(
        model, items, "resid_post", positions="all", reduce="label_mean", progress=progress
    )
    directions = {hook: stats.means[0] - stats.means[1] for hook, stats in got.label_means.items()}
    steer_hook = f"blocks.{config.steer_layer}.hook_resid_post"
    read_hook = f"blocks.{config.n_layers - 1}.hook_resid_post"

    direction = directions[steer_hook]
    effect = _projection_shift(
        model, direction, steer_hook, read_hook, directions[read_hook], config.alpha
    )
    generator = torch.Generator().manual_seed(config.seed)
    controls = []
    for _ in range(config.n_controls):
        random = torch.randn(direction.shape, generator=generator)
        random = random / random.norm() * direction.norm()
        controls.append(
            _projection_shift(
                model, random, steer_hook, read_hook, directions[read_hook], config.alpha
            )
        )
    kl = _kl_on_neutral(model, direction, steer_hook, config.alpha)

    metrics = {
        "steer_hook": steer_hook,
        "read_hook": read_hook,
        "direction_norms": {hook: float(v.norm()) for hook, v in directions.items()},
        "projection_shift": effect,
        "random_control_shift_mean": float(torch.tensor(controls).mean()),
        "random_control_shift_p95": float(torch.tensor(controls).quantile(0.95)),
        "beats_controls": bool(effect > torch.tensor(controls).quantile(0.95)),
        "kl_neutral": kl,
        "seconds": round(time.perf_counter() - started, 2),
    }
    with atomic_directory(out) as tmp:
        atomic_write_json(tmp / "config.json", asdict(config))
        atomic_write_json(tmp / "metrics.json", metrics)
        save_safetensors_atomic(
            tmp / "directions.safetensors",
            directions,
            {"kind": "direction_set", "model_spec": model.spec, "method": "mean_difference"},
        )
        layers = [h.split(".")[1] for h in directions]
        bar_chart(
            tmp / "figures" / "direction_norms.png",
            layers,
            [float(v.norm()) for v in directions.values()],
            title="contrast direction norm per layer",
            ylabel="|mean(pos) - mean(neg)|",
        )
        effect_vs_controls(
            tmp / "figures" / "controls.png",
            effect,
            controls,
            title=f"steering at {steer_hook}",
            xlabel=f"shift of projection at {read_hook}",
        )
        atomic_write_text(tmp / "report.md", _report(config, metrics))
    return metrics


@torch.no_grad()
def _projection_shift(
    model: Model, vector, steer_hook, read_hook, read_direction, alpha: float
) -> float:
    """Mean change, over neutral prompts, of the last-layer activation's projection on the contrast."""
    unit = read_direction / read_direction.norm()
    items = NEUTRAL
    base = capture(model, items, read_hook, positions="all", reduce="mean", progress=False).means[
        read_hook
    ]
    with hooked(model, {steer_hook: lambda h: h + alpha * vector / vector.norm()}):
        steered = capture(
            model, items, read_hook, positions="all", reduce="mean", progress=False
        ).means[read_hook]
    return float((steered - base) @ unit)


@torch.no_grad()
def _kl_on_neutral(model: Model, vector, steer_hook, alpha: float) -> float:
    from interp.capture.batching import encode_item, make_batch

    encoded = [encode_item(model.tokenizer, Item(p)) for p in NEUTRAL]
    batch = make_batch(
        encoded, [[] for _ in encoded], range(len(encoded)), model.tokenizer.pad_token_id
    )
    base = model.forward(batch.input_ids, batch.attention_mask).log_softmax(-1)
    with hooked(model, {steer_hook: lambda h: h + alpha * vector / vector.norm()}):
        steered = model.forward(batch.input_ids, batch.attention_mask).log_softmax(-1)
    kl = (base.exp() * (base - steered)).sum(-1)  # KL(unsteered || steered) per position
    return float(kl[batch.attention_mask.bool()].mean())


def _report(config: DemoConfig, metrics: dict) -> str:
    verdict = "beats" if metrics["beats_controls"] else "does not beat"
    return f"""# interp demo

A tiny random Llama (width {config.d_model}, {config.n_layers} layers, seed {config.seed}) made on the spot.
A positive-vs-negative prompt contrast gives a difference-of-means direction at every layer's
`hook_resid_post`; adding it (alpha {config.alpha}, unit norm) at `{metrics["steer_hook"]}` moves the
last layer's activations along the last layer's contrast direction.

| measure | value |
| --- | --- |
| projection shift, contrast direction | {metrics["projection_shift"]:.4f} |
| projection shift, {config.n_controls} random directions of equal norm: mean | {metrics["random_control_shift_mean"]:.4f} |
| same, 95th percentile | {metrics["random_control_shift_p95"]:.4f} |
| KL(unsteered or steered) on neutral prompts, per token | {metrics["kl_neutral"]:.4f} |

The contrast direction {verdict} the 95th percentile of the random controls.

![direction norms](figures/direction_norms.png)
![controls](figures/controls.png)

```json
{json.dumps(metrics, indent=2)}
```
"""
