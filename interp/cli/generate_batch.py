"""`interp generate` over a batch of prompts (`--prompts FILE`) or on the vLLM engine (`--engine vllm`).

Both engines give the same records: one per prompt, with the continuation's text and token ids.
With `--steer`, the hf engine also reports how far the steer moved each prompt's next-token
distributions (a second, unsteered pass of the model); the vLLM engine does not (it holds no
Hugging Face model to compare against), so run the hf engine for that measure.
"""

from __future__ import annotations

import argparse
import json
import sys

from interp.errors import InterpError
from interp.models.tokens import Chat, Prompt


def run_generate_batch(args: argparse.Namespace) -> int:
    prompts = _prompts(args)
    if args.engine == "vllm":
        records = _generate_vllm(args, prompts)
    else:
        records = _generate_hf(args, prompts)
    for prompt, record in zip(prompts, records, strict=True):
        if args.json:
            print(json.dumps(record, sort_keys=True))
        else:
            text = record["text"]
            print(text if isinstance(prompt, Chat) else str(prompt) + text)
    return 0


def _prompts(args: argparse.Namespace) -> list[Prompt]:
    if not args.prompts:
        return [Chat.of(args.prompt) if args.chat else args.prompt]
    from interp.capture.items import read_items

    items = read_items(args.prompts)
    return [
        Chat.of(i.prompt) if args.chat and isinstance(i.prompt, str) else i.prompt for i in items
    ]


def _record(prompt: Prompt, text: str, token_ids: list[int], spec: str, engine: str) -> dict:
    return {
        "prompt": prompt.as_dicts() if isinstance(prompt, Chat) else prompt,
        "chat": isinstance(prompt, Chat),
        "text": text,
        "token_ids": token_ids,
        "model": spec,
        "engine": engine,
    }


def _steers(args: argparse.Namespace, model=None) -> list:
    if not args.steer:
        return []
    from interp.directions import DirectionSet
    from interp.steer import steers_from_directions

    directions = DirectionSet.load(args.steer, model=model, strict=False)
    return steers_from_directions(
        directions,
        args.operator,
        args.alpha,
        positions=args.steer_positions,
        phase=args.phase,
        layers=args.layers,
    )


def _generate_hf(args: argparse.Namespace, prompts: list[Prompt]) -> list[dict]:
    from contextlib import AbstractContextManager, nullcontext

    from interp.cli.main import load_model_from_args
    from interp.models.generate import generate
    from interp.steer import steering
    from interp.steer.effect import steer_effect

    model = load_model_from_args(args)
    steers = _steers(args, model)
    context: AbstractContextManager[None] = steering(model, steers) if steers else nullcontext()
    with context:
        results = generate(
            model,
            prompts,
            args.max_new_tokens,
            greedy=not args.sample,
            temperature=args.temperature,
            seed=args.seed,
        )
    records = []
    for prompt, result in zip(prompts, results, strict=True):
        record = _record(prompt, result.text, result.token_ids, model.spec, "hf")
        if steers:
            effect = steer_effect(model, prompt, result.token_ids, steers)
            record["steer_effect"] = effect.as_json()
            if len(prompts) == 1:
                print(f"interp: {effect.describe()}", file=sys.stderr)
        records.append(record)
    return records


def _generate_vllm(args: argparse.Namespace, prompts: list[Prompt]) -> list[dict]:
    from interp.engines.availability import require_vllm

    require_vllm()  # before anything is loaded or converted
    if args.backend != "hf" or args.device_map or args.max_memory or args.offload_folder:
        raise InterpError(
            "--backend, --device-map, --max-memory and --offload-folder apply to the hf engine",
            fix="drop them with --engine vllm (vLLM places the model itself)",
        )
    from interp.engines.vllm_engine import VLLMEngine
    from interp.models.specs import resolve_spec

    resolve_spec(args.model)  # a wrong path is one error line, before the engine starts
    steers = _steers(args)
    print(f"interp: starting the vLLM engine for {args.model}", file=sys.stderr, flush=True)
    with VLLMEngine(args.model, dtype=args.dtype or "float32") as engine:
        results = engine.generate(
            prompts,
            args.max_new_tokens,
            steers=steers or None,
            greedy=not args.sample,
            temperature=args.temperature,
            seed=args.seed,
        )
    return [
        _record(p, r.text, r.token_ids, args.model, "vllm")
        for p, r in zip(prompts, results, strict=True)
    ]
