"""`interp organisms build|list`: JSON output, refusal of an existing zoo, help."""

from __future__ import annotations

import argparse
import json

from interp.cli import main as cli
from interp.cli import organisms
from interp.organisms.plan import sandbag_plan

BUILD_PARSER = cli.build_parser


def parser() -> argparse.ArgumentParser:
    # Registered here until interp/cli/main.py lists the module itself.
    p = BUILD_PARSER()
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction) and "organisms" not in action.choices:
            organisms.register(action)
    return p


def run(argv, capsys, monkeypatch):
    monkeypatch.setattr(cli, "build_parser", parser)
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_prints_the_manifest(reduced_zoo, capsys, monkeypatch):
    monkeypatch.setenv("INTERP_ZOO", str(reduced_zoo))
    code, out, _ = run(["organisms", "list", "--json"], capsys, monkeypatch)
    assert code == 0
    assert json.loads(out) == json.loads((reduced_zoo / "manifest.json").read_text())
    code, out, _ = run(["organisms", "list"], capsys, monkeypatch)
    assert code == 0 and "add-large-post" in out and "post-trained" in out


def test_build_reduced_and_refuse_existing(tmp_path, capsys, monkeypatch):
    out_dir = tmp_path / "zoo"
    code, out, err = run(
        ["organisms", "build", "--reduced", "--out", out_dir, "--json"], capsys, monkeypatch
    )
    names = [e["name"] for e in json.loads(out)["organisms"]]
    assert code == 0 and names == [s.name for s in sandbag_plan(reduced=True).organisms]
    assert f"[{len(names)}/{len(names)}] {names[-1]}" in err  # progress on stderr, JSON on stdout
    code, _, err = run(["organisms", "build", "--reduced", "--out", out_dir], capsys, monkeypatch)
    assert code == 2 and "--force" in err


def test_missing_zoo_and_subcommand(tmp_path, capsys, monkeypatch):
    code, _, err = run(["organisms", "list", "--zoo", tmp_path], capsys, monkeypatch)
    assert code == 2 and "no organism zoo" in err
    code, _, err = run(["organisms"], capsys, monkeypatch)
    assert code == 2 and "needs a subcommand" in err
