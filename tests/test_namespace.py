"""The top-level namespace: every exported name is the function or class it should be, whatever order
interp's modules were imported in, and `import interp` stays cheap.

Python binds a subpackage onto its parent when the subpackage is imported, over anything of that
name already there; so an export named like a subpackage (`interp.capture` the function and
`interp/capture/` the package) changes meaning with import order. Each order below runs in a fresh
interpreter: it first reads some exports (so they are cached on the module), then imports every
module of interp in that order, then checks every export.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import random
import subprocess
import sys
from pathlib import Path

import pytest

import interp

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = [name for name in interp.__all__ if name != "__version__"]


def child_names() -> set[str]:
    """Names of interp's direct subpackages and modules, `kernels` (installed from elsewhere) too."""
    return {m.name for m in pkgutil.iter_modules(interp.__path__)} | {"kernels"}


def all_modules() -> list[str]:
    """Every module of interp, sorted; `interp.kernels` lives outside interp's folder."""
    import interp.kernels

    found = {m.name for m in pkgutil.walk_packages(interp.__path__, "interp.")}
    found |= {m.name for m in pkgutil.walk_packages(interp.kernels.__path__, "interp.kernels.")}
    return sorted(found | {"interp.kernels"})


def test_no_export_is_named_like_a_subpackage_or_module():
    assert not set(EXPORTS) & child_names()


def test_all_the_export_table_and_the_type_checking_imports_agree():
    """`__all__`, `_EXPORTS` and the imports type checkers and the API reference read name the
    same things from the same places."""
    assert set(EXPORTS) == set(interp._EXPORTS) and len(EXPORTS) == len(set(EXPORTS))
    tree = ast.parse((ROOT / "interp" / "__init__.py").read_text())
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    )
    imported = {
        alias.asname or alias.name: (node.module, alias.name)
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {name: interp._home(name) for name in EXPORTS}


CHECK = """
import importlib, json, random, sys, types
import interp

order = json.loads(sys.argv[1])
exports = [n for n in interp.__all__ if n != "__version__"]
for name in random.Random(len(order)).sample(exports, len(exports) // 2):
    getattr(interp, name)  # cached on the module before the submodules arrive
for module in order:
    importlib.import_module(module)
wrong = {}
for name in exports:
    home, attribute = interp._home(name)
    value = getattr(interp, name)
    if isinstance(value, types.ModuleType):
        wrong[name] = f"is the module {value.__name__}"
    elif value is not getattr(importlib.import_module(home), attribute):
        wrong[name] = f"is {value!r}, not {home}.{attribute}"
    elif not callable(value):
        wrong[name] = "is not callable"
for child in ("capture", "steer", "align", "probes"):
    if not isinstance(getattr(interp, child), types.ModuleType):
        wrong[child] = "is not the subpackage"
print(json.dumps(wrong))
"""


def orders() -> dict[str, list[str]]:
    modules = all_modules()
    shuffles = {}
    for seed in (0, 1):
        shuffled = list(modules)
        random.Random(seed).shuffle(shuffled)
        shuffles[f"shuffle-{seed}"] = shuffled
    return {"sorted": modules, "reversed": modules[::-1], **shuffles}


@pytest.fixture(scope="module")
def checked() -> dict[str, subprocess.CompletedProcess]:
    """Every order at once, each in its own interpreter (they take seconds each, mostly torch)."""
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", CHECK, json.dumps(order)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, order in orders().items()
    }
    done = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=600)
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done


@pytest.mark.parametrize("order", ["sorted", "reversed", "shuffle-0", "shuffle-1"])
def test_import_order_never_changes_an_export(checked, order):
    result = checked[order]
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {}


def test_import_interp_loads_no_heavy_library():
    script = (
        "import sys, interp\n"
        "names = interp.__all__, dir(interp)\n"
        "print([m for m in ('torch', 'transformers', 'numpy') if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'capture_everything'"):
        interp.capture_everything  # noqa: B018
