"""The API reference builds with warnings as errors and documents every exported name."""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import interp

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> str:
    if importlib.util.find_spec("mkdocstrings") is None:
        message = "mkdocs and mkdocstrings are not installed; `make setup` installs them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return (site / "api" / "index.html").read_text()


def test_every_exported_name_has_its_entry(built):
    documented = set(re.findall(r'id="interp\.(\w+)"', built))
    assert set(interp.__all__) - {"__version__"} <= documented


def test_examples_are_shown_as_code(built):
    assert "<blockquote>" not in built and "doctest:" not in built
    assert built.count("language-pycon") >= 30


def test_the_example_fences_are_what_the_reference_shows():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import doctest_blocks
    finally:
        sys.path.pop(0)
    assert doctest.testmod(doctest_blocks).failed == 0
