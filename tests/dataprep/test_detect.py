"""Detection: every row decides, the evidence is kept, and memory stays flat."""

from __future__ import annotations

import doctest
import glob
import os
import tracemalloc

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dataprep.detect
from dataprep.detect import LINES_KEPT, Detector, detect_file, detect_rows, row_formats
from dataprep.formats import FORMATS
from dataprep.formats.mapping import Mapping
from dataprep.reading import Record
from dataprep.validate.problems import Problem

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "samples")

MSG = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}
ALPACA = {"instruction": "Add 2 and 2", "output": "4"}
BOTH = {**MSG, **SHAREGPT}  # fits messages and sharegpt alike


def records(*rows, source="f.jsonl"):
    """Records as read_records gives them; a str stands for an unreadable row."""
    for i, row in enumerate(rows, 1):
        if isinstance(row, str):
            yield Record(source, i, None, None, Problem(source, i, "", row, "invalid-json"))
        else:
            yield Record(source, i, row, orjson.dumps(row), None)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (MSG, ("messages",)),
        (SHAREGPT, ("sharegpt",)),
        (ALPACA, ("alpaca",)),
        ({"text": "plain words"}, ("text",)),
        ({"text": "<|im_start|>user\nHi<|im_end|>\n"}, ("chatml",)),
        ({"prompt": "Q", "completion": "A"}, ("prompt-completion",)),
        ({"prompt": "Q", "completion": "A", "label": True}, ("kto",)),
        ({"prompt": "Q", "chosen": "A", "rejected": "B"}, ("preference",)),
        (BOTH, ("messages", "sharegpt")),
        ({"question": "Hi"}, ()),
        ({}, ()),
        ([1, 2], ()),
    ],
)
def test_row_formats(row, expected):
    assert row_formats(row) == expected


# (rows, status, format, kinds, lines of each kind)
DECISIONS = [
    ([MSG, MSG, MSG], "ok", "messages", {"messages": 3}, {"messages": [1, 2, 3]}),
    (
        [MSG, SHAREGPT, MSG, ALPACA],
        "mixed",
        None,
        {"messages": 2, "sharegpt": 1, "alpaca": 1},
        {"messages": [1, 3], "sharegpt": [2], "alpaca": [4]},
    ),
    (
        [MSG, {"question": "x"}],
        "mixed",
        None,
        {"messages": 1, "unknown": 1},
        {"messages": [1], "unknown": [2]},
    ),
    ([BOTH, BOTH], "ambiguous", None, {"messages|sharegpt": 2}, {"messages|sharegpt": [1, 2]}),
    # Rows that fit two formats beside rows that fit one: the one they all share wins.
    ([BOTH, MSG], "ok", "messages", {"messages|sharegpt": 1, "messages": 1}, None),
    ([{"question": "x"}, {"answer": "y"}], "unknown", None, {"unknown": 2}, {"unknown": [1, 2]}),
    ([], "unknown", None, {}, {}),
    # Unreadable rows decide nothing, but are counted.
    ([MSG, "bad", MSG], "ok", "messages", {"messages": 2}, {"messages": [1, 3]}),
    (["bad"], "unknown", None, {}, {}),
]


@pytest.mark.parametrize(("rows", "status", "fmt", "kinds", "lines"), DECISIONS)
def test_detect_rows_decides_from_every_row(rows, status, fmt, kinds, lines):
    d = detect_rows(records(*rows))
    assert (d.status, d.format, dict(d.kinds)) == (status, fmt, kinds)
    if lines is not None:
        assert d.lines == lines
    assert d.unreadable == sum(isinstance(r, str) for r in rows)
    assert d.rows == sum(not isinstance(r, str) for r in rows)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([MSG, MSG], "messages (2 rows)"),
        ([MSG, SHAREGPT], "mixed: rows disagree: messages (1 row), sharegpt (1 row)"),
        (
            [BOTH],
            "ambiguous: every row fits messages and sharegpt; say which with --format (validate) "
            "or --from (convert)",
        ),
        ([], "unknown: no rows"),
        (["bad"], "unknown: no readable rows"),
        (
            [{"instruction": "Hi", "response": "Yo"}],
            "unknown: no format fits these rows; closest is alpaca, which needs output",
        ),
        ([{"zzz": 1}], "unknown: no format fits these rows"),
    ],
)
def test_detection_message(rows, message):
    assert detect_rows(records(*rows)).message == message


@pytest.mark.parametrize(
    ("rows", "closest", "missing", "hint"),
    [
        (
            [{"instruction": "Hi", "response": "Yo"}],
            "alpaca",
            ["output"],
            "--field output=response",
        ),
        (
            [{"dialog": [], "id": 1}],
            None,
            [],
            "--field NAME=KEY to map your keys onto a format's fields",
        ),
        (
            [{"prompt": "Q", "answer": "A"}],
            "prompt-completion",
            ["completion"],
            "--field completion=answer",
        ),
    ],
)
def test_unknown_names_the_closest_format(rows, closest, missing, hint):
    d = detect_rows(records(*rows))
    assert (d.status, d.closest, d.missing, d.hint) == ("unknown", closest, missing, hint)


def test_evidence_counts_keys_and_keeps_few_lines():
    rows = [{**MSG, "id": i} for i in range(20)] + [SHAREGPT] * 3
    d = detect_rows(records(*rows))
    assert d.keys == {"messages": 20, "id": 20, "conversations": 3}
    assert d.lines["messages"] == list(range(1, LINES_KEPT + 1))
    assert d.lines["sharegpt"] == [21, 22, 23]


def test_unreadable_lines_are_kept():
    d = detect_rows(records(MSG, "a", "b", MSG))
    assert (d.unreadable, d.unreadable_lines, d.is_single) == (2, [2, 3], False)


def test_mapping_applies_before_detection():
    mapping = Mapping.from_specs(fields=["messages=dialog", "role=speaker", "content=text"])
    row = {"dialog": [{"speaker": "user", "text": "Hi"}, {"speaker": "assistant", "text": "Yo"}]}
    assert detect_rows(records(row)).status == "unknown"
    d = detect_rows(records(row), mapping=mapping)
    assert (d.status, d.format) == ("ok", "messages")


@pytest.mark.parametrize("numbered_from", ["file", "part"])
def test_merge_equals_one_pass(numbered_from):
    """A later part merged in (its lines numbered in the file, or from 1 in the part
    with the offset given to merge) gives what one pass gives."""
    rows = [MSG, SHAREGPT, MSG, "bad", ALPACA, BOTH, {"q": 1}, {**MSG, "label": True}] * 3
    one = Detector("f")
    first, second = Detector("f"), Detector("f")
    for i, r in enumerate(records(*rows)):
        for d in (one, first if i < 10 else second):
            line = r.line - 10 if d is second and numbered_from == "part" else r.line
            if r.problem:
                d.add_unreadable(line)
            else:
                d.add(r.value, line)
    first.merge(second, line_offset=10 if numbered_from == "part" else 0)
    assert first.result().to_json() == one.result().to_json()


KEYS = ["messages", "conversations", "instruction", "output", "text", "prompt", "completion",
        "label", "kto_tag", "chosen", "rejected", "chosen_messages", "rejected_messages", "id",
        "role"]  # fmt: skip
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.sampled_from(["", "hi", "<|im_start|>user\nhi<|im_end|>\n", "user", "human"]),
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(st.sampled_from(["role", "from", "content", "value"]), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5))
def test_detect_keys_only_skip_formats_that_would_not_claim_the_row(row):
    """DETECT_KEYS lets detection skip formats: never one that would claim the row."""
    every = tuple(name for name, module in FORMATS.items() if module.detect(row))
    assert row_formats(row) == every
    d = Detector("f")
    assert d.add(row, 1) == every


def test_keys_are_counted_across_many_key_sets():
    """More key sets than are kept apart: the counts stay exact (and memory bounded)."""
    rows = [{"text": "t", f"k{i}": 1} for i in range(3000)] + [{"text": "t"}] * 5
    d = detect_rows(records(*rows))
    assert d.keys["text"] == 3005 and d.keys["k7"] == 1 and len(d.keys) == 3001
    assert (d.status, d.format) == ("ok", "text")


def test_streaming_memory_stays_flat():
    """100 000 rows through detect_rows: no list of rows is kept."""
    row = {"messages": [{"role": "user", "content": "x" * 200}], "id": 1}

    def many():
        for i in range(100_000):
            yield Record("f", i + 1, dict(row), None, None)

    tracemalloc.start()
    d = detect_rows(many())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert d.rows == 100_000
    assert peak < 2_000_000  # a kept list of rows would be tens of MB


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(SAMPLES, "*.jsonl"))))
def test_every_sample_detects_as_itself(path):
    d = detect_file(path)
    name = os.path.basename(path)[: -len(".jsonl")]
    assert (d.status, d.format, d.unreadable) == ("ok", name, 0)


def test_samples_cover_every_format():
    names = {
        os.path.basename(p)[: -len(".jsonl")] for p in glob.glob(os.path.join(SAMPLES, "*.jsonl"))
    }
    assert set(FORMATS) <= names


def test_to_json_round_trips_through_json():
    d = detect_rows(records(MSG, SHAREGPT, "bad"))
    doc = orjson.loads(orjson.dumps(d.to_json()))
    assert doc["status"] == "mixed"
    assert doc["kinds"] == {"messages": 1, "sharegpt": 1}
    assert doc["unreadable_lines"] == [3]


def test_doctests():
    assert doctest.testmod(dataprep.detect).failed == 0


def test_a_file_with_no_rows_is_a_file_problem_not_an_unreadable_row():
    empty = Problem("e.jsonl", 0, "", "the file holds no rows", "empty-file")
    d = detect_rows([Record("e.jsonl", 0, None, None, empty)])
    assert (d.status, d.rows, d.unreadable, d.is_single) == ("unknown", 0, 0, False)
    assert d.file_problems == ["the file holds no rows [empty-file]"]
    assert d.message == "unknown: no rows"
