from __future__ import annotations

import json

import numpy as np
import pytest

from dataprep.errors import InternalError, UsageError
from dataprep.prepare.output import (
    DPO_COLUMNS,
    MANIFEST,
    PACKED_COLUMNS,
    SFT_COLUMNS,
    AtomicFolder,
    DocumentSpill,
    RejectsWriter,
    SplitWriter,
    check_replaceable,
    fingerprint_of,
    read_split,
    sha256_file,
    split_folders,
    write_dataset_dict,
)
from dataprep.prepare.packing import pack_best_fit_decreasing, unpacked_plan


def rows_to_batch(rows_by_column):
    """{column: [[...], ...]} -> {column: (values, offsets)}, the writer's input."""
    batch = {}
    for name, rows in rows_by_column.items():
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        values = np.array([v for r in rows for v in r], dtype=np.int32)
        batch[name] = (values, offsets)
    return batch


SFT_ROWS = {"input_ids": [[1, 2, 3], [4, 5], []], "labels": [[-100, 2, 3], [4, -100], []]}
DPO_ROWS = {"prompt_ids": [[1, 2]], "chosen_ids": [[3]], "rejected_ids": [[4, 5]]}


@pytest.mark.parametrize(("columns", "rows"), [(SFT_COLUMNS, SFT_ROWS), (DPO_COLUMNS, DPO_ROWS)])
def test_datasets_loads_what_the_split_writer_writes(tmp_path, columns, rows):
    import datasets

    writer = SplitWriter(tmp_path / "ds", columns, "f" * 64)
    writer.write(rows_to_batch(rows))
    assert writer.close() == len(rows[columns[0]])
    ds = datasets.load_from_disk(str(tmp_path / "ds"))
    assert ds.to_dict() == rows
    assert all(str(ds.features[c].feature.dtype) == "int32" for c in columns)
    assert read_split(tmp_path / "ds").to_pydict() == rows


def test_shards_rotate_and_are_named_with_their_count(tmp_path):
    import datasets

    writer = SplitWriter(tmp_path / "ds", SFT_COLUMNS, "0" * 64, max_shard_bytes=1)
    for _ in range(3):
        writer.write(rows_to_batch(SFT_ROWS))
    writer.close()
    names = sorted(p.name for p in (tmp_path / "ds").glob("*.arrow"))
    assert names == [f"data-0000{i}-of-00003.arrow" for i in range(3)]
    assert datasets.load_from_disk(str(tmp_path / "ds"))["input_ids"] == SFT_ROWS["input_ids"] * 3


def test_an_empty_split_still_loads(tmp_path):
    import datasets

    SplitWriter(tmp_path / "ds", DPO_COLUMNS, "0" * 64).close()
    assert len(datasets.load_from_disk(str(tmp_path / "ds"))) == 0


def test_dataset_dict_layout_loads_as_a_dataset_dict(tmp_path):
    import datasets

    for split in ("train", "eval"):
        writer = SplitWriter(tmp_path / split, SFT_COLUMNS, "0" * 64)
        writer.write(rows_to_batch(SFT_ROWS))
        writer.close()
    write_dataset_dict(tmp_path, ["train", "eval"])
    loaded = datasets.load_from_disk(str(tmp_path))
    assert isinstance(loaded, datasets.DatasetDict) and set(loaded) == {"train", "eval"}
    assert split_folders(tmp_path) == {"train": tmp_path / "train", "eval": tmp_path / "eval"}


def test_same_rows_same_bytes_different_fingerprint_different_state(tmp_path):
    def write(folder, fingerprint):
        writer = SplitWriter(folder, SFT_COLUMNS, fingerprint)
        writer.write(rows_to_batch(SFT_ROWS))
        writer.close()

    write(tmp_path / "a", "1" * 64)
    write(tmp_path / "b", "1" * 64)
    write(tmp_path / "c", "2" * 64)
    name = "data-00000-of-00001.arrow"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "state.json").read_bytes() == (
        tmp_path / "b" / "state.json"
    ).read_bytes()
    state_a = json.loads((tmp_path / "a" / "state.json").read_text())
    state_c = json.loads((tmp_path / "c" / "state.json").read_text())
    assert state_a["_fingerprint"] != state_c["_fingerprint"]


@pytest.mark.parametrize(
    ("pack", "values_per_batch"), [(True, 1 << 20), (False, 1 << 20), (True, 4), (False, 4)]
)
def test_spill_writes_the_rows_of_a_plan(tmp_path, pack, values_per_batch):
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 1000, size=n).astype(np.int32) for n in (5, 3, 8, 2, 7, 1)]
    spill = DocumentSpill(tmp_path / "spill", "train", SFT_COLUMNS)
    # two appends, as batches arrive
    for part in (docs[:2], docs[2:]):
        ids = np.concatenate(part)
        lengths = np.array([len(d) for d in part])
        spill.add({"input_ids": (ids, lengths), "labels": (-ids, lengths)})
    lengths = spill.finish()["input_ids"]
    assert lengths.tolist() == [5, 3, 8, 2, 7, 1]
    plan = pack_best_fit_decreasing(lengths, 10) if pack else unpacked_plan(len(docs))
    writer = SplitWriter(tmp_path / "ds", PACKED_COLUMNS if pack else SFT_COLUMNS, "0" * 64)
    spill.write_rows(
        plan,
        writer,
        seq_lengths_of="input_ids" if pack else None,
        rows_per_batch=2,
        values_per_batch=values_per_batch,
    )
    writer.close()
    split = read_split(tmp_path / "ds")
    # A batch never passes either bound, except a single row larger than the size bound.
    for batch in split.to_batches():
        assert batch.num_rows <= 2
        assert batch.num_rows == 1 or len(batch.column("input_ids").values) <= values_per_batch
    table = split.to_pydict()
    expected = [np.concatenate([docs[d] for d in row]).tolist() for row in plan.rows()]
    assert table["input_ids"] == expected
    assert table["labels"] == [[-v for v in row] for row in expected]
    if pack:
        assert table["seq_lengths"] == [[len(docs[d]) for d in row] for row in plan.rows()]
        assert all(sum(s) == len(r) for s, r in zip(table["seq_lengths"], expected, strict=True))
    spill.remove()
    assert not list((tmp_path / "spill").iterdir())


def test_spill_columns_with_their_own_lengths(tmp_path):
    rows = {
        "prompt_ids": [[1, 2], [3]],
        "chosen_ids": [[4], [5, 6, 7]],
        "rejected_ids": [[8, 9, 10], [11]],
    }
    spill = DocumentSpill(tmp_path / "spill", "train", DPO_COLUMNS)
    for i in range(2):
        spill.add({c: (np.array(v[i]), np.array([len(v[i])])) for c, v in rows.items()})
    spill.finish()
    writer = SplitWriter(tmp_path / "ds", DPO_COLUMNS, "0" * 64)
    spill.write_rows(unpacked_plan(2), writer)
    writer.close()
    assert read_split(tmp_path / "ds").to_pydict() == rows


def test_spill_refuses_to_write_rows_before_finish(tmp_path):
    # An explicit check (not an assert, which python -O strips): exit 3 with what broke.
    spill = DocumentSpill(tmp_path / "spill", "train", SFT_COLUMNS)
    writer = SplitWriter(tmp_path / "ds", SFT_COLUMNS, "0" * 64)
    with pytest.raises(InternalError, match=r"write_rows\(\) before finish\(\)"):
        spill.write_rows(unpacked_plan(0), writer)
    spill.close()
    writer.close()


def test_rejects_writer_keeps_every_row_even_unusual_values(tmp_path):
    writer = RejectsWriter(tmp_path / "r.jsonl")
    writer.add("a.jsonl", 3, "too-long", "longer", {"text": "x"})
    writer.add("b.parquet", 1, "bad", "odd", {"when": object()})
    writer.close()
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines[0] == {
        "source": "a.jsonl",
        "line": 3,
        "code": "too-long",
        "message": "longer",
        "row": {"text": "x"},
    }
    assert lines[1]["code"] == "bad" and "object" in lines[1]["row"]


# --- the folder --------------------------------------------------------------------------


def test_atomic_folder_replaces_a_previous_output(tmp_path):
    target = tmp_path / "out"
    with AtomicFolder(target) as tmp:
        (tmp / MANIFEST).write_text("{}")
        (tmp / "one").write_text("1")
    with AtomicFolder(target) as tmp:
        (tmp / MANIFEST).write_text("{}")
        (tmp / "two").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST, "two"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_atomic_folder_leaves_nothing_when_interrupted(tmp_path, error):
    target = tmp_path / "out"
    with pytest.raises(error), AtomicFolder(target) as tmp:
        (tmp / "half").write_text("written")
        raise error()
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_interrupted_keeps_the_previous_output(tmp_path):
    target = tmp_path / "out"
    with AtomicFolder(target) as tmp:
        (tmp / MANIFEST).write_text("{}")
    with pytest.raises(KeyboardInterrupt), AtomicFolder(target) as tmp:
        raise KeyboardInterrupt
    assert [p.name for p in target.iterdir()] == [MANIFEST]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")),
            "it exists and is not a prepared folder",
        ),
        (lambda p: p.write_text("a file"), "it is a file"),
    ],
)
def test_refuses_to_overwrite_what_is_not_ours(tmp_path, setup, message):
    target = tmp_path / "out"
    setup(target)
    with pytest.raises(UsageError, match=f"refusing to overwrite .*{message}"):
        check_replaceable(target)
    with pytest.raises(UsageError), AtomicFolder(target):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("setup", [lambda p: None, lambda p: p.mkdir()])
def test_a_missing_or_empty_folder_is_fine(tmp_path, setup):
    target = tmp_path / "out"
    setup(target)
    with AtomicFolder(target) as tmp:
        (tmp / MANIFEST).write_text("{}")
    assert (target / MANIFEST).is_file()


# --- fingerprints ------------------------------------------------------------------------


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    data = bytes(range(256)) * 10_000
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f", chunk=4096) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"x": 1, "y": [1, 2]}, {"y": [1, 2], "x": 1}, True),
        ({"x": 1}, {"x": 2}, False),
        ({"x": [1, 2]}, {"x": [2, 1]}, False),
        ({"x": None}, {}, False),
    ],
)
def test_fingerprint_of(a, b, same):
    assert (fingerprint_of(a) == fingerprint_of(b)) is same
