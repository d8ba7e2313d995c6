"""How the audit report writes numbers, calls and table rows, and the questions it asks of a
result in more than one place (which methods ran, each method's threshold, one call)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from interp.results.audit import AuditResult

METHODS = ("probe", "noise", "elicitation", "latent")

SANDBAGGING = "#C44E52"
BENIGN = "#4C72B0"
UNDECIDED = "#DD8452"
REFERENCE = "#8C8C8C"


def num(x: float | None, digits: int = 3, *, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def has_ci(ci: Any) -> bool:
    return isinstance(ci, Sequence) and len(ci) == 2 and all(v is not None for v in ci)


def interval(ci: Any, digits: int = 3, *, sign: bool = False) -> str:
    """` [low, high]`, or nothing without an interval."""
    if not has_ci(ci):
        return ""
    return f" [{num(ci[0], digits, sign=sign)}, {num(ci[1], digits, sign=sign)}]"


def pct(x: float) -> str:
    return f"{100 * x:g}%"


def call_word(call: bool | None) -> str:
    return "undecided" if call is None else ("**sandbagging**" if call else "benign")


def call_color(call: bool | None) -> str:
    return UNDECIDED if call is None else (SANDBAGGING if call else BENIGN)


def table_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def call_of(result: AuditResult, name: str, method: str) -> bool | None:
    """Suspect `name`'s call by `method`; None where it made none."""
    verdict = result.verdicts.get(name)
    call = verdict.calls.get(method) if verdict is not None else None
    return call.sandbagging if call is not None else None


def methods_used(result: AuditResult) -> list[str]:
    """The methods with a call or a result for some suspect: the known three first."""
    seen: list[str] = []
    for name in result.names():
        verdict = result.verdicts.get(name)
        for key in verdict.calls if verdict is not None else {}:
            if key not in seen:
                seen.append(key)
        suspect = result.suspects.get(name)
        for key in METHODS:
            if suspect is not None and suspect.method(key) is not None and key not in seen:
                seen.append(key)
    return [k for k in METHODS if k in seen] + [k for k in seen if k not in METHODS]


def threshold_of(result: AuditResult, method: str) -> float | None:
    """The threshold `method`'s calls compared with (the benign lift's for elicitation)."""
    if method == "elicitation" and result.elicitation_baseline is not None:
        return result.elicitation_baseline.threshold
    for name in result.names():
        verdict = result.verdicts.get(name)
        call = verdict.calls.get(method) if verdict is not None else None
        if call is not None and call.threshold is not None:
            return call.threshold
    return None
