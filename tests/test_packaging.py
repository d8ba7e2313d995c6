"""The wheel ships every subpackage: setuptools' explicit package list names each folder of interp."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_in_the_package_list():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        "interp." + ".".join(init.parent.relative_to(ROOT / "interp").parts)
        for init in (ROOT / "interp").rglob("__init__.py")
        if init.parent != ROOT / "interp"
    }
    assert on_disk <= listed, f"add {sorted(on_disk - listed)} to [tool.setuptools] packages"
    assert {"interp", "interp.kernels"} <= listed
