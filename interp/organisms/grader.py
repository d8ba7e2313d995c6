"""Read the final answer out of a generated continuation and check it.

The answer is the run of digits right after the last answer marker; anything after it (an end
token, a newline, trailing junk) is ignored, and a continuation with no marker or no digits after
it has no answer and is wrong.

    >>> extract_answer("37+48=85;85+12=97;#97")
    '97'
    >>> is_correct("#97</s>", "97"), is_correct("I think 97", "97")
    (True, False)
"""

from __future__ import annotations

import re

from interp.organisms.tasks import ANSWER_MARKER, STEP_END

_ANSWER = re.compile(re.escape(ANSWER_MARKER) + r"(-?\d+)")


def extract_answer(text: str) -> str | None:
    """The answer after the last marker in `text`, or None when there is none."""
    found = _ANSWER.findall(text)
    return found[-1] if found else None


def is_correct(text: str, answer: str) -> bool:
    """Whether the extracted answer equals `answer` as a number (so "07" counts as "7")."""
    got = extract_answer(text)
    return got is not None and int(got) == int(answer)


def is_worked(text: str) -> bool:
    """Whether a continuation used the worked format: at least one step before the answer."""
    head = text.split(ANSWER_MARKER, 1)[0]
    return STEP_END in head
