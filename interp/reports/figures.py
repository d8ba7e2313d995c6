"""Figures for run directories (matplotlib, no display needed); never touches a model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def bar_chart(
    path: Path, labels: Sequence[str], values: Sequence[float], *, title: str, ylabel: str
) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(list(labels), list(values), color="#4C72B0")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return _save(fig, path)


def effect_vs_controls(
    path: Path, effect: float, controls: Sequence[float], *, title: str, xlabel: str
) -> Path:
    """A histogram of control effects with the real effect marked."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(
        list(controls), bins=max(5, len(controls) // 3), color="#999999", label="random directions"
    )
    ax.axvline(effect, color="#C44E52", linewidth=2, label="contrast direction")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path
