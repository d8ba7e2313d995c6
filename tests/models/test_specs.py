"""Model specs name what they load; schemes such as organism: are filled in from above."""

from __future__ import annotations

import pytest

from interp.errors import InterpError
from interp.models.specs import register_spec_scheme, resolve_spec


def test_a_registered_scheme_resolves_to_its_directory(tiny_dirs):
    register_spec_scheme("mine", lambda name: tiny_dirs[name])
    assert resolve_spec("mine:gpt2") == ("dir", tiny_dirs["gpt2"])


def test_organism_specs_come_from_the_entry_point():
    kind, where = resolve_spec("organism:add-small")
    assert kind == "dir" and where.name == "add-small"


def test_unknown_scheme_names_the_known_ones():
    with pytest.raises(InterpError, match=r"unknown model spec scheme 'nosuch'.*organism:NAME"):
        resolve_spec("nosuch:thing")


def test_models_layer_imports_nothing_above_it():
    """interp.models and the floor it stands on (errors, files, hashing, progress) never import capture,
    hooks, steer, store, organisms or anything else above them."""
    import ast
    from pathlib import Path

    import interp

    root = Path(interp.__file__).parent
    floor = {"interp.models", "interp.errors", "interp.files", "interp.hashing", "interp.progress"}
    offenders = []
    for path in [
        *root.joinpath("models").glob("*.py"),
        *(root / f for f in ("errors.py", "files.py", "hashing.py", "progress.py")),
    ]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("interp") and not any(
                    name == f or name.startswith(f + ".") for f in floor
                ):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
