"""Conversion: every row accounted for, rejects with line and reason, atomic output,
outputs in every container, and every sample converts to every format it can."""

from __future__ import annotations

import doctest
import glob
import os

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dataprep._fast.parallel
import dataprep.convert
from dataprep.convert import convert_file, default_rejects_path
from dataprep.detect import detect_file
from dataprep.errors import UsageError
from dataprep.formats import FORMATS
from dataprep.formats.mapping import Mapping
from dataprep.reading import read_records
from dataprep.validate.files import validate_files

SAMPLES = sorted(
    glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "..", "samples", "*.jsonl"))
)

MSG = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
MULTI = {
    "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Yo"},
        {"role": "user", "content": "And?"},
        {"role": "assistant", "content": "Done"},
    ]
}
TOOLS = {
    "messages": [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "21C"},
        {"role": "assistant", "content": "21C"},
    ]
}
SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}


def write(path, *rows):
    path.write_bytes(
        b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows)
    )
    return str(path)


def read(path):
    """The rows of a file (an empty file has none)."""
    return [r.value for r in read_records(str(path)) if r.problem is None]


def expected(row, to, allow_lossy=False):
    """What the adapters make of one row: the conversion must be exactly that."""
    [fmt] = [n for n, m in FORMATS.items() if m.detect(row)]
    return FORMATS[to].from_canonical(FORMATS[fmt].to_canonical(row), allow_lossy=allow_lossy)[0]


# (rows, target, allow_lossy, rows out (indexes into rows), reject codes by line)
CASES = [
    ([MSG, SHAREGPT], "sharegpt", False, [0, 1], {}),
    ([MSG, MULTI], "alpaca", False, [0, 1], {}),  # history holds the earlier turns
    ([MSG, TOOLS], "alpaca", False, [0], {2: "lossy"}),
    ([MSG, TOOLS], "alpaca", True, [0, 1], {}),
    ([MSG, TOOLS], "chatml", False, [0], {2: "lossy"}),
    (
        [MSG, b"{bad", {"question": "x"}],
        "messages",
        False,
        [0],
        {2: "invalid-json", 3: "unknown-format"},
    ),
    (
        [MSG, {"messages": [{"role": "bot", "content": "x"}]}],
        "sharegpt",
        False,
        [0],
        {2: "unknown-role"},
    ),
    ([{"prompt": "Q", "chosen": "A", "rejected": "B"}], "kto", False, [], {1: "not-convertible"}),
    ([{"prompt": "Q", "chosen": "A", "rejected": "B"}], "prompt-completion", True, [0], {}),
]


@pytest.mark.parametrize(("rows", "to", "lossy", "kept", "rejected"), CASES)
def test_every_row_is_accounted_for(tmp_path, rows, to, lossy, kept, rejected):
    src = write(tmp_path / "in.jsonl", *rows)
    out = tmp_path / "out.jsonl"
    c = convert_file(src, str(out), to, allow_lossy=lossy)
    assert c.rows_in == c.rows_out + c.rejected == len(rows)
    assert read(out) == [expected(rows[i], to, lossy) for i in kept]
    rejects = tmp_path / "out.jsonl.rejects.jsonl"
    if rejected:
        got = {r["line"]: r["code"] for r in read(rejects)}
        assert got == rejected
        assert c.exit_code == 1
    else:
        assert not rejects.exists()
        assert c.exit_code == 0


def test_reject_lines_hold_source_line_code_message_and_row(tmp_path):
    src = write(tmp_path / "in.jsonl", MSG, TOOLS, b"{bad")
    out = tmp_path / "out.jsonl"
    c = convert_file(src, str(out), "alpaca")
    [lossy, bad] = read(tmp_path / "out.jsonl.rejects.jsonl")
    assert lossy == {
        "source": src,
        "line": 2,
        "code": "lossy",
        "message": "converting to alpaca would drop tool calls, tool results (pass --allow-lossy to drop them)",
        "row": TOOLS,
    }
    assert (bad["line"], bad["code"], bad["row"]) == (3, "invalid-json", "{bad")
    assert c.reasons == {"lossy": 1, "invalid-json": 1}
    assert c.examples["lossy"][0] == 2


def test_lossy_conversion_counts_what_was_dropped(tmp_path):
    src = write(tmp_path / "in.jsonl", TOOLS, TOOLS, MSG)
    c = convert_file(src, str(tmp_path / "out.jsonl"), "alpaca", allow_lossy=True)
    assert c.dropped == {"tool calls": 2, "tool results": 2}
    assert c.summary_line() == "3 rows in = 3 rows out + 0 rejected"


def test_mixed_file_converts_row_by_row(tmp_path):
    src = write(tmp_path / "in.jsonl", MSG, SHAREGPT, {"instruction": "Hi", "output": "Yo"})
    c = convert_file(src, str(tmp_path / "out.jsonl"), "messages")
    assert c.formats == {"messages": 1, "sharegpt": 1, "alpaca": 1}
    assert read(tmp_path / "out.jsonl") == [MSG, MSG, MSG]


def test_forced_source_format(tmp_path):
    src = write(tmp_path / "in.jsonl", MSG)
    c = convert_file(src, str(tmp_path / "out.jsonl"), "messages", from_format="sharegpt")
    # The code validate --format sharegpt gives the row (the schema's, before the adapter's).
    assert (c.rows_out, c.reasons) == (0, {"schema": 1})


def test_ambiguous_rows_are_read_as_the_first_candidate_and_counted(tmp_path):
    src = write(tmp_path / "in.jsonl", {**MSG, **SHAREGPT})
    c = convert_file(src, str(tmp_path / "out.jsonl"), "messages")
    assert c.ambiguous == {"messages|sharegpt": 1}
    assert c.formats == {"messages": 1}


def test_mapping_applies_before_detection(tmp_path):
    row = {"dialog": [{"speaker": "human", "text": "Hi"}, {"speaker": "bot", "text": "Yo"}]}
    src = write(tmp_path / "in.jsonl", row)
    mapping = Mapping.from_specs(
        fields=["messages=dialog", "role=speaker", "content=text"],
        roles=["human=user", "bot=assistant"],
    )
    c = convert_file(src, str(tmp_path / "out.jsonl"), "sharegpt", mapping=mapping)
    assert c.rows_out == 1
    assert read(tmp_path / "out.jsonl") == [SHAREGPT]


@pytest.mark.parametrize(
    "name", ["out.jsonl", "out.json", "out.parquet", "out.jsonl.gz", "out.jsonl.zst"]
)
def test_output_container_follows_the_extension(tmp_path, name):
    src = write(tmp_path / "in.jsonl", MSG, MULTI, TOOLS)
    out = tmp_path / name
    c = convert_file(src, str(out), "messages")
    assert c.rows_out == 3
    # Parquet cannot tell a null from an absent key: compare what the rows mean.
    canonical = FORMATS["messages"].to_canonical
    assert [canonical(r) for r in read(out)] == [canonical(r) for r in (MSG, MULTI, TOOLS)]


def test_output_is_atomic(tmp_path, monkeypatch):
    """Interrupted half-way: neither the output nor a rejects file appears."""
    src = write(tmp_path / "in.jsonl", MSG, b"{bad", MSG, MSG)
    real = FORMATS["sharegpt"].from_canonical
    calls = []

    def interrupted(example, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(example, **kw)

    monkeypatch.setattr(FORMATS["sharegpt"], "from_canonical", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_file(src, str(tmp_path / "out.jsonl"), "sharegpt")
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl"]


@pytest.mark.parametrize("out_name", ["out.jsonl", "out.json", "out.parquet"])
def test_parallel_conversion_equals_one_process(tmp_path, monkeypatch, out_name):
    """Workers over byte ranges write the same rows, rejects (with their lines) and
    counts, in order, wherever blank lines fall."""
    rows = []
    for i in range(3000):
        text = f"question {i} " + "x" * 420
        if i % 13 == 6:
            rows.append(b"" if i % 2 else b"  \t")
            continue
        rows.append(
            [MSG, TOOLS, SHAREGPT, b"{bad", MULTI][i % 5]
            if i % 7 == 0
            else {**MSG, "id": i, "q": text}
        )
    src = write(tmp_path / "in.jsonl", *rows)
    assert os.path.getsize(src) > 1.2 * 1024 * 1024
    monkeypatch.setattr(dataprep._fast.parallel, "PARALLEL_MIN_BYTES", 0)
    results = {}
    for jobs in (1, 2, 3, 5):
        out = tmp_path / f"{jobs}" / out_name
        out.parent.mkdir()
        c = convert_file(src, str(out), "alpaca", jobs=jobs)
        rejects = (tmp_path / f"{jobs}" / f"{out_name}.rejects.jsonl").read_bytes()
        rejects = rejects.replace(f"/{jobs}/".encode(), b"/")
        written = read(out) if out_name.endswith(".parquet") else out.read_bytes()
        results[jobs] = (written, rejects, c.to_json() | {"output": None, "rejects": None})
    assert results[2] == results[3] == results[5] == results[1]
    assert results[1][2]["rejected"] > 0 and results[1][2]["rows_out"] > 2300


def test_usage_errors(tmp_path):
    src = write(tmp_path / "in.jsonl", MSG)
    with pytest.raises(UsageError, match="unknown format 'chat' for --to"):
        convert_file(src, str(tmp_path / "o.jsonl"), "chat")
    with pytest.raises(UsageError, match="is the output file"):
        convert_file(src, str(tmp_path / "o.jsonl"), "messages", rejects=str(tmp_path / "o.jsonl"))


@pytest.mark.parametrize(
    ("source", "output", "rejects"),
    [
        ("in.jsonl", "out/x.parquet", "out/x.parquet.rejects.jsonl"),
        ("data/in.jsonl", "-", "in.jsonl.rejects.jsonl"),
        ("-", "-", "stdin.rejects.jsonl"),
    ],
)
def test_default_rejects_path(source, output, rejects):
    assert default_rejects_path(source, output) == rejects


@pytest.mark.parametrize("sample", SAMPLES, ids=os.path.basename)
@pytest.mark.parametrize("to", sorted(FORMATS))
def test_every_sample_converts_to_every_format_and_detects_as_it(tmp_path, sample, to):
    out = tmp_path / "out.jsonl"
    c = convert_file(sample, str(out), to, allow_lossy=True)
    assert c.rows_in == c.rows_out + c.rejected
    # With --allow-lossy only the impossible is refused, and rows whose lossy form the
    # target's own checks reject (tool results whose calls were dropped).
    assert set(c.reasons) <= {"not-convertible", "orphan-tool-result"}
    if c.rows_out:
        assert validate_files([str(out)], fmt=to).errors == 0
        d = detect_file(str(out))
        assert (d.status, d.format) == ("ok", to)


TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20
).filter(lambda s: s.strip() and "<" not in s)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=4))
def test_messages_sharegpt_messages_round_trip_through_files(tmp_path_factory, pairs):
    folder = tmp_path_factory.mktemp("rt")
    row = {
        "messages": [
            m
            for q, r in pairs
            for m in ({"role": "user", "content": q}, {"role": "assistant", "content": r})
        ]
    }
    src = write(folder / "in.jsonl", row)
    convert_file(src, str(folder / "mid.parquet"), "sharegpt")
    convert_file(str(folder / "mid.parquet"), str(folder / "back.jsonl"), "messages")
    assert read(folder / "back.jsonl") == [row]


def test_doctests():
    assert doctest.testmod(dataprep.convert).failed == 0
