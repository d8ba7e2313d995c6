"""The command line: each command works, prints JSON on request, and refuses bad input in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from interp.cli.main import main


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "command",
    [
        "info",
        "generate",
        "capture",
        "convert",
        "extract",
        "align",
        "transfer",
        "probe",
        "organisms",
        "bench",
        "demo",
    ],
)
def test_help_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and "usage" in capsys.readouterr().out


def test_help_imports_no_heavy_library():
    """`interp --help` and every `interp COMMAND --help` answer without torch or transformers."""
    script = (
        "import sys\n"
        "from interp.cli.main import build_parser, main\n"
        "commands = build_parser()._subparsers._group_actions[0].choices\n"
        "for argv in [['--help']] + [[c, '--help'] for c in commands]:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'transformer_lens', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy, len(commands), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    heavy_line = [line for line in result.stderr.splitlines() if line.startswith("HEAVY")]
    assert heavy_line and heavy_line[0].startswith("HEAVY []"), heavy_line


def test_entry_point_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "interp.cli.main", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "transfer" in result.stdout


def test_info_json(tiny_dirs, capsys):
    code, out, _ = run(["info", tiny_dirs["qwen2"], "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["n_layers"] == 3 and info["d_model"] == 32
    assert "blocks.2.hook_resid_post" in info["hook_points"]


def test_generate_json_greedy_is_deterministic(tiny_dirs, capsys):
    args = [
        "generate",
        tiny_dirs["llama"],
        "--prompt",
        "the cat",
        "--max-new-tokens",
        "5",
        "--json",
    ]
    _, first, _ = run(args, capsys)
    _, second, _ = run(args, capsys)
    assert json.loads(first)["token_ids"] == json.loads(second)["token_ids"]


def test_capture_keep_store_and_reduced(tiny_dirs, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "\n".join(
            json.dumps({"prompt": p, "label": lab})
            for p, lab in [("good day", "pos"), ("bad day", "neg"), ("fine", "pos")]
        )
    )
    out = tmp_path / "acts"
    code, text, _ = run(
        [
            "capture",
            tiny_dirs["llama"],
            "--prompts",
            prompts,
            "--hooks",
            "blocks.-1.hook_resid_post",
            "--out",
            out,
            "--json",
        ],
        capsys,
    )
    assert code == 0 and json.loads(text)["rows"] == 3
    from interp.store.reader import ActivationReader

    assert ActivationReader(out).read("blocks.2.hook_resid_post").shape == (3, 32)
    out2 = tmp_path / "means"
    code, _, _ = run(
        [
            "capture",
            tiny_dirs["llama"],
            "--prompts",
            prompts,
            "--reduce",
            "label_mean",
            "--out",
            out2,
        ],
        capsys,
    )
    assert code == 0 and (out2 / "reduced.safetensors").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "/no/such/model"], "no such file"),
        (["capture", "{llama}", "--prompts", "{empty}", "--out", "{out}"], "holds no prompts"),
        (
            [
                "capture",
                "{llama}",
                "--prompts",
                "{prompts}",
                "--hooks",
                "blocks.0.hook_nope",
                "--out",
                "{out}",
            ],
            "unknown hook point",
        ),
        (
            [
                "capture",
                "{llama}",
                "--prompts",
                "{prompts}",
                "--hooks",
                "blocks.7.hook_resid_post",
                "--out",
                "{out}",
            ],
            "out of range",
        ),
        (["generate", "{llama}", "--max-new-tokens", "-1"], "max_new_tokens"),
    ],
)
def test_bad_input_is_one_line_exit_2(tiny_dirs, tmp_path, capsys, cli_error, args, message):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "prompts.txt").write_text("hello\n")
    fill = {
        "llama": tiny_dirs["llama"],
        "empty": tmp_path / "empty.txt",
        "prompts": tmp_path / "prompts.txt",
        "out": tmp_path / "out",
    }
    code, _, err = run([a.format(**{k: str(v) for k, v in fill.items()}) for a in args], capsys)
    err = cli_error(err)
    assert code == 2
    assert err.startswith("interp: error:") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_demo_writes_a_run_directory(tmp_path, capsys):
    code, out, _ = run(["demo", "--out", tmp_path / "run", "--json"], capsys)
    metrics = json.loads(out)
    assert code == 0
    run_dir = tmp_path / "run"
    for name in [
        "config.json",
        "report.md",
        "metrics.json",
        "transfer/config.json",
        "transfer/metrics.json",
        "transfer/report.md",
        "transfer/figures/accuracy_vs_alpha.png",
        "transfer/figures/controls.png",
        "transfer/maps.safetensors",
        "audit/config.json",
        "audit/metrics.json",
        "audit/report.md",
        "audit/probe.safetensors",
        "audit/figures/noise_curves.png",
    ]:
        assert (run_dir / name).is_file(), name
    transfer = metrics["transfer"]
    assert transfer["gain_ci95"][0] > 0 and transfer["gain"] > transfer["random_control_gain_p95"]
    audit = metrics["audit"]
    assert set(audit["verdicts"]) == set(audit["score"]["truth"]) and audit["score"]["total"] == 4
    assert all("overall" in calls for calls in audit["verdicts"].values())
    report = (run_dir / "report.md").read_text()
    assert "transfer/report.md" in report and "audit/report.md" in report
