"""Figures and report.md of a transfer study, from its metrics alone."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from interp.reports.figures import _save, bar_chart, effect_vs_controls  # noqa: E402


def write_figures(folder: Path, metrics: dict) -> None:
    grid = metrics["grid"]
    chosen_n = metrics["chosen"]["n"]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for rank in sorted({row["rank"] for row in grid}):
        rows = sorted(
            (r for r in grid if r["rank"] == rank and r["n"] == chosen_n), key=lambda r: r["alpha"]
        )
        ax.plot(
            [r["alpha"] for r in rows],
            [r["select_accuracy"] for r in rows],
            marker="o",
            label=f"rank {rank}",
        )
    ax.axhline(
        metrics["select_unsteered_accuracy"], color="#999999", linestyle="--", label="unsteered"
    )
    ax.set_xscale("log")
    ax.set_xlabel("alpha")
    ax.set_ylabel("selection accuracy")
    ax.set_title(f"target accuracy vs alpha (N = {chosen_n})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, folder / "accuracy_vs_alpha.png")
    layers = sorted(metrics["fit_quality"], key=int)
    bar_chart(
        folder / "fit_quality.png",
        layers,
        [metrics["fit_quality"][k]["r2"] for k in layers],
        title="held-out R^2 of each layer's map",
        ylabel="R^2",
    )
    effect_vs_controls(
        folder / "controls.png",
        metrics["gain"],
        metrics["random_control_gains"],
        title="gain vs random directions of equal norm",
        xlabel="accuracy gain on the test split",
    )


def write_report(path: Path, config, metrics: dict) -> None:
    from interp.files import atomic_write_text

    lo, hi = metrics["gain_ci95"]
    chosen = metrics["chosen"]
    cued = metrics["target_cued_accuracy"]
    gap = metrics["gap_closed"]
    lines = [
        "# Transfer study",
        "",
        f"Source {config.source_locked} ({config.contrast} contrast"
        + (f", unlocked {config.source_unlocked}" if config.contrast == "model" else "")
        + f") into target {config.target}; skill `{config.skill}`; method {config.method}.",
        f"Chosen on {metrics['n_select']} selection items: N = {chosen['n']}, rank = {chosen['rank']}, alpha = {chosen['alpha']}; scored once on {metrics['n_test']} test items.",
        "",
        "| measure | accuracy |",
        "| --- | --- |",
        f"| target, unsteered | {metrics['target_unsteered_accuracy']:.3f} |",
        f"| target, steered | {metrics['target_steered_accuracy']:.3f} |",
        f"| gain (95% paired bootstrap interval) | {metrics['gain']:+.3f} ({lo:+.3f} to {hi:+.3f}) |",
        f"| random directions of equal norm, 95th percentile of gain ({len(metrics['random_control_gains'])} seeds) | {metrics['random_control_gain_p95']:+.3f} |",
        f"| source unlocked | {metrics['source_unlocked_accuracy']:.3f} |",
    ]
    if cued is not None:
        lines.append(f"| target with the cued prompt | {cued:.3f} |")
    if gap is not None:
        lines.append(f"| share of the gap to the cued prompt closed | {gap:.2f} |")
    verdict = (
        "above" if lo > 0 and metrics["gain"] > metrics["random_control_gain_p95"] else "not above"
    )
    lines += [
        "",
        f"The gain is {verdict} both zero (its interval) and the random-direction controls. KL to the unsteered target on neutral prompts: {metrics['kl_neutral']:.4f} nats per token.",
        "",
        "![accuracy vs alpha](figures/accuracy_vs_alpha.png)",
        "![fit quality](figures/fit_quality.png)",
        "![controls](figures/controls.png)",
        "",
        "```json",
        json.dumps({k: v for k, v in metrics.items() if k != "grid"}, indent=2),
        "```",
        "",
    ]
    atomic_write_text(path, "\n".join(lines))
