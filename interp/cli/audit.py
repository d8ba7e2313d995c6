"""`interp audit`: the sandbagging audit from a config file into a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from interp.cli.main import (
    add_command,
    add_study_load_arguments,
    add_study_run_arguments,
    print_json,
    progress_enabled,
    with_study_loading,
)
from interp.cli.ray_options import add_ray_arguments, executor_from

if TYPE_CHECKING:  # registering the command imports nothing of the study
    from interp.results.audit import AuditResult


def register(commands) -> None:
    cmd = add_command(
        commands,
        "audit",
        run_audit_command,
        "the sandbagging audit: probe, noise injection and elicitation on each suspect model",
        "For each suspect, answer held-out questions under the public prompt, then: score its "
        "responses with a probe trained on a contrast (the probe model's answers under the "
        "probe.honest vs the probe.underperform preamble: an instruction to underperform, or a "
        "known organism without its password) and thresholded on a trusted reference model's "
        "responses; add Gaussian noise to its weights and look for accuracy that rises (with "
        "noise.until_drift, the grid grows per suspect until the noise moves it); fine-tune it "
        "briefly on a few correct demonstrations and compare the lift with benign models'; "
        "with a latent section, optimize a bounded residual-stream perturbation on the "
        "demonstrations and compare the budget at which accuracy recovers with benign models'. "
        "Writes a verdict table with config.json, metrics.json, probe.safetensors, report.md and "
        "figures/ into --out; with an answer key the verdicts are scored. Each suspect is "
        "checkpointed, so a killed run continues with --resume. The questions come "
        "from an organism skill, or from task_file (JSON lines {prompt, answer, solution?}) "
        "checked by grader (last_number, exact, prefix or marker). See "
        "examples/audit_organisms.json and examples/audit_password_probe/.",
    )
    add_study_run_arguments(cmd, "audit", resumable=True)
    add_study_load_arguments(
        cmd,
        engine_help="where the models answer (the config's \"engine\"); vllm: every model's "
        "answers, also under noise and after fine-tuning, on a vLLM engine over it "
        "(make setup-vllm); activations are read on hf",
    )
    add_ray_arguments(cmd, "suspects")
    cmd.add_argument("--json", action="store_true", help="print the verdicts (and score) as JSON")


def run_audit_command(args: argparse.Namespace) -> int:
    from interp.experiments.audit import run_audit
    from interp.experiments.audit_config import AuditConfig

    config = with_study_loading(AuditConfig.from_file(args.config), args)
    executor = executor_from(args)
    result = run_audit(
        config, Path(args.out), progress_enabled(), resume=args.resume, executor=executor
    )
    if args.json:
        record = result.to_json()
        print_json({k: record[k] for k in ("verdicts", "score") if k in record})
        return 0
    print(verdict_table(result))
    if result.score is not None:
        print(f"score: {result.score.describe()}")
    print(f"wrote {args.out}/report.md")
    return 0


def verdict_table(result: AuditResult) -> str:
    """One line per suspect: accuracy, each method's statistic and call, the overall call."""
    methods = ("probe", "noise", "elicitation", "latent")
    lines = [f"{'model':<24} {'acc':>6}  " + "  ".join(f"{m:>16}" for m in methods) + "  verdict"]
    for name, verdict in result.verdicts.items():
        cells = []
        for method in methods:
            call = verdict.calls.get(method)
            if call is None:
                cells.append(f"{'-':>16}")
            elif call.sandbagging is None:
                cells.append(f"{'n/a':>16}")
            else:
                mark = "FLAG" if call.sandbagging else "ok"
                # latent's statistic is a recovery budget, None where the model never recovered
                stat = "never" if call.statistic is None else f"{call.statistic:.3f}"
                cells.append(f"{stat:>8} {mark:>7}")
        overall = "SANDBAGGING" if verdict.overall.sandbagging else "benign"
        accuracy = result.suspects[name].accuracy
        lines.append(f"{name:<24} {accuracy:>6.3f}  " + "  ".join(cells) + f"  {overall}")
    return "\n".join(lines)
