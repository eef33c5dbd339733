"""dataprep.reading: every input kind, line numbers, the malformed corpus, encodings,
stdin, streaming memory, and the light import."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from dataprep.convert.writing import open_writer
from dataprep.errors import InputError, UsageError
from dataprep.reading import (
    json_array,
    read_records,
    rows,
    sniff_input,
)

MALFORMED = Path(__file__).parents[1] / "data" / "malformed"

# Only string scalars and containers: every input kind (CSV included) gives them back
# exactly. No empty strings: an empty CSV cell is an absent key.
ROWS = [
    {"instruction": "Say hi", "output": "Hi! ✓"},
    {
        "messages": [
            {"role": "system", "content": "Be brief, 简洁."},
            {"role": "user", "content": 'Quote: "a, b" [x] {y}'},
            {
                "role": "assistant",
                "tool_calls": [
                    {"type": "function", "function": {"name": "f", "arguments": '{"q": 1}'}}
                ],
            },
            {"role": "tool", "content": "done", "tool_call_id": "c1"},
        ],
        "id": "r2",
    },
    {"instruction": "Multi\nline\r\ntext", "output": "tab\there", "id": "r3"},
]


def values(records):
    return [r.value for r in records]


def problems(records):
    return [(r.line, r.problem.code) for r in records if r.problem]


# ------------------------------------------------------------------ writers for each kind


def write_ours(name):
    def write(path):
        with open_writer(str(path)) as w:
            w.write_many(ROWS)

    return name, write


def write_csv(delimiter):
    def write(path):
        keys = list(dict.fromkeys(k for row in ROWS for k in row))
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f, delimiter=delimiter)
            out.writerow(keys)
            for row in ROWS:
                cells = []
                for k in keys:
                    v = row.get(k, "")
                    cells.append(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                out.writerow(cells)

    return write


def write_saved_dataset(path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset(pa.Table.from_pylist(ROWS, schema=_schema())).save_to_disk(str(path))


def write_arrow_file(path):
    table = pa.Table.from_pylist(ROWS, schema=_schema())
    with pa.ipc.new_stream(str(path), table.schema) as w:
        w.write_table(table)


def _schema():
    keys = dict.fromkeys(k for row in ROWS for k in row)
    return pa.table({k: pa.array([r.get(k) for r in ROWS]) for k in keys}).schema


@pytest.mark.parametrize(
    ("name", "write"),
    [
        write_ours("rows.jsonl"),
        write_ours("rows.ndjson"),
        write_ours("rows.json"),
        write_ours("rows.parquet"),
        write_ours("rows.jsonl.gz"),
        write_ours("rows.json.gz"),
        write_ours("rows.jsonl.zst"),
        write_ours("rows.json.zst"),
        ("rows.csv", write_csv(",")),
        ("rows.tsv", write_csv("\t")),
        ("semicolons.csv", write_csv(";")),
        ("saved", write_saved_dataset),
        ("rows.arrow", write_arrow_file),
    ],
)
def test_every_kind_round_trips(tmp_path, name, write):
    path = tmp_path / name
    write(path)
    records = list(read_records(str(path)))
    assert values(records) == ROWS
    assert all(r.problem is None and r.source == str(path) for r in records)


@pytest.mark.parametrize(
    ("name", "kind", "compression", "raw_kept"),
    [
        ("rows.jsonl", "jsonl", None, True),
        ("rows.json", "json", None, False),
        ("rows.jsonl.gz", "jsonl", "gzip", True),
        ("rows.json.zst", "json", "zstd", False),
        ("rows.parquet", "parquet", None, False),
    ],
)
def test_info_and_raw(tmp_path, name, kind, compression, raw_kept):
    path = str(tmp_path / name)
    write_ours(name)[1](path)
    records = read_records(path)
    assert (records.info.kind, records.info.compression) == (kind, compression)
    for r in records:
        if raw_kept:
            assert orjson.loads(r.raw) == r.value
        else:
            assert r.raw is None


# ------------------------------------------------------------------ line numbers


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (b'{"a": 1}\n{"a": 2}\n', [1, 2]),
        (b'{"a": 1}\n\n\n{"a": 2}\n', [1, 4]),
        (b'\n  \n\t\n{"a": 1}\n   \n{"a": 2}', [4, 6]),
        (b'{"a": 1}\r\n\r\n{"a": 2}\r\n', [1, 3]),
        (b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n', [1, 2]),
    ],
)
def test_jsonl_lines_skip_blank_lines(tmp_path, text, lines):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(text)
    records = list(read_records(str(path)))
    assert [r.line for r in records] == lines
    assert values(records) == [
        json.loads(line) for line in text.decode("utf-8-sig").splitlines() if line.strip()
    ]


@pytest.mark.parametrize("indent", [None, 2, 4])
def test_json_array_line_is_where_the_element_starts(tmp_path, indent):
    path = tmp_path / "rows.json"
    text = json.dumps(ROWS, indent=indent, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    # Where each element starts, found from the text itself: decode them one by one.
    decoder, pos, starts = json.JSONDecoder(), text.index("[") + 1, []
    for _ in ROWS:
        while text[pos] in " \n,":
            pos += 1
        starts.append(text.count("\n", 0, pos) + 1)
        pos = decoder.raw_decode(text, pos)[1]
    records = list(read_records(str(path)))
    assert [r.line for r in records] == starts
    assert values(records) == ROWS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b\n1,2\n3,4\n", [(2, {"a": "1", "b": "2"}), (3, {"a": "3", "b": "4"})]),
        (
            'a,b\n"multi\nline",x\n"three\nphysical\nlines",y\nlast,z\n',
            [
                (2, {"a": "multi\nline", "b": "x"}),
                (4, {"a": "three\nphysical\nlines", "b": "y"}),
                (7, {"a": "last", "b": "z"}),
            ],
        ),
        ("a,b\n1,\n\n,4\n", [(2, {"a": "1"}), (4, {"b": "4"})]),
        ("a,b\n1\n", [(2, {"a": "1"})]),
        (
            'messages,n\n"[{""role"": ""user"", ""content"": ""hi""}]",7\n',
            [(2, {"messages": [{"role": "user", "content": "hi"}], "n": "7"})],
        ),
        ("a,b\n[citation needed],{not json\n", [(2, {"a": "[citation needed]", "b": "{not json"})]),
        ("\ufeffa,b\r\n1,2\r\n", [(2, {"a": "1", "b": "2"})]),
    ],
)
def test_csv_rows_and_lines(tmp_path, text, expected):
    path = tmp_path / "rows.csv"
    path.write_bytes(text.encode("utf-8"))
    assert [(r.line, r.value) for r in read_records(str(path))] == expected


# ------------------------------------------------------------------ malformed corpus

EXPECTED = json.loads((MALFORMED / "expected.json").read_text())


def test_corpus_and_oracle_agree():
    on_disk = {p.name for p in MALFORMED.iterdir()} - {"expected.json", "README.md"}
    assert on_disk == set(EXPECTED)
    readme = (MALFORMED / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_reports_its_first_problem(name):
    path = str(MALFORMED / name)
    want = EXPECTED[name]
    try:
        records = list(read_records(path))
    except InputError as e:
        assert (0, e.code) == (want["line"], want["code"])
        assert str(e).startswith(f"{path}: ")
        return
    first = next(r.problem for r in records if r.problem)
    assert (first.line, first.code) == (want["line"], want["code"])
    assert first.message and first.source == path
    assert str(first).startswith(f"{path}:{first.line}:" if first.line else f"{path}:")
    # Reading went on past the problem: good rows after it still arrive.
    text_rows = [r for r in records if r.value is not None]
    assert all(isinstance(r.value, dict) for r in text_rows)


@pytest.mark.parametrize(
    ("text", "good_lines"),
    [
        (b'{"a": 1}\n{"a": \xff}\n{"a": 3}\n', [1, 3]),
        (b'{"a": 1}\n[1]\nnull\n"s"\n{"a": 5}\n', [1, 5]),
        (b'{"a": 1}\n{"a": "\x00"}\n{"a": 3}\n', [1, 3]),
        (b'{"a": 1}\n{"a" 2}\n{"a": 3}', [1, 3]),
    ],
)
def test_reading_continues_after_a_bad_line(tmp_path, text, good_lines):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(text)
    assert [r.line for r in read_records(str(path)) if r.problem is None] == good_lines


@pytest.mark.parametrize(
    ("text", "code", "says"),
    [
        (b'{"a": 1,}\n', "invalid-json", "column 8: trailing comma"),
        (b'{"a": "\xc3("}\n', "invalid-utf8", "byte 7 of the line"),
        (b'{"a": 1}\x00\n', "nul-byte", "byte 8 of the line"),
        (b"[1, 2]\n", "non-object-row", "is an array"),
        (b"true\n", "non-object-row", "is a boolean"),
        (b'{"a": "cut', "truncated-line", "no newline"),
    ],
)
def test_problem_messages_say_where(tmp_path, text, code, says):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(text)
    (record,) = read_records(str(path))
    assert (record.value, record.problem.code) == (None, code)
    assert says in record.problem.message
    assert record.raw == text.rstrip(b"\n")  # kept, so a rejects file can show the line


def test_invalid_json_in_array_gives_the_text_line(tmp_path):
    path = tmp_path / "rows.json"
    path.write_bytes(b'[\n {"a": 1},\n {"a": 2,\n  "b": nope},\n {"a": 3}\n]\n')
    records = list(read_records(str(path)))
    assert [(r.line, r.problem and r.problem.code) for r in records] == [
        (2, None),
        (3, "invalid-json"),
        (5, None),
    ]
    assert "line 4, column 8" in records[1].problem.message


# ------------------------------------------------------------------ splitter edge cases

TRICKY = [
    {"s": 'brackets ] } [ { and "quotes" and \\ backslash \\'},
    {"nested": [[[]], {"a": {"b": [1, {"c": "]"}]}}], "u": "\u00e9\u4e2d\U0001f600"},
    {"empty": {}, "list": [], "esc": '\\"', "n": None, "t": True, "f": -1.5e3},
]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 18])
@pytest.mark.parametrize("kind", ["json", "json-compact", "jsonl", "json-values"])
def test_rows_survive_any_block_boundary(tmp_path, monkeypatch, block, kind):
    for reader in (rows, json_array):  # each binds BLOCK when imported
        monkeypatch.setattr(reader, "BLOCK", block)
    if kind == "json":
        text = json.dumps(TRICKY, indent=1, ensure_ascii=False)
    elif kind == "json-compact":
        text = json.dumps(TRICKY, ensure_ascii=False)
    elif kind == "json-values":
        text = "\n".join(json.dumps(row, indent=2) for row in TRICKY)
    else:
        text = "\n".join(json.dumps(row, ensure_ascii=False) for row in TRICKY)
    path = tmp_path / ("rows.jsonl" if kind == "jsonl" else "rows.json")
    path.write_text(text, encoding="utf-8")
    records = read_records(str(path))
    assert records.info.kind == kind.replace("-compact", "")
    assert values(records) == TRICKY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A nested object at the elements' own indentation, after the separator is known.
        (
            b'[\n  {"x": 0},\n  {"a": [\n  {"b": 1},\n  {"c": 2}]},\n  {"d": 3}\n]',
            [(2, {"x": 0}), (3, {"a": [{"b": 1}, {"c": 2}]}), (6, {"d": 3})],
        ),
        # The separator's text escaped inside a string.
        (
            b'[\n {"s": "},\\n {"},\n {"s": "}, {"},\n {"s": 2}\n]',
            [(2, {"s": "},\n {"}), (3, {"s": "}, {"}), (4, {"s": 2})],
        ),
        # A bad row between good ones: the rows after it still arrive.
        (
            b'[\n {"a": 1},\n {"a": 2,},\n {"a": 3},\n {"a": 4}\n]',
            [(2, {"a": 1}), (3, "invalid-json"), (4, {"a": 3}), (5, {"a": 4})],
        ),
        # Elements that are not objects, mixed in.
        (
            b'[\n {"a": 1},\n [2],\n {"a": 3}\n]',
            [(2, {"a": 1}), (3, "non-object-row"), (4, {"a": 3})],
        ),
    ],
)
def test_json_array_fast_path_falls_back_when_unsure(tmp_path, text, expected):
    path = tmp_path / "rows.json"
    path.write_bytes(text)
    got = [(r.line, r.problem.code if r.problem else r.value) for r in read_records(str(path))]
    assert got == expected


# ------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    ("encoding", "bom", "expect"),
    [
        ("utf-8", b"\xef\xbb\xbf", "utf-8"),
        ("utf-16-le", b"\xff\xfe", "utf-16-le"),
        ("utf-16-be", b"\xfe\xff", "utf-16-be"),
        ("utf-16-le", b"", "utf-16-le"),
        ("utf-16-be", b"", "utf-16-be"),
    ],
)
@pytest.mark.parametrize("kind", ["jsonl", "json", "csv"])
def test_bom_and_utf16_are_decoded(tmp_path, encoding, bom, expect, kind):
    plain = tmp_path / f"plain.{kind}"
    write = write_csv(",") if kind == "csv" else write_ours(plain.name)[1]
    write(plain)
    path = tmp_path / f"encoded.{kind}"
    path.write_bytes(bom + plain.read_bytes().decode("utf-8").encode(encoding))
    records = read_records(str(path))
    assert values(records) == ROWS
    assert records.info.encoding == expect
    said = " ".join(records.info.notes)
    assert ("UTF-16" in said) == (expect != "utf-8")
    assert sniff_input(str(path)).encoding == expect


def test_utf16_keeps_line_numbers_and_raw_is_utf8(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes('{"a": "é"}\n\n[1]\n{"a": "中"}\n'.encode("utf-16"))
    records = list(read_records(str(path)))
    assert [(r.line, r.problem and r.problem.code) for r in records] == [
        (1, None),
        (3, "non-object-row"),
        (4, None),
    ]
    assert records[2].raw == '{"a": "中"}'.encode()


# ------------------------------------------------------------------ sniffing and notes


def _gz(data):
    return gzip.compress(data, mtime=0)


@pytest.mark.parametrize(
    ("name", "data", "kind", "note"),
    [
        ("rows.json", b'{"a": 1}\n{"a": 2}\n', "jsonl", "a .json file holding JSON Lines"),
        ("rows.json", b'{\n  "a": 1\n}\n{\n  "a": 2\n}\n', "json-values", "not an array"),
        (
            "rows.jsonl",
            b'[\n{"a": 1},\n{"a": 2}\n]\n',
            "json",
            "a .jsonl file holding a JSON array",
        ),
        ("rows.txt", b'{"a": 1}\n{"a": 2}\n', "jsonl", "a .txt file holding JSON Lines"),
        ("rows", b'[{"a": 1}, {"a": 2}]', "json", "unknown extension (none)"),
        ("rows.dat", b"a,b\n1,2\n", "csv", "read as CSV"),
        ("rows.jsonl", _gz(b'{"a": 1}\n{"a": 2}\n'), "jsonl", "compressed with gzip"),
        ("rows.jsonl.gz", b'{"a": 1}\n{"a": 2}\n', "jsonl", "not compressed"),
        ("rows.parquet", b'{"a": 1}\n{"a": 2}\n', "jsonl", "a .parquet file holding JSON Lines"),
    ],
)
def test_sniffing_says_what_it_decided(tmp_path, name, data, kind, note):
    path = tmp_path / name
    path.write_bytes(data)
    records = read_records(str(path))
    assert records.info.kind == kind
    assert any(note in n for n in records.info.notes), records.info.notes
    assert [r.value for r in records] in ([{"a": 1}, {"a": 2}], [{"a": "1", "b": "2"}])


def test_parquet_found_by_content(tmp_path):
    path = tmp_path / "rows.bin"
    pq.write_table(pa.Table.from_pylist([{"a": "x"}]), path)
    records = read_records(str(path))
    assert (records.info.kind, values(records)) == ("parquet", [{"a": "x"}])


def test_parquet_nulls_become_absent_keys(tmp_path):
    path = tmp_path / "rows.parquet"
    rows = [{"a": "x", "m": [{"r": "u", "c": None}]}, {"b": "y", "m": [None]}]
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.table({
        "a": ["x", None], "b": [None, "y"], "m": pa.array([r["m"] for r in rows])
    }).schema), path)  # fmt: skip
    assert values(read_records(str(path))) == [
        {"a": "x", "m": [{"r": "u"}]},
        {"b": "y", "m": [None]},
    ]


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda d: d / "missing.jsonl", UsageError, "no such file: "),
        (lambda d: d, InputError, "no state.json"),
        (
            lambda d: _write(d / "junk.bin", b"\x01\x02\x03\x04binary"),
            InputError,
            ".jsonl/.ndjson, .json",
        ),
        (lambda d: _write(d / "a.jsonl", "{}".encode("utf-32")), InputError, "UTF-32"),
        (lambda d: _write(d / "a.zip", b"PK\x03\x04rest"), InputError, "zip"),
        (lambda d: _write(d / "a.parquet.gz", _gz(b"PAR1xxxx")), InputError, "compressed Parquet"),
        (
            lambda d: _write(d / "a.parquet", b"PAR1 not really"),
            InputError,
            "not a readable Parquet",
        ),
    ],
)
def test_unreadable_files_raise(tmp_path, make, error, words):
    path = str(make(tmp_path))
    with pytest.raises(error) as caught:
        read_records(path)
    assert words in str(caught.value)
    assert path in str(caught.value)


def _write(path, data):
    path.write_bytes(data)
    return path


def test_dataset_dict_folder_names_its_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"text": "a"}])
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(InputError) as caught:
        read_records(str(tmp_path / "dd"))
    assert "splits train, test" in caught.value.message
    assert str(tmp_path / "dd" / "train") in caught.value.message
    assert values(read_records(str(tmp_path / "dd" / "test"))) == [{"text": "a"}]


def test_saved_dataset_reads_shards_in_order(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [{"i": str(i)} for i in range(50)]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"), num_shards=3)
    records = read_records(str(tmp_path / "ds"))
    assert len(records.info.files) == 3
    assert [(r.line, r.value) for r in records] == list(enumerate(rows, 1))


# ------------------------------------------------------------------ stdin


def _stdin(monkeypatch, data):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"".join(orjson.dumps(r) + b"\n" for r in ROWS), "jsonl"),
        (json.dumps(ROWS, indent=2).encode(), "json"),
        (_gz(json.dumps(ROWS).encode()), "json"),
        (
            zstandard.ZstdCompressor().compress(b"".join(orjson.dumps(r) + b"\n" for r in ROWS)),
            "jsonl",
        ),
        (b"".join(orjson.dumps(r) + b"\n" for r in ROWS).decode().encode("utf-16"), "jsonl"),
    ],
)
def test_stdin_is_sniffed(monkeypatch, data, kind):
    _stdin(monkeypatch, data)
    records = read_records("-")
    assert records.info.kind == kind
    got = list(records)
    assert values(got) == ROWS
    assert {r.source for r in got} == {"-"}


def test_stdin_reports_problems_with_lines(monkeypatch):
    _stdin(monkeypatch, b'{"a": 1}\n\n{"a": \n[2]\n')
    assert problems(read_records("-")) == [(3, "invalid-json"), (4, "non-object-row")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("pipe", b"".join(orjson.dumps(r) + b"\n" for r in ROWS)),
        ("pipe.json", _gz(json.dumps(ROWS, indent=2).encode())),
        ("pipe.csv", None),
    ],
)
def test_named_pipe_is_read_once(tmp_path, name, data):
    if data is None:
        write_csv(",")(tmp_path / "rows.csv")
        data = (tmp_path / "rows.csv").read_bytes()
    path = tmp_path / name
    os.mkfifo(path)
    writer = threading.Thread(target=path.write_bytes, args=(data,), daemon=True)
    writer.start()
    try:
        got = values(read_records(str(path)))
    finally:
        writer.join(timeout=10)
    assert got == ROWS


# ------------------------------------------------------------------ streaming


def test_json_array_streams(tmp_path):
    row = orjson.dumps({"messages": [{"role": "user", "content": "x" * 2000}]})
    path = tmp_path / "big.json"
    count = 8000  # about 16 MB
    with open(path, "wb") as f:
        f.write(b"[\n")
        f.write(b",\n".join([row] * count))
        f.write(b"\n]\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        records = read_records(str(path))
        first = next(records)
        _, first_peak = tracemalloc.get_traced_memory()
        records.close()
        tracemalloc.reset_peak()
        n = 0
        for record in read_records(str(path)):
            n += record.problem is None
        _, all_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.line == 2 and n == count
    assert first_peak < size / 10
    assert all_peak < size / 10


def test_jsonl_streams(tmp_path):
    row = orjson.dumps({"text": "y" * 1000}) + b"\n"
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(row * 16000, compresslevel=1))  # about 16 MB inside
    tracemalloc.start()
    try:
        n = sum(1 for r in read_records(str(path)) if r.problem is None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 16000
    assert peak < 16_000_000 / 10


# ------------------------------------------------------------------ light import


def test_import_stays_light():
    code = (
        "import sys, dataprep.reading, dataprep.convert.writing; "
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'trl') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    )
    assert out.stdout.strip() == "[]"


# .txt: plain text, a document a line (LLaMA-Factory's and datasets' "text" reading).
@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("wiki.txt", b"first doc\nsecond doc\n", [(1, {"text": "first doc"}), (2, {"text": "second doc"})]),
        ("wiki.txt", b"a\n\n   \nb", [(1, {"text": "a"}), (4, {"text": "b"})]),  # blank lines are not rows
        ("wiki.txt", b"  edged  \r\nnext\r\n", [(1, {"text": "  edged  "}), (2, {"text": "next"})]),
        ("wiki.txt", b'{"not": "json lines"} said the author\n', [(1, {"text": '{"not": "json lines"} said the author'})]),
        ("wiki.txt", "caf\u00e9 \u4e2d\u6587\n".encode(), [(1, {"text": "caf\u00e9 \u4e2d\u6587"})]),
        ("wiki.txt", b"bad \xff byte\nok\n", [(1, "invalid-utf8"), (2, {"text": "ok"})]),
        ("wiki.txt", b"nul \x00 here\nok\n", [(1, "nul-byte"), (2, {"text": "ok"})]),
        ("wiki.txt", b"", [(0, "empty-file")]),
        ("wiki.txt", b"\n\n", [(0, "empty-file")]),
        ("wiki.txt.gz", gzip.compress(b"zipped doc\n"), [(1, {"text": "zipped doc"})]),
        # a .txt holding JSON Lines is read as rows (its sniffing note says so)
        ("rows.txt", b'{"text": "a"}\n{"text": "b"}\n', [(1, {"text": "a"}), (2, {"text": "b"})]),
    ],
)  # fmt: skip
def test_txt_is_a_document_a_line(tmp_path, name, data, expected):
    path = tmp_path / name
    path.write_bytes(data)
    got = [
        (r.line, r.value if r.problem is None else r.problem.code) for r in read_records(str(path))
    ]
    assert got == expected


def test_txt_line_over_the_row_limit_is_reported_not_held(tmp_path):
    from dataprep.reading import limits

    path = tmp_path / "big.txt"
    path.write_bytes(b"short\n" + b"x" * 5000 + b"\nafter\n")
    limits.set_max_row_bytes(1024)
    try:
        got = [
            (r.line, r.value if r.problem is None else r.problem.code)
            for r in read_records(str(path))
        ]
    finally:
        limits.set_max_row_bytes(None)
    assert got == [(1, {"text": "short"}), (2, "row-too-large"), (3, {"text": "after"})]


def test_txt_sniffing_says_what_it_decided(tmp_path):
    path = tmp_path / "rows.txt"
    path.write_bytes(b'{"text": "a"}\n')
    assert sniff_input(str(path)).notes == ["a .txt file holding JSON Lines: read as JSON Lines"]
    path.write_bytes(b"prose\n")
    info = sniff_input(str(path))
    assert (info.kind, info.notes) == ("text", [])
