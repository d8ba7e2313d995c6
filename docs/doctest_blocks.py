"""A griffe extension for the API reference: docstring examples (`>>>` lines, their continuations
and expected output) are shown as Python console code, without their doctest directives.

Markdown would otherwise read `>>>` as three nested quotes. Loaded by mkdocs.yml.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

DIRECTIVE = re.compile(r"\s*# doctest:[^\n]*$")


def fence(text: str) -> str:
    """`text` with each run of example lines (from a `>>>` line to the next blank line) between
    ```pycon fences, and `# doctest: ...` comments cut from them.

    >>> fence("Adds.\\n\\n    In(1 + 1)  # doctest: +SKIP").splitlines()[-1]
    '    In(1 + 1)  # doctest: +SKIP'
    >>> fence("Adds.\\n" + chr(62) * 3 + " 1 + 1  # doctest: +SKIP\\n2").splitlines()[1:]
    ['```pycon', '>>> 1 + 1', '2', '```']
    """
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        starts = line.lstrip().startswith(">>>")
        if starts and not inside:
            out.append("```pycon")
            inside = True
        elif inside and not line.strip():
            out.append("```")
            inside = False
        out.append(DIRECTIVE.sub("", line) if inside else line)
    if inside:
        out.append("```")
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence(obj.docstring.value)
