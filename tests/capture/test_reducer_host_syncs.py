"""Capture's reducers never make the host wait inside a hook; probes score rows where they are.

Host-waiting ops are counted at the dispatcher (`tests/host_syncs.py`), so a CPU run shows what a
GPU run would do: a reducer that read back or moved rows per hook would stall every forward.
"""

from __future__ import annotations

import pytest
import torch
from host_syncs import counting_host_syncs

from interp.capture import reducers as reducers_module
from interp.capture.batching import Batch
from interp.capture.items import Item
from interp.capture.reducers import Keep, Scores
from interp.capture.run import capture
from interp.models.load import load_model
from interp.probes.logistic import Standardizer
from interp.probes.probe import LinearProbe
from interp.probes.scoring import ProbeBank
from interp.store.artifacts import ModelRef

PROMPTS = ["the cat sat", "a much longer prompt about dogs and cats", "hi", "one two three four"]
HOOKS = ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]


@pytest.fixture(scope="module")
def llama(tiny_dirs):
    return load_model(tiny_dirs["llama"])


def test_reducer_updates_make_no_host_sync(llama, monkeypatch):
    """Every `update` of keep, mean, label_mean and moments: zero host-waiting ops; the results
    still agree with plain math on the kept rows."""
    counts: list[tuple[str, int, dict]] = []
    for cls in (reducers_module.Keep, reducers_module.LabelMeans, reducers_module.Moments):
        original = cls.update

        def counted(self, hook, h, original=original):
            with counting_host_syncs() as counter:
                original(self, hook, h)
            counts.append((type(self).__name__, counter.total, dict(counter.counts)))

        monkeypatch.setattr(cls, "update", counted)
    items = [Item(p, label=str(i % 2)) for i, p in enumerate(PROMPTS * 2)]
    got = capture(
        llama,
        items,
        HOOKS,
        positions="all",
        reduce=["keep", "mean", "label_mean", "moments"],
        batch_size=3,
        progress=False,
    )
    assert {name for name, _, _ in counts} == {"Keep", "Mean", "LabelMeans", "Moments"}
    assert len(counts) == 4 * len(HOOKS) * 3  # four reducers, two hooks, three batches
    assert all(total == 0 for _, total, _ in counts), [c for c in counts if c[1]]
    for hook in HOOKS:
        rows = got.activations[hook]
        assert rows.device.type == "cpu" and got.means[hook].device.type == "cpu"
        torch.testing.assert_close(got.means[hook], rows.mean(0), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            got.moments[hook].covariance.float(), torch.cov(rows.T), atol=1e-4, rtol=1e-4
        )
        assert got.moments[hook].count == rows.shape[0]


def batch_of(select: torch.Tensor) -> Batch:
    B, T = select.shape
    return Batch(
        input_ids=torch.zeros(B, T, dtype=torch.long),
        attention_mask=torch.ones(B, T, dtype=torch.long),
        select=select,
        token_index=torch.arange(T).expand(B, T),
        prompt_index=torch.arange(B) + 10,
    )


def test_scores_are_the_probes_on_the_kept_rows():
    """`Scores` gives each selected row's probe scores (the bank's projection), in `Keep`'s row
    order, with no host-waiting op per hook; hooks without a bank are ignored."""
    g = torch.Generator().manual_seed(0)
    d = 16
    probes = [
        LinearProbe(torch.randn(d, generator=g, dtype=torch.float64), Standardizer.identity(d))
        for _ in range(3)
    ]
    bank = ProbeBank(probes)
    select = torch.rand(4, 7, generator=g) > 0.5
    select[0] = False  # a row with nothing selected
    scores, keep = Scores({HOOKS[0]: bank}), Keep()
    for _ in range(2):  # two batches
        h = torch.randn(4, 7, d, generator=g)
        for reducer in (scores, keep):
            reducer.begin_batch(batch_of(select), torch.zeros(4, dtype=torch.long))
            with counting_host_syncs() as counter:
                reducer.update(HOOKS[0], h)
                reducer.update(HOOKS[1], h)
            assert counter.total == 0, counter.counts
            reducer.end_batch()
    got, rows = scores.result(), keep.result()
    assert set(got) == {HOOKS[0]}
    assert got[HOOKS[0]].shape == (2 * int(select.sum()), 3)
    torch.testing.assert_close(got[HOOKS[0]], bank.score(rows[HOOKS[0]]), atol=1e-6, rtol=1e-6)
    want = torch.stack([p.score_tokens(rows[HOOKS[0]]) for p in probes], dim=1)
    torch.testing.assert_close(got[HOOKS[0]], want.float(), atol=1e-5, rtol=1e-5)
    assert torch.equal(torch.cat(scores.prompt_index), torch.cat(keep.prompt_index))


def test_capture_with_probes_scores_equal_scoring_the_kept_rows(llama):
    """`capture(probes=...)` scores where the rows are; the scores equal the probes applied to the
    kept rows (the old path, rows first moved to the host), row for row; `score_probe` uses it."""
    from interp.errors import InterpError
    from interp.experiments.score import score_probe

    g = torch.Generator().manual_seed(4)
    d = llama.d_model
    probes = [
        LinearProbe(
            torch.randn(d, generator=g, dtype=torch.float64),
            Standardizer.identity(d),
            bias=0.3,
            hook=HOOKS[1],
            model=ModelRef.of(llama),
        )
        for _ in range(2)
    ]
    bank = ProbeBank(probes)
    got = capture(
        llama,
        PROMPTS,
        HOOKS,
        positions="all",
        reduce=["keep"],
        batch_size=3,
        progress=False,
        probes={HOOKS[1]: bank},
    )
    assert set(got.scores) == {HOOKS[1]}
    assert torch.equal(got.scores[HOOKS[1]], bank.score(got.activations[HOOKS[1]]))
    scored = score_probe(llama, probes[0], PROMPTS, positions="all", n_boot=10)
    kept = capture(llama, PROMPTS, HOOKS[1], positions="all", progress=False)
    want = probes[0].score_responses(
        kept.activations[HOOKS[1]].float(), kept.prompt_index, len(PROMPTS)
    )
    assert torch.equal(scored.scores, want.float())
    with pytest.raises(InterpError, match="probes at"):
        capture(llama, PROMPTS, HOOKS[0], progress=False, probes={HOOKS[1]: bank})
