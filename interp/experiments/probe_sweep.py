"""Where does a model linearly encode a binary property? A per-layer probe sweep with its controls.

Every layer's residual stream is captured once (all selected tokens kept). At each layer:

- a logistic probe (standardized, C = 0.1, no intercept; methods.md section 2) is cross-validated
  with folds split by prompt; a response's score is the mean of its token scores under the probe
  that did not see it; AUROC over responses, with a bootstrap interval over prompts;
- the difference-of-class-means probe runs beside it as the baseline, scored the same way;
- controls: a permutation null (the whole cross-validation repeated with shuffled prompt labels;
  its 95th percentile and a p-value) for each probe, and the AUROC of the activation norm alone
  (a probe must beat `max(a, 1 - a)`).

The best layer is chosen by logistic AUROC, so it is judged against the null of the *best* layer:
each permutation uses the same shuffled labels at every layer, and the maximum over layers of
those AUROCs is its null (`best.null_max_p95`).

With `groups` (one name per item, e.g. the entity a statement is about), folds and intervals keep
whole groups together instead (`interp.probes.grouped`): a true/false pair about one entity is then
never split between a probe's training and test folds. Without it, nothing changes.

    from interp.experiments.probe_sweep import run_probe_sweep
    metrics = run_probe_sweep(model, items, positions="all", out="runs/probe")
    metrics["best"]["auroc_low"] > metrics["best"]["null_max_p95"]

With `from_store`, the activations come from a store that `interp capture` wrote for the same items
and model (`interp.capture.stored`), not from a fresh pass; the numbers are the same.

The run directory (written atomically) holds config.json, metrics.json (the per-layer table),
report.md (`interp.reports.probe_report`) and figures/probe_auroc_by_layer.png.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.capture.items import Item
from interp.capture.run import capture
from interp.errors import InterpError
from interp.experiments.probe_labels import LabelledItems, binary_labels, check_fold_sizes
from interp.hooks.names import HOOK_KINDS
from interp.models.model import Model
from interp.probes import best_row, cross_validate, norm_auroc, permutation_null

POSITIONS = ("all", "last", "response")
METHODS = ("logistic", "mass_mean")


@dataclass(frozen=True)
class SweepSettings:
    """What a sweep was asked to do; written to config.json as is."""

    hook_kind: str = "resid_post"
    positions: str = "all"
    C: float = 0.1
    folds: int = 5
    seed: int = 0
    n_perm: int = 50
    n_boot: int = 1000
    batch_size: int = 8

    def check(self) -> None:
        """Refuse settings the sweep cannot honour, before any model time is spent."""
        if self.hook_kind not in HOOK_KINDS:
            raise InterpError(
                f"unknown hook kind {self.hook_kind!r}", fix=f"use one of {', '.join(HOOK_KINDS)}"
            )
        if self.positions not in POSITIONS:
            raise InterpError(
                f"probe sweeps take positions {', '.join(POSITIONS)}, not {self.positions!r}",
                fix="use --positions all (every token), last or response",
            )
        if not self.C > 0:
            raise InterpError(f"C must be positive, got {self.C}", fix="use e.g. --C 0.1")
        if self.folds < 2:
            raise InterpError(
                f"cross-validation needs 2 or more folds, got {self.folds}", fix="use --folds 5"
            )
        if self.n_perm < 1 or self.n_boot < 1:
            raise InterpError(
                f"need at least one permutation and one bootstrap resample, got {self.n_perm} and "
                f"{self.n_boot}",
                fix="use e.g. 50 permutations and 1000 resamples",
            )


@dataclass(frozen=True)
class LayerRows:
    """Kept token rows of every layer and the prompt each row belongs to."""

    hooks: list[str]
    rows: dict[str, Float[Tensor, "rows d_model"]]
    prompt_index: Int[Tensor, " rows"]


def check_out_dir(out: str | Path | None) -> None:
    """Refuse an output directory that exists and is not empty (the run would not replace it)."""
    if out is None:
        return
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InterpError(
            f"{path} already exists and is not an empty directory",
            fix="choose a new --out or delete the old run",
        )


# ---- capture and sweep ---------------------------------------------------------------------------


def capture_layers(
    model: Model,
    items: Sequence[Item],
    settings: SweepSettings,
    progress: bool = False,
    store: str | Path | None = None,
) -> LayerRows:
    """Every layer's activations at the selected tokens of every item, in one pass over the data.

    With `store` (a directory `interp capture` wrote for these items), read there instead.
    """
    if store is not None:
        from interp.capture.stored import read_capture

        got = read_capture(store, model, items, settings.hook_kind, positions=settings.positions)
    else:
        got = capture(
            model,
            items,
            settings.hook_kind,
            positions=settings.positions,  # type: ignore[arg-type]
            reduce="keep",
            batch_size=settings.batch_size,
            progress=progress,
        )
    assert got.prompt_index is not None
    index = got.prompt_index.long()
    empty = sorted(set(range(len(items))) - set(index.unique().tolist()))
    if empty:
        raise InterpError(
            f"{len(empty)} items have no tokens at positions {settings.positions!r} "
            f"(first: {str(items[empty[0]].prompt)[:40]!r})",
            fix="give every item a non-empty response, or use --positions all",
        )
    return LayerRows(got.hooks, got.activations, index)


def sweep_layers(
    data: LayerRows,
    labels: Tensor,
    settings: SweepSettings,
    groups: Tensor | None = None,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """The per-layer table and the best layer judged against the null of the best layer.

    `groups` (one id per prompt) splits folds and intervals by group; None splits by prompt.
    """
    from interp.progress import track

    table, nulls = [], []
    layers = track(list(enumerate(data.hooks)), "probe sweep", unit="layer", enabled=progress)
    for layer, hook in layers:
        entry, null = sweep_one_layer(
            data.rows[hook], labels, data.prompt_index, settings, fold_groups=groups
        )
        table.append({"layer": layer, "hook": hook, **entry})
        nulls.append(null)
    return {"layers": table, "best": best_layer(table, torch.stack(nulls))}


def sweep_one_layer(
    rows: Float[Tensor, "rows d_model"],
    labels: Tensor,
    groups: Tensor,
    s: SweepSettings,
    *,
    fold_groups: Tensor | None = None,
) -> tuple[dict[str, Any], Tensor]:
    """One layer's row of the table, and the logistic probe's permutation null (n_perm,)."""
    if fold_groups is not None:
        from interp.experiments.probe_sweep_groups import sweep_one_layer_grouped

        return sweep_one_layer_grouped(rows, labels, groups, s, fold_groups)
    entry: dict[str, Any] = {"n_rows": int(rows.shape[0])}
    null_logistic = torch.empty(0)
    for method in METHODS:
        prefix = "" if method == "logistic" else "mass_mean_"
        cv = cross_validate(
            rows, labels, groups, folds=s.folds, method=method, C=s.C, seed=s.seed, n_boot=s.n_boot
        )
        null = permutation_null(
            rows, labels, groups, n=s.n_perm, folds=s.folds, method=method, C=s.C, seed=s.seed
        )
        entry |= {f"{prefix}{k}": v for k, v in _with_null(cv.auroc.as_dict("auroc"), null).items()}
        if method == "logistic":
            entry["fold_auroc"] = list(cv.fold_auroc)
            null_logistic = null
    norm = norm_auroc(rows, labels, groups, n_boot=s.n_boot, seed=s.seed)
    entry |= norm.as_dict("norm_auroc")
    # The norm's sign is arbitrary (its one-feature probe may flip it), so a probe must beat both.
    entry["norm_auroc_folded"] = max(norm.value, 1 - norm.value)
    entry["beats_null"] = entry["auroc_low"] > entry["null_p95"]
    entry["beats_norm"] = entry["auroc_low"] > entry["norm_auroc_folded"]
    return entry, null_logistic


def _with_null(interval: dict[str, float], null: Tensor) -> dict[str, float]:
    """An AUROC interval with its permutation null: mean, 5th and 95th percentile, p-value."""
    observed = interval["auroc"]
    return {
        **interval,
        "null_mean": float(null.mean()),
        "null_p05": float(null.quantile(0.05)),
        "null_p95": float(null.quantile(0.95)),
        # One-sided, counting the observed labelling as one of the permutations.
        "p_value": _p_value(null, observed),
    }


def _p_value(null: Tensor, observed: float) -> float:
    """One-sided permutation p-value, `(1 + #{null >= observed}) / (n + 1)`."""
    return (1 + int((null >= observed).sum())) / (null.numel() + 1)


def best_layer(
    table: list[dict[str, Any]], nulls: Float[Tensor, "layers n_perm"]
) -> dict[str, Any]:
    """The layer with the highest logistic AUROC, against the null of a maximum over layers.

    Permutation i shuffles the labels the same way at every layer (one seed per permutation), so
    `nulls.max(0)` is what choosing the best of the layers would give under no signal.
    """
    best = best_row(table)
    null_max = nulls.max(dim=0).values
    return {
        "layer": best["layer"],
        "hook": best["hook"],
        "auroc": best["auroc"],
        "auroc_low": best["auroc_low"],
        "auroc_high": best["auroc_high"],
        "null_max_mean": float(null_max.mean()),
        "null_max_p95": float(null_max.quantile(0.95)),
        "p_value_family": _p_value(null_max, best["auroc"]),
        "mass_mean_auroc": best["mass_mean_auroc"],
        "norm_auroc": best["norm_auroc"],
        "norm_auroc_folded": best["norm_auroc_folded"],
        "beats_null": best["auroc_low"] > float(null_max.quantile(0.95)),
        "beats_norm": best["beats_norm"],
    }


def describe_data(model: Model, data: LabelledItems, settings: SweepSettings) -> dict[str, Any]:
    """The config.json record: model, data and settings."""
    from dataclasses import asdict

    from interp.store.provenance import dataset_hash

    return {
        "model": model.spec,
        "model_config_hash": model.config_hash(),
        "n_layers": model.n_layers,
        "d_model": model.d_model,
        "n_prompts": len(data.items),
        "n_positive": int((data.labels == 1).sum()),
        "n_negative": int((data.labels == 0).sum()),
        "label_names": {"0": data.names[0], "1": data.names[1]},
        "dataset_hash": dataset_hash(item.to_json() for item in data.items),
        **asdict(settings),
    }


def run_probe_sweep(
    model: Model,
    items_with_labels: Iterable[Item | dict],
    hook_kind: str = "resid_post",
    positions: str = "all",
    C: float = 0.1,
    folds: int = 5,
    out: str | Path | None = None,
    seed: int = 0,
    *,
    n_perm: int = 50,
    n_boot: int = 1000,
    batch_size: int = 8,
    label_names: tuple[str, str] | None = None,
    groups: Sequence[Hashable] | None = None,
    from_store: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Sweep every layer; returns {"config", "layers" (the table), "best"}; with `out`, a run dir.

    Labels are 0/1 or two strings (see `binary_labels`; `label_names` names integer classes).
    `groups` names each item's group (e.g. its entity): folds and intervals then split by group.
    `from_store` reads the activations from a store `interp capture` wrote for these items.

    >>> items = [{"prompt": "She laughed.", "label": 1}, {"prompt": "He cried.", "label": 0}]  # ...
    >>> m = run_probe_sweep(model, items, positions="all", out="runs/probe")   # doctest: +SKIP
    >>> m["best"]["layer"], m["best"]["auroc"], m["best"]["null_max_p95"]      # doctest: +SKIP
    """
    settings = SweepSettings(hook_kind, positions, C, folds, seed, n_perm, n_boot, batch_size)
    settings.check()
    data = binary_labels(items_with_labels, label_names)
    check_fold_sizes(data.labels, folds)
    codes = None
    if groups is not None:
        from interp.experiments.probe_sweep_groups import check_fold_groups

        codes = check_fold_groups(groups, data.labels, folds, seed)
    check_out_dir(out)
    rows = capture_layers(model, data.items, settings, progress, from_store)
    config = describe_data(model, data, settings)
    if codes is not None:  # only then, so the config of an ungrouped sweep is as it always was
        config |= {"folds_by": "group", "n_groups": int(codes.unique().numel())}
    if from_store is not None:
        config["from_store"] = str(from_store)
    metrics = {
        "config": config,
        **sweep_layers(rows, data.labels, settings, codes, progress=progress),
    }
    if out is not None:
        write_run(Path(out), metrics)
    return metrics


# ---- the run directory ---------------------------------------------------------------------------


def write_run(out: Path, metrics: dict[str, Any]) -> Path:
    """config.json, metrics.json, report.md and the figure, appearing together or not at all."""
    from interp.files import atomic_directory, atomic_write_json, atomic_write_text
    from interp.reports.probe_figures import auroc_by_layer
    from interp.reports.probe_report import report

    with atomic_directory(out) as tmp:
        atomic_write_json(tmp / "config.json", metrics["config"])
        atomic_write_json(tmp / "metrics.json", metrics)
        auroc_by_layer(
            tmp / "figures" / "probe_auroc_by_layer.png",
            metrics["layers"],
            title=f"probe AUROC by layer ({metrics['config']['hook_kind']}, "
            f"{metrics['config']['positions']} tokens)",
        )
        atomic_write_text(tmp / "report.md", report(metrics))
    return out
