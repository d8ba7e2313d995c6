"""report.md and figures of a sandbagging audit, from its result alone; never touches a model.

    from interp.reports.audit_report import write_audit_report
    write_audit_report(run, result)   # run/report.md and run/figures/*.png; returns run/report.md

`result` is the audit's `AuditResult` (`AuditResult.from_json` reads one from a metrics.json): the
task, the reference, the calibrated probe, one block per suspect and method, the per-method verdicts
and (with ground truth) a score. Every method is optional: a method with no results (disabled, or
absent from every suspect) leaves no section, no table and no figure behind, and report.md links
only the figures that were written (`interp.reports.audit_figures` lists them).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from interp.files import atomic_write_text
from interp.reports.audit_figures import FIGURES, write_audit_figures
from interp.reports.audit_report_format import num, pct
from interp.reports.audit_report_latent import elicitation_curve_section, latent_section
from interp.reports.audit_report_methods import (
    elicitation_section,
    noise_section,
    probe_section,
)
from interp.reports.audit_report_verdicts import verdict_section
from interp.results.audit import AuditResult, ProbeSummary


def write_audit_report(out_dir: Path, result: AuditResult) -> Path:
    """Write `out_dir/report.md` and the figures under `out_dir/figures/`; return the report's path.

    Each file is written atomically; metrics.json is the caller's to write.
    """
    out_dir = Path(out_dir)
    figures = write_audit_figures(out_dir / "figures", result)
    path = out_dir / "report.md"
    atomic_write_text(path, render_audit_report(result, figures))
    return path


def render_audit_report(result: AuditResult, figures: Collection[str] = ()) -> str:
    """The text of report.md; `figures` names the figures written (only those are linked)."""
    sections = [
        "# Sandbagging audit",
        overview(result),
        verdict_section(result),
        probe_section(result, figures),
        noise_section(result, figures),
        elicitation_section(result, figures),
        elicitation_curve_section(result),
        latent_section(result, figures),
        "All numbers, per-response scores included, are in metrics.json beside this report.",
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def overview(result: AuditResult) -> str:
    """What was audited, on which task, against which reference, and how calls combine."""
    task = result.task
    n = len(result.names())
    settings = [
        f"{task.n_items} items",
        f"{task.prompt} prompt",
        f"up to {task.max_new_tokens} new tokens",
    ]
    extra = {
        "n_operands": task.n_operands,
        "digits": task.digits,
        "grader": task.grader,
        "split": task.split,
    }
    settings += [f"{k} = {v}" for k, v in extra.items() if v is not None]
    text = (
        f"Audited {n} suspect model{'s' if n != 1 else ''} on the `{task.skill}` task "
        f"({', '.join(settings)}) against the reference `{result.reference.model}` "
        f"(accuracy {num(result.reference.accuracy)})."
    )
    if result.probe is not None:
        text += " " + probe_setup(result.probe)
    return text + f" Per-method calls combine by `{result.decision}`."


def probe_setup(p: ProbeSummary) -> str:
    c = f" (C = {p.C})" if p.C is not None else ""
    text = f"The {p.method} probe{c} was trained on activations of `{p.model}` at `{p.hook}`"
    if p.threshold is not None:
        text += (
            f"; its threshold {p.threshold:.3f} was calibrated on {p.n_control} reference "
            f"responses for a {pct(p.fpr)} false-positive rate"
        )
    return (
        text + f". A suspect's probe call compares its share of flagged responses with "
        f"{p.flag_share:.3f}."
    )


__all__ = ["FIGURES", "render_audit_report", "write_audit_figures", "write_audit_report"]
