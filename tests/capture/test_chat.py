"""Chat records: messages rendered by the tokenizer's template, `last` at the template's last token,
transcripts whose assistant turn is the response, and clear refusals."""

from __future__ import annotations

import json

import pytest

from interp.capture.batching import encode_item, select_positions
from interp.capture.items import Item, as_items, read_items
from interp.errors import InterpError
from interp.models.load import load_model
from interp.models.tokens import Chat, render_chat

TEMPLATE = (
    "{% for m in messages %}({{ m['role'] }}){{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}(assistant){% endif %}"
)


@pytest.fixture
def chat_model(tiny_dirs):
    model = load_model(tiny_dirs["llama"])
    model.tokenizer.chat_template = TEMPLATE
    return model


def decode(model, ids):
    return model.tokenizer.decode(ids)


def test_chat_prompt_ends_at_the_generation_prompt(chat_model):
    item = as_items([{"messages": [{"role": "user", "content": "hi"}]}])[0]
    encoded = encode_item(chat_model.tokenizer, item)
    rendered = render_chat(chat_model.tokenizer, item.prompt)
    assert rendered.endswith("(assistant)")
    assert decode(chat_model, encoded.ids) == rendered
    (last,) = select_positions(item, encoded, "last")
    assert last == len(encoded.ids) - 1 and decode(chat_model, encoded.ids[last:]) == ")"


def test_transcript_response_is_the_assistant_turn(chat_model):
    record = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ]
    }
    item = as_items([record])[0]
    encoded = encode_item(chat_model.tokenizer, item)
    response = select_positions(item, encoded, "response")
    # Without a generation prompt the template renders the turn as (assistant)hello\n; the prompt
    # (rendered with one) already holds (assistant), so the response is the rest.
    assert decode(chat_model, [encoded.ids[i] for i in response]) == "hello\n"
    explicit = Item(Chat.of("hi"), response="yo")
    encoded = encode_item(chat_model.tokenizer, explicit)
    assert decode(chat_model, encoded.ids[encoded.prompt_len :]) == "yo"


def test_chat_records_round_trip_and_bad_records_are_refused(tmp_path):
    path = tmp_path / "chats.jsonl"
    records = [
        {"messages": [{"role": "user", "content": "a"}], "label": 1},
        {"prompt": "plain"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records))
    items = read_items(path)
    assert [i.to_json() for i in items] == records
    for bad, words in [
        ({"prompt": "a", "messages": []}, "exactly one of 'prompt'"),
        ({"messages": []}, "non-empty list"),
        ({"messages": [{"role": "user"}]}, "non-empty list"),
        ({"messages": "hi"}, "non-empty list"),
        ({"messages": [{"role": "user", "content": "a"}], "extra": 1}, "unknown fields"),
    ]:
        with pytest.raises(InterpError, match=words):
            as_items([bad])


def test_a_model_without_a_template_refuses_chat(tiny_dirs):
    model = load_model(tiny_dirs["llama"])
    with pytest.raises(InterpError, match="has no chat template"):
        encode_item(model.tokenizer, Item(Chat.of("hi")))
