"""Figures and report.md of a transfer study, from its result alone."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from interp.reports.figures import _save, bar_chart, effect_vs_controls  # noqa: E402
from interp.results.transfer import TransferResult  # noqa: E402


def write_figures(folder: Path, result: TransferResult) -> None:
    chosen = result.chosen
    fig, ax = plt.subplots(figsize=(6, 3.4))
    # The chosen N, fit set and layer matching; one line per rank.
    same = [
        p
        for p in result.grid
        if (p.n, p.fit_set, p.layer_matching) == (chosen.n, chosen.fit_set, chosen.layer_matching)
    ]
    for rank in sorted({p.rank for p in same}):
        points = sorted((p for p in same if p.rank == rank), key=lambda p: p.alpha)
        ax.plot(
            [p.alpha for p in points],
            [p.select_accuracy for p in points],
            marker="o",
            label=f"rank {rank}",
        )
    ax.axhline(result.select_unsteered_accuracy, color="#999999", linestyle="--", label="unsteered")
    ax.set_xscale("log")
    ax.set_xlabel("alpha")
    ax.set_ylabel("selection accuracy")
    ax.set_title(f"target accuracy vs alpha (N = {chosen.n}, {chosen.fit_set} fit)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, folder / "accuracy_vs_alpha.png")
    layers = sorted(result.fit_quality, key=int)
    bar_chart(
        folder / "fit_quality.png",
        layers,
        [result.fit_quality[k].r2 for k in layers],
        title="held-out R^2 of each layer's map",
        ylabel="R^2",
    )
    effect_vs_controls(
        folder / "controls.png",
        result.gain,
        result.random_control_gains,
        title="gain vs random directions of equal norm",
        xlabel="accuracy gain on the test split",
    )


def write_report(path: Path, config, result: TransferResult) -> None:
    from interp.files import atomic_write_text

    lo, hi = result.gain_ci95
    chosen = result.chosen
    task = f"task file `{config.task_file}`" if config.task_file else f"skill `{config.skill}`"
    lines = [
        "# Transfer study",
        "",
        f"Source {config.source_locked} ({config.contrast} contrast"
        + (f", unlocked {config.source_unlocked}" if config.contrast == "model" else "")
        + f") into target {config.target}; {task}; method {config.method}.",
        f"Chosen on {result.n_select} selection items: N = {chosen.n}, rank = {chosen.rank}, "
        f"alpha = {chosen.alpha}, fit set {chosen.fit_set}, layers by {chosen.layer_matching}; "
        f"scored once on {result.n_test} test items.",
        "",
        "| measure | accuracy |",
        "| --- | --- |",
        f"| target, unsteered | {result.target_unsteered_accuracy:.3f} |",
        f"| target, steered | {result.target_steered_accuracy:.3f} |",
        f"| gain (95% paired bootstrap interval) | {result.gain:+.3f} ({lo:+.3f} to {hi:+.3f}) |",
        f"| random directions of equal norm, 95th percentile of gain "
        f"({len(result.random_control_gains)} seeds) | {result.random_control_gain_p95:+.3f} |",
        f"| source unlocked | {result.source_unlocked_accuracy:.3f} |",
    ]
    if result.target_cued_accuracy is not None:
        lines.append(f"| target given the unlocked condition | {result.target_cued_accuracy:.3f} |")
    if result.gap_closed is not None:
        lines.append(
            f"| share of the gap to the unlocked condition closed | {result.gap_closed:.2f} |"
        )
    own = result.target_own_direction
    if own is not None:
        own_lo, own_hi = own.gain_ci95
        lines.append(
            f"| target steered with its own direction (alpha {own.alpha}) | {own.accuracy:.3f} "
            f"(gain {own.gain:+.3f}, {own_lo:+.3f} to {own_hi:+.3f}) |"
        )
    verdict = "above" if result.beats_controls else "not above"
    lines += [
        "",
        f"The gain is {verdict} both zero (its interval) and the random-direction controls. KL to "
        f"the unsteered target on neutral prompts: {result.kl_neutral:.4f} nats per token.",
        "",
        "![accuracy vs alpha](figures/accuracy_vs_alpha.png)",
        "![fit quality](figures/fit_quality.png)",
        "![controls](figures/controls.png)",
        "",
        "```json",
        json.dumps({k: v for k, v in result.to_json().items() if k != "grid"}, indent=2),
        "```",
        "",
    ]
    atomic_write_text(path, "\n".join(lines))
