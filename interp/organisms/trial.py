"""The design trial: train one family member, measure the latent capability, save the model.

    python -m interp.organisms.trial --size large --steps 500 --out /tmp/trial-large

Prints a table for a person and ends with one line of JSON (sizes, steps, wall time, accuracy under
the direct and cued prompts per skill, share of worked answers). The model is saved with
`save_pretrained`, with the zoo tokenizer, beside a `trial.json` holding the same numbers; its
same-model steerability is `interp.experiments.steerability.run_steerability` with that directory
as the target.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from transformers import LlamaForCausalLM

from interp.organisms.tasks import CUE, NO_PREAMBLE, generate
from interp.organisms.tokenizer import zoo_tokenizer
from interp.organisms.train import SIZES, Mixture, capability_present, evaluate, new_model, train


def measure(model, skills, n_test: int, seed: int = 1234) -> dict[str, dict[str, float]]:
    """Accuracy and worked share per skill and prompt, on `n_test` held-out items per skill."""
    result: dict[str, dict[str, float]] = {}
    for skill in skills:
        items = generate(skill, n_test, seed=seed, split="test")
        for prompt, preamble in (("direct", NO_PREAMBLE), ("cued", CUE)):
            result[f"{skill}/{prompt}"] = evaluate(model, items, preamble=preamble).summary()
    for prompt in ("direct", "cued"):
        rows = [result[f"{s}/{prompt}"] for s in skills]
        result[f"all/{prompt}"] = {
            "accuracy": sum(r["accuracy"] for r in rows) / len(rows),
            "worked_share": sum(r["worked_share"] for r in rows) / len(rows),
            "n": sum(r["n"] for r in rows),
        }
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="large")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--p-direct", type=float, default=0.2, help="P(worked | direct prompt)")
    parser.add_argument("--p-cued", type=float, default=0.9, help="P(worked | cued prompt)")
    parser.add_argument("--skills", default="add,mul")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--load", type=Path, help="skip training: measure a saved trial model")
    parser.add_argument("--post-steps", type=int, default=0, help="also post-train a copy")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    skills = tuple(args.skills.split(","))
    mixture = Mixture(
        skills=skills,
        preambles={NO_PREAMBLE: (0.5, args.p_direct), CUE: (0.5, args.p_cued)},
    )
    if args.load:
        record = json.loads((args.load / "trial.json").read_text())
        model = LlamaForCausalLM.from_pretrained(args.load).eval()
        losses, train_s = [record["final_loss"]], record["train_s"]
    else:
        model = new_model(SIZES[args.size], seed=args.seed)
        start = time.perf_counter()
        losses = train(
            model,
            mixture,
            steps=args.steps,
            seed=args.seed,
            batch_size=args.batch_size,
            lr=args.lr,
            log_every=max(1, args.steps // 10),
        )
        train_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = measure(model, skills, args.n_test)
    eval_s = time.perf_counter() - start

    print(f"{'':14s} {'accuracy':>9s} {'worked':>7s} {'n':>5s}")
    for key, row in scores.items():
        print(f"{key:14s} {row['accuracy']:9.3f} {row['worked_share']:7.3f} {row['n']:5d}")
    record = {
        "size": args.size,
        **vars(SIZES[args.size]),
        "params": sum(p.numel() for p in model.parameters()),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "p_worked": {"direct": args.p_direct, "cued": args.p_cued},
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
        "train_s": round(train_s, 1),
        "eval_s": round(eval_s, 1),
        "scores": scores,
    }
    if args.post_steps:
        post = copy.deepcopy(model)
        start = time.perf_counter()
        train(
            post,
            capability_present(skills),
            steps=args.post_steps,
            seed=args.seed + 1,
            batch_size=args.batch_size,
            lr=args.lr / 3,
            warmup=max(1, args.post_steps // 10),
        )
        record["post_trained"] = {
            "steps": args.post_steps,
            "train_s": round(time.perf_counter() - start, 1),
            "scores": measure(post, skills, args.n_test),
        }
        for key, row in record["post_trained"]["scores"].items():
            print(f"post {key:9s} {row['accuracy']:9.3f} {row['worked_share']:7.3f} {row['n']:5d}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(args.out)
        zoo_tokenizer().save_pretrained(args.out)  # a model directory that load_model reads
        (args.out / "trial.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
