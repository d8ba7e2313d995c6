"""Progress lines off a terminal: one at the start with the count, one at the end with the time."""

from __future__ import annotations

import pytest

from interp.progress import plural, stage, track


@pytest.mark.parametrize(
    ("noun", "count", "reads"),
    [
        ("batch", 1, "batch"),
        ("batch", 35, "batches"),
        ("prompt", 2, "prompts"),
        ("box", 0, "boxes"),
    ],
)
def test_units_read_as_words(noun, count, reads):
    assert plural(noun, count) == reads


def test_off_a_terminal_each_stage_is_a_line_at_start_and_end(capsys, monkeypatch):
    monkeypatch.setattr("interp.progress.on_terminal", lambda: False)
    assert list(track(range(3), "capture", unit="batch")) == [0, 1, 2]
    with stage("fit the maps"):
        pass
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "interp: capture: 3 batches"
    assert lines[1].startswith("interp: capture: done in ")
    assert lines[2] == "interp: fit the maps ..."
    assert lines[3].startswith("interp: fit the maps: done in ")


def test_disabled_progress_says_nothing(capsys):
    assert list(track([1, 2], "capture", enabled=False)) == [1, 2]
    assert capsys.readouterr().err == ""
