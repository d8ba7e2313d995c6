"""`interp mcqa`: multiple choice answered by one attention head, against the logit baseline,
from a config file into a run directory.

    interp mcqa --config examples/mcqa/smollm2_capitals.json --out runs/mcqa-smollm2
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from interp.cli.main import (
    add_command,
    add_study_load_arguments,
    add_study_run_arguments,
    print_json,
    progress_enabled,
    with_study_loading,
)


def register(commands: Any) -> None:
    """Add `interp mcqa` to the subcommands."""
    cmd = add_command(
        commands,
        "mcqa",
        run_mcqa_command,
        "multiple choice read from one attention head (QK-score, attention weight) against the "
        "option letter with the highest logit",
        "The head readout of 'Listening to the Wise Few'. Each multiple-choice prompt "
        "(Question, options labelled A, B, C, ..., Answer:) is run once; every head of every layer "
        "scores each option by the final token's query against the key of the option's letter "
        "(QK-score) and by the attention weight on that letter, and answers with its best option. "
        "The head and score kind with the best accuracy on the validation questions is chosen, "
        "then scored once on the test questions beside the logit baseline (the letter with the "
        "highest next-token logit), with 95% bootstrap intervals over whole questions, the "
        "average head and chance. Each question is asked once per rotation of its options, so "
        "the right answer sits at every letter equally often. The config's task_file holds "
        'questions (source "questions": {"question", "options", "answer"} per line) or facts '
        '(source "facts": {"prompt", "answer"} per line, as examples/transfer_real/capitals.jsonl), '
        "which are first completed in free form after n_shots demonstrations; only the facts "
        "the model gets right become questions (question_template, distractors from other "
        "answers). Writes config.json, metrics.json (every head's validation and test accuracy) "
        "and report.md into --out. See examples/mcqa/.",
    )
    add_study_run_arguments(cmd)
    add_study_load_arguments(cmd)
    cmd.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run_mcqa_command(args: argparse.Namespace) -> int:
    import json

    from interp.experiments.mcqa import MCQAConfig, run_mcqa
    from interp.reports.mcqa_report import summary_table

    config = with_study_loading(MCQAConfig.from_file(args.config), args)
    result = run_mcqa(config, Path(args.out), progress=progress_enabled())
    if args.json:
        print_json(result.to_json())
        return 0
    print(summary_table(result))
    print(f"wrote {args.out}/report.md")
    print(json.dumps(result.summary()))
    return 0
