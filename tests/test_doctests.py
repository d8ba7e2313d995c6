"""The examples in the docstrings of interp's namespace run as written, and every exported function
has one. Each runs in the globals of the module that defines it, on the shipped organism zoo or
tiny models; the ones that need a study's hours or a file a reader brings are marked to skip."""

from __future__ import annotations

import doctest
import inspect
import sys

import pytest

import interp
import interp.api

EXPORTS = [name for name in interp.__all__ if name != "__version__"]
# Exported functions whose docstrings hold no example yet.
WITHOUT_EXAMPLES = {"build_zoo", "build_real_organisms", "load_manifest", "with_backend"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def doctests_of(obj: object, name: str) -> list[doctest.DocTest]:
    """The docstring examples of `obj` (and of a class's methods), in its module's globals."""
    module = sys.modules[getattr(obj, "__module__", None) or obj.__name__]
    finder = doctest.DocTestFinder(recurse=not inspect.isfunction(obj))
    found = finder.find(obj, name, module=module, globs=dict(vars(module)))
    return [test for test in found if test.examples]


def run(tests: list[doctest.DocTest]) -> tuple[int, str]:
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        runner.run(test, out=report.append)
    return runner.failures, "".join(report)


@pytest.mark.parametrize("name", EXPORTS)
def test_the_docstring_examples_run(name):
    failures, report = run(doctests_of(getattr(interp, name), f"interp.{name}"))
    assert failures == 0, report


def test_the_api_modules_own_examples_run():
    tests = [t for t in doctests_of(interp.api, "interp.api") if t.name.count(".") == 2]
    failures, report = run([t for t in tests if t.name.split(".")[-1] not in EXPORTS])
    assert failures == 0, report


def test_every_exported_function_has_an_example():
    functions = [n for n in EXPORTS if inspect.isfunction(getattr(interp, n))]
    bare = {n for n in functions if not doctests_of(getattr(interp, n), n)}
    assert bare == WITHOUT_EXAMPLES
