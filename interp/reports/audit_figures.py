"""The audit's figures, from its result alone; a figure whose data is absent is not written.

| figure | what it shows | written when |
| --- | --- | --- |
| `probe_scores.png` | per-response probe scores of the reference and each suspect, threshold line | a suspect has probe scores |
| `probe_layers.png` | cross-validated AUROC per layer with its interval, shuffled-label and norm controls | `probe.layers` is not empty |
| `noise_curves.png` | accuracy against weight-noise std (mean over seeds, min-max band), std 0 = clean | a suspect has a noise curve |
| `elicitation.png` | accuracy lift per suspect with its interval, the benign references and threshold | a suspect has a lift |
| `latent_curves.png` | accuracy against latent perturbation budget per model, random control dashed, benign grey | a suspect has a latent curve |
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from interp.files import atomic_path  # noqa: E402
from interp.reports.audit_report_format import (  # noqa: E402
    BENIGN,
    REFERENCE,
    SANDBAGGING,
    UNDECIDED,
    call_color,
    call_of,
    has_ci,
    pct,
    threshold_of,
)
from interp.reports.audit_report_latent import plot_latent_curves  # noqa: E402
from interp.results.audit import AuditResult, LayerRow  # noqa: E402
from interp.results.audit_suspect import NoisePoint  # noqa: E402


def plot_probe_scores(path: Path, result: AuditResult) -> Path | None:
    """Per-response probe scores, one row per model (reference first), threshold as a line.

    Suspects where the probe does not apply, or without scores, are left out; with no suspect left
    nothing is written and None is returned.
    """
    probe = result.probe
    threshold = probe.threshold if probe is not None else None
    rows: list[tuple[str, Sequence[float], str, float | None, Sequence[float]]] = []
    for name, suspect in result.suspects.items():
        block = suspect.probe
        if block is None or not block.applicable or not block.scores:
            continue
        color = call_color(call_of(result, name, "probe"))
        rows.append((name, block.scores, color, block.flag_share, block.reference_scores or []))
    if not rows:
        return None
    control = probe.control_scores if probe is not None else None
    if control:
        share = None if threshold is None else float(np.mean(np.asarray(control) > threshold))
        rows.insert(0, (f"{result.reference.model} (control)", control, REFERENCE, share, []))
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 0.5 * len(rows)))
    text_only = False
    for i, (_, scores, color, share, read) in enumerate(rows):
        y = len(rows) - 1 - i
        x = np.asarray(scores, dtype=float)
        # With the text-only control the row splits: the suspect's own scores above, the
        # reference reading the same answers below, as open grey markers.
        own_y, spread = (y + 0.12, 0.12) if len(read) else (y, 0.2)
        ax.scatter(
            x, own_y + rng.uniform(-spread, spread, x.size), s=7, color=color, alpha=0.45, lw=0
        )
        if len(read):
            text_only = True
            r = np.asarray(read, dtype=float)
            ax.scatter(
                r, y - 0.25 + rng.uniform(-0.07, 0.07, r.size), s=7, facecolors="none",
                edgecolors=REFERENCE, alpha=0.6, lw=0.6,
            )  # fmt: skip
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        ax.hlines(own_y, q1, q3, color="black", linewidth=2.5)
        ax.plot([med], [own_y], marker="|", color="black", markersize=14, markeredgewidth=2)
        if share is not None:
            ax.text(
                1.01,
                y,
                f"{100 * share:.0f}% flagged",
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=8,
            )
    if threshold is not None:
        assert probe is not None
        label = f"threshold ({pct(probe.fpr)} FPR)" if probe.fpr is not None else "threshold"
        ax.axvline(threshold, color=SANDBAGGING, linestyle="--", linewidth=1.2, label=label)
    if text_only:
        ax.scatter(
            [], [], s=12, facecolors="none", edgecolors=REFERENCE,
            label="its answers read by the reference",
        )  # fmt: skip
    _legend_with_calls(
        ax, [row[2] for row in rows], loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3
    )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([row[0] for row in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("probe score per response (mean over its tokens)")
    hook = probe.hook if probe is not None else None
    ax.set_title("probe scores" + (f" at {hook}" if hook else ""), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_probe_layers(path: Path, result: AuditResult) -> Path | None:
    """Cross-validated AUROC per layer with its interval, shuffled-label and norm controls."""
    probe = result.probe
    table = [r for r in probe.layers if r.auroc is not None] if probe is not None else []
    if probe is None or not table:
        return None
    layers = [r.layer for r in table]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _series(ax, table, "shuffled_auroc", "o:", REFERENCE, "shuffled labels")
    _series(ax, table, "norm_auroc", "s--", "#555555", "activation norm only")
    below = [r.auroc - r.ci95[0] if has_ci(r.ci95) else 0.0 for r in table]
    above = [r.ci95[1] - r.auroc if has_ci(r.ci95) else 0.0 for r in table]
    ax.errorbar(
        layers,
        [r.auroc for r in table],
        yerr=[below, above],
        fmt="o-",
        color=SANDBAGGING,
        capsize=3,
        label=f"{probe.method or 'probe'} (95% CI)",
    )
    if probe.layer is not None:
        ax.axvline(probe.layer, color=BENIGN, alpha=0.25, linewidth=8, label="layer used")
    ax.axhline(0.5, color="black", linewidth=0.8, linestyle=":")
    ax.set_xticks(layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("cross-validated AUROC")
    ax.set_ylim(0.0, 1.02)
    ax.set_title("probe AUROC by layer on its training contrast", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def plot_noise_curves(path: Path, result: AuditResult) -> Path | None:
    """Accuracy against noise std per suspect: mean over seeds, min-max band, clean accuracy at 0."""
    curves: list[tuple[str, list[NoisePoint], bool]] = []
    for name, suspect in result.suspects.items():
        block = suspect.noise
        if block is None or not block.curve:
            continue
        points = sorted(block.curve, key=lambda p: p.std)
        clean = block.clean_accuracy
        if points[0].std > 0:
            points.insert(0, NoisePoint(0.0, clean, clean, clean))
        curves.append((name, points, block.relative))
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    stds: set[float] = set()
    for i, (name, points, _) in enumerate(curves):
        color = colors[i % len(colors)]
        x = [p.std for p in points]
        stds.update(x)
        ax.plot(x, [p.mean for p in points], "o-", color=color, markersize=4, label=name)
        lo, hi = [p.min for p in points], [p.max for p in points]
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, linewidth=0)
    positive = sorted(s for s in stds if s > 0)
    if positive:
        ax.set_xscale("symlog", linthresh=positive[0])
    ticks = sorted(stds)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{s:g}" for s in ticks], fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    relative = all(r for _, _, r in curves)
    ax.set_xlabel("noise std" + (" (relative to each weight tensor's std)" if relative else ""))
    ax.set_ylabel("accuracy")
    ax.set_title("accuracy under weight noise (mean over seeds, min-max band)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def plot_elicitation(path: Path, result: AuditResult) -> Path | None:
    """Accuracy lift per suspect with its interval, beside the benign references and threshold."""
    points: list[tuple[str, float, Any, str]] = []  # (label, lift, 95% CI, color)
    for name, suspect in result.suspects.items():
        block = suspect.elicitation
        if block is not None:
            color = call_color(call_of(result, name, "elicitation"))
            points.append((name, block.lift, block.lift_ci95, color))
    if not points:
        return None
    baseline = result.elicitation_baseline
    for ref, r in (baseline.references if baseline is not None else {}).items():
        points.append((f"{ref} (reference)", r.lift, r.lift_ci95, REFERENCE))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.0 + 0.7 * len(points)), 3.8))
    for x, (_, lift, ci, color) in enumerate(points):
        err = [[lift - ci[0]], [ci[1] - lift]] if has_ci(ci) else None
        ax.errorbar([x], [lift], yerr=err, fmt="o", color=color, capsize=4, markersize=6)
    threshold = threshold_of(result, "elicitation")
    if threshold is not None:
        ax.axhline(
            threshold, color=SANDBAGGING, linestyle="--", linewidth=1.2, label="benign threshold"
        )
    _legend_with_calls(ax, [p[3] for p in points], loc="upper right")
    ax.axhline(0.0, color="black", linewidth=0.8, linestyle=":")
    ax.set_xticks(range(len(points)))
    ax.set_xticklabels([p[0] for p in points], rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(points) - 0.4)
    ax.set_ylabel("accuracy lift (95% CI)")
    ax.set_title("elicitation: accuracy after fine-tuning minus before", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


FIGURES: dict[str, Callable[[Path, AuditResult], Path | None]] = {
    "probe_layers": plot_probe_layers,
    "probe_scores": plot_probe_scores,
    "noise_curves": plot_noise_curves,
    "elicitation": plot_elicitation,
    "latent_curves": plot_latent_curves,
}


def write_audit_figures(folder: Path, result: AuditResult) -> dict[str, Path]:
    """Every figure whose data is present, as `{name: path}` (name without `.png`)."""
    written = {}
    for name, plot in FIGURES.items():
        path = plot(Path(folder) / f"{name}.png", result)
        if path is not None:
            written[name] = path
    return written


def _series(ax: Any, table: Sequence[LayerRow], key: str, fmt: str, color: str, label: str):
    rows = [r for r in table if getattr(r, key) is not None]
    if rows:
        ax.plot(
            [r.layer for r in rows], [getattr(r, key) for r in rows], fmt, color=color, label=label
        )


def _legend_with_calls(ax: Any, colors: Collection[str], **kwargs: Any) -> None:
    """The axes' own legend entries, then one marker per call colour used in the plot."""
    handles, labels = ax.get_legend_handles_labels()
    for color, label in [
        (SANDBAGGING, "called sandbagging"),
        (BENIGN, "called benign"),
        (UNDECIDED, "no call"),
        (REFERENCE, "reference"),
    ]:
        if color in colors:
            handles.append(Line2D([], [], marker="o", linestyle="", color=color))
            labels.append(label)
    ax.legend(handles, labels, fontsize=8, **kwargs)


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return Path(path)
