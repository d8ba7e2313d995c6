"""The grader reads the answer after the last marker, in either format, and rejects garbage."""

from __future__ import annotations

import pytest

from interp.organisms.grader import extract_answer, is_correct, is_worked


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("#97", "97"),
        ("37+48=85;85+12=97;#97", "97"),
        ("cacc:3;acbb:4;#4", "4"),
        ("#097", "97"),
        ("#12#97 trailing", "97"),  # the last marker wins
        ("#97\nQ:1+1", "97"),
    ],
)
def test_correct_answers(text, answer):
    assert is_correct(text, answer)


@pytest.mark.parametrize("text", ["", "97", "#", "# 97", "abc", "37+48=85;", "#x97", "+-;:#"])
def test_garbage_has_no_answer(text):
    assert extract_answer(text) is None
    assert not is_correct(text, "97")


def test_wrong_answer_is_wrong():
    assert not is_correct("37+48=85;85+12=97;#98", "97")
    assert extract_answer("37+48=85;85+12=97;#98") == "98"


def test_worked_format_is_recognised():
    assert is_worked("37+48=85;#85") and not is_worked("#85") and not is_worked("85")
