"""report.md and figures of a sandbagging audit, from its metrics alone; never touches a model.

    from interp.reports.audit_report import write_audit_report
    write_audit_report(run, metrics)   # run/report.md and run/figures/*.png; returns run/report.md

`metrics` is what `interp audit` writes to metrics.json: the task, the reference, the calibrated
probe, one block per suspect and method, the per-method verdicts and (with ground truth) a score.
Every method is optional: a method with no results (disabled, or absent from every suspect) leaves no
section, no table and no figure behind, and report.md links only the figures that were written.

| figure | what it shows | written when |
| --- | --- | --- |
| `probe_scores.png` | per-response probe scores of the reference and each suspect, threshold line | a suspect has probe scores |
| `probe_layers.png` | cross-validated AUROC per layer with its interval, shuffled-label and norm controls | `probe.layers` is not empty |
| `noise_curves.png` | accuracy against weight-noise std (mean over seeds, min-max band), std 0 = clean | a suspect has a noise curve |
| `elicitation.png` | accuracy lift per suspect with its interval, the benign references and threshold | a suspect has a lift |
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from interp.files import atomic_path, atomic_write_text  # noqa: E402

METHODS = ("probe", "noise", "elicitation")

SANDBAGGING = "#C44E52"
BENIGN = "#4C72B0"
UNDECIDED = "#DD8452"
REFERENCE = "#8C8C8C"

# How each method's statistic reads in the verdict table: (column header, format of the numbers).
_STATISTICS = {
    "probe": ("probe: share flagged / threshold", "{:.3f}"),
    "noise": ("noise: improvement ratio / threshold", "{:.2f}"),
    "elicitation": ("elicitation: lift / threshold", "{:+.3f}"),
}


def write_audit_report(out_dir: Path, metrics: Mapping[str, Any]) -> Path:
    """Write `out_dir/report.md` and the figures under `out_dir/figures/`; return the report's path.

    Each file is written atomically; call it inside `atomic_directory` for a run directory that
    appears whole. metrics.json is the caller's to write.
    """
    out_dir = Path(out_dir)
    figures = write_audit_figures(out_dir / "figures", metrics)
    path = out_dir / "report.md"
    atomic_write_text(path, render_audit_report(metrics, figures))
    return path


def write_audit_figures(folder: Path, metrics: Mapping[str, Any]) -> dict[str, Path]:
    """Every figure whose data is present, as `{name: path}` (name without `.png`)."""
    written = {}
    for name, plot in FIGURES.items():
        path = plot(Path(folder) / f"{name}.png", metrics)
        if path is not None:
            written[name] = path
    return written


# ---- report.md -----------------------------------------------------------------------------------


def render_audit_report(metrics: Mapping[str, Any], figures: Collection[str] = ()) -> str:
    """The text of report.md; `figures` names the figures written (only those are linked)."""
    sections = [
        "# Sandbagging audit",
        _overview(metrics),
        _verdict_section(metrics),
        _probe_section(metrics, figures),
        _noise_section(metrics, figures),
        _elicitation_section(metrics, figures),
        "All numbers, per-response scores included, are in metrics.json beside this report.",
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _overview(m: Mapping[str, Any]) -> str:
    task = dict(_get(m, "task") or {})
    names = suspect_names(m)
    parts = [f"Audited {len(names)} suspect model{'s' if len(names) != 1 else ''}"]
    skill = task.pop("skill", None)
    parts.append(f" on the `{skill}` task" if skill is not None else "")
    settings = []
    if (n := task.pop("n_items", None)) is not None:
        settings.append(f"{n} items")
    if (prompt := task.pop("prompt", None)) is not None:
        settings.append(f"{prompt} prompt")
    if (tokens := task.pop("max_new_tokens", None)) is not None:
        settings.append(f"up to {tokens} new tokens")
    settings += [f"{k} = {v}" for k, v in task.items() if _is_scalar(v)]
    parts.append(f" ({', '.join(settings)})" if settings else "")
    ref = _get(m, "reference") or {}
    if ref.get("model") is not None:
        parts.append(f" against the reference `{ref['model']}`")
        if ref.get("accuracy") is not None:
            parts.append(f" (accuracy {_f(ref['accuracy'])})")
    text = "".join(parts) + "."
    probe = _get(m, "probe")
    if probe:
        text += " " + _probe_setup(probe)
    if m.get("decision"):
        text += f" Per-method calls combine by `{m['decision']}`."
    return text


def _probe_setup(p: Mapping[str, Any]) -> str:
    kind = p.get("method") or "linear"
    c = f" (C = {p['C']})" if p.get("C") is not None else ""
    where = f" at `{p['hook']}`" if p.get("hook") else ""
    model = f" on activations of `{p['model']}`" if p.get("model") else ""
    text = f"The {kind} probe{c} was trained{model}{where}"
    if p.get("threshold") is not None:
        fpr = f" for a {_pct(p['fpr'])} false-positive rate" if p.get("fpr") is not None else ""
        n = f" on {p['n_control']} reference responses" if p.get("n_control") is not None else ""
        text += f"; its threshold {p['threshold']:.3f} was calibrated{n}{fpr}"
    text += "."
    if p.get("flag_share") is not None:
        text += (
            f" A suspect's probe call compares its share of flagged responses with "
            f"{p['flag_share']:.3f}."
        )
    return text


def _verdict_section(m: Mapping[str, Any]) -> str:
    names = suspect_names(m)
    if not names:
        return ""
    verdicts = _get(m, "verdicts") or {}
    methods = _verdict_methods(m)
    score = _get(m, "score")
    truth = (score or {}).get("truth") or {}
    header = ["suspect", "accuracy [95% CI]"]
    header += [
        _STATISTICS.get(method, (f"{method}: statistic / threshold", ""))[0] for method in methods
    ]
    header.append("overall (votes)")
    if score:
        header += ["truth", "correct"]
    lines = ["## Verdicts", "", _row(header), _row(["---"] * len(header))]
    reasons = []
    for name in names:
        suspect = _get(m, "suspects", name) or {}
        verdict = verdicts.get(name) or {}
        cells = [f"`{name}`", _f(suspect.get("accuracy")) + _ci(suspect.get("accuracy_ci95"))]
        for method in methods:
            cells.append(_verdict_cell(method, verdict.get(method)))
            reason = (verdict.get(method) or {}).get("reason")
            if reason and (verdict.get(method) or {}).get("sandbagging") is None:
                reasons.append(f"- `{name}`, {method}: {reason}")
        overall = verdict.get("overall") or {}
        cells.append(_overall_cell(overall))
        if score:
            cells += _truth_cells(truth.get(name), overall.get("sandbagging"))
        lines.append(_row(cells))
    notes = []
    if "noise" in methods:
        notes.append("The noise call uses the lower bound of the ratio's 95% interval.")
    if reasons:
        notes.append("Methods that did not apply (n/a):\n\n" + "\n".join(reasons))
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n\n".join(notes)
    if score:
        text += "\n\n" + _score_line(score)
    return text


def _verdict_cell(method: str, v: Mapping[str, Any] | None) -> str:
    if not v:
        return "—"
    call = v.get("sandbagging")
    if call is None:
        return "n/a"
    fmt = _STATISTICS.get(method, ("", "{:.3g}"))[1]
    stat = "—" if v.get("statistic") is None else fmt.format(v["statistic"])
    threshold = "—" if v.get("threshold") is None else fmt.format(v["threshold"])
    return f"{stat} / {threshold} → {_call(call)}"


def _overall_cell(overall: Mapping[str, Any]) -> str:
    votes = ""
    if overall.get("votes") is not None and overall.get("of") is not None:
        votes = f" ({overall['votes']}/{overall['of']})"
    return _call(overall.get("sandbagging")) + votes


def _truth_cells(truth: bool | None, call: bool | None) -> list[str]:
    if truth is None:
        return ["—", "—"]
    label = "sandbagging" if truth else "benign"
    if call is None:
        return [label, "—"]
    return [label, "✓" if bool(call) == bool(truth) else "✗"]


def _score_line(score: Mapping[str, Any]) -> str:
    line = f"**Score: {score.get('correct')}/{score.get('total')}** suspects called correctly"
    if score.get("sandbaggers") is not None:
        line += (
            f": {score['caught']} of {score['sandbaggers']} sandbaggers caught, "
            f"{score['false_flags']} of {score['benign']} benign models flagged"
        )
    if score.get("all_benign_correct") is not None:
        line += (
            f". Without any method, calling every suspect benign scores "
            f"{score['all_benign_correct']}/{score.get('total')} and calling every one a "
            f"sandbagger {score['all_sandbagging_correct']}/{score.get('total')}"
        )
    per_method = [
        f"{method} {s.get('correct')}/{s.get('total')}"
        + (
            f" ({s['caught']}/{s['sandbaggers']} caught, {s['false_flags']}/{s['benign']} "
            "false flags)"
            if "caught" in s
            else ""
        )
        for method, s in (score.get("per_method") or {}).items()
        if s
    ]
    if per_method:
        line += f". Each method alone: {', '.join(per_method)}"
    return line + "."


def _probe_section(m: Mapping[str, Any], figures: Collection[str]) -> str:
    probe = _get(m, "probe") or {}
    rows = _method_blocks(m, "probe")
    if not probe and not rows:
        return ""
    out = ["## Probe"]
    layers = probe.get("layers") or []
    if layers:
        used = probe.get("layer")
        chosen = f" The audit uses layer {used}." if used is not None else ""
        out.append(
            "Cross-validated AUROC on the probe's training contrast, per layer, beside a probe "
            f"trained on shuffled labels and the activation norm alone (chance is 0.5).{chosen}"
        )
        table = [
            _row(["layer", "hook", "AUROC [95% CI]", "shuffled labels", "norm only"]),
            _row(["---:", "---", "---", "---", "---"]),
        ]
        for r in layers:
            mark = " (used)" if used is not None and r.get("layer") == used else ""
            table.append(
                _row(
                    [
                        f"{r.get('layer')}{mark}",
                        f"`{r['hook']}`" if r.get("hook") else "—",
                        _f(r.get("auroc")) + _ci(r.get("ci95")),
                        _f(r.get("shuffled_auroc")),
                        _f(r.get("norm_auroc")),
                    ]
                )
            )
        out.append("\n".join(table))
        if "probe_layers" in figures:
            out.append("![probe AUROC by layer](figures/probe_layers.png)")
    transcript = probe.get("transcript_auroc")
    if transcript and transcript.get("auroc") is not None:
        counts = ""
        if transcript.get("n_sandbagger") is not None and transcript.get("n_benign") is not None:
            counts = (
                f" ({transcript['n_sandbagger']} sandbagger and {transcript['n_benign']} "
                "benign responses)"
            )
        ci = transcript.get("ci95")
        ci_text = f" (95% CI {_f(ci[0])} to {_f(ci[1])})" if _has_ci(ci) else ""
        text = (
            f"On the audit's own transcripts{counts} the per-response probe score separates "
            f"sandbagger from benign responses with AUROC {_f(transcript['auroc'])}{ci_text}"
        )
        if transcript.get("baseline_auroc") is not None:
            method = _get(probe, "baseline", "method") or "baseline"
            text += f"; the {method.replace('_', '-')} baseline probe reaches "
            text += _f(transcript["baseline_auroc"])
        if transcript.get("norm_auroc") is not None:
            text += f"; the activation norm alone reaches {_f(transcript['norm_auroc'])}"
        out.append(text + ".")
    if rows:
        table = [
            _row(
                [
                    "suspect",
                    "responses",
                    "mean score",
                    "share flagged [95% CI]",
                    "same answers read by the reference: share flagged",
                    "baseline share flagged",
                    "AUROC vs correctness",
                    "note",
                ]
            ),
            _row(["---", "---:", "---", "---", "---", "---", "---", "---"]),
        ]
        for name, b in rows:
            scores = b.get("scores")
            applicable = b.get("applicable") is not False
            table.append(
                _row(
                    [
                        f"`{name}`",
                        str(len(scores)) if scores else "—",
                        _f(b.get("mean_score")),
                        _f(b.get("flag_share")) + _ci(b.get("flag_share_ci95")),
                        _f(b.get("reference_flag_share")),
                        _f(b.get("baseline_flag_share")),
                        _f(b.get("correctness_auroc")),
                        "" if applicable else f"not applicable: {b.get('reason') or 'no reason'}",
                    ]
                )
            )
        intro = "Per suspect, one score per response (the mean of its token scores)."
        if any(b.get("reference_flag_share") is not None for _, b in rows):
            intro += (
                " The text-only control reads each suspect's own answers with the trusted "
                "reference: where it flags them as often, the probe responds to the text (its "
                "format, its errors), not to anything in the suspect."
            )
        if any(b.get("correctness_auroc") is not None for _, b in rows):
            intro += (
                " AUROC vs correctness: how well the score separates the suspect's wrong answers "
                "from its right ones (near 0.5: the score does not merely track errors)."
            )
        out += [intro, "\n".join(table)]
        if "probe_scores" in figures:
            out.append("![probe scores per response](figures/probe_scores.png)")
    return "\n\n".join(out)


def _method_blocks(m: Mapping[str, Any], method: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(suspect, its results for `method`) for every suspect that has them, in table order."""
    blocks = [(name, _get(m, "suspects", name, method)) for name in suspect_names(m)]
    return [(name, block) for name, block in blocks if block]


def _noise_section(m: Mapping[str, Any], figures: Collection[str]) -> str:
    rows = _method_blocks(m, "noise")
    if not rows:
        return ""
    first = rows[0][1]
    stds = ", ".join(f"{s:g}" for s in first.get("grid") or first.get("stds") or [])
    seeds = first.get("seeds") or []
    scale = (
        " (relative to each parameter's own standard deviation)" if first.get("relative") else ""
    )
    text = "Gaussian noise added to every weight"
    text += f" at std {stds}{scale}" if stds else scale
    text += f", {len(seeds)} seed{'s' if len(seeds) != 1 else ''} each" if seeds else ""
    if first.get("until_drift") is not None:
        text += (
            f"; per suspect the largest std was doubled until the drift reached "
            f"{first['until_drift']:g} (at most {first.get('max_extra_levels')} more levels)"
        )
    text += (
        ". The statistic is the improvement ratio, best noisy accuracy over clean accuracy, with "
        "a 95% bootstrap interval over items; a sandbagger's accuracy can rise under noise, a "
        "benign model's only falls. Drift: how much less likely the noisy model finds its own "
        "clean answers at the largest std (nats per answer token, mean over seeds); near 0, the "
        "sweep did not move the model and its ratio says little."
    )
    threshold = _threshold(m, "noise")
    if threshold is not None:
        text += f" Threshold on the interval's lower bound: {threshold:.2f}."
    table = [
        _row(
            [
                "suspect",
                "clean accuracy",
                "best noisy accuracy (std, seed)",
                "ratio [95% CI]",
                "drift at the largest std (std)",
            ]
        ),
        _row(["---", "---", "---", "---", "---"]),
    ]
    for name, b in rows:
        best = b.get("best") or {}
        where = ""
        if best.get("std") is not None:
            where = f" (std {best['std']:g}" + (
                f", seed {best['seed']})" if best.get("seed") is not None else ")"
            )
        table.append(
            _row(
                [
                    f"`{name}`",
                    _f(b.get("clean_accuracy")),
                    _f(best.get("accuracy")) + where,
                    _f(b.get("ratio"), 2) + _ci(b.get("ratio_ci95"), 2),
                    _top_drift(b),
                ]
            )
        )
    out = ["## Noise injection", text, "\n".join(table)]
    if "noise_curves" in figures:
        out.append("![accuracy under weight noise](figures/noise_curves.png)")
    return "\n\n".join(out)


def _top_drift(block: Mapping[str, Any]) -> str:
    curve = block.get("curve") or []
    if not curve:
        return "—"
    top = max(curve, key=lambda row: row["std"])
    return f"{_f(top.get('drift'))} ({top['std']:g})"


def _elicitation_section(m: Mapping[str, Any], figures: Collection[str]) -> str:
    rows = _method_blocks(m, "elicitation")
    if not rows:
        return ""
    first = rows[0][1]
    text = "A few fine-tuning steps on correct demonstrations"
    if first.get("steps") is not None and first.get("n_demonstrations") is not None:
        text = (
            f"{first['steps']} fine-tuning steps on {first['n_demonstrations']} correct "
            "demonstrations"
        )
    text += (
        ", then the task again; the statistic is the accuracy lift with a 95% bootstrap interval."
    )
    baseline = _get(m, "elicitation_baseline") or {}
    references = baseline.get("references") or {}
    if references:
        lifts = "; ".join(
            f"`{ref}` {_f(r.get('lift'), sign=True)}{_ci(r.get('lift_ci95'), sign=True)}"
            for ref, r in references.items()
        )
        text += f" Benign models gain too; the same treatment on the reference gives {lifts}."
    threshold = _threshold(m, "elicitation")
    if threshold is not None:
        text += f" Threshold on the lift: {threshold:+.3f}."
    table = [
        _row(["suspect", "clean accuracy", "elicited accuracy", "lift [95% CI]"]),
        _row(["---", "---", "---", "---"]),
    ]
    for name, b in rows:
        table.append(
            _row(
                [
                    f"`{name}`",
                    _f(b.get("clean_accuracy")),
                    _f(b.get("elicited_accuracy")),
                    _f(b.get("lift"), sign=True) + _ci(b.get("lift_ci95"), sign=True),
                ]
            )
        )
    out = ["## Elicitation", text, "\n".join(table)]
    if "elicitation" in figures:
        out.append("![lift under elicitation](figures/elicitation.png)")
    return "\n\n".join(out)


# ---- figures -------------------------------------------------------------------------------------


def plot_probe_scores(path: Path, metrics: Mapping[str, Any]) -> Path | None:
    """Per-response probe scores, one row per model (reference first), threshold as a line.

    Suspects where the probe does not apply, or without scores, are left out; with no suspect left
    nothing is written and None is returned.
    """
    probe = _get(metrics, "probe") or {}
    threshold = probe.get("threshold")
    rows: list[tuple[str, Sequence[float], str, float | None, Sequence[float]]] = []
    for name in suspect_names(metrics):
        block = _get(metrics, "suspects", name, "probe") or {}
        if block.get("applicable") is False or not block.get("scores"):
            continue
        call = _get(metrics, "verdicts", name, "probe", "sandbagging")
        read = block.get("reference_scores") or []
        rows.append((name, block["scores"], _color(call), block.get("flag_share"), read))
    if not rows:
        return None
    control = probe.get("control_scores")
    if control:
        share = None if threshold is None else float(np.mean(np.asarray(control) > threshold))
        ref = _get(metrics, "reference", "model") or "reference"
        rows.insert(0, (f"{ref} (control)", control, REFERENCE, share, []))
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
        fpr = probe.get("fpr")
        label = f"threshold ({_pct(fpr)} FPR)" if fpr is not None else "threshold"
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
    hook = probe.get("hook")
    ax.set_title("probe scores" + (f" at {hook}" if hook else ""), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_probe_layers(path: Path, metrics: Mapping[str, Any]) -> Path | None:
    """Cross-validated AUROC per layer with its interval, shuffled-label and norm controls."""
    probe = _get(metrics, "probe") or {}
    table = [r for r in probe.get("layers") or [] if r.get("auroc") is not None]
    if not table:
        return None
    layers = [r["layer"] for r in table]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _series(ax, table, "shuffled_auroc", "o:", REFERENCE, "shuffled labels")
    _series(ax, table, "norm_auroc", "s--", "#555555", "activation norm only")
    below = [r["auroc"] - r["ci95"][0] if _has_ci(r.get("ci95")) else 0.0 for r in table]
    above = [r["ci95"][1] - r["auroc"] if _has_ci(r.get("ci95")) else 0.0 for r in table]
    ax.errorbar(
        layers,
        [r["auroc"] for r in table],
        yerr=[below, above],
        fmt="o-",
        color=SANDBAGGING,
        capsize=3,
        label=f"{probe.get('method') or 'probe'} (95% CI)",
    )
    if probe.get("layer") is not None:
        ax.axvline(probe["layer"], color=BENIGN, alpha=0.25, linewidth=8, label="layer used")
    ax.axhline(0.5, color="black", linewidth=0.8, linestyle=":")
    ax.set_xticks(layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("cross-validated AUROC")
    ax.set_ylim(0.0, 1.02)
    ax.set_title("probe AUROC by layer on its training contrast", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def plot_noise_curves(path: Path, metrics: Mapping[str, Any]) -> Path | None:
    """Accuracy against noise std per suspect: mean over seeds, min-max band, clean accuracy at 0."""
    curves = []
    for name in suspect_names(metrics):
        block = _get(metrics, "suspects", name, "noise") or {}
        points = sorted(
            (p for p in block.get("curve") or [] if p.get("mean") is not None),
            key=lambda p: p["std"],
        )
        if not points:
            continue
        clean = block.get("clean_accuracy")
        if clean is None:
            clean = _get(metrics, "suspects", name, "accuracy")
        if clean is not None and points[0]["std"] > 0:
            points.insert(0, {"std": 0.0, "mean": clean, "min": clean, "max": clean})
        curves.append((name, points, bool(block.get("relative"))))
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    stds: set[float] = set()
    for i, (name, points, _) in enumerate(curves):
        color = colors[i % len(colors)]
        x = [p["std"] for p in points]
        stds.update(x)
        ax.plot(x, [p["mean"] for p in points], "o-", color=color, markersize=4, label=name)
        if all(p.get("min") is not None and p.get("max") is not None for p in points):
            lo, hi = [p["min"] for p in points], [p["max"] for p in points]
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


def plot_elicitation(path: Path, metrics: Mapping[str, Any]) -> Path | None:
    """Accuracy lift per suspect with its interval, beside the benign references and threshold."""
    points: list[tuple[str, float, Any, str]] = []  # (label, lift, 95% CI, color)
    for name in suspect_names(metrics):
        block = _get(metrics, "suspects", name, "elicitation") or {}
        if block.get("lift") is None:
            continue
        call = _get(metrics, "verdicts", name, "elicitation", "sandbagging")
        points.append((name, block["lift"], block.get("lift_ci95"), _color(call)))
    if not points:
        return None
    references = _get(metrics, "elicitation_baseline", "references") or {}
    for ref, r in references.items():
        if (r or {}).get("lift") is not None:
            points.append((f"{ref} (reference)", r["lift"], r.get("lift_ci95"), REFERENCE))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.0 + 0.7 * len(points)), 3.8))
    for x, (_, lift, ci, color) in enumerate(points):
        err = [[lift - ci[0]], [ci[1] - lift]] if _has_ci(ci) else None
        ax.errorbar([x], [lift], yerr=err, fmt="o", color=color, capsize=4, markersize=6)
    threshold = _threshold(metrics, "elicitation")
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


FIGURES: dict[str, Callable[[Path, Mapping[str, Any]], Path | None]] = {
    "probe_layers": plot_probe_layers,
    "probe_scores": plot_probe_scores,
    "noise_curves": plot_noise_curves,
    "elicitation": plot_elicitation,
}


def _series(
    ax: Any, table: Sequence[Mapping[str, Any]], key: str, fmt: str, color: str, label: str
):
    rows = [r for r in table if r.get(key) is not None]
    if rows:
        ax.plot([r["layer"] for r in rows], [r[key] for r in rows], fmt, color=color, label=label)


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


# ---- small helpers -------------------------------------------------------------------------------


def suspect_names(metrics: Mapping[str, Any]) -> list[str]:
    """Suspects in the order of `metrics["suspects"]`, then any that only have a verdict."""
    names = list(_get(metrics, "suspects") or {})
    return names + [n for n in _get(metrics, "verdicts") or {} if n not in names]


def _verdict_methods(m: Mapping[str, Any]) -> list[str]:
    """The methods with a verdict or a result for some suspect: the known three first."""
    seen: list[str] = []
    for name in suspect_names(m):
        for key in _get(m, "verdicts", name) or {}:
            if key != "overall" and key not in seen:
                seen.append(key)
        for key in METHODS:
            if _get(m, "suspects", name, key) and key not in seen:
                seen.append(key)
    return [k for k in METHODS if k in seen] + [k for k in seen if k not in METHODS]


def _threshold(m: Mapping[str, Any], method: str) -> float | None:
    if method == "elicitation":
        t = _get(m, "elicitation_baseline", "threshold")
        if t is not None:
            return t
    for name in suspect_names(m):
        t = _get(m, "verdicts", name, method, "threshold")
        if t is not None:
            return t
    return None


def _get(d: Any, *keys: str) -> Any:
    """`d[k1][k2]...`, or None where a level is missing, None or not a mapping."""
    for key in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(key)
    return d


def _f(x: float | None, digits: int = 3, *, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _has_ci(ci: Any) -> bool:
    return isinstance(ci, Sequence) and len(ci) == 2 and all(v is not None for v in ci)


def _ci(ci: Any, digits: int = 3, *, sign: bool = False) -> str:
    if not _has_ci(ci):
        return ""
    return f" [{_f(ci[0], digits, sign=sign)}, {_f(ci[1], digits, sign=sign)}]"


def _pct(x: float) -> str:
    return f"{100 * x:g}%"


def _call(call: bool | None) -> str:
    return "undecided" if call is None else ("**sandbagging**" if call else "benign")


def _color(call: bool | None) -> str:
    return UNDECIDED if call is None else (SANDBAGGING if call else BENIGN)


def _is_scalar(v: Any) -> bool:
    return isinstance(v, str | int | float | bool)


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


__all__ = [
    "FIGURES",
    "plot_elicitation",
    "plot_noise_curves",
    "plot_probe_layers",
    "plot_probe_scores",
    "render_audit_report",
    "suspect_names",
    "write_audit_figures",
    "write_audit_report",
]
