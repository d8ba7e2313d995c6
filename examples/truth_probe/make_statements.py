"""Write statements.jsonl: true/false factual statement pairs for the truth probe.

Each pair shares its subject (the `entity`) and differs in exactly one entity, the object: the
false statement takes the object of another subject of the same `group`, a block of three
subjects, rotated so no object stays with its own subject. Every object of a block then occurs
once in a true and once in a false statement, so an object's name says nothing about the label,
and a split by group keeps subjects and (except the few continents and animal classes, a closed
set) objects on one side. Facts were chosen to be uncontested: no capitals in dispute, no
transcontinental countries, no shared currencies or languages within a topic.

    python examples/truth_probe/make_statements.py        # rewrites statements.jsonl beside it
"""

from __future__ import annotations

import json
from pathlib import Path

# name, capital, continent, main language, currency ("" where a fact is left out as contested,
# shared with another country of the table, or changing).
COUNTRIES = [
    ("France", "Paris", "Europe", "French", ""),
    ("Germany", "Berlin", "Europe", "German", ""),
    ("Italy", "Rome", "Europe", "Italian", ""),
    ("Japan", "Tokyo", "Asia", "Japanese", "yen"),
    ("China", "Beijing", "Asia", "Chinese", "yuan"),
    ("South Korea", "Seoul", "Asia", "Korean", "won"),
    ("Spain", "Madrid", "Europe", "Spanish", ""),
    ("Portugal", "Lisbon", "Europe", "Portuguese", ""),
    ("Greece", "Athens", "Europe", "Greek", ""),
    ("Poland", "Warsaw", "Europe", "Polish", "zloty"),
    ("Hungary", "Budapest", "Europe", "Hungarian", "forint"),
    ("the Czech Republic", "Prague", "Europe", "Czech", "koruna"),
    ("Sweden", "Stockholm", "Europe", "Swedish", "krona"),
    ("Norway", "Oslo", "Europe", "Norwegian", ""),  # krone: too near the krona
    ("Finland", "Helsinki", "Europe", "Finnish", ""),
    ("Thailand", "Bangkok", "Asia", "Thai", "baht"),
    ("Vietnam", "Hanoi", "Asia", "Vietnamese", "dong"),
    ("Bangladesh", "Dhaka", "Asia", "Bengali", "taka"),
    ("Russia", "Moscow", "", "Russian", "ruble"),
    ("Ukraine", "Kyiv", "Europe", "Ukrainian", "hryvnia"),
    ("Romania", "Bucharest", "Europe", "Romanian", "leu"),
    ("the United Kingdom", "London", "Europe", "English", "pound"),
    ("Iceland", "Reykjavik", "Europe", "Icelandic", ""),
    ("Denmark", "Copenhagen", "Europe", "Danish", ""),
    ("Lithuania", "Vilnius", "Europe", "Lithuanian", ""),
    ("Latvia", "Riga", "Europe", "Latvian", ""),
    ("Estonia", "Tallinn", "Europe", "Estonian", ""),
    ("Slovakia", "Bratislava", "Europe", "Slovak", ""),
    ("Albania", "Tirana", "Europe", "Albanian", ""),
    ("Bulgaria", "Sofia", "Europe", "Bulgarian", ""),
    ("Mongolia", "Ulaanbaatar", "Asia", "Mongolian", ""),
    ("Nepal", "Kathmandu", "Asia", "Nepali", ""),
    ("Iran", "Tehran", "Asia", "Persian", ""),
    ("Saudi Arabia", "Riyadh", "Asia", "Arabic", "riyal"),
    ("Cambodia", "Phnom Penh", "Asia", "Khmer", "riel"),
    ("Armenia", "Yerevan", "", "Armenian", "dram"),
    ("Turkey", "Ankara", "", "Turkish", "lira"),
    ("India", "New Delhi", "Asia", "", "rupee"),
    ("Brazil", "Brasília", "South America", "", "real"),
    ("Kenya", "Nairobi", "Africa", "", "shilling"),
    ("Nigeria", "Abuja", "Africa", "", "naira"),
    ("Ghana", "Accra", "Africa", "", "cedi"),
    ("Ethiopia", "Addis Ababa", "Africa", "", "birr"),
    ("Morocco", "Rabat", "Africa", "", "dirham"),
    ("Mexico", "Mexico City", "North America", "", "peso"),
    ("the United States", "Washington, D.C.", "North America", "", "dollar"),
    ("Canada", "Ottawa", "North America", "", ""),
    ("Cuba", "Havana", "North America", "", ""),
    ("Argentina", "Buenos Aires", "South America", "", ""),
    ("Chile", "Santiago", "South America", "", ""),
    ("Peru", "Lima", "South America", "", ""),
    ("Colombia", "Bogotá", "South America", "", ""),
    ("Venezuela", "Caracas", "South America", "", ""),
    ("Uruguay", "Montevideo", "South America", "", ""),
    ("Ecuador", "Quito", "South America", "", ""),
    ("Senegal", "Dakar", "Africa", "", ""),
    ("Algeria", "Algiers", "Africa", "", ""),
    ("Tunisia", "Tunis", "Africa", "", ""),
    ("Zimbabwe", "Harare", "Africa", "", ""),
    ("Zambia", "Lusaka", "Africa", "", ""),
    ("Uganda", "Kampala", "Africa", "", ""),
    ("Angola", "Luanda", "Africa", "", ""),
    ("Mali", "Bamako", "Africa", "", ""),
    ("Australia", "Canberra", "", "", ""),
    ("New Zealand", "Wellington", "", "", ""),
    ("Austria", "Vienna", "Europe", "", ""),
    ("Ireland", "Dublin", "Europe", "", ""),
    ("Belgium", "Brussels", "Europe", "", ""),
    ("Pakistan", "Islamabad", "Asia", "", ""),
    ("Jordan", "Amman", "Asia", "", ""),
    ("Lebanon", "Beirut", "Asia", "", ""),
    ("Qatar", "Doha", "Asia", "", ""),
]

# A block's continents may coincide, so the false continent is fixed per true one instead of
# rotated: always a different continent, each used as a false object about as often as a true one.
OTHER_CONTINENT = {
    "Europe": "Asia",
    "Asia": "Europe",
    "Africa": "South America",
    "South America": "Africa",
    "North America": "Africa",
}

# Blocks of three interleaved across classes, so a rotation never leaves an animal with its class.
ANIMALS = {
    "mammal": ["dog", "horse", "cow", "whale", "dolphin", "bat", "elephant", "lion", "rabbit"],
    "bird": ["eagle", "penguin", "owl", "parrot", "ostrich", "sparrow", "swan", "pigeon", "crow"],
    "reptile": ["snake", "lizard", "turtle", "crocodile", "iguana", "chameleon", "gecko"],
    "fish": ["shark", "salmon", "tuna", "trout", "goldfish", "cod", "carp", "herring"],
    "insect": ["ant", "bee", "butterfly", "beetle", "mosquito", "grasshopper", "dragonfly"],
    "amphibian": ["frog", "toad", "salamander", "newt"],
}

ELEMENTS = [
    ("hydrogen", "H"), ("helium", "He"), ("carbon", "C"), ("nitrogen", "N"), ("oxygen", "O"),
    ("sodium", "Na"), ("magnesium", "Mg"), ("aluminium", "Al"), ("silicon", "Si"),
    ("phosphorus", "P"), ("sulfur", "S"), ("chlorine", "Cl"), ("potassium", "K"),
    ("calcium", "Ca"), ("iron", "Fe"), ("copper", "Cu"), ("zinc", "Zn"), ("silver", "Ag"),
    ("tin", "Sn"), ("gold", "Au"), ("mercury", "Hg"), ("lead", "Pb"), ("uranium", "U"),
    ("neon", "Ne"), ("argon", "Ar"), ("nickel", "Ni"), ("platinum", "Pt"), ("iodine", "I"),
    ("fluorine", "F"), ("lithium", "Li"), ("titanium", "Ti"), ("tungsten", "W"),
    ("chromium", "Cr"),
]  # fmt: skip

BLOCK = 3


def article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def sentence(text: str) -> str:
    """Capitalized, with one final period (an object such as "Washington, D.C." brings its own)."""
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


TEMPLATES = {
    "capital": lambda s, o: sentence(f"The capital of {s} is {o}"),
    "language": lambda s, o: sentence(f"The main language of {s} is {o}"),
    "currency": lambda s, o: sentence(f"The currency of {s} is the {o}"),
    "continent": lambda s, o: sentence(f"{s} is in {o}"),
    "class": lambda s, o: sentence(f"{article(s)} {s} is {article(o)} {o}"),
    "symbol": lambda s, o: sentence(f"The chemical symbol for {s} is {o}"),
}


def rotated(facts: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(subject, true object, false object): each subject takes the next subject's object."""
    if len(facts) < 2:
        return []  # a lone fact has no partner to take a false object from
    objects = [o for _, o in facts]
    return [(s, o, objects[(i + 1) % len(facts)]) for i, (s, o) in enumerate(facts)]


def pairs(topic: str, group: str, triples: list[tuple[str, str, str]]) -> list[dict]:
    records = []
    for subject, true, false in triples:
        assert true != false, (topic, subject)
        for label, obj in (("true", true), ("false", false)):
            records.append(
                {
                    "prompt": TEMPLATES[topic](subject, obj),
                    "label": label,
                    "entity": subject,
                    "group": group,
                    "topic": topic,
                    "object": obj,
                }
            )
    return records


def country_records() -> list[dict]:
    records = []
    for b in range(0, len(COUNTRIES), BLOCK):
        block, group = COUNTRIES[b : b + BLOCK], f"countries-{b // BLOCK:02d}"
        for topic, column in (("capital", 1), ("language", 3), ("currency", 4)):
            facts = [(row[0], row[column]) for row in block if row[column]]
            records += pairs(topic, group, rotated(facts))
        triples = [(row[0], row[2], OTHER_CONTINENT[row[2]]) for row in block if row[2]]
        records += pairs("continent", group, triples)
    return records


def animal_records() -> list[dict]:
    # Deal the classes round-robin so consecutive animals have different classes.
    queues = {c: list(names) for c, names in ANIMALS.items()}
    dealt: list[tuple[str, str]] = []
    while any(queues.values()):
        for cls, queue in queues.items():
            if queue:
                dealt.append((queue.pop(0), cls))
    records = []
    for b in range(0, len(dealt), BLOCK):
        block = dealt[b : b + BLOCK]
        triples = [t for t in rotated(block) if t[1] != t[2]]
        records += pairs("class", f"animals-{b // BLOCK:02d}", triples)
    return records


def element_records() -> list[dict]:
    records = []
    for b in range(0, len(ELEMENTS), BLOCK):
        records += pairs("symbol", f"elements-{b // BLOCK:02d}", rotated(ELEMENTS[b : b + BLOCK]))
    return records


def main() -> None:
    records = country_records() + animal_records() + element_records()
    out = Path(__file__).with_name("statements.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    topics: dict[str, int] = {}
    for record in records[::2]:
        topics[record["topic"]] = topics.get(record["topic"], 0) + 1
    groups = len({r["group"] for r in records})
    print(f"wrote {len(records) // 2} pairs in {groups} groups to {out}: {topics}")


if __name__ == "__main__":
    main()
