"""Prompts to capture on: a plain-text file (one prompt a line) or JSON lines with more fields.

A JSON-lines record is `{"prompt": str, "response": str?, "label": int | str?, "positions": [int]?}`;
`positions` are token indices into the item's own tokens (negative counts from the end). Instead of
"prompt", a record may hold chat messages, `{"messages": [{"role": "user", "content": ...}, ...]}`,
rendered by the model's chat template with its generation prompt; when the last message is the
assistant's (and no "response" is given), that message is the response.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from interp.errors import InterpError
from interp.models.tokens import Chat, ChatMessage, Prompt

FIELDS = ("prompt", "messages", "response", "label", "positions")


@dataclass(frozen=True)
class Item:
    prompt: Prompt  # text, or a Chat rendered by the model's template
    response: str | None = None
    label: int | str | None = None
    positions: tuple[int, ...] | None = None

    @property
    def has_response(self) -> bool:
        """A response given, or a chat transcript whose last turn is the assistant's."""
        return self.response is not None or (
            isinstance(self.prompt, Chat) and self.prompt.is_transcript
        )

    def to_json(self) -> dict:
        record: dict = (
            {"messages": self.prompt.as_dicts()}
            if isinstance(self.prompt, Chat)
            else {"prompt": self.prompt}
        )
        for key in ("response", "label", "positions"):
            value = getattr(self, key)
            if value is not None:
                record[key] = list(value) if key == "positions" else value
        return record


def as_items(prompts: Iterable[str | Chat | Item | dict]) -> list[Item]:
    """Accept strings, chats, `Item`s or dicts, as a notebook user would pass them."""
    items = []
    for i, prompt in enumerate(prompts):
        if isinstance(prompt, Item):
            items.append(prompt)
        elif isinstance(prompt, str | Chat):
            items.append(Item(prompt))
        elif isinstance(prompt, dict):
            items.append(_item_from_record(prompt, f"item {i}"))
        else:
            raise InterpError(
                f"item {i} is a {type(prompt).__name__}",
                fix="pass strings, dicts, interp.Chat or interp.Item",
            )
    return items


def read_items(path: str | Path) -> list[Item]:
    """Read prompts from a .txt file (one per line) or a .jsonl / .json file of records.

    >>> import interp, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "prompts.jsonl"
    >>> _ = path.write_text('{"prompt": "Q:1+2=?", "label": 1}\\n{"prompt": "Q:2+2=?", "label": 0}')
    >>> [(item.prompt, item.label) for item in interp.read_items(path)]
    [('Q:1+2=?', 1), ('Q:2+2=?', 0)]
    """
    path = Path(path)
    if not path.is_file():
        raise InterpError(
            f"prompt file {path} does not exist", fix="check the path given to --prompts"
        )
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        items = [
            _item_from_record(_parse_json(line, f"{path}:{n}"), f"{path}:{n}")
            for n, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
    elif path.suffix == ".json":
        records = _parse_json(text, str(path))
        if not isinstance(records, list):
            raise InterpError(
                f"{path} holds a JSON {type(records).__name__}", fix="write a JSON list of records"
            )
        items = [_item_from_record(r, f"{path}[{i}]") for i, r in enumerate(records)]
    else:
        items = [Item(line) for line in text.splitlines() if line.strip()]
    if not items:
        raise InterpError(
            f"prompt file {path} holds no prompts", fix="write one prompt per line (or JSON lines)"
        )
    return items


def label_names(items: Sequence[Item]) -> list[str]:
    """The distinct labels in order of first appearance (as strings); empty if no item has one."""
    names = dict.fromkeys(str(item.label) for item in items if item.label is not None)
    missing = [i for i, item in enumerate(items) if item.label is None]
    if names and missing:
        raise InterpError(
            f"{len(missing)} items have no label (first: item {missing[0]})",
            fix="label every item or none",
        )
    return list(names)


def _parse_json(text: str, where: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InterpError(
            f"{where} is not valid JSON ({err.msg} at column {err.colno})", fix="fix that line"
        ) from err


def _item_from_record(record: object, where: str) -> Item:
    if not isinstance(record, dict):
        raise InterpError(
            f"{where} is not a JSON object", fix='write records like {"prompt": "..."}'
        )
    unknown = set(record) - set(FIELDS)
    if unknown:
        raise InterpError(
            f"{where} has unknown fields {sorted(unknown)}", fix=f"use {', '.join(FIELDS)}"
        )
    prompt = _prompt_of(record, where)
    positions = record.get("positions")
    if positions is not None and not (
        isinstance(positions, list) and all(isinstance(p, int) for p in positions)
    ):
        raise InterpError(
            f"{where}: 'positions' must be a list of token indices", fix="e.g. [0, -1]"
        )
    response = record.get("response")
    if response is not None and not isinstance(response, str):
        raise InterpError(f"{where}: 'response' must be a string", fix="quote the response text")
    return Item(prompt, response, record.get("label"), tuple(positions) if positions else None)


def _prompt_of(record: dict, where: str) -> Prompt:
    """The record's prompt: its "prompt" text or its "messages" (exactly one of the two)."""
    if ("prompt" in record) == ("messages" in record):
        raise InterpError(
            f"{where} needs exactly one of 'prompt' (text) or 'messages' (a chat)",
            fix='write {"prompt": "..."} or {"messages": [{"role": "user", "content": "..."}]}',
        )
    if "prompt" in record:
        if not isinstance(record["prompt"], str):
            raise InterpError(f"{where}: 'prompt' must be a string", fix="quote the prompt text")
        return record["prompt"]
    messages = record["messages"]
    good = (
        isinstance(messages, list)
        and messages
        and all(
            isinstance(m, dict)
            and set(m) == {"role", "content"}
            and all(isinstance(v, str) for v in m.values())
            for m in messages
        )
    )
    if not good:
        raise InterpError(
            f'{where}: \'messages\' must be a non-empty list of {{"role", "content"}} strings',
            fix='write e.g. [{"role": "user", "content": "What is 2 + 3?"}]',
        )
    return Chat(tuple(ChatMessage(m["role"], m["content"]) for m in messages))
