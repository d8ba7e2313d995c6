"""`interp mcqa`: prompts and label tokens, per-head scores equal to what the hooks read, the head
chosen on validation only, intervals over whole questions, the command and its errors, and a quick
run on SmolLM2."""

from __future__ import annotations

import json

import pytest
import torch

from interp.cli.main import main
from interp.errors import InterpError
from interp.experiments.mcqa import MCQAConfig, _evaluate, run_mcqa
from interp.experiments.mcqa_items import (
    Question,
    questions_from_facts,
    read_questions,
    render,
    rotated,
    split_groups,
    with_demonstrations,
)
from interp.experiments.mcqa_scores import OptionScores, encode_with_labels, score_items
from interp.hooks.context import hooked
from interp.models.model import Model
from interp.models.tiny import tiny_family_model

QUESTIONS = [
    {
        "question": f"Which is number {i}?",
        "options": ["red", "blue", "green", "gold"],
        "answer": i % 4,
    }
    for i in range(10)
]


@pytest.fixture(scope="module")
def tiny() -> Model:
    hf, tokenizer = tiny_family_model("qwen2")  # grouped-query: 4 query heads on 2 kv heads
    return Model(hf, tokenizer, "tiny:qwen2")


@pytest.fixture
def questions_file(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in QUESTIONS))
    return path


def test_rotations_put_the_answer_at_every_letter_and_splits_keep_questions_whole():
    q = Question("What is the capital of France?", ("Rome", "Paris", "Oslo", "Bern"), 1)
    items = rotated([q, q], rotations=True)
    assert sorted(i.answer for i in items[:4]) == [0, 1, 2, 3]
    for item in items:
        letter = "ABCD"[item.answer]
        assert f"\n{letter}. Paris\n" in item.text and item.text.endswith("Answer:")
        assert [item.text[c] for c in item.label_chars] == list("ABCD")
    shots = [Question("Which is red?", ("grass", "blood", "sky", "snow"), 1)] * 3
    shown = with_demonstrations(items[:2], shots)
    assert shown[0].text.count("Answer:") == 4 and shown[0].text.endswith(items[0].text)
    assert "Answer: B\n\n" in shown[0].text and "Answer: A\n\n" in shown[0].text
    assert [shown[1].text[c] for c in shown[1].label_chars] == list("ABCD")
    assert shown[1].label_chars[0] > shown[1].text.rindex("Answer: ")
    many = rotated([q] * 10, rotations=True)
    val, test = split_groups(many, 0.5, seed=0)
    assert len(val) == len(test) == 20
    assert not {many[i].group for i in val} & {many[i].group for i in test}


def test_facts_become_questions_with_distractors_from_the_pool():
    facts = [("France", "Paris"), ("Japan", "Tokyo")]
    pool = ["Paris", "Tokyo", "Oslo", "Bern", "Rome"]
    made = questions_from_facts(facts, pool, "What is the capital of {subject}?", 4, seed=0)
    assert made[0].question == "What is the capital of France?"
    assert made[0].options[made[0].answer] == "Paris" and len(set(made[0].options)) == 4
    assert set(made[1].options) <= set(pool)
    with pytest.raises(InterpError, match="cannot fill 4 options"):
        questions_from_facts(facts, ["Paris", "Tokyo"], "{subject}", 4, seed=0)


def test_scores_are_the_final_query_against_the_letter_keys(tiny):
    item = render(Question("Which?", ("red", "blue", "green"), 2), 0, 0)
    ids, positions = encode_with_labels(tiny, item)
    tokens = tiny.tokenizer.convert_ids_to_tokens(ids[0, positions].tolist())
    assert tokens == ["A", "B", "C"]
    scores = score_items(tiny, [item])
    seen: dict[str, torch.Tensor] = {}

    def keep(kind):
        return lambda h: seen.update({kind: h})

    with hooked(tiny, {f"blocks.1.attn.hook_{k}": keep(k) for k in ("q", "k", "pattern")}):
        logits = tiny.forward(ids)[0, -1]
    q, k = seen["q"][0, -1], seen["k"][0, positions].repeat_interleave(2, dim=1)
    expected = torch.einsum("hd,ohd->ho", q, k)
    torch.testing.assert_close(scores.qk[0, 1], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(scores.attention[0, 1], seen["pattern"][0, :, -1, positions])
    letters = [tiny.tokenizer.convert_tokens_to_ids(c) for c in "ABC"]
    torch.testing.assert_close(scores.logits[0], logits[letters])


def test_the_head_is_chosen_on_validation_and_scored_on_test_only():
    # 8 questions x 4 rotations; head (1, 2) by QK is right everywhere, head (0, 0) by attention
    # is right only on the test questions, the logits never.
    answers = torch.arange(32) % 4
    groups = torch.arange(32) // 4
    val, test = list(range(16)), list(range(16, 32))
    qk = torch.zeros(32, 2, 3, 4)
    attention = torch.zeros(32, 2, 3, 4)
    qk[torch.arange(32), 1, 2, answers] = 1.0
    attention[torch.arange(16, 32), 0, 0, answers[16:]] = 5.0
    wrong = torch.zeros(32, 4)
    wrong[torch.arange(32), (answers + 1) % 4] = 1.0
    config = MCQAConfig("m", "f", n_boot=200)
    result = _evaluate(config, OptionScores(qk, attention, wrong), answers, groups, val, test)
    assert (result.chosen.layer, result.chosen.head, result.chosen.score) == (1, 2, "qk")
    assert result.head_test.value == 1.0 and result.logit_test.value == 0.0
    assert result.gain.low == result.gain.high == 1.0 and result.beats_logits()
    assert result.chosen.validation == 1.0 and result.logit_validation == 0.0
    # Where only the test questions favour a head, it is the oracle, never the choice.
    qk[torch.arange(32), 1, 2, answers] = 0.0
    result = _evaluate(config, OptionScores(qk, attention, wrong), answers, groups, val, test)
    assert (result.oracle.layer, result.oracle.head, result.oracle.score) == (0, 0, "attention")
    assert result.oracle.test == 1.0 and result.chosen.validation < 1.0
    assert result.head_test.value < 1.0


def test_chat_needs_a_chat_template(tiny):
    item = render(Question("Which?", ("red", "blue"), 0), 0, 0)
    with pytest.raises(InterpError, match="no chat template"):
        encode_with_labels(tiny, item, chat=True)


def test_config_and_file_errors_are_one_line(questions_file, tmp_path):
    with pytest.raises(InterpError, match="source"):
        MCQAConfig.from_dict({"model": "m", "task_file": "f", "source": "quiz"})
    with pytest.raises(InterpError, match="no \\{subject\\}"):
        MCQAConfig.from_dict(
            {"model": "m", "task_file": "f", "source": "facts", "question_template": "Capital?"}
        )
    with pytest.raises(InterpError, match="mcq_shots"):
        MCQAConfig.from_dict({"model": "m", "task_file": "f", "mcq_shots": -1})
    with pytest.raises(InterpError, match="validation_fraction"):
        MCQAConfig.from_dict({"model": "m", "task_file": "f", "validation_fraction": 1.0})
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "options": ["a", "a"], "answer": 0}))
    with pytest.raises(InterpError, match="two options are the same"):
        read_questions(bad)
    bad.write_text(json.dumps({"question": "q", "options": ["a", "b"], "answer": "C"}))
    with pytest.raises(InterpError, match="names no option"):
        read_questions(bad)
    assert [q.answer for q in read_questions(questions_file)][:5] == [0, 1, 2, 3, 0]


def test_command_writes_metrics_and_report(questions_file, tmp_path, capsys, cli_error):
    config = tmp_path / "config.json"
    spec = {"model": "organism:add-small", "task_file": str(questions_file), "n_boot": 100}
    config.write_text(json.dumps(spec))
    out = tmp_path / "run"
    assert main(["mcqa", "--config", str(config), "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert printed == metrics
    assert metrics["n_items"] == 40 and metrics["n_validation"] + metrics["n_test"] == 40
    assert len(metrics["heads"]) == 2 * 2 * 4  # layers x heads x score kinds (add-small: 2 x 4)
    assert metrics["gain_low"] <= metrics["gain"] <= metrics["gain_high"]
    assert "logit baseline" in (out / "report.md").read_text()
    config.write_text(json.dumps({**spec, "n_options": 1}))
    assert main(["mcqa", "--config", str(config), "--out", str(tmp_path / "run2")]) == 2
    err = cli_error(capsys.readouterr().err)
    assert err.count("\n") == 1 and "n_options" in err


@pytest.mark.slow
def test_quick_run_on_smollm2(smollm2, tmp_path):
    """A few of the shipped questions on SmolLM2 through its chat template: the letters are found
    inside the rendered template, and the chosen head is the best on validation."""
    spec = {"model": "smollm2", "task_file": "examples/mcqa/questions.jsonl", "max_questions": 6}
    config = MCQAConfig.from_dict({**spec, "chat": True, "rotations": False, "n_boot": 200})
    item = rotated(read_questions(config.task_file)[:1], rotations=False)[0]
    ids, positions = encode_with_labels(smollm2, item, chat=True)
    assert smollm2.tokenizer.decode(ids[0, positions]).replace(" ", "") == "ABCD"
    assert smollm2.tokenizer.decode(ids[0, :3]).startswith("<|im_start|>")
    result = run_mcqa(config, tmp_path / "run", model=smollm2)
    assert result.n_items == 6 and result.n_validation == result.n_test == 3
    assert len(result.heads) == 2 * 30 * 9
    assert result.chosen.validation == max(h.validation for h in result.heads)
    assert result.head_test.low <= result.head_test.value <= result.head_test.high
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_questions"] == 6
