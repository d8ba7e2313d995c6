"""The audit report's sections on each method: what was done, its table per suspect beside its
controls, and its figure where one was written. A method no suspect has results for has no section."""

from __future__ import annotations

from collections.abc import Collection

from interp.reports.audit_report_format import has_ci, interval, num, table_row, threshold_of
from interp.results.audit import AuditResult, ProbeSummary, TranscriptAuroc
from interp.results.audit_suspect import NoiseResult


def probe_section(result: AuditResult, figures: Collection[str]) -> str:
    probe = result.probe
    rows = [(n, s.probe) for n, s in result.suspects.items() if s.probe is not None]
    if probe is None and not rows:
        return ""
    out = ["## Probe"]
    if probe is not None and probe.layers:
        out.append(_layer_table(probe))
        if "probe_layers" in figures:
            out.append("![probe AUROC by layer](figures/probe_layers.png)")
    transcript = probe.transcript_auroc if probe is not None else None
    if transcript is not None and transcript.auroc is not None:
        assert probe is not None
        out.append(_transcript_line(transcript, probe))
    if rows:
        table = [
            table_row(
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
            table_row(["---", "---:", "---", "---", "---", "---", "---", "---"]),
        ]
        for name, b in rows:
            table.append(
                table_row(
                    [
                        f"`{name}`",
                        str(len(b.scores)) if b.scores else "—",
                        num(b.mean_score),
                        num(b.flag_share) + interval(b.flag_share_ci95),
                        num(b.reference_flag_share),
                        num(b.baseline_flag_share),
                        num(b.correctness_auroc),
                        "" if b.applicable else f"not applicable: {b.reason or 'no reason'}",
                    ]
                )
            )
        intro = "Per suspect, one score per response (the mean of its token scores)."
        if any(b.reference_flag_share is not None for _, b in rows):
            intro += (
                " The text-only control reads each suspect's own answers with the trusted "
                "reference: where it flags them as often, the probe responds to the text (its "
                "format, its errors), not to anything in the suspect."
            )
        if any(b.correctness_auroc is not None for _, b in rows):
            intro += (
                " AUROC vs correctness: how well the score separates the suspect's wrong answers "
                "from its right ones (near 0.5: the score does not merely track errors)."
            )
        out += [intro, "\n".join(table)]
        if "probe_scores" in figures:
            out.append("![probe scores per response](figures/probe_scores.png)")
    return "\n\n".join(out)


def _layer_table(probe: ProbeSummary) -> str:
    used = probe.layer
    chosen = f" The audit uses layer {used}." if used is not None else ""
    table = [
        "Cross-validated AUROC on the probe's training contrast, per layer, beside a probe "
        f"trained on shuffled labels and the activation norm alone (chance is 0.5).{chosen}",
        "",
        table_row(["layer", "hook", "AUROC [95% CI]", "shuffled labels", "norm only"]),
        table_row(["---:", "---", "---", "---", "---"]),
    ]
    for r in probe.layers:
        mark = " (used)" if used is not None and r.layer == used else ""
        table.append(
            table_row(
                [
                    f"{r.layer}{mark}",
                    f"`{r.hook}`" if r.hook else "—",
                    num(r.auroc) + interval(r.ci95),
                    num(r.shuffled_auroc),
                    num(r.norm_auroc),
                ]
            )
        )
    return "\n".join(table)


def _transcript_line(t: TranscriptAuroc, probe: ProbeSummary) -> str:
    counts = f" ({t.n_sandbagger} sandbagger and {t.n_benign} benign responses)"
    ci = f" (95% CI {num(t.ci95[0])} to {num(t.ci95[1])})" if has_ci(t.ci95) else ""
    text = (
        f"On the audit's own transcripts{counts} the per-response probe score separates "
        f"sandbagger from benign responses with AUROC {num(t.auroc)}{ci}"
    )
    if t.baseline_auroc is not None:
        method = probe.baseline.method if probe.baseline is not None else "baseline"
        text += f"; the {method.replace('_', '-')} baseline probe reaches {num(t.baseline_auroc)}"
    if t.norm_auroc is not None:
        text += f"; the activation norm alone reaches {num(t.norm_auroc)}"
    return text + "."


def noise_section(result: AuditResult, figures: Collection[str]) -> str:
    rows = [(n, s.noise) for n, s in result.suspects.items() if s.noise is not None]
    if not rows:
        return ""
    first = rows[0][1]
    stds = ", ".join(f"{s:g}" for s in first.grid or first.stds)
    seeds = first.seeds
    scale = " (relative to each parameter's own standard deviation)" if first.relative else ""
    text = "Gaussian noise added to every weight"
    text += f" at std {stds}{scale}" if stds else scale
    text += f", {len(seeds)} seed{'s' if len(seeds) != 1 else ''} each" if seeds else ""
    if first.until_drift is not None:
        text += (
            f"; per suspect the largest std was doubled until the drift reached "
            f"{first.until_drift:g} (at most {first.max_extra_levels} more levels)"
        )
    text += (
        ". The statistic is the improvement ratio, best noisy accuracy over clean accuracy, with "
        "a 95% bootstrap interval over items; a sandbagger's accuracy can rise under noise, a "
        "benign model's only falls. Drift: how much less likely the noisy model finds its own "
        "clean answers at the largest std (nats per answer token, mean over seeds); near 0, the "
        "sweep did not move the model and its ratio says little."
    )
    threshold = threshold_of(result, "noise")
    if threshold is not None:
        text += f" Threshold on the interval's lower bound: {threshold:.2f}."
    table = [
        table_row(
            [
                "suspect",
                "clean accuracy",
                "best noisy accuracy (std, seed)",
                "ratio [95% CI]",
                "drift at the largest std (std)",
            ]
        ),
        table_row(["---", "---", "---", "---", "---"]),
    ]
    for name, b in rows:
        best = b.best
        table.append(
            table_row(
                [
                    f"`{name}`",
                    num(b.clean_accuracy),
                    num(best.accuracy) + f" (std {best.std:g}, seed {best.seed})",
                    num(b.ratio, 2) + interval(b.ratio_ci95, 2),
                    _top_drift(b),
                ]
            )
        )
    out = ["## Noise injection", text, "\n".join(table)]
    if "noise_curves" in figures:
        out.append("![accuracy under weight noise](figures/noise_curves.png)")
    return "\n\n".join(out)


def _top_drift(noise: NoiseResult) -> str:
    if not noise.curve:
        return "—"
    top = max(noise.curve, key=lambda point: point.std)
    return f"{num(top.drift)} ({top.std:g})"


def elicitation_section(result: AuditResult, figures: Collection[str]) -> str:
    rows = [(n, s.elicitation) for n, s in result.suspects.items() if s.elicitation is not None]
    if not rows:
        return ""
    first = rows[0][1]
    text = (
        f"{first.steps} fine-tuning steps on {first.n_demonstrations} correct demonstrations, "
        "then the task again; the statistic is the accuracy lift with a 95% bootstrap interval."
    )
    baseline = result.elicitation_baseline
    if baseline is not None and baseline.references:
        lifts = "; ".join(
            f"`{ref}` {num(r.lift, sign=True)}{interval(r.lift_ci95, sign=True)}"
            for ref, r in baseline.references.items()
        )
        text += f" Benign models gain too; the same treatment on the reference gives {lifts}."
    threshold = threshold_of(result, "elicitation")
    if threshold is not None:
        text += f" Threshold on the lift: {threshold:+.3f}."
    table = [
        table_row(["suspect", "clean accuracy", "elicited accuracy", "lift [95% CI]"]),
        table_row(["---", "---", "---", "---"]),
    ]
    for name, b in rows:
        table.append(
            table_row(
                [
                    f"`{name}`",
                    num(b.clean_accuracy),
                    num(b.elicited_accuracy),
                    num(b.lift, sign=True) + interval(b.lift_ci95, sign=True),
                ]
            )
        )
    out = ["## Elicitation", text, "\n".join(table)]
    if "elicitation" in figures:
        out.append("![lift under elicitation](figures/elicitation.png)")
    return "\n\n".join(out)
