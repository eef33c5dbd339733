"""The row index reads the same rows, at the same lines, as the streaming reader."""

from __future__ import annotations

import pytest

from dataprep.reading import read_records
from dataprep.ui import index as index_module
from dataprep.ui.index import RowIndex, is_indexable

FILES = [
    ("plain", b'{"a": 1}\n{"a": 2}\n{"a": 3}\n'),
    ("no final newline", b'{"a": 1}\n{"a": 2}'),
    ("blank lines", b'\n{"a": 1}\n\n\n{"a": 2}\n   \n{"a": 3}\n'),
    ("crlf", b'{"a": 1}\r\n\r\n{"a": 2}\r\n'),
    ("bom", b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n'),
    ("bad rows", b'{"a": 1}\nnot json\n[1]\n{"a": 2}\n'),
    ("short rows", b"{}\n1\n{}\n"),
]


@pytest.mark.parametrize(("name", "content"), FILES, ids=[f[0] for f in FILES])
@pytest.mark.parametrize("block", [3, 1 << 20])
def test_index_reads_what_the_reader_reads(tmp_path, monkeypatch, name, content, block):
    # A tiny block puts line ends at every place a block can cut them.
    monkeypatch.setattr(index_module, "BLOCK", block)
    path = tmp_path / "rows.jsonl"
    path.write_bytes(content)
    expected = [(r.line, r.value, r.problem and r.problem.code) for r in read_records(str(path))]
    index = RowIndex(str(path))
    index.build()
    got = [(r.line, r.value, r.problem and r.problem.code) for r in index.read(0, 1000)]
    assert (index.rows, got) == (len(expected), expected)
    for i, (line, _, _) in enumerate(expected):
        paged = [(r.line, r.value, r.problem and r.problem.code) for r in index.read(i, 1)]
        assert paged == [expected[i]]
        assert (index.line_of(i), index.locate(line)) == (line, i)


@pytest.mark.parametrize(
    ("name", "content", "indexable"),
    [("a.jsonl", b'{"a": 1}\n', True), ("a.json", b'[{"a": 1}]', False),
     ("a.csv", b"a,b\n1,2\n", False), ("a.jsonl", '{"a": 1}\n'.encode("utf-16"), False)],
)  # fmt: skip
def test_only_plain_utf8_json_lines_is_indexed(tmp_path, name, content, indexable):
    path = tmp_path / name
    path.write_bytes(content)
    assert is_indexable(str(path)) is indexable
