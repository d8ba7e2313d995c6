"""Write neutral.jsonl: everyday sentences with no checkable truth, for fitting alignment maps on
texts that say nothing about the statements (`"map_texts": "align"` in config_neutral_map.json).

Plain statements about made-up people, wishes and requests, ending in "." or "?" like the
statements do; none names a country, language, currency, animal class or element.

    python examples/truth_probe/make_neutral.py        # rewrites neutral.jsonl beside it
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

NAMES = [
    "Anna", "Ben", "Carlos", "Dana", "Elif", "Femi", "Grace", "Hiro", "Ines", "Jonas",
    "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
]  # fmt: skip
# (past tense, base form) of everyday actions.
ACTIONS = [
    ("opened the window", "open the window"),
    ("made a cup of tea", "make a cup of tea"),
    ("read a short story", "read a short story"),
    ("cleaned the kitchen", "clean the kitchen"),
    ("walked the dog", "walk the dog"),
    ("painted the fence", "paint the fence"),
    ("fixed the bicycle", "fix the bicycle"),
    ("wrote a letter", "write a letter"),
    ("planted some tomatoes", "plant some tomatoes"),
    ("baked bread", "bake bread"),
    ("called an old friend", "call an old friend"),
    ("folded the laundry", "fold the laundry"),
    ("watched a film", "watch a film"),
    ("practised the piano", "practise the piano"),
    ("washed the car", "wash the car"),
    ("tidied the desk", "tidy the desk"),
    ("cooked dinner", "cook dinner"),
    ("went for a run", "go for a run"),
    ("finished the puzzle", "finish the puzzle"),
    ("visited the library", "visit the library"),
]
TIMES = ["this morning", "after lunch", "on Sunday", "before dinner", "last night", "at noon"]
LATER = ["tomorrow", "next week", "after work", "on Saturday", "later today", "soon"]

TEMPLATES = [
    (lambda n, past, base, t, later: f"{n} {past} {t}.", 200),
    (lambda n, past, base, t, later: f"Did {n} {base} {t}?", 80),
    (lambda n, past, base, t, later: f"I hope {n} will {base} {later}.", 80),
    (lambda n, past, base, t, later: f"Could you ask {n} to {base} {later}?", 40),
]


def main() -> None:
    rng = random.Random(0)
    combos = list(itertools.product(NAMES, ACTIONS, TIMES, LATER))
    texts: list[str] = []
    for template, count in TEMPLATES:
        for name, (past, base), when, later in rng.sample(combos, count):
            texts.append(template(name, past, base, when, later))
    out = Path(__file__).with_name("neutral.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for text in dict.fromkeys(texts):  # no duplicates, order kept
            f.write(json.dumps({"prompt": text}) + "\n")
    print(f"wrote {len(dict.fromkeys(texts))} sentences to {out}")


if __name__ == "__main__":
    main()
