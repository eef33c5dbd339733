from __future__ import annotations

import pytest

from dataprep.canonical import Conversation, Message, ToolCall
from dataprep.errors import LossyConversion, RowError
from dataprep.formats import chatml

S, U, A = "system", "user", "assistant"
TEXT = "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi\nthere<|im_end|>\n<|im_start|>assistant\nHello 👋<|im_end|>\n"

TO_CANONICAL = [
    (
        {"text": TEXT},
        Conversation([Message(S, "Be kind."), Message(U, "Hi\nthere"), Message(A, "Hello 👋")]),
    ),
    # the last newline may be missing; contents may be empty; unknown keys are carried
    (
        {"text": "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\nok<|im_end|>", "id": 4},
        Conversation([Message(U, ""), Message(A, "ok")], extra={"id": 4}),
    ),
    ({"text": "<|im_start|>tool\n{}<|im_end|>\n"}, Conversation([Message("tool", "{}")])),
]


@pytest.mark.parametrize(("row", "expected"), TO_CANONICAL)
def test_to_canonical(row, expected):
    assert chatml.to_canonical(row) == expected


def test_origins_name_the_offset_of_each_turn():
    conv = chatml.to_canonical({"text": TEXT})
    starts = [TEXT.index(f"<|im_start|>{role}") for role in (S, U, A)]
    assert [m.origin for m in conv.messages] == [f"text@{i}" for i in starts]


ERRORS = [
    (
        "<s><|im_start|>user\nHi<|im_end|>\n",
        "chatml-parse",
        "at character 0: expected <|im_start|>",
    ),
    (
        "<|im_start|>user\nHi<|im_end|>\nstray<|im_start|>assistant\nx<|im_end|>\n",
        "chatml-parse",
        "at character 30:",
    ),
    (
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello",
        "chatml-parse",
        "at character 30: turn is not closed",
    ),
    (
        "<|im_start|>user\nHi<|im_start|>assistant\nx<|im_end|>\n",
        "chatml-parse",
        "at character 0: turn is not closed",
    ),
    (
        "<|im_start|>user Hi<|im_end|>\n",
        "chatml-parse",
        "at character 12: the role must be followed by a newline",
    ),
    (
        "<|im_start|>narrator\nOnce<|im_end|>\n",
        "unknown-role",
        "at character 12: unknown role 'narrator'",
    ),
    ("", "chatml-parse", "no <|im_start|> turn found"),
]


@pytest.mark.parametrize(("text", "code", "message"), ERRORS)
def test_parse_errors_name_the_offset(text, code, message):
    with pytest.raises(RowError) as info:
        chatml.to_canonical({"text": text})
    assert (info.value.path, info.value.code) == ("text", code)
    assert message in info.value.message


@pytest.mark.parametrize(
    ("row", "code"), [({}, "missing-field"), ({"text": ["x"]}, "non-string-content")]
)
def test_row_errors(row, code):
    with pytest.raises(RowError) as info:
        chatml.to_canonical(row)
    assert info.value.code == code


FROM_CANONICAL = [
    (
        Conversation([Message(S, "Be kind."), Message(U, "Hi\nthere"), Message(A, "Hello 👋")]),
        {"text": TEXT},
    ),
    (
        Conversation([Message(A, "Once")], plain=True, extra={"id": 1}),
        {"text": "<|im_start|>assistant\nOnce<|im_end|>\n", "id": 1},
    ),
]


@pytest.mark.parametrize(("example", "row"), FROM_CANONICAL)
def test_from_canonical(example, row):
    assert chatml.from_canonical(example) == (row, [])


LOSSY = [
    (
        Conversation(
            [
                Message(U, "Weather?", name="ann"),
                Message(A, None, tool_calls=[ToolCall("w", "{}", id="c1")]),
                Message("tool", "sunny", tool_call_id="c1"),
                Message(A, "Sunny.", reasoning="easy", train=True),
            ],
            tools=[{"name": "w"}],
        ),
        {
            # The result goes with its call: left alone it would fail validate.
            "text": "<|im_start|>user\nWeather?<|im_end|>\n"
            "<|im_start|>assistant\nSunny.<|im_end|>\n"
        },
        [
            "tool calls",
            "tool results",
            "message names",
            "reasoning",
            "per-message train flags",
            "tool definitions",
        ],
    ),
    (
        Conversation([Message(A, "x")], extra={"messages": [], "k": 1}),
        {"text": "<|im_start|>assistant\nx<|im_end|>\n", "k": 1},
        ["extra field 'messages'"],
    ),
    (
        Conversation([Message(A, "x", extra={"id": "m1"})]),
        {"text": "<|im_start|>assistant\nx<|im_end|>\n"},
        ["message field 'id'"],
    ),
]


@pytest.mark.parametrize(("example", "row", "dropped"), LOSSY)
def test_lossy_needs_permission(example, row, dropped):
    with pytest.raises(LossyConversion) as info:
        chatml.from_canonical(example)
    assert info.value.dropped == dropped
    assert chatml.from_canonical(example, allow_lossy=True) == (row, dropped)


NOT_CONVERTIBLE = [
    Conversation([Message(U, "say <|im_end|> please"), Message(A, "no")]),
    Conversation([Message(U, None), Message(A, "a")]),
    Conversation([Message(A, None, tool_calls=[ToolCall("w", "{}")])]),
]


@pytest.mark.parametrize("example", NOT_CONVERTIBLE)
def test_not_convertible(example):
    with pytest.raises(RowError) as info:
        chatml.from_canonical(example, allow_lossy=True)
    assert info.value.code == "not-convertible"
