"""dataprep.convert.writing: every output kind, atomic replacement, Parquet schemas, stdout."""

from __future__ import annotations

import gzip
import io
import json
import os
import sys

import orjson
import pyarrow.parquet as pq
import pytest
import zstandard

from dataprep.convert import writing
from dataprep.convert.writing import open_writer, output_format
from dataprep.errors import DataprepError, UsageError
from dataprep.reading import read_records

ROWS = [
    {"instruction": "Say hi", "output": "Héllo ✓ 你好"},
    {
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"type": "function", "function": {"name": "add", "arguments": '{"a": 2}'}}
                ],
            },
            {"role": "tool", "content": "4", "tool_call_id": "c1"},
            {"role": "assistant", "content": "4"},
        ],
        "tools": [{"type": "function", "function": {"name": "add"}}],
    },
    {"prompt": "p", "chosen": "a", "rejected": "b", "score": 0.5, "ok": True, "n": 3},
]


def without_nulls(value):
    """What reading gives back from Parquet, which has no absent keys."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("name", "hint", "fmt", "compression", "magic"),
    [
        ("out.jsonl", None, "jsonl", None, b"{"),
        ("out.ndjson", None, "jsonl", None, b"{"),
        ("out.txt", None, "jsonl", None, b"{"),
        ("out", None, "jsonl", None, b"{"),
        ("out.json", None, "json", None, b"["),
        ("out.parquet", None, "parquet", None, b"PAR1"),
        ("out.jsonl.gz", None, "jsonl", "gzip", b"\x1f\x8b"),
        ("out.json.gz", None, "json", "gzip", b"\x1f\x8b"),
        ("out.jsonl.zst", None, "jsonl", "zstd", b"\x28\xb5\x2f\xfd"),
        ("out.json.zst", None, "json", "zstd", b"\x28\xb5\x2f\xfd"),
        ("out.data", "json", "json", None, b"["),
        ("out.jsonl", "parquet", "parquet", None, b"PAR1"),
    ],
)
def test_every_kind_round_trips(tmp_path, name, hint, fmt, compression, magic):
    path = str(tmp_path / name)
    assert output_format(path, hint) == (fmt, compression)
    with open_writer(path, hint) as w:
        for row in ROWS:
            w.write(row)
    assert w.rows == len(ROWS)
    with open(path, "rb") as f:
        assert f.read(len(magic)) == magic
    expected = [without_nulls(r) for r in ROWS] if fmt == "parquet" else ROWS
    assert [r.value for r in read_records(path)] == expected
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["out.jsonl", "out.json"])
def test_text_is_utf8_not_escaped(tmp_path, name):
    path = tmp_path / name
    with open_writer(str(path)) as w:
        w.write_many(ROWS)
    text = path.read_bytes()
    assert "Héllo ✓ 你好".encode() in text
    assert b"\\u" not in text


def test_jsonl_is_one_row_per_line(tmp_path):
    path = tmp_path / "out.jsonl"
    with open_writer(str(path)) as w:
        w.write_many(ROWS)
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == ROWS


@pytest.mark.parametrize("rows", [ROWS, ROWS[:1], []])
def test_json_is_an_array_one_element_per_line(tmp_path, rows):
    path = tmp_path / "out.json"
    with open_writer(str(path)) as w:
        w.write_many(rows)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == rows
    assert len(text.splitlines()) == (len(rows) + 2 if rows else 1)


@pytest.mark.parametrize("name", ["out.jsonl.gz", "out.json.zst", "out.parquet", "out.jsonl"])
def test_same_rows_same_bytes(tmp_path, name):
    first, second = tmp_path / ("a_" + name), tmp_path / ("b_" + name)
    for path in (first, second):
        with open_writer(str(path)) as w:
            w.write_many(ROWS)
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize(
    "name", ["out.jsonl", "out.json", "out.jsonl.gz", "out.json.zst", "out.parquet", "-"]
)
@pytest.mark.parametrize("newline", [b"\n", b""])
def test_serialised_rows_give_the_same_bytes_as_rows(tmp_path, capsysbinary, name, newline):
    """write_json_line (rows another process already dumped) = write (dicts)."""
    if name == "-":
        hint = "jsonl"
        with open_writer("-", hint) as w:
            w.write_many(ROWS)
        expected = capsysbinary.readouterr().out
        with open_writer("-", hint) as w:
            for row in ROWS:
                w.write_json_line(orjson.dumps(row) + newline)
        assert capsysbinary.readouterr().out == expected
        return
    first, second = tmp_path / ("a_" + name), tmp_path / ("b_" + name)
    with open_writer(str(first)) as w:
        w.write_many(ROWS)
    with open_writer(str(second)) as w:
        for row in ROWS:
            w.write_json_line(orjson.dumps(row) + newline)
    assert w.rows == len(ROWS)
    assert second.read_bytes() == first.read_bytes()


# ------------------------------------------------------------------ atomic


class Boom(Exception):
    pass


@pytest.mark.parametrize(
    "name", ["out.jsonl", "out.json", "out.parquet", "out.jsonl.gz", "out.json.zst"]
)
@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
@pytest.mark.parametrize("existing", [None, b"precious\n"])
def test_failure_leaves_nothing_behind(tmp_path, name, error, existing):
    path = tmp_path / name
    if existing is not None:
        path.write_bytes(existing)
    with pytest.raises(error), open_writer(str(path)) as w:
        w.write_many(ROWS * 50)
        assert leftovers(tmp_path)  # the rows are going to a temporary file
        raise error()
    assert leftovers(tmp_path) == []
    if existing is None:
        assert not path.exists()
    else:
        assert path.read_bytes() == existing


def test_success_replaces_an_existing_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"old\n" * 1000)
    with open_writer(str(path)) as w:
        w.write(ROWS[0])
        assert path.read_bytes() == b"old\n" * 1000  # untouched until the end
    assert [r.value for r in read_records(str(path))] == ROWS[:1]


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = tmp_path / "out.jsonl"
        with open_writer(str(path)) as w:
            w.write(ROWS[0])
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640  # not mkstemp's 0o600


def test_unwritable_value_is_a_dataprep_error(tmp_path):
    path = tmp_path / "out.jsonl"
    with (
        pytest.raises(DataprepError, match="cannot write a row as JSON"),
        open_writer(str(path)) as w,
    ):
        w.write({"a": {1, 2}})
    assert not path.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("path", "hint", "words"),
    [
        ("out.parquet.gz", None, "Parquet compresses inside"),
        ("out.jsonl", "xml", "unknown output format 'xml'"),
        ("missing/out.jsonl", None, "does not exist"),
        (".", None, "it is a folder"),
    ],
)
def test_wrong_targets_are_usage_errors(tmp_path, monkeypatch, path, hint, words):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=words):
        open_writer(path, hint)
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ Parquet schemas


@pytest.mark.parametrize(
    "rows",
    [
        # Keys that appear only in later batches, at the top and inside messages.
        [{"a": "x"}, {"a": "y", "c": "2nd row"}, {"a": "z"}, {"b": "only b"}, {"a": "w"}],
        [
            {"messages": [{"role": "user", "content": "hi"}]},
            {"messages": [{"role": "assistant", "content": "yo"}]},
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}],
                    },
                    {"role": "tool", "content": "r", "tool_call_id": "1"},
                ]
            },
            {"messages": [{"role": "user", "content": "again", "train": False}]},
        ],
        # A column that is null for a whole batch, then a string.
        [{"a": "1", "b": None}, {"a": "2"}, {"a": "3", "b": "late"}],
        # Types that widen: int to float.
        [{"x": 1.5}, {"x": 2.5}, {"x": 3}, {"x": 4}],
    ],
)
def test_parquet_schema_grows_across_batches(tmp_path, monkeypatch, rows):
    monkeypatch.setattr(writing, "PARQUET_BATCH", 2)
    path = tmp_path / "out.parquet"
    with open_writer(str(path)) as w:
        w.write_many(rows)
    assert pq.ParquetFile(path).metadata.num_rows == len(rows)
    assert [r.value for r in read_records(str(path))] == [without_nulls(r) for r in rows]
    assert leftovers(tmp_path) == []


def test_parquet_batches_are_cut_by_size(tmp_path, monkeypatch):
    monkeypatch.setattr(writing, "PARQUET_BATCH_BYTES", 4000)
    rows = [{"text": f"{i:04d}" * 50} for i in range(3000)]
    path = tmp_path / "out.parquet"
    with open_writer(str(path)) as w:
        w.write_many(rows)
    sizes = [
        g.num_rows
        for g in (
            pq.ParquetFile(path).metadata.row_group(i)
            for i in range(pq.ParquetFile(path).metadata.num_row_groups)
        )
    ]
    assert sizes[0] == 1000  # the first batch measures the rows
    assert max(sizes[1:]) < 100  # then about 4000 bytes of Arrow data a batch
    assert [r.value for r in read_records(str(path))] == rows


def test_parquet_int_widened_to_float(tmp_path, monkeypatch):
    monkeypatch.setattr(writing, "PARQUET_BATCH", 1)
    path = tmp_path / "out.parquet"
    with open_writer(str(path)) as w:
        w.write_many([{"x": 1}, {"x": 2.5}])
    assert [r.value for r in read_records(str(path))] == [{"x": 1.0}, {"x": 2.5}]


@pytest.mark.parametrize(
    ("batch", "rows", "column"),
    [
        (2, [{"a": "x"}, {"a": "y"}, {"a": [1]}], "a"),  # across batches
        (10, [{"id": "1", "c": "x"}, {"id": "2", "c": ["x"]}], "c"),  # within a batch
        (10, [{"m": [{"content": "s"}]}, {"m": [{"content": [{"type": "text"}]}]}], "m"),
    ],
)
def test_parquet_type_conflict_names_the_column(tmp_path, monkeypatch, batch, rows, column):
    monkeypatch.setattr(writing, "PARQUET_BATCH", batch)
    path = tmp_path / "out.parquet"
    with (
        pytest.raises(DataprepError, match=f"column '{column}'") as caught,
        open_writer(str(path)) as w,
    ):
        w.write_many(rows)
    assert "write JSON Lines instead" in str(caught.value)
    assert not path.exists() and leftovers(tmp_path) == []


# ------------------------------------------------------------------ stdout


def _stdout(monkeypatch):
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer, encoding="utf-8"))
    return buffer


@pytest.mark.parametrize(
    ("hint", "parse"),
    [
        (None, lambda b: [json.loads(line) for line in b.decode().splitlines()]),
        ("json", lambda b: json.loads(b)),
        ("parquet", lambda b: pq.read_table(io.BytesIO(b)).to_pylist()),
    ],
)
def test_dash_writes_to_stdout(tmp_path, monkeypatch, hint, parse):
    monkeypatch.chdir(tmp_path)
    buffer = _stdout(monkeypatch)
    rows = ROWS[:1]
    with open_writer("-", hint) as w:
        w.write_many(rows)
    assert parse(buffer.getvalue()) == rows
    assert not sys.stdout.closed
    assert os.listdir(tmp_path) == []


def test_compressed_files_decompress_with_standard_tools(tmp_path):
    gz, zst = tmp_path / "a.jsonl.gz", tmp_path / "a.jsonl.zst"
    for path in (gz, zst):
        with open_writer(str(path)) as w:
            w.write_many(ROWS)
    plain = gzip.decompress(gz.read_bytes())
    assert zstandard.ZstdDecompressor().decompressobj().decompress(zst.read_bytes()) == plain
    assert [json.loads(line) for line in plain.splitlines()] == ROWS
