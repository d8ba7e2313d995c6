"""What the transfer study measures beside its accuracies: random directions of equal norm, the
cosine between two direction sets, paired intervals, held-out fit quality and KL on neutral text."""

from __future__ import annotations

import torch
from torch import Tensor

from interp import stats
from interp.align import LayerMaps, fit_report
from interp.directions import DirectionSet
from interp.experiments.scoring import next_token_kl
from interp.experiments.transfer_config import TransferConfig
from interp.experiments.transfer_fit import last_token_acts
from interp.experiments.transfer_task import Conditions, TaskItem
from interp.models.model import Model
from interp.results.transfer import LayerFit
from interp.steer import steering


def mean_cosine(a: DirectionSet, b: DirectionSet) -> float:
    """Mean over the layers both sets hold of the cosine between their directions."""
    rows_b = dict(zip(b.layers, b.vectors, strict=True))
    cosines = [
        float(torch.nn.functional.cosine_similarity(v.float(), rows_b[layer].float(), dim=0))
        for layer, v in zip(a.layers, a.vectors, strict=True)
        if layer in rows_b
    ]
    return sum(cosines) / len(cosines) if cosines else float("nan")


def paired_bootstrap(a: Tensor, b: Tensor, n: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of mean(a - b), resampling items (pairs) with replacement."""
    return low_high(stats.paired_bootstrap(a, b, n=n, seed=seed))


def low_high(interval: stats.Interval) -> tuple[float, float]:
    """An interval's (low, high), as the result stores it."""
    return interval.low, interval.high


def random_like(directions: DirectionSet, seed: int) -> DirectionSet:
    """Random directions with the same per-layer norms (the control of equal norm)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(directions.vectors.shape, generator=generator)
    scaled = (
        noise / noise.norm(dim=-1, keepdim=True) * directions.vectors.norm(dim=-1, keepdim=True)
    )
    return DirectionSet(
        scaled,
        directions.layers,
        directions.model,
        directions.hook,
        f"random-{seed}",
        directions.dataset_hash,
        directions.count,
    )


def fit_quality(
    config: TransferConfig,
    conditions: Conditions,
    test: list[TaskItem],
    source: Model,
    target: Model,
    maps: LayerMaps,
) -> dict[str, LayerFit]:
    """Each chosen map's fit on the test items' locked texts, which it never saw."""
    texts = [conditions.locked(item) for item in test]
    source_test = last_token_acts(source, texts, config.batch_size, config.source_chat)
    target_test = last_token_acts(target, texts, config.batch_size, config.target_chat)
    quality = {}
    for target_layer, (source_layer, linear_map) in maps.maps.items():
        report = fit_report(
            linear_map,
            source_test[f"blocks.{source_layer}.hook_resid_post"],
            target_test[f"blocks.{target_layer}.hook_resid_post"],
        )
        r2, cosine = float(report["r2"]), float(report["mean_cosine"])
        quality[str(target_layer)] = LayerFit(source_layer, r2, cosine)
    return quality


@torch.no_grad()
def neutral_kl(model: Model, texts: list[str], steers) -> float:
    from interp.capture.batching import encode_item, make_batch
    from interp.capture.items import Item

    encoded = [encode_item(model.tokenizer, Item(t)) for t in texts]
    batch = make_batch(
        encoded, [[] for _ in encoded], range(len(encoded)), model.tokenizer.pad_token_id
    )
    base = model.forward(batch.input_ids, batch.attention_mask)
    with steering(model, steers):
        steered = model.forward(batch.input_ids, batch.attention_mask)
    return next_token_kl(model, base, steered, batch.attention_mask)
