"""Config fields checked by declaration: each field names the rule it must meet, and a config is
checked by running every rule, with one message per mistake that says which field and how to fix it.

    RULES = {"n_test": positive_int, "alphas": nonempty_list_of(positive_number)}
    check_fields(config, RULES, where="transfer.json")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from interp.errors import InterpError

# A rule: the field's value -> None when it is fine, else what is wrong ("is not ...").
Rule = Callable[[Any], str | None]


def check_fields(config: Any, rules: Mapping[str, Rule], where: str) -> None:
    for name, rule in rules.items():
        problem = rule(getattr(config, name))
        if problem is not None:
            raise InterpError(f"{where}: {name} {problem}", fix=f"fix {name} in the config")


def check_known_fields(raw: Mapping[str, Any], cls: type, where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InterpError(f"{where} has unknown fields {unknown}", fix=f"use only {sorted(known)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def positive_int(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"is {value!r}, not a positive whole number"
    return None


def whole_number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"is {value!r}, not a whole number (0 or more)"
    return None


def positive_number(value: Any) -> str | None:
    if not _is_number(value) or value <= 0:
        return f"holds {value!r}, which is not a positive number"
    return None


def one_of(*choices: Any) -> Rule:
    def rule(value: Any) -> str | None:
        if value not in choices:
            return f"is {value!r}, not one of {', '.join(map(repr, choices))}"
        return None

    return rule


def optional(rule: Rule) -> Rule:
    return lambda value: None if value is None else rule(value)


def text(value: Any) -> str | None:
    return None if isinstance(value, str) else f"is {value!r}, not a string"


def nonempty_text(value: Any) -> str | None:
    return None if isinstance(value, str) and value else f"is {value!r}, not a non-empty string"


def flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"is {value!r}, not true or false"


def nonempty_list_of(rule: Rule, *, distinct: bool = False) -> Rule:
    def check(values: Any) -> str | None:
        if not isinstance(values, list) or not values:
            return "must be a non-empty list"
        for value in values:
            problem = rule(value)
            if problem is not None:
                return problem
        if distinct and len(set(map(repr, values))) != len(values):
            return "lists a value twice"
        return None

    return check


def list_of(rule: Rule) -> Rule:
    def check(values: Any) -> str | None:
        if not isinstance(values, list):
            return "must be a list"
        return next((p for p in map(rule, values) if p is not None), None)

    return check


def require(condition: bool, where: str, problem: str, fix: str) -> None:
    """A rule that spans fields (e.g. one contrast needs another field set)."""
    if not condition:
        raise InterpError(f"{where}: {problem}", fix=fix)


def missing(raw: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    return [name for name in names if name not in raw]
