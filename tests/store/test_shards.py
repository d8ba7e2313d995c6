"""Activation stores: round trip, lazy reads, resume, crash safety and refusals of bad input."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch
from safetensors import safe_open

from interp import files as atomic
from interp.errors import InterpError
from interp.files import is_temp_file
from interp.store import reader as reader_module
from interp.store import writer as writer_module
from interp.store.provenance import make_provenance
from interp.store.reader import ActivationReader
from interp.store.shards import INDEX, shard_name
from interp.store.writer import ActivationWriter

HOOKS = {"blocks.0.hook_resid_post": 4, "blocks.-1.hook_mlp_out": 6}
H0, H1 = list(HOOKS)


def provenance(**over) -> dict[str, str]:
    args = dict(
        kind="activations",
        model_spec="organism:tiny",
        model_config_hash="aaaa000000000000",
        hooks=list(HOOKS),
        positions="all",
        dtype="float32",
        dataset_hash="d" * 64,
        n_items=10,
    )
    return make_provenance(**{**args, **over})


def prompt_rows(prompts: list[int]):
    """Rows for whole prompts: prompt p has p % 3 + 1 rows; values depend only on (p, position)."""
    index, position, acts = [], [], {h: [] for h in HOOKS}
    for p in prompts:
        for t in range(p % 3 + 1):
            index.append(p)
            position.append(t)
            for k, (hook, d) in enumerate(HOOKS.items()):
                acts[hook].append(torch.arange(d, dtype=torch.float32) + 100 * p + 10 * t + k)
    return (
        torch.tensor(index, dtype=torch.long),
        torch.tensor(position, dtype=torch.long),
        {h: torch.stack(rows) for h, rows in acts.items()},
    )


def write(out, groups, shard_rows=5, prov=None, **kw) -> ActivationWriter:
    with ActivationWriter(out, prov or provenance(), shard_rows=shard_rows, **kw) as writer:
        for group in groups:
            writer.add(*prompt_rows(group))
    return writer


GROUPS = [[0, 1], [2], [3, 4, 5], [6], [7, 8, 9]]  # 19 rows in all


def leftovers(directory):
    return [p.name for p in directory.iterdir() if is_temp_file(p)]


# ---- round trip -----------------------------------------------------------------------------


def test_round_trip_across_shards(tmp_path):
    write(tmp_path, GROUPS, shard_rows=5)
    index, position, acts = prompt_rows(list(range(10)))
    store = ActivationReader(tmp_path)

    assert len(store._shards) > 2  # small shard_rows: several shards
    assert store.num_rows == len(index) == 19
    assert store.hooks == list(HOOKS)
    assert store.completed == set(range(10))
    assert store.d_model(H1) == 6
    assert store.provenance == provenance() | {"created_utc": store.provenance["created_utc"]}
    assert torch.equal(store.prompt_index(), index)
    assert torch.equal(store.position(), position)
    for hook in HOOKS:
        assert torch.equal(store.read(hook), acts[hook])
        assert store.read(hook).dtype == torch.float32


@pytest.mark.parametrize(
    "rows",
    [slice(0, 1), slice(3, 12), slice(4, 6), slice(5, None), slice(-4, None), slice(1, 18, 4),
     slice(None, None, -3), slice(7, 7), slice(30, 40)],
)  # fmt: skip
def test_slices_spanning_shard_boundaries(tmp_path, rows):
    write(tmp_path, GROUPS, shard_rows=5)
    _, _, acts = prompt_rows(list(range(10)))
    store = ActivationReader(tmp_path)
    for hook in HOOKS:
        assert torch.equal(store.read(hook, rows), acts[hook][rows] if rows.step != -3 else
                           acts[hook].flip(0)[::3])  # fmt: skip
    assert store.read(H0, slice(0, 4), dtype=torch.float64).dtype == torch.float64


def test_reads_open_only_the_shards_they_need(tmp_path, monkeypatch):
    write(tmp_path, [[0], [1], [2], [3], [4], [5]], shard_rows=1)  # one prompt per shard
    store = ActivationReader(tmp_path)
    opened = []
    real = reader_module.safe_open

    def counting(path, *args, **kwargs):
        opened.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(reader_module, "safe_open", counting)
    # Rows: prompt 0 -> [0], 1 -> [1, 2], 2 -> [3, 4, 5], 3 -> [6], 4 -> [7, 8], 5 -> [9..11].
    store.read(H0, slice(3, 5))
    assert opened == [shard_name(2)]
    opened.clear()
    store.read(H0, slice(5, 8))
    assert opened == [shard_name(2), shard_name(3), shard_name(4)]


def test_iter_batches_covers_every_row_once(tmp_path):
    write(tmp_path, GROUPS, shard_rows=5)
    _, _, acts = prompt_rows(list(range(10)))
    batches = list(ActivationReader(tmp_path).iter_batches(H1, 4))
    assert [len(b) for b in batches] == [4, 4, 4, 4, 3]
    assert torch.equal(torch.cat(batches), acts[H1])


def test_each_shard_describes_itself(tmp_path):
    write(tmp_path, GROUPS, shard_rows=5)
    with safe_open(tmp_path / shard_name(0), framework="pt") as f:
        meta = f.metadata()
        assert set(f.keys()) == {H0, H1, "prompt_index", "position"}
    assert meta["model_config_hash"] == "aaaa000000000000"
    assert json.loads(meta["hooks"]) == list(HOOKS)


def test_index_is_compact_and_current(tmp_path):
    write(tmp_path, [[0, 1, 2], [5, 6]], shard_rows=100)
    index = json.loads((tmp_path / INDEX).read_text())
    assert index["completed"] == [[0, 3], [5, 7]]
    assert index["d_model"] == HOOKS and index["dtype"] == {h: "float32" for h in HOOKS}
    assert [s["rows"] for s in index["shards"]] == [index["num_rows"]] == [10]


def test_stored_dtype_is_as_given(tmp_path):
    index, position, acts = prompt_rows([0, 1])
    with ActivationWriter(tmp_path, provenance(dtype="bfloat16")) as writer:
        writer.add(index, position, {h: t.bfloat16() for h, t in acts.items()})
    got = ActivationReader(tmp_path).read(H0)
    assert got.dtype == torch.bfloat16 and torch.equal(got, acts[H0].bfloat16())


def test_prompts_without_rows_still_complete(tmp_path):
    index, position, acts = prompt_rows([1])
    with ActivationWriter(tmp_path, provenance()) as writer:
        writer.add(index, position, acts, prompts=[0, 1])  # prompt 0 selected no rows
        empty = {h: torch.zeros(0, d) for h, d in HOOKS.items()}
        writer.add(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), empty,
                   prompts=[2])  # fmt: skip
    store = ActivationReader(tmp_path)
    assert store.completed == {0, 1, 2} and store.num_rows == 2


def test_an_empty_store_reads_as_empty(tmp_path):
    ActivationWriter(tmp_path, provenance()).close()
    store = ActivationReader(tmp_path)
    assert store.num_rows == 0 and store.hooks == [] and store.completed == set()
    assert store.prompt_index().shape == (0,)


# ---- resume ---------------------------------------------------------------------------------


def test_resume_gives_the_same_store_as_one_run(tmp_path):
    write(tmp_path / "whole", GROUPS, shard_rows=5)
    write(tmp_path / "parts", GROUPS[:2], shard_rows=5)

    later = provenance() | {"created_utc": "2099-01-01T00:00:00Z"}  # time may differ
    with ActivationWriter(tmp_path / "parts", later, shard_rows=5) as writer:
        assert writer.completed == {0, 1, 2}
        for group in GROUPS:
            todo = [p for p in group if p not in writer.completed]
            if todo:
                writer.add(*prompt_rows(todo))

    whole, parts = ActivationReader(tmp_path / "whole"), ActivationReader(tmp_path / "parts")
    assert parts.completed == whole.completed == set(range(10))
    assert parts.provenance["created_utc"] != "2099-01-01T00:00:00Z"  # the store's own is kept
    assert torch.equal(parts.prompt_index(), whole.prompt_index())
    assert torch.equal(parts.position(), whole.position())
    for hook in HOOKS:
        assert torch.equal(parts.read(hook), whole.read(hook))


def test_resume_refuses_a_different_capture(tmp_path):
    write(tmp_path, GROUPS[:1])
    with pytest.raises(InterpError) as err:
        ActivationWriter(tmp_path, provenance(model_config_hash="bbbb111111111111"))
    message = str(err.value)
    assert "different capture" in message and "model_config_hash" in message
    assert "aaaa000000000000" in message and "bbbb111111111111" in message
    assert "new --out" in message
    assert ActivationReader(tmp_path).completed == {0, 1}  # untouched


def test_resume_false_refuses_a_non_empty_store(tmp_path):
    write(tmp_path, GROUPS[:1])
    with pytest.raises(InterpError, match="resume"):
        ActivationWriter(tmp_path, provenance(), resume=False)
    # An empty store holds nothing to lose: it is started afresh, whatever its provenance.
    ActivationWriter(tmp_path / "empty", provenance()).close()
    ActivationWriter(tmp_path / "empty", provenance(positions="last"), resume=False).close()
    assert ActivationReader(tmp_path / "empty").provenance["positions"] == "last"


def test_readding_a_completed_prompt_is_refused(tmp_path):
    write(tmp_path, GROUPS[:1])
    writer = ActivationWriter(tmp_path, provenance())
    with pytest.raises(ValueError, match="already added"):
        writer.add(*prompt_rows([1, 2]))
    writer.add(*prompt_rows([2]))
    with pytest.raises(ValueError, match="already added"):
        writer.add(*prompt_rows([2]))  # buffered, not yet flushed


# ---- crash safety ---------------------------------------------------------------------------


def half_then(error):
    def save(tensors, filename, metadata=None):
        data = safetensors.torch.save(tensors, metadata=metadata)
        with open(filename, "wb") as f:
            f.write(data[: len(data) // 2])
        raise error

    return save


@pytest.mark.filterwarnings("ignore:could not save buffered rows")  # the retry on exit fails too
@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_crash_while_writing_a_shard(tmp_path, monkeypatch, error):
    with pytest.raises(type(error)):
        with ActivationWriter(tmp_path, provenance(), shard_rows=5) as writer:
            writer.add(*prompt_rows([0, 1, 2]))  # 6 rows: the first shard, written normally
            monkeypatch.setattr(atomic, "save_file", half_then(error))
            writer.add(*prompt_rows([3, 4, 5]))  # this shard's write fails halfway
    monkeypatch.undo()

    assert leftovers(tmp_path) == []
    index = json.loads((tmp_path / INDEX).read_text())
    assert [s["file"] for s in index["shards"]] == [shard_name(0)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX, shard_name(0)]
    store = ActivationReader(tmp_path)
    assert store.completed == {0, 1, 2}
    assert torch.equal(store.read(H0), prompt_rows([0, 1, 2])[2][H0])


def test_interrupt_keeps_the_buffered_whole_prompts(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with ActivationWriter(tmp_path, provenance(), shard_rows=1000) as writer:
            writer.add(*prompt_rows([0, 1]))
            writer.add(*prompt_rows([2]))
            raise KeyboardInterrupt  # Ctrl-C in the middle of the next forward pass
    store = ActivationReader(tmp_path)
    assert store.completed == {0, 1, 2}
    assert torch.equal(store.read(H1), prompt_rows([0, 1, 2])[2][H1])
    assert leftovers(tmp_path) == []


def test_crash_between_shard_and_index(tmp_path, monkeypatch):
    writer = ActivationWriter(tmp_path, provenance(), shard_rows=1000)
    writer.add(*prompt_rows([0]))
    writer.flush()
    writer.add(*prompt_rows([1]))

    def fail(*_):
        raise OSError("no space for the index")

    monkeypatch.setattr(writer_module, "atomic_write_json", fail)
    with pytest.raises(OSError):
        writer.flush()
    monkeypatch.undo()
    assert (tmp_path / shard_name(1)).exists()  # written, but never listed
    assert ActivationReader(tmp_path).completed == {0}

    resumed = ActivationWriter(tmp_path, provenance())
    assert not (tmp_path / shard_name(1)).exists()  # the unlisted shard is swept
    resumed.add(*prompt_rows([1]))
    resumed.close()
    assert torch.equal(ActivationReader(tmp_path).read(H0), prompt_rows([0, 1])[2][H0])


def test_stray_temp_files_are_removed_on_open(tmp_path):
    write(tmp_path, GROUPS[:1])
    (tmp_path / f".{shard_name(1)}.0123456789abcdef.tmp").write_bytes(b"half")
    ActivationWriter(tmp_path, provenance()).close()
    assert leftovers(tmp_path) == []


# ---- bad input ------------------------------------------------------------------------------


def test_reader_refuses_what_is_not_a_store(tmp_path):
    with pytest.raises(InterpError, match="no activation store"):
        ActivationReader(tmp_path / "nowhere")
    with pytest.raises(InterpError, match="no index.json"):
        ActivationReader(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InterpError, match="it is a file"):
        ActivationReader(tmp_path / "notes.txt")
    (tmp_path / INDEX).write_text("{not json")
    with pytest.raises(InterpError, match="cannot read"):
        ActivationReader(tmp_path)
    (tmp_path / INDEX).write_text('{"format": "something else"}')
    with pytest.raises(InterpError, match="not an activation store index"):
        ActivationReader(tmp_path)


def test_reader_refuses_a_deleted_shard(tmp_path):
    write(tmp_path, GROUPS, shard_rows=5)
    (tmp_path / shard_name(1)).unlink()
    with pytest.raises(InterpError, match=f"{shard_name(1)} listed in .* is missing"):
        ActivationReader(tmp_path)
    with pytest.raises(InterpError, match="missing"):
        ActivationWriter(tmp_path, provenance())  # nor will it resume onto a broken store


def test_reader_refuses_a_truncated_shard(tmp_path):
    write(tmp_path, GROUPS, shard_rows=5)
    path = tmp_path / shard_name(0)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InterpError, match="truncated"):
        ActivationReader(tmp_path)


def test_reader_refuses_a_corrupt_shard_of_the_right_size(tmp_path):
    write(tmp_path, GROUPS, shard_rows=5)
    path = tmp_path / shard_name(1)
    path.write_bytes(b"\xff" * path.stat().st_size)
    store = ActivationReader(tmp_path)  # sizes match; the damage shows when the shard is read
    store.read(H0, slice(0, 1))
    with pytest.raises(InterpError, match="corrupt"):
        store.read(H0)


def test_reader_names_the_hooks_it_has(tmp_path):
    write(tmp_path, GROUPS[:1])
    with pytest.raises(InterpError, match="blocks.0.hook_resid_post"):
        ActivationReader(tmp_path).read("blocks.9.hook_resid_post")


def test_shards_without_an_index_are_refused(tmp_path):
    write(tmp_path, GROUPS[:1])
    (tmp_path / INDEX).unlink()
    with pytest.raises(InterpError, match="no index.json"):
        ActivationWriter(tmp_path, provenance())


def test_add_refuses_inconsistent_rows(tmp_path):
    writer = ActivationWriter(tmp_path, provenance())
    index, position, acts = prompt_rows([0, 1])
    with pytest.raises(ValueError, match="prompt_index has 3 rows but position has 2"):
        writer.add(index, position[:2], acts)
    with pytest.raises(ValueError, match=r"expected shape \(3, d\)"):
        writer.add(index, position, acts | {H0: acts[H0][:2]})
    with pytest.raises(ValueError, match="1-D"):
        writer.add(index[None], position, acts)
    with pytest.raises(ValueError, match="integers"):
        writer.add(index.float(), position, acts)
    with pytest.raises(ValueError, match="reserved"):
        writer.add(index, position, acts | {"position": acts[H0]})
    writer.add(index, position, acts)

    index, position, acts = prompt_rows([2])
    with pytest.raises(ValueError, match="hook names changed"):
        writer.add(index, position, acts | {"blocks.5.hook_attn_out": acts[H0]})
    with pytest.raises(ValueError, match="hook names changed"):
        writer.add(index, position, {H0: acts[H0]})
    with pytest.raises(ValueError, match="width 5 differs from the store's 4"):
        writer.add(index, position, acts | {H0: torch.zeros(len(index), 5)})
    with pytest.raises(ValueError, match="dtype float16 differs"):
        writer.add(index, position, acts | {H0: acts[H0].half()})
    writer.add(index, position, dict(reversed(acts.items())))  # dict order does not matter
    writer.close()
    assert ActivationReader(tmp_path).completed == {0, 1, 2}


def test_buffered_views_do_not_keep_their_parent_alive(tmp_path):
    writer = ActivationWriter(tmp_path, provenance(), shard_rows=1000)
    parent = {h: torch.randn(3, 50, d) for h, d in HOOKS.items()}  # (batch, pos, d)
    index, position = torch.tensor([0, 1, 2]), torch.tensor([49, 49, 49])
    writer.add(index, position, {h: t[:, -1] for h, t in parent.items()})
    buffered = writer._buffer[H0][0]
    assert buffered.untyped_storage().nbytes() == 3 * 4 * buffered.element_size()
    parent[H0].zero_()  # the caller reuses its buffer
    writer.close()
    assert ActivationReader(tmp_path).read(H0).abs().sum() > 0
