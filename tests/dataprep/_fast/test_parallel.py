"""dataprep._fast.parallel: how many processes a file gets, byte ranges that read like the
whole file, and forked calls that report a failing worker and never outlive a failure."""

from __future__ import annotations

import doctest
import gzip
import itertools
import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonl_mix import lines_with_blanks

import dataprep._fast.parallel
from dataprep._fast.parallel import Forked, count_workers, forked_all, parallel_workers, split_jsonl
from dataprep.errors import DataprepError
from dataprep.reading import read_jsonl_chunk, read_records


@pytest.mark.parametrize("n", [1, 2, 3, 7, 50])
@pytest.mark.parametrize(
    "content",
    [
        lines_with_blanks(300),
        b"\n\n\n" + lines_with_blanks(40) + b"\n\n  \n",
        b'{"a": 1}\n' * 3,
        b'{"a": 1}',  # one line, no newline
        b"\n" * 50,  # only blank lines
    ],
)
def test_split_jsonl_covers_the_file_with_ranges_ending_in_a_row(tmp_path, n, content):
    path = tmp_path / "d.jsonl"
    path.write_bytes(content)
    chunks = split_jsonl(str(path), n)
    assert len(chunks) <= n
    assert [c.start for c in chunks[1:]] == [c.end for c in chunks[:-1]]
    assert chunks[0].start == 0 and chunks[-1].end == len(content)
    for c in chunks[:-1]:
        last_line = content[c.start : c.end].rstrip(b"\n").rsplit(b"\n", 1)[-1]
        assert last_line.strip(), "a range ends with a blank line"


@pytest.mark.parametrize("n", [1, 2, 3, 7, 40])
@pytest.mark.parametrize(
    "text",
    [
        b"".join(b'{"i": %d}\n' % i for i in range(100)),
        b"\xef\xbb\xbf" + b"".join(b'{"i": %d}\n\n' % i for i in range(30)) + b'{"i": "cut',
        b'{"i": 0}\n' + b'{"long": "' + b"z" * 5000 + b'"}\n' + b"[1]\n",
    ],
)
def test_ranges_read_like_the_whole_file(tmp_path, n, text):
    """Each range's lines, shifted by the lines of the ranges before it (the last
    record of a range carries its number of lines), are the whole file's."""
    path = tmp_path / "rows.jsonl"
    path.write_bytes(text)
    chunks = split_jsonl(str(path), n)
    assert 1 <= len(chunks) <= n
    assert chunks[0].start in (0, 3) and chunks[-1].end == len(text)
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))
    whole = [(r.line, r.value, r.problem and r.problem.code) for r in read_records(str(path))]
    parts, offset = [], 0
    for chunk in chunks:
        records = list(read_jsonl_chunk(chunk))
        parts += [(r.line + offset, r.value, r.problem and r.problem.code) for r in records]
        offset += records[-1].line
    assert parts == whole


@pytest.mark.parametrize(
    ("name", "data", "workers"),
    [
        ("rows.jsonl", b'{"a": 1}\n', 2),
        ("rows.jsonl.gz", gzip.compress(b'{"a": 1}\n'), 1),
        ("rows.json", b'[{"a": 1}]', 1),
        ("rows.jsonl", '{"a": 1}\n'.encode("utf-16"), 1),
    ],
)
def test_only_plain_jsonl_splits(tmp_path, monkeypatch, name, data, workers):
    monkeypatch.setattr(dataprep._fast.parallel, "PARALLEL_MIN_BYTES", 0)
    path = tmp_path / name
    path.write_bytes(data)
    assert parallel_workers(str(path), 2) == workers


@pytest.mark.parametrize(
    ("cpus", "load", "running", "workers", "idle_only"),
    [
        (8, 0.2, 1, 8, 8),  # an idle machine: every CPU (this process is the one running)
        (2, 1.0, 2, 2, 1),  # one CPU busy: one idle, and a share of the busy one
        (2, 1.6, 2, 2, 1),  # the average lags: one task besides this one runs now
        (2, 2.9, 3, 1, 1),  # both CPUs busy: this process alone
        (4, 3.5, 2, 4, 3),  # the load just fell: the snapshot counts
        (4, 0.5, 7, 4, 3),  # a passing blip in the snapshot: the average counts
        (8, 6.5, 9, 2, 1),  # one idle CPU, and a share of a busy one
        (16, 40.0, 30, 1, 1),  # overloaded: never fewer than one
        (2, None, None, 2, 2),  # nothing known: every CPU
    ],
)
def test_default_processes_follow_the_load(cpus, load, running, workers, idle_only):
    assert count_workers(cpus, load, running) == workers
    assert count_workers(cpus, load, running, share_busy=False) == idle_only


def _exits(code):
    os._exit(code)


def _raises(message):
    raise ValueError(message)


@pytest.mark.parametrize(
    ("fn", "args", "error", "match"),
    [
        (_raises, ("bad row",), ValueError, "bad row"),
        (_exits, (3,), DataprepError, "worker process died"),
    ],
)
def test_forked_call_reports_a_failing_worker(fn, args, error, match):
    with pytest.raises(error, match=match):
        Forked(fn, *args).result()


def test_forked_calls_are_stopped_when_the_parent_fails():
    with pytest.raises(KeyboardInterrupt), forked_all() as calls:
        calls.append(Forked(time.sleep, 30))
        raise KeyboardInterrupt
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind


def test_doctests():
    assert doctest.testmod(dataprep._fast.parallel).failed == 0


# ------------------------------------------------------ ranges on generated files

LINE = st.one_of(
    st.just(b""), st.just(b"  "), st.just(b"\t \r"), st.just(b'{"i": 1}'),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
    st.integers(1, 3000).map(lambda n: b'{"long": "' + b"x" * n + b'"}'),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(LINE, max_size=40),
    newline_at_end=st.booleans(),
    bom=st.booleans(),
    n=st.integers(1, 12),
)
def test_ranges_cover_the_file_once_at_line_ends(tmp_path_factory, lines, newline_at_end, bom, n):
    """The reference: the file as one range. Ranges follow each other from the start
    (after a BOM) to the end of the file, each but the last ends just after a newline
    that ends a line that is not blank."""
    content = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines)
    if newline_at_end and content:
        content += b"\n"
    path = tmp_path_factory.mktemp("split") / "rows.jsonl"
    path.write_bytes(content)
    chunks = split_jsonl(str(path), n)
    start = 3 if bom else 0
    if len(content) <= start:
        assert chunks == []
        return
    assert 1 <= len(chunks) <= n
    assert chunks[0].start == start and chunks[-1].end == len(content)
    assert all(a.end == b.start and a.start < a.end for a, b in itertools.pairwise(chunks))
    for c in chunks[:-1]:
        assert content[c.end - 1 : c.end] == b"\n"
        last_line = content[c.start : c.end - 1].rsplit(b"\n", 1)[-1]
        assert last_line.strip(), "a range ends with a blank line"
