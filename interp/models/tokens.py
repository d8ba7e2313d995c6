"""Text to the token ids a model sees: a prompt, optionally followed by a response, and padding.

A prompt is plain text or a `Chat` (messages rendered by the tokenizer's chat template with its
generation prompt, so the last prompt token is the template's last). Prompt and response are encoded
together (so the tokens are exactly what the model sees); the prompt/response boundary is the longest
prefix the joint encoding shares with the prompt alone. A chat whose last message is the assistant's
is a transcript: that message, as the template renders it, is the response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Int
from torch import Tensor

from interp.errors import InterpError


@dataclass(frozen=True)
class Encoded:
    """One text's tokens and where its prompt ends."""

    ids: list[int]
    prompt_len: int


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user", "assistant", ... as the chat template knows them
    content: str


@dataclass(frozen=True)
class Chat:
    """A conversation to be rendered by the model's chat template."""

    messages: tuple[ChatMessage, ...]

    @staticmethod
    def of(messages: Sequence[dict[str, str] | ChatMessage] | str) -> Chat:
        """A chat from OpenAI-style message dicts, or one user message from a string."""
        if isinstance(messages, str):
            return Chat((ChatMessage("user", messages),))
        return Chat(tuple(m if isinstance(m, ChatMessage) else ChatMessage(**m) for m in messages))

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]

    @property
    def is_transcript(self) -> bool:
        return len(self.messages) > 1 and self.messages[-1].role == "assistant"

    def __str__(self) -> str:
        return " | ".join(f"{m.role}: {m.content}" for m in self.messages)


Prompt = str | Chat


@dataclass(frozen=True)
class Padded:
    input_ids: Int[Tensor, "batch pos"]
    attention_mask: Int[Tensor, "batch pos"]
    starts: list[int]  # column of each row's first real token


def encode(tokenizer, prompt: Prompt, response: str | None = None) -> Encoded:
    """Token ids of `prompt` (+ `response`), with special tokens as the tokenizer (or for a chat,
    its template) adds them."""
    if isinstance(prompt, Chat):
        return _encode_chat(tokenizer, prompt, response)
    prompt_ids = list(tokenizer(prompt).input_ids)
    if response is None:
        ids, prompt_len = prompt_ids, len(prompt_ids)
    else:
        ids = list(tokenizer(prompt + response).input_ids)
        prompt_len = _shared_prefix(prompt_ids, ids)
    if not ids:
        raise InterpError(
            f"prompt {prompt!r} encodes to no tokens",
            fix="use a non-empty prompt, or a tokenizer that adds a BOS token",
        )
    return Encoded(ids, prompt_len)


def render_chat(tokenizer, chat: Chat, *, generation_prompt: bool = True) -> str:
    """The text the chat template makes of `chat`; refuses a tokenizer without a template."""
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "") or "this model"
        raise InterpError(
            f"{name} has no chat template, so chat messages cannot be rendered for it",
            fix='give plain {"prompt": ...} records, or use a chat (instruct) model',
        )
    text = tokenizer.apply_chat_template(
        chat.as_dicts(), tokenize=False, add_generation_prompt=generation_prompt
    )
    return str(text)


def _encode_chat(tokenizer, chat: Chat, response: str | None) -> Encoded:
    # The template writes every special token itself (BOS included where the model wants one).
    def ids_of(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False).input_ids)

    if chat.is_transcript and response is None:
        head = render_chat(tokenizer, Chat(chat.messages[:-1]))
        full = render_chat(tokenizer, chat, generation_prompt=False)
    else:
        head = render_chat(tokenizer, chat)
        full = head + (response or "")
    head_ids, ids = ids_of(head), ids_of(full)
    if not ids:
        raise InterpError(f"chat {str(chat)[:60]!r} renders to no tokens", fix="add a message")
    return Encoded(ids, _shared_prefix(head_ids, ids))


def pad(
    rows: Sequence[Sequence[int]], pad_id: int, side: Literal["left", "right"] = "left"
) -> Padded:
    """Rows of token ids as one batch; left padding keeps position -1 a real token."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    starts = []
    for row, ids in enumerate(rows):
        start = width - len(ids) if side == "left" else 0
        input_ids[row, start : start + len(ids)] = torch.tensor(list(ids), dtype=torch.long)
        attention_mask[row, start : start + len(ids)] = 1
        starts.append(start)
    return Padded(input_ids, attention_mask, starts)


def _shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
