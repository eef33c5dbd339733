"""Prepared folders damaged in every way we could think of: ``inspect`` and ``stats`` say
what is wrong (exit 1 or 2), or still work on what is intact; never a traceback."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from faultrun import SAMPLES, TOKENIZER

DATA = "data-00000-of-00001.arrow"


def write(path: str | Path, text: str) -> None:
    Path(path).write_text(text)


def arrow(path: Path, columns: dict) -> None:
    table = pa.table(columns)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def ids(rows: list) -> pa.Array:
    return pa.array(rows, pa.list_(pa.int32()))


# name -> (damage, what the message says; None: the command may still succeed)
DAMAGES: dict[str, tuple[Callable[[Path], object], str | None]] = {
    "dataset-dict-not-json": (
        lambda d: write(d / "dataset_dict.json", "{nope"),
        "dataset_dict.json",
    ),
    "dataset-dict-a-list": (lambda d: write(d / "dataset_dict.json", "[]"), "dataset_dict.json"),
    "splits-a-string": (lambda d: write(d / "dataset_dict.json", '{"splits": "train"}'), "splits"),
    "splits-missing": (lambda d: write(d / "dataset_dict.json", "{}"), "splits"),
    "split-outside": (
        lambda d: write(d / "dataset_dict.json", '{"splits": ["train", "../x"]}'),
        "splits",
    ),
    "split-folder-missing": (
        lambda d: write(d / "dataset_dict.json", '{"splits": ["train"]}'),
        "no folder for the split",
    ),
    "manifest-a-list": (lambda d: write(d / "dataprep.json", "[1, 2]"), None),
    "manifest-not-json": (lambda d: write(d / "dataprep.json", "{"), None),
    "manifest-empty": (lambda d: write(d / "dataprep.json", ""), None),
    "manifest-odd-types": (
        lambda d: write(d / "dataprep.json", '{"tokenizer": "x", "kind": 5, "max_length": "big"}'),
        None,
    ),
    "state-missing": (lambda d: os.remove(d / "state.json"), "state.json"),
    "state-odd": (lambda d: write(d / "state.json", '{"_data_files": 3}'), "not a readable"),
    "state-points-outside": (
        lambda d: write(d / "state.json", '{"_data_files": [{"filename": "../../x"}]}'),
        "not a readable",
    ),
    "arrow-truncated": (lambda d: os.truncate(d / DATA, 100), "not a readable"),
    "arrow-garbage": (lambda d: write(d / DATA, "garbage" * 100), "not a readable"),
    "arrow-empty-file": (lambda d: write(d / DATA, ""), "not a readable"),
    "arrow-a-folder": (lambda d: (os.remove(d / DATA), os.mkdir(d / DATA)), "not a readable"),
    "arrow-other-columns": (lambda d: arrow(d / DATA, {"x": ids([[1]])}), "unexpected columns"),
    "arrow-text-columns": (
        lambda d: arrow(d / DATA, {"input_ids": ["a"], "labels": ["b"]}),
        "not token ids",
    ),
    "labels-shorter": (
        lambda d: arrow(d / DATA, {"input_ids": ids([[1, 2, 3]]), "labels": ids([[1]])}),
        "differ in length",
    ),
    "seq-lengths-wrong": (
        lambda d: arrow(
            d / DATA,
            {"input_ids": ids([[1, 2, 3]]), "labels": ids([[1, 2, 3]]), "seq_lengths": ids([[5]])},
        ),
        "seq_lengths",
    ),
    "negative-ids": (
        lambda d: arrow(d / DATA, {"input_ids": ids([[-5, 1]]), "labels": ids([[1, 2]])}),
        "negative",
    ),
    "ids-past-the-vocabulary": (
        lambda d: arrow(d / DATA, {"input_ids": ids([[10**6, 3]]), "labels": ids([[1, 2]])}),
        None,
    ),
    "no-rows": (lambda d: arrow(d / DATA, {"input_ids": ids([]), "labels": ids([])}), None),
    "unreadable-manifest": (
        lambda d: (os.remove(d / "dataprep.json"), os.mkdir(d / "dataprep.json")),
        None,
    ),
}


@pytest.fixture(scope="module")
def prepared(runner, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("prepared") / "good"
    result = runner.start(
        [
            "prepare",
            str(SAMPLES / "messages.jsonl"),
            "--tokenizer",
            str(TOKENIZER),
            "--max-length",
            "512",
            "-o",
            str(folder),
        ]
    ).wait()
    assert result.code == 0, result.err
    return folder


@pytest.mark.parametrize(("damage", "says"), DAMAGES.values(), ids=DAMAGES.keys())
@pytest.mark.parametrize("command", [("inspect", "--tokens"), ("stats", "--json")])
def test_a_damaged_folder_is_a_message(run, prepared, tmp_path, damage, says, command):
    folder = tmp_path / "damaged"
    shutil.copytree(prepared, folder)
    damage(folder)
    more = ("--tokenizer", TOKENIZER) if command[0] == "inspect" else ()
    r = run(command[0], folder, *command[1:], *more).check_clean(0, 1, 2)
    if says is not None:
        assert r.code in (1, 2) and says in r.err
