from __future__ import annotations

import pytest

from dataprep.canonical import Conversation, Message, Preference, ToolCall
from dataprep.errors import LossyConversion, RowError
from dataprep.formats import alpaca

S, U, A = "system", "user", "assistant"

TO_CANONICAL = [
    (
        {"instruction": "Add 2 and 2", "output": "4"},
        Conversation([Message(U, "Add 2 and 2"), Message(A, "4")]),
    ),
    (
        {"instruction": "Add 2 and 2", "input": "", "output": "4"},
        Conversation([Message(U, "Add 2 and 2"), Message(A, "4")]),
    ),
    # a non-empty input joins the instruction after a blank line
    (
        {"instruction": "Translate", "input": "chat", "output": "cat"},
        Conversation([Message(U, "Translate\n\nchat"), Message(A, "cat")]),
    ),
    (
        {
            "system": "Be terse.",
            "instruction": "And 3+3?",
            "input": "",
            "output": "6",
            "history": [["1+1?", "2"], ["2+2?", "4"]],
        },
        Conversation(
            [
                Message(S, "Be terse."),
                Message(U, "1+1?"),
                Message(A, "2"),
                Message(U, "2+2?"),
                Message(A, "4"),
                Message(U, "And 3+3?"),
                Message(A, "6"),
            ]
        ),
    ),
    # empty system and null history mean none; unknown keys are carried
    (
        {
            "system": "",
            "history": None,
            "instruction": "hi",
            "output": "hello",
            "id": 9,
            "lang": "en",
        },
        Conversation([Message(U, "hi"), Message(A, "hello")], extra={"id": 9, "lang": "en"}),
    ),
    # null text is left for validate to report, with its path
    ({"instruction": "hi", "output": None}, Conversation([Message(U, "hi"), Message(A, None)])),
]


@pytest.mark.parametrize(("row", "expected"), TO_CANONICAL)
def test_to_canonical(row, expected):
    assert alpaca.to_canonical(row) == expected


def test_origins_point_into_the_row():
    row = {
        "system": "S",
        "instruction": "q",
        "input": "i",
        "output": "a",
        "history": [["q0", "a0"]],
    }
    assert [m.origin for m in alpaca.to_canonical(row).messages] == [
        "system",
        "history[0][0]",
        "history[0][1]",
        "instruction",
        "output",
    ]


ERRORS = [
    ({"output": "4"}, "instruction", "missing-field"),
    ({"instruction": "x"}, "output", "missing-field"),
    ({"instruction": 3, "output": "4"}, "instruction", "non-string-content"),
    ({"instruction": "x", "output": ["4"]}, "output", "non-string-content"),
    ({"instruction": "x", "input": 1, "output": "4"}, "input", "non-string-content"),
    ({"instruction": "x", "output": "4", "history": "q a"}, "history", "wrong-type"),
    ({"instruction": "x", "output": "4", "history": [["q"]]}, "history[0]", "wrong-type"),
    (
        {"instruction": "x", "output": "4", "history": [["q", "a"], ["q", 2]]},
        "history[1][1]",
        "non-string-content",
    ),
]


@pytest.mark.parametrize(("row", "path", "code"), ERRORS)
def test_to_canonical_errors(row, path, code):
    with pytest.raises(RowError) as info:
        alpaca.to_canonical(row)
    assert (info.value.path, info.value.code) == (path, code)


FROM_CANONICAL = [
    (
        Conversation([Message(U, "q"), Message(A, "a")]),
        {"instruction": "q", "input": "", "output": "a"},
    ),
    # multi-turn goes into history without loss
    (
        Conversation(
            [
                Message(S, "s"),
                Message(U, "q0"),
                Message(A, "a0"),
                Message(U, "q1"),
                Message(A, "a1"),
                Message(U, "q"),
                Message(A, "a"),
            ],
            extra={"id": 1},
        ),
        {
            "system": "s",
            "history": [["q0", "a0"], ["q1", "a1"]],
            "instruction": "q",
            "input": "",
            "output": "a",
            "id": 1,
        },
    ),
    # a plain prompt/completion pair is an instruction and its output
    (
        Conversation([Message(U, "q"), Message(A, "a")], plain=True),
        {"instruction": "q", "input": "", "output": "a"},
    ),
]


@pytest.mark.parametrize(("example", "row"), FROM_CANONICAL)
def test_from_canonical(example, row):
    assert alpaca.from_canonical(example) == (row, [])


LOSSY = [
    (
        Conversation(
            [
                Message(U, "Weather?"),
                Message(A, None, tool_calls=[ToolCall("w", "{}", id="c")]),
                Message("tool", "sunny", tool_call_id="c"),
                Message(A, "Sunny."),
            ],
            tools=[{"name": "w"}],
        ),
        {"instruction": "Weather?", "input": "", "output": "Sunny."},
        ["tool calls", "tool results", "tool definitions"],
    ),
    (
        Conversation(
            [
                Message(U, "q", name="bob"),
                Message(A, "Checking.", tool_calls=[ToolCall("w", {})], reasoning="r", train=True),
            ]
        ),
        {"instruction": "q", "input": "", "output": "Checking."},
        ["tool calls", "message names", "reasoning", "per-message train flags"],
    ),
    (
        Conversation([Message(S, "s"), Message(U, "q"), Message(S, "late"), Message(A, "a")]),
        {"system": "s", "instruction": "q", "input": "", "output": "a"},
        ["system messages after the first turn"],
    ),
    (
        Preference([Message(U, "q")], [Message(A, "good")], [Message(A, "bad")]),
        {"instruction": "q", "input": "", "output": "good"},
        ["rejected responses"],
    ),
    (
        Conversation([Message(U, "q"), Message(A, "a")], extra={"input": "kept apart", "k": "v"}),
        {"instruction": "q", "input": "", "output": "a", "k": "v"},
        ["extra field 'input'"],
    ),
    # Turns that dropping leaves side by side are merged (a blank line between), so the
    # row is alternating alpaca that validates.
    (
        Conversation(
            [
                Message(U, "Weather?"),
                Message(A, "Let me look.", tool_calls=[ToolCall("w", "{}")]),
                Message("tool", "sunny"),
                Message(A, "Sunny."),
            ]
        ),
        {"instruction": "Weather?", "input": "", "output": "Let me look.\n\nSunny."},
        ["tool calls", "tool results", "turn boundaries (consecutive turns merged)"],
    ),
    (
        Conversation([Message(U, "q"), Message(S, "late"), Message(U, "more"), Message(A, "a")]),
        {"instruction": "q\n\nmore", "input": "", "output": "a"},
        ["system messages after the first turn", "turn boundaries (consecutive turns merged)"],
    ),
    (
        Conversation([Message(U, "q"), Message(U, "again"), Message(A, "a")]),
        {"instruction": "q\n\nagain", "input": "", "output": "a"},
        ["turn boundaries (consecutive turns merged)"],
    ),
    # alpaca has no message dicts: the keys of a message's extra are named
    (
        Conversation(
            [
                Message(U, "q", extra={"timestamp": 1}),
                Message(A, "a", extra={"id": 2, "timestamp": 3}),
            ]
        ),
        {"instruction": "q", "input": "", "output": "a"},
        ["message field 'timestamp'", "message field 'id'"],
    ),
]


@pytest.mark.parametrize(("example", "row", "dropped"), LOSSY)
def test_lossy_needs_permission(example, row, dropped):
    with pytest.raises(LossyConversion) as info:
        alpaca.from_canonical(example)
    assert info.value.dropped == dropped
    assert alpaca.from_canonical(example, allow_lossy=True) == (row, dropped)


NOT_CONVERTIBLE = [
    Conversation([Message(A, "Once upon a time")], plain=True),  # a text row: no instruction
    Conversation([Message(U, "q")]),  # no answer
    Conversation([Message(A, "hi"), Message(U, "q"), Message(A, "a")]),
    Conversation([Message(U, None), Message(A, "a")]),
    Conversation([]),
]


@pytest.mark.parametrize("example", NOT_CONVERTIBLE)
def test_not_convertible(example):
    with pytest.raises(RowError) as info:
        alpaca.from_canonical(example, allow_lossy=True)
    assert info.value.code == "not-convertible"
