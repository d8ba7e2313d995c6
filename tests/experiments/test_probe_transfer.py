"""A probe carried across models: the pull-back is exact, a planted signal carries beyond random
maps between two tiny models of different families and widths, bad input is one line before any
model time, and the quick study runs end to end on the two real models."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from interp.align import fit_ridge, fit_unlock
from interp.cli.main import main
from interp.errors import InterpError
from interp.experiments.probe_carry import agreement, carried_probe, random_matrix
from interp.experiments.probe_transfer import run_probe_transfer
from interp.experiments.probe_transfer_config import ProbeTransferConfig
from interp.experiments.probe_transfer_data import read_statements, split_by_group
from interp.models.tiny import save_tiny_model
from interp.probes import LinearProbe, fit_logistic_probe
from interp.probes.grouped import assign_group_folds, grouped_cross_validate
from interp.stats import auroc

STATEMENTS = Path(__file__).resolve().parents[2] / "examples" / "truth_probe" / "statements.jsonl"
LETTERS = "abcdefghijklmnoprstuvw"  # no x or q: those are the planted markers
FAST = {"n_perm": 5, "n_boot": 200, "n_random": 20, "folds": 3}


@pytest.fixture(autouse=True)
def one_thread():
    """Many small fits: on shared cores a second thread only adds contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny random models of different families and widths."""
    root = tmp_path_factory.mktemp("pair")
    return (
        save_tiny_model(root / "a", "llama", d_model=32, n_layers=3, n_heads=4),
        save_tiny_model(root / "b", "qwen2", d_model=48, n_layers=2, n_heads=4),
    )


def planted(path: Path, n_entities: int = 80, seed: int = 0) -> Path:
    """Pairs of random letter strings: the true one carries two x's, the false one two q's at the
    same places, and both end in "." (read there, the marker is one small direction among many)."""
    rng = random.Random(seed)
    records = []
    for i in range(n_entities):
        chars = [rng.choice(LETTERS) for _ in range(24)]
        places = rng.sample(range(24), 2)
        for label, marker in (("true", "x"), ("false", "q")):
            text = [marker if k in places else c for k, c in enumerate(chars)]
            records.append(
                {
                    "prompt": "".join(text) + ".",
                    "label": label,
                    "entity": f"e{i}",
                    "group": f"g{i // 2}",
                }
            )
    return write_jsonl(path, records)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def config(pair: tuple[Path, Path], statements: Path, **extra) -> ProbeTransferConfig:
    raw = {
        "models": {"a": str(pair[0]), "b": str(pair[1])},
        "data": str(statements),
        "maps": [{"fit": "unlock", "rank": 8}, {"fit": "ridge", "alpha_rel": 0.1}],
        **FAST,
        **extra,
    }
    return ProbeTransferConfig.from_dict(raw)


@pytest.fixture
def no_models(monkeypatch):
    """Fail the test if a model is loaded: bad input must be refused before any model time."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr("interp.experiments.loading.load_study_model", refuse)


# ---- the pieces, on planted tensors -------------------------------------------------------------


def test_pull_back_scores_exactly_what_the_probe_scores_through_the_map():
    gen = torch.Generator().manual_seed(0)
    x_a = torch.randn(60, 12, generator=gen, dtype=torch.float64) * 3 + 1
    x_b = torch.randn(60, 9, generator=gen, dtype=torch.float64) + 5
    probe = fit_logistic_probe(x_a, (x_a[:, 0] > 1).long(), None, C=0.1)
    for m in (fit_ridge(x_b, x_a, alpha=1.0, affine=True), fit_unlock(x_b, x_a, 4, centre=True)):
        carried = carried_probe(probe, m)
        assert carried.d_model == 9
        assert torch.allclose(
            carried.score_tokens(x_b), probe.score_tokens(m.apply(x_b)), atol=1e-9
        )


def test_a_linearly_related_model_carries_the_probe_and_a_random_map_does_not():
    gen = torch.Generator().manual_seed(1)
    truth = torch.arange(200) % 2  # planted: class 1 moves x_A along the first axis
    x_a = torch.randn(200, 16, generator=gen, dtype=torch.float64)
    x_a[:, 0] += 3.0 * truth
    x_b = x_a @ torch.randn(16, 24, generator=gen, dtype=torch.float64)  # B sees A, mixed
    x_b += 0.1 * torch.randn(200, 24, generator=gen, dtype=torch.float64)
    train, test = torch.arange(120), torch.arange(120, 200)
    probe = fit_logistic_probe(x_a[train], truth[train], None, C=0.1)
    m = fit_ridge(x_b[train], x_a[train], alpha=1e-3)
    carried = auroc(carried_probe(probe, m).score_tokens(x_b[test]), truth[test])
    own = auroc(probe.score_tokens(x_a[test]), truth[test])
    assert carried > 0.9 and abs(carried - own) < 0.05
    w = probe.effective_weight()[0]
    randoms = [auroc(x_b[test] @ (random_matrix(m, s) @ w), truth[test]) for s in range(20)]
    assert carried > max(randoms)
    r = random_matrix(m, 0)
    assert r.shape == m.matrix.shape and torch.isclose(r.norm(), m.matrix.double().norm())
    fold = torch.arange(120) % 4
    assert agreement({"fit": "ridge", "alpha": 1e-3}, x_b[train], x_a[train], fold, probe) > 0.95


def test_grouped_folds_keep_each_group_whole():
    groups = torch.arange(24) // 2  # pairs
    labels = torch.tensor([0, 1] * 12)
    fold = assign_group_folds(groups, labels, folds=3, seed=0)
    for g in groups.unique():
        assert fold[groups == g].unique().numel() == 1
    assert torch.bincount(fold).tolist() == [8, 8, 8]
    rows = torch.randn(24, 5, generator=torch.Generator().manual_seed(0))
    rows[:, 0] += 4 * labels
    cv = grouped_cross_validate(rows, labels, torch.arange(24), groups, folds=3, n_boot=50)
    assert cv.auroc.value > 0.9
    with pytest.raises(InterpError, match="12 groups cannot fill 13 folds"):
        assign_group_folds(groups, labels, folds=13)


# ---- the study on tiny models -------------------------------------------------------------------


def test_a_planted_signal_carries_beyond_random_maps(tiny_pair, tmp_path):
    out = tmp_path / "run"
    result = run_probe_transfer(config(tiny_pair, planted(tmp_path / "s.jsonl")), out)
    assert [t.source for t in result.transfers] == ["a", "b"]
    for t in result.transfers:
        assert t.carried.value > 0.9 and t.beats_chance
        assert t.carried.low > t.random_p95 and t.beats_random
        assert t.carried.low > t.shuffled_p95
        assert len(t.random_maps) == 20 and len(t.candidates) == 2 * len(t.by_layer)
    assert result.split.n_test_groups == 16 and result.split.n_train_entities == 48
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["transfers"][0]["carried"] == {
        "value": result.transfers[0].carried.value,
        "low": result.transfers[0].carried.low,
        "high": result.transfers[0].carried.high,
    }
    assert "Carried across models" in (out / "report.md").read_text()
    carried = LinearProbe.load(out / "probe_a_to_b.safetensors")
    assert carried.d_model == 48 and carried.warning.startswith("carried from")
    assert (out / "maps_b_to_a.safetensors").is_file()


def test_maps_fitted_on_shared_texts_alone_run(tiny_pair, tmp_path):
    neutral = write_jsonl(
        tmp_path / "n.jsonl", [{"prompt": f"text {c}{d}."} for c in LETTERS for d in "abc"]
    )
    cfg = config(tiny_pair, planted(tmp_path / "s.jsonl", 40), align_prompts=str(neutral),
                 map_texts="align", n_random=3)  # fmt: skip
    result = run_probe_transfer(cfg)
    assert result.split.n_align == 66 and len(result.transfers) == 2


# ---- bad input: one line, before any model time -------------------------------------------------


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    "records, message",
    [
        ([], "holds no statements"),
        ([{"prompt": "a.", "entity": "e"}], "has no label"),
        ([{"prompt": "a.", "label": "true"}], "has no entity"),
        ([{"prompt": "a.", "label": "true", "entity": "e", "group": "g1"},
          {"prompt": "b.", "label": "false", "entity": "e", "group": "g2"}], "is in groups"),
    ],
)  # fmt: skip
def test_bad_statements_are_refused_before_model_time(
    tiny_pair, tmp_path, no_models, records, message
):
    data = write_jsonl(tmp_path / "s.jsonl", records)
    with pytest.raises(InterpError) as err:
        run_probe_transfer(config(tiny_pair, data))
    assert message in one_line(err)


def test_an_entity_on_both_sides_is_refused(tiny_pair, tmp_path, no_models):
    data = planted(tmp_path / "s.jsonl", 20)
    test = write_jsonl(tmp_path / "t.jsonl", [
        {"prompt": "abc.", "label": "true", "entity": "e3"},
        {"prompt": "abd.", "label": "false", "entity": "e99"},
    ])  # fmt: skip
    with pytest.raises(InterpError) as err:
        run_probe_transfer(config(tiny_pair, data, test_data=str(test)))
    assert "in both the training and the test" in one_line(err)


def test_too_few_groups_to_split_is_refused(tiny_pair, tmp_path, no_models):
    with pytest.raises(InterpError) as err:
        run_probe_transfer(config(tiny_pair, planted(tmp_path / "s.jsonl", 4)))
    assert "groups cannot be split" in one_line(err)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"data": "missing.jsonl"}, "does not exist"),
        ({"test_data": "missing.jsonl"}, "does not exist"),
        ({"models": {"a": "missing-model.gguf", "b": "x"}}, "no model at"),
    ],
)
def test_a_missing_file_is_refused_before_model_time(
    tiny_pair, tmp_path, no_models, change, message
):
    cfg = config(tiny_pair, planted(tmp_path / "s.jsonl", 20), **change)
    with pytest.raises(InterpError) as err:
        run_probe_transfer(cfg)
    assert message in one_line(err)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"models": {"a": "x"}}, "exactly two"),
        ({"colour": "red"}, "unknown fields"),
        ({"maps": [{"fit": "unlock"}]}, "needs a positive rank"),
        ({"maps": [{"fit": "ridge", "rank": 3}]}, "does not take"),
        ({"map_texts": "align"}, "none are given"),
        ({"test_fraction": 1.5}, "between 0 and 1"),
        ({"layers": {"c": [1]}}, "layers must map"),
    ],
)
def test_bad_config_is_one_line(tiny_pair, tmp_path, change, message):
    with pytest.raises(InterpError) as err:
        config(tiny_pair, tmp_path / "s.jsonl", **change)
    assert message in one_line(err)


def test_the_command_refuses_a_missing_config_in_one_line(tmp_path, capsys, cli_error):
    code = main(
        ["probe-transfer", "--config", str(tmp_path / "no.json"), "--out", str(tmp_path / "o")]
    )
    err = cli_error(capsys.readouterr().err)
    assert code == 2 and err.count("\n") == 1 and err.startswith("interp: error: config file")


def test_the_shipped_statements_split_without_crossing():
    data = read_statements(STATEMENTS)
    assert len(data) >= 400 and set(data.names) == {"false", "true"}
    train, test = split_by_group(data, 0.4, seed=0)
    assert not set(train.entities) & set(test.entities)
    assert not set(train.groups) & set(test.groups)
    assert int(data.labels.sum()) * 2 == len(data)  # pairs


# ---- the real models, quick mode ----------------------------------------------------------------


@pytest.mark.slow
def test_quick_study_on_the_real_models(
    smollm2, gemma3, smollm2_gguf, gemma3_gguf, tmp_path, monkeypatch
):
    loaded = {str(smollm2_gguf): smollm2, str(gemma3_gguf): gemma3}
    monkeypatch.setattr(
        "interp.experiments.loading.load_study_model", lambda config, spec: loaded[spec]
    )
    keep = {f"{kind}-{i:02d}" for kind in ("countries", "animals", "elements") for i in range(6)}
    records = [json.loads(line) for line in STATEMENTS.read_text().splitlines()]
    data = write_jsonl(tmp_path / "s.jsonl", [r for r in records if r["group"] in keep])
    cfg = ProbeTransferConfig.from_dict({
        "models": {"smollm2": str(smollm2_gguf), "gemma3": str(gemma3_gguf)},
        "data": str(data), "layers": {"smollm2": [8, 14], "gemma3": [5, 9]},
        "maps": [{"fit": "ridge", "alpha_rel": 0.1}],
        "folds": 3, "n_perm": 3, "n_boot": 100, "n_random": 5,
    })  # fmt: skip
    out = tmp_path / "run"
    result = run_probe_transfer(cfg, out)
    assert {m.name: m.d_model for m in result.models} == {"smollm2": 576, "gemma3": 640}
    for m in result.models:
        assert m.best.heldout.value > 0.7  # truth is linearly readable in both
    for t in result.transfers:
        assert t.beats_random and t.carried.low <= t.carried.value <= t.carried.high
    carried = LinearProbe.load(out / "probe_smollm2_to_gemma3.safetensors", model=gemma3)
    assert carried.hook == f"blocks.{result.transfers[0].target_layer}.hook_resid_post"
