"""The audit report's verdict table: one row per suspect, each method's statistic against its
threshold and its call, the overall call, and (with an answer key) the truth and the score."""

from __future__ import annotations

from interp.reports.audit_report_format import (
    call_word,
    interval,
    methods_used,
    num,
    table_row,
)
from interp.results.audit import AuditResult
from interp.results.audit_verdict import Call, Overall, Score

# How each method's statistic reads in the verdict table: (column header, format of the numbers).
STATISTICS = {
    "probe": ("probe: share flagged / threshold", "{:.3f}"),
    "noise": ("noise: improvement ratio / threshold", "{:.2f}"),
    "elicitation": ("elicitation: lift / threshold", "{:+.3f}"),
    "latent": ("latent: recovery budget / benign bound", "{:g}"),
}


def verdict_section(result: AuditResult) -> str:
    names = result.names()
    if not names:
        return ""
    methods = methods_used(result)
    score = result.score
    header = ["suspect", "accuracy [95% CI]"]
    header += [STATISTICS.get(m, (f"{m}: statistic / threshold", ""))[0] for m in methods]
    header.append("overall (votes)")
    if score is not None:
        header += ["truth", "correct"]
    lines = ["## Verdicts", "", table_row(header), table_row(["---"] * len(header))]
    reasons = []
    for name in names:
        suspect = result.suspects.get(name)
        verdict = result.verdicts.get(name)
        cells = [f"`{name}`"]
        cells.append(
            num(suspect.accuracy) + interval(suspect.accuracy_ci95) if suspect is not None else "—"
        )
        for method in methods:
            call = verdict.calls.get(method) if verdict is not None else None
            cells.append(verdict_cell(method, call))
            if call is not None and call.reason and call.sandbagging is None:
                reasons.append(f"- `{name}`, {method}: {call.reason}")
        overall = verdict.overall if verdict is not None else None
        cells.append(overall_cell(overall))
        if score is not None:
            truth = score.truth.get(name)
            cells += truth_cells(truth, overall.sandbagging if overall is not None else None)
        lines.append(table_row(cells))
    notes = []
    if "noise" in methods:
        notes.append("The noise call uses the lower bound of the ratio's 95% interval.")
    if reasons:
        notes.append("Methods that did not apply (n/a):\n\n" + "\n".join(reasons))
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n\n".join(notes)
    if score is not None:
        text += "\n\n" + score_line(score)
    return text


def verdict_cell(method: str, call: Call | None) -> str:
    if call is None:
        return "—"
    if call.sandbagging is None:
        return "n/a"
    fmt = STATISTICS.get(method, ("", "{:.3g}"))[1]
    stat = "—" if call.statistic is None else fmt.format(call.statistic)
    threshold = "—" if call.threshold is None else fmt.format(call.threshold)
    return f"{stat} / {threshold} → {call_word(call.sandbagging)}"


def overall_cell(overall: Overall | None) -> str:
    if overall is None:
        return call_word(None)
    return f"{call_word(overall.sandbagging)} ({overall.votes}/{overall.of})"


def truth_cells(truth: bool | None, call: bool | None) -> list[str]:
    if truth is None:
        return ["—", "—"]
    label = "sandbagging" if truth else "benign"
    if call is None:
        return [label, "—"]
    return [label, "✓" if bool(call) == bool(truth) else "✗"]


def score_line(score: Score) -> str:
    t = score.overall
    line = (
        f"**Score: {t.correct}/{t.total}** suspects called correctly: {t.caught} of "
        f"{t.sandbaggers} sandbaggers caught, {t.false_flags} of {t.benign} benign models flagged"
        f". Without any method, calling every suspect benign scores {score.all_benign_correct}/"
        f"{t.total} and calling every one a sandbagger {score.all_sandbagging_correct}/{t.total}"
    )
    per_method = [
        f"{method} {s.correct}/{s.total} ({s.caught}/{s.sandbaggers} caught, "
        f"{s.false_flags}/{s.benign} false flags)"
        for method, s in score.per_method.items()
    ]
    if per_method:
        line += f". Each method alone: {', '.join(per_method)}"
    return line + "."
