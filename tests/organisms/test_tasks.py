"""Task generators: deterministic by seed, disjoint splits, prompts that share their ending."""

from __future__ import annotations

import pytest

from interp.errors import InterpError
from interp.organisms.grader import is_correct, is_worked
from interp.organisms.tasks import (
    CUE,
    ENDING,
    NO_PREAMBLE,
    TASKS,
    AddTask,
    CountTask,
    bare,
    generate,
    render_prompt,
    split_of,
    worked,
)


@pytest.mark.parametrize("skill", list(TASKS))
def test_same_seed_same_items_other_seed_other_items(skill):
    a = generate(skill, 50, seed=3, split="train")
    assert a == generate(skill, 50, seed=3, split="train")
    assert a != generate(skill, 50, seed=4, split="train")


@pytest.mark.parametrize("skill", list(TASKS))
def test_train_and_test_never_share_a_question(skill):
    train = {i.question for s in range(5) for i in generate(skill, 300, seed=s, split="train")}
    test = {i.question for s in range(5) for i in generate(skill, 300, seed=s, split="test")}
    assert train and test and not train & test


def test_split_is_a_property_of_the_question_not_the_seed():
    for item in generate("add", 100, seed=0, split="test"):
        assert split_of(item) == "test"


@pytest.mark.parametrize("task", [AddTask(3, 2), AddTask(4, 3), CountTask(12, "abc", 4)])
def test_worked_steps_reach_the_answer(task):
    for item in generate(task, 100, seed=0, split="train"):
        assert is_correct(worked(item), item.answer) and is_correct(bare(item), item.answer)
        assert is_worked(worked(item)) and not is_worked(bare(item))


def test_add_answer_is_the_sum():
    for item in generate(AddTask(4, 3), 50, seed=1, split="train"):
        assert int(item.answer) == sum(map(int, item.question.split("+")))


def test_count_answer_is_the_count():
    for item in generate("count", 50, seed=1, split="train"):
        letter, text = item.question.split(" in ")
        assert int(item.answer) == text.count(letter)


def test_direct_and_cued_prompts_share_their_ending():
    item = generate("add", 1, seed=0, split="test")[0]
    direct, cued = render_prompt(item, NO_PREAMBLE), render_prompt(item, CUE)
    assert direct.endswith(ENDING) and cued.endswith(direct) and cued != direct
    # the continuation formats differ from their first character: the decision is made there
    assert worked(item)[0] != bare(item)[0]


def test_unique_items_and_impossible_requests():
    items = generate(AddTask(2, 1), 10, seed=0, split="train", unique=True)
    assert len({i.question for i in items}) == 10
    with pytest.raises(InterpError, match="could not draw"):
        generate(AddTask(2, 1), 1000, seed=0, split="train", unique=True)
    with pytest.raises(InterpError, match="unknown skill"):
        generate("poetry", 1, seed=0, split="train")
