"""The transfer study on a task of one's own: few-shot contrast, the broad fit set, layer matching
by CKA, chat templates, a killed run resumed to identical results, and bad task files refused."""

from __future__ import annotations

import json

import pytest

from interp.cli.main import main
from interp.errors import InterpError
from interp.experiments import transfer as transfer_module
from interp.experiments.transfer import run_transfer
from interp.experiments.transfer_config import TransferConfig
from interp.experiments.transfer_task import Conditions, load_splits
from interp.models.tiny import save_tiny_model

WORDS = ["cat", "dog", "sun", "hat", "red", "big", "top", "pen", "cup", "box", "map", "jam"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two families of different widths and depths behind one character tokenizer."""
    root = tmp_path_factory.mktemp("pair")
    return {
        "source": save_tiny_model(root / "llama", "llama", d_model=32, n_layers=3, n_heads=4),
        "target": save_tiny_model(root / "gpt2", "gpt2", d_model=48, n_layers=4, n_heads=4),
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    items = [{"prompt": f"{w}:", "answer": w[::-1]} for w in WORDS * 3]
    items = [{"prompt": f"{i} {r['prompt']}", "answer": r["answer"]} for i, r in enumerate(items)]
    (root / "task.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (root / "fit.txt").write_text("a b c\nhello there\nthe end\nred sun\n")
    return root


def config(models, files, **overrides) -> dict:
    base = {
        "source_locked": str(models["source"]),
        "target": str(models["target"]),
        "task_file": str(files / "task.jsonl"),
        "contrast": "fewshot",
        "n_shots": 2,
        "n_values": [6],
        "ranks": [2],
        "alphas": [0.1, 0.5],
        "fit_sets": ["locked", "locked_prompts", "broad"],
        "fit_prompts": str(files / "fit.txt"),
        "layer_matchings": ["depth", "cka"],
        "target_own_direction": True,
        "n_select": 6,
        "n_test": 8,
        "n_controls": 2,
        "n_bootstrap": 100,
        "max_new_tokens": 3,
        "batch_size": 8,
    }
    return {**base, **overrides}


def test_fewshot_splits_are_disjoint_and_render_demonstrations(models, files):
    study = TransferConfig.from_dict(config(models, files))
    splits = load_splits(study)
    groups = [splits.demonstrations, splits.fit, splits.select, splits.test]
    assert [len(g) for g in groups] == [2, 6, 6, 8]
    prompts = [item.prompt for group in groups for item in group]
    assert len(set(prompts)) == len(prompts)
    conditions = Conditions.of(study, splits)
    item = splits.test[0]
    demos = "".join(f"{d.prompt} {d.answer}\n" for d in splits.demonstrations)
    assert conditions.unlocked(item) == demos + item.prompt
    assert conditions.locked(item) == item.prompt


def test_fewshot_study_with_broad_fits_and_cka_runs_end_to_end(models, files, tmp_path):
    result = run_transfer(
        TransferConfig.from_dict(config(models, files)), tmp_path / "run", progress=False
    )
    settings = {(p.fit_set, p.layer_matching) for p in result.grid}
    fit_sets = ("locked", "locked_prompts", "broad")
    assert settings == {(f, m) for f in fit_sets for m in ("depth", "cka")}
    assert len(result.grid) == 12 and result.chosen in result.grid
    assert result.target_own_direction is not None and result.target_cued_accuracy is not None
    assert set(result.accuracy_ci95) == {
        "target_unsteered",
        "target_steered",
        "source_unlocked",
        "target_cued",
    }
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["chosen"]["fit_set"] == result.chosen.fit_set
    assert metrics["target_own_direction"]["alpha"] in (0.1, 0.5)
    assert -1 <= result.target_own_direction.cosine_to_transferred <= 1
    assert not (tmp_path / ".run.partial").exists()


def test_a_killed_study_resumes_to_identical_metrics(models, files, tmp_path, monkeypatch):
    study = TransferConfig.from_dict(config(models, files, fit_sets=["broad"]))
    fresh = run_transfer(study, tmp_path / "fresh", progress=False).to_json()

    calls = {"n": 0}
    original = transfer_module.Study.correctness

    def dies_on_the_fifth(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(transfer_module.Study, "correctness", dies_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        run_transfer(study, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists() and (tmp_path / ".run.partial").is_dir()
    calls["n"] = 100  # no more deaths
    resumed = run_transfer(study, tmp_path / "run", progress=False, resume=True).to_json()
    fresh.pop("seconds"), resumed.pop("seconds")
    assert resumed == fresh


@pytest.mark.parametrize(
    "write, message",
    [
        (
            lambda p: p.write_text('{"prompt": "a:", "answer": "b"}\n{broken\n'),
            r"bad.jsonl:2 is not JSON",
        ),
        (lambda p: p.write_text('{"prompt": "a:", "answer": "b"}\n'), "needs 22"),
        (lambda p: p.write_text('{"prompt": "a:"}\n'), "answer"),
    ],
)
def test_bad_task_files_fail_before_any_model_time(models, files, tmp_path, write, message):
    bad = tmp_path / "bad.jsonl"
    write(bad)
    with pytest.raises(InterpError, match=message):
        TransferConfig.from_dict(config(models, files, task_file=str(bad)))


def test_bad_fit_prompts_and_grader_are_refused(models, files, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    chat = tmp_path / "chat.jsonl"
    chat.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    for change, words in [
        ({"fit_prompts": str(empty)}, "holds no prompts"),
        ({"fit_prompts": str(chat)}, "plain texts"),
        ({"grader": "fuzzy"}, "grader"),
        ({"contrast": "fewshot", "n_shots": 0}, "n_shots"),
        ({"demo_template": "{prompt}"}, "demo_template"),
        ({"fit_prompts": None}, "locked_prompts fit set needs fit_prompts"),
    ]:
        with pytest.raises(InterpError, match=words):
            TransferConfig.from_dict(config(models, files, **change))
    path = tmp_path / "study.json"
    path.write_text(json.dumps(config(models, files, fit_prompts=str(empty))))
    assert main(["transfer", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "holds no prompts" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_chat_models_see_their_template(models, files, tmp_path):
    from interp.models.load import load_model

    model = load_model(models["target"])
    model.tokenizer.chat_template = (
        "{% for m in messages %}({{ m['role'] }}){{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}(assistant){% endif %}"
    )
    model.tokenizer.save_pretrained(models["target"])
    try:
        result = run_transfer(
            TransferConfig.from_dict(
                config(
                    models, files, target_chat=True, fit_sets=["locked"], layer_matchings=["depth"]
                )
            ),
            tmp_path / "run",
            progress=False,
        )
        assert 0 <= result.target_unsteered_accuracy <= 1
    finally:
        model.tokenizer.chat_template = None
        (models["target"] / "chat_template.jinja").unlink(missing_ok=True)
        model.tokenizer.save_pretrained(models["target"])
