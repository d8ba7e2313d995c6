"""Typed results to JSON and back: frozen dataclasses whose fields are numbers, strings, lists,
string-keyed dicts, tuples, optional values and other such dataclasses.

    @dataclass(frozen=True)
    class Lift:
        lift: float
        lift_ci95: tuple[float, float]
        note: str | None = field(default=None, metadata=OMIT_NONE)   # absent from JSON when None

    to_record(Lift(0.1, (0.0, 0.2)))            # {"lift": 0.1, "lift_ci95": [0.0, 0.2]}
    from_record(Lift, {"lift": 0.1, "lift_ci95": [0.0, 0.2]}) == Lift(0.1, (0.0, 0.2))

A nested dataclass with its own `to_json` / `from_json` is written and read by them, so a class
whose JSON is not one key per field (a flattened block) says so in one place.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

from interp.errors import InterpError

T = TypeVar("T")

OMIT_NONE = {
    "omit_none": True
}  # field metadata: leave the key out of the JSON when the value is None


def to_record(obj: Any) -> Any:
    """A JSON-ready copy: dataclasses as dicts (their own `to_json` where they have one), tuples as
    lists, fields marked `OMIT_NONE` left out when None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _value(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not (f.metadata.get("omit_none") and getattr(obj, f.name) is None)
        }
    return _value(obj)


def _value(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return obj.to_json() if hasattr(obj, "to_json") else to_record(obj)
    if isinstance(obj, dict):
        return {str(k): _value(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_value(v) for v in obj]
    return obj


def from_record(cls: type[T], record: Any) -> T:
    """`cls` built from the JSON `to_record` wrote; a missing field takes its default, a field
    `cls` does not have is refused."""
    if not isinstance(record, dict):
        raise InterpError(
            f"{cls.__name__} must be read from a JSON object, not {type(record).__name__}",
            fix="read a metrics.json written by interp",
        )
    hints = _hints(cls)
    unknown = sorted(set(record) - set(hints))
    if unknown:  # another version's file: reading on would drop what it says
        raise InterpError(
            f"{cls.__name__} has no fields {unknown}",
            fix="read it with the interp version that wrote it",
        )
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in record:
            values[f.name] = _read(hints[f.name], record[f.name], f"{cls.__name__}.{f.name}")
    try:
        return cls(**values)
    except TypeError as err:
        raise InterpError(
            f"cannot read {cls.__name__} ({err})", fix="read a metrics.json written by interp"
        ) from err


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # the annotations are strings (postponed evaluation)


def _read(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]  # only `X | None` unions are used
        return _read(inner, value, where)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        reader = getattr(kind, "from_json", None)
        return reader(value) if reader is not None else from_record(kind, value)
    if origin is list:
        return [_read(args[0], v, where) for v in _sequence(value, where)]
    if origin is tuple:
        return tuple(_read(args[0], v, where) for v in _sequence(value, where))
    if origin is dict:
        if not isinstance(value, dict):
            raise InterpError(f"{where} must be a JSON object", fix="read an interp metrics.json")
        return {k: _read(args[1], v, where) for k, v in value.items()}
    return value  # a number, string or bool, as written


def _sequence(value: Any, where: str) -> list:
    if not isinstance(value, list | tuple):
        raise InterpError(f"{where} must be a JSON list", fix="read an interp metrics.json")
    return list(value)
