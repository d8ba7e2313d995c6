"""Figures for probe sweeps (matplotlib, no display needed); never touches a model.

auroc_by_layer(run / "figures" / "probe_auroc_by_layer.png", metrics["layers"], title="...")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from interp.files import atomic_path  # noqa: E402


def auroc_by_layer(path: Path, table: Sequence[dict[str, Any]], *, title: str) -> Path:
    """AUROC per layer with 95% intervals, against the permutation-null band and the norm control.

    `table` rows are the per-layer entries of a probe sweep (keys `layer`, `auroc(_low, _high)`,
    `mass_mean_auroc(...)`, `null_p05`, `null_p95`, `norm_auroc_folded`).
    """
    layers = [row["layer"] for row in table]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.fill_between(
        layers,
        [row["null_p05"] for row in table],
        [row["null_p95"] for row in table],
        color="#BBBBBB",
        alpha=0.6,
        label="shuffled labels (5th-95th pct)",
    )
    ax.plot(
        layers,
        [row["norm_auroc_folded"] for row in table],
        "s--",
        color="#8C8C8C",
        label="activation norm only",
    )
    _with_interval(ax, table, "auroc", layers, -0.06, "#C44E52", "logistic probe")
    _with_interval(ax, table, "mass_mean_auroc", layers, 0.06, "#4C72B0", "mass-mean probe")
    ax.axhline(0.5, color="black", linewidth=0.8, linestyle=":")
    ax.set_xticks(layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("cross-validated AUROC")
    ax.set_ylim(0.0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def _with_interval(
    ax: Any,
    table: Sequence[dict[str, Any]],
    key: str,
    layers: Sequence[int],
    offset: float,
    color: str,
    label: str,
) -> None:
    """Points with asymmetric error bars, shifted sideways so the two probes do not overlap."""
    values = [row[key] for row in table]
    below = [row[key] - row[f"{key}_low"] for row in table]
    above = [row[f"{key}_high"] - row[key] for row in table]
    ax.errorbar(
        [layer + offset for layer in layers],
        values,
        yerr=[below, above],
        fmt="o",
        color=color,
        capsize=3,
        label=label,
    )
