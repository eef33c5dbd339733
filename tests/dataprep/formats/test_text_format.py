from __future__ import annotations

import pytest

from dataprep.canonical import Conversation, Message, Preference, ToolCall
from dataprep.errors import LossyConversion, RowError
from dataprep.formats import text

U, A = "user", "assistant"

TO_CANONICAL = [
    ({"text": "Once upon a time"}, Conversation([Message(A, "Once upon a time")], plain=True)),
    ({"text": "", "id": 2}, Conversation([Message(A, "")], plain=True, extra={"id": 2})),
    ({"text": None}, Conversation([Message(A, None)], plain=True)),
]


@pytest.mark.parametrize(("row", "expected"), TO_CANONICAL)
def test_to_canonical(row, expected):
    conv = text.to_canonical(row)
    assert conv == expected
    assert conv.messages[0].origin == "text"


@pytest.mark.parametrize(
    ("row", "path", "code"),
    [({}, "text", "missing-field"), ({"text": 3}, "text", "non-string-content")],
)
def test_to_canonical_errors(row, path, code):
    with pytest.raises(RowError) as info:
        text.to_canonical(row)
    assert (info.value.path, info.value.code) == (path, code)


FROM_CANONICAL = [
    (Conversation([Message(A, "Once")], plain=True, extra={"id": 1}), {"text": "Once", "id": 1}),
    # a chat conversation of one assistant message is that message's text
    (Conversation([Message(A, "Once")]), {"text": "Once"}),
]


@pytest.mark.parametrize(("example", "row"), FROM_CANONICAL)
def test_from_canonical(example, row):
    assert text.from_canonical(example) == (row, [])


LOSSY = [
    # a string prompt-completion: concatenated as it is trained, the boundary is lost
    (
        Conversation([Message(U, "The sky is"), Message(A, " blue.")], plain=True),
        {"text": "The sky is blue."},
        ["prompt/completion boundary"],
    ),
    (
        Preference([], [Message(A, "good")], [Message(A, "bad")], plain=True),
        {"text": "good"},
        ["rejected responses"],
    ),
    (
        Conversation([Message(A, "x", train=True)], tools=[{"name": "f"}]),
        {"text": "x"},
        ["per-message train flags", "tool definitions"],
    ),
    (
        Conversation([Message(A, "x")], extra={"messages": 1, "text": "old"}),
        {"text": "x"},
        ["extra field 'messages'", "extra field 'text'"],
    ),
    (
        Conversation([Message(A, "x", extra={"source": "web"})], plain=True),
        {"text": "x"},
        ["message field 'source'"],
    ),
]


@pytest.mark.parametrize(("example", "row", "dropped"), LOSSY)
def test_lossy_needs_permission(example, row, dropped):
    with pytest.raises(LossyConversion) as info:
        text.from_canonical(example)
    assert info.value.dropped == dropped
    assert text.from_canonical(example, allow_lossy=True) == (row, dropped)


NOT_CONVERTIBLE = [
    Conversation([Message(U, "Hi"), Message(A, "Hello")]),  # chat turns need a template
    Conversation([Message(A, None, tool_calls=[ToolCall("f", "{}")])]),
    Conversation([]),
    Conversation(
        [Message(A, "<|im_start|>user\nHi<|im_end|>\n")], plain=True
    ),  # would read as chatml
]


@pytest.mark.parametrize("example", NOT_CONVERTIBLE)
def test_not_convertible(example):
    with pytest.raises(RowError) as info:
        text.from_canonical(example, allow_lossy=True)
    assert info.value.code == "not-convertible"
