"""``convert --allow-lossy`` writes only rows that validate as the target: turns that
dropping tool use (or a late system message) leaves side by side are merged, results
go with their calls. A table over source shapes x targets; and the alpaca round trip
that joins ``instruction`` and ``input`` and says so."""

from __future__ import annotations

import orjson
import pytest

from dataprep.convert import NOTE_JOINED_INPUT, convert_file
from dataprep.formats import FORMATS
from dataprep.reading import read_records
from dataprep.validate.files import validate_files


def msg(role, text, **more):
    return {"role": role, "content": text, **more}


def call(i, text=None):
    fn = {"name": "weather", "arguments": "{}"}
    return msg("assistant", text, tool_calls=[{"id": f"c{i}", "type": "function", "function": fn}])


def result(i, text):
    return msg("tool", text, tool_call_id=f"c{i}")


Q, A = msg("user", "Weather?"), msg("assistant", "Sunny.")
SHAPES = {
    "plain chat": {"messages": [Q, A]},
    "system first": {"messages": [msg("system", "Be brief."), Q, A]},
    "call without text": {"messages": [Q, call(1), result(1, "21C"), A]},
    "call with text": {"messages": [Q, call(1, "Let me look."), result(1, "21C"), A]},
    "two calls": {
        "messages": [Q, call(1, "One."), result(1, "x"), call(2, "Two."), result(2, "y"), A]
    },
    "sharegpt call": {
        "conversations": [
            {"from": "human", "value": "Weather?"},
            {"from": "gpt", "value": "Let me look."},
            {"from": "function_call", "value": '{"name": "weather", "arguments": {}}'},
            {"from": "observation", "value": "21C"},
            {"from": "gpt", "value": "Sunny."},
        ]
    },
    "user twice": {"messages": [Q, msg("user", "In Paris."), A]},
    "preference with calls": {
        "prompt": [Q],
        "chosen": [call(1, "Let me look."), result(1, "21C"), A],
        "rejected": [msg("assistant", "No idea.")],
    },
    "kto with calls": {
        "messages": [Q, call(1, "Let me look."), result(1, "21C"), A],
        "label": True,
    },
}

# (shape, target): the reject code where a row cannot be written even with --allow-lossy;
# every other pair is written. Left here only what no dropping can fix: a conversation
# is no preference pair or KTO example, and chat turns are no plain text.
REFUSED = {
    **{(shape, "preference"): "not-convertible" for shape in SHAPES},
    **{(shape, "kto"): "not-convertible" for shape in SHAPES},
    **{(shape, "text"): "not-convertible" for shape in SHAPES},
}
del REFUSED[("preference with calls", "preference")], REFUSED[("kto with calls", "kto")]
TARGETS = sorted(FORMATS)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_row_written_under_allow_lossy_validates(tmp_path, shape, target):
    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps(SHAPES[shape]) + b"\n")
    out = tmp_path / "out.jsonl"
    c = convert_file(str(src), str(out), target, allow_lossy=True)
    expected = REFUSED.get((shape, target))
    if expected is None:
        assert (c.rows_out, dict(c.reasons)) == (1, {})
        report = validate_files([str(out)], fmt=target)
        assert report.errors == 0
    else:
        assert (c.rows_out, dict(c.reasons)) == (0, {expected: 1})


def test_merged_turns_are_counted_and_joined_by_a_blank_line(tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [SHAPES["call with text"], SHAPES["call without text"], SHAPES["user twice"]]
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out = tmp_path / "out.jsonl"
    c = convert_file(str(src), str(out), "alpaca", allow_lossy=True)
    assert c.dropped == {
        "tool calls": 2,
        "tool results": 2,
        "turn boundaries (consecutive turns merged)": 2,
    }
    written = [r.value for r in read_records(str(out))]
    assert [(r["instruction"], r["output"]) for r in written] == [
        ("Weather?", "Let me look.\n\nSunny."),
        ("Weather?", "Sunny."),
        ("Weather?\n\nIn Paris.", "Sunny."),
    ]


ALPACA = [
    # (row, joined: does reading it join instruction and input?)
    ({"instruction": "Translate to French", "input": "cheese", "output": "fromage"}, True),
    ({"instruction": "Add 2 and 2", "input": "", "output": "4"}, False),
    ({"instruction": "Add 2 and 2", "output": "4"}, False),
]


@pytest.mark.parametrize(("row", "joined"), ALPACA)
def test_alpaca_round_trip_says_when_instruction_and_input_are_joined(tmp_path, row, joined):
    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps(row) + b"\n")
    mid, back = tmp_path / "mid.jsonl", tmp_path / "back.jsonl"
    there = convert_file(str(src), str(mid), "messages")
    home = convert_file(str(mid), str(back), "alpaca")
    [chat] = [r.value for r in read_records(str(mid))]
    [again] = [r.value for r in read_records(str(back))]
    user = row["instruction"] + ("\n\n" + row["input"] if row.get("input") else "")
    assert chat["messages"][0] == {"role": "user", "content": user}
    assert (again["instruction"], again["input"], again["output"]) == (user, "", row["output"])
    # The join is counted on the way in, where it happens; nothing is dropped either way.
    assert there.notes == ({NOTE_JOINED_INPUT: 1} if joined else {})
    assert (there.dropped, home.dropped, home.notes) == ({}, {}, {})
    assert (again == {**row, "input": ""}) is not joined


def test_alpaca_to_alpaca_notes_the_join_too(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps(ALPACA[0][0]) + b"\n")
    c = convert_file(str(src), str(tmp_path / "out.jsonl"), "alpaca")
    assert c.notes == {NOTE_JOINED_INPUT: 1}
    assert c.to_json()["notes"] == {NOTE_JOINED_INPUT: 1}
