from __future__ import annotations

import pytest

from dataprep.canonical import Conversation, Message, Preference, ToolCall, Unpaired
from dataprep.errors import LossyConversion, RowError
from dataprep.formats import messages

U, A = "user", "assistant"

TO_CANONICAL = [
    (
        {"messages": [{"role": U, "content": "Hi"}, {"role": A, "content": "Hello"}]},
        Conversation([Message(U, "Hi"), Message(A, "Hello")]),
    ),
    # extra row keys are carried
    (
        {"id": 7, "source": "web", "messages": [{"role": A, "content": "x"}]},
        Conversation([Message(A, "x")], extra={"id": 7, "source": "web"}),
    ),
    # content parts joined, both spellings of the text key
    (
        {
            "messages": [
                {
                    "role": U,
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "value": "b"}],
                }
            ]
        },
        Conversation([Message(U, "ab")]),
    ),
    # OpenAI tool calls: arguments stay a string; tool turn keeps id and name
    (
        {
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [
                {
                    "role": A,
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"x": 1}'},
                        }
                    ],
                },
                {"role": "tool", "content": "2", "tool_call_id": "c1", "name": "f"},
            ],
        },
        Conversation(
            [
                Message(A, None, tool_calls=[ToolCall("f", '{"x": 1}', id="c1")]),
                Message("tool", "2", tool_call_id="c1", name="f"),
            ],
            tools=[{"type": "function", "function": {"name": "f"}}],
        ),
    ),
    # HF flat tool calls: arguments stay an object; tools as a JSON string is parsed
    (
        {
            "tools": '[{"name": "f"}]',
            "messages": [{"role": A, "tool_calls": [{"name": "f", "arguments": {"x": 1}}]}],
        },
        Conversation(
            [Message(A, None, tool_calls=[ToolCall("f", {"x": 1})])], tools=[{"name": "f"}]
        ),
    ),
    # aliases: reasoning/thinking, weight/loss_weight, developer/function roles
    (
        {
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": U, "content": "Q", "loss_weight": 0.0},
                {"role": A, "content": "R", "reasoning": "think", "weight": 1},
                {"role": A, "content": "S", "thinking": "more", "train": False},
                {"role": "function", "content": "{}", "name": "f"},
            ]
        },
        Conversation(
            [
                Message("system", "Be brief."),
                Message(U, "Q", train=False),
                Message(A, "R", reasoning="think", train=True),
                Message(A, "S", reasoning="more", train=False),
                Message("tool", "{}", name="f"),
            ]
        ),
    ),
    # rows from Parquet/Arrow: every struct key present, null where unused
    (
        {
            "tools": None,
            "messages": [
                {
                    "role": U,
                    "content": [
                        {"type": "text", "text": None, "value": "a"},
                        {"type": None, "text": "b", "value": None},
                    ],
                    "tool_calls": None,
                    "name": None,
                    "train": None,
                },
                {
                    "role": A,
                    "content": None,
                    "tool_calls": [
                        {
                            "id": None,
                            "type": None,
                            "function": {"name": "f", "arguments": "{}"},
                            "name": None,
                        },
                        {
                            "id": None,
                            "type": None,
                            "function": None,
                            "name": "g",
                            "arguments": "{}",
                        },
                    ],
                },
            ],
        },
        Conversation(
            [
                Message(U, "ab"),
                Message(A, None, tool_calls=[ToolCall("f", "{}"), ToolCall("g", "{}")]),
            ]
        ),
    ),
    # empty-valued unknown keys (OpenAI exports) carry nothing and are ignored
    (
        {"messages": [{"role": A, "content": "x", "refusal": None, "annotations": []}]},
        Conversation([Message(A, "x")]),
    ),
    # other unknown keys are the message's extra, beside any known field
    (
        {
            "messages": [
                {"role": U, "content": "Hi", "id": "m1", "timestamp": 1700000000},
                {"role": A, "content": "Hello", "weight": 0, "metadata": {"model": "x"}},
                {"role": A, "mood": "happy"},
            ]
        },
        Conversation(
            [
                Message(U, "Hi", extra={"id": "m1", "timestamp": 1700000000}),
                Message(A, "Hello", train=False, extra={"metadata": {"model": "x"}}),
                Message(A, None, extra={"mood": "happy"}),
            ]
        ),
    ),
]


@pytest.mark.parametrize(("row", "expected"), TO_CANONICAL)
def test_to_canonical(row, expected):
    assert messages.to_canonical(row) == expected


def test_origins_point_into_the_row():
    conv = messages.to_canonical(
        {"messages": [{"role": U, "content": "a"}, {"role": A, "content": "b"}]}
    )
    assert [m.origin for m in conv.messages] == ["messages[0]", "messages[1]"]


ERRORS = [
    ({}, "messages", "missing-field"),
    ({"messages": "hi"}, "messages", "wrong-type"),
    ({"messages": ["hi"]}, "messages[0]", "wrong-type"),
    ({"messages": [{"content": "x"}]}, "messages[0].role", "missing-field"),
    ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role", "unknown-role"),
    ({"messages": [{"role": 3, "content": "x"}]}, "messages[0].role", "unknown-role"),
    ({"messages": [{"role": U, "content": 5}]}, "messages[0].content", "non-string-content"),
    (
        {"messages": [{"role": U, "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        "messages[0].content[0].type",
        "unsupported-content",
    ),
    (
        {"messages": [{"role": U, "content": [{"type": "text"}]}]},
        "messages[0].content[0]",
        "missing-field",
    ),
    # unknown keys are data, but known keys must hold their types
    (
        {"messages": [{"role": U, "content": "x", "mood": "happy", "tool_call_id": 3}]},
        "messages[0].tool_call_id",
        "wrong-type",
    ),
    (
        {"messages": [{"role": A, "content": "x", "weight": 0.5}]},
        "messages[0].weight",
        "bad-weight",
    ),
    (
        {"messages": [{"role": A, "content": "x", "train": "yes"}]},
        "messages[0].train",
        "bad-weight",
    ),
    (
        {"messages": [{"role": A, "content": "x", "train": True, "weight": 1}]},
        "messages[0].weight",
        "conflicting-fields",
    ),
    (
        {"messages": [{"role": A, "content": "x", "reasoning_content": "a", "thinking": "b"}]},
        "messages[0].thinking",
        "conflicting-fields",
    ),
    (
        {"messages": [{"role": A, "content": None, "tool_calls": {"name": "f"}}]},
        "messages[0].tool_calls",
        "bad-tool-call",
    ),
    (
        {"messages": [{"role": A, "tool_calls": [{"arguments": "{}"}]}]},
        "messages[0].tool_calls[0].name",
        "bad-tool-call",
    ),
    (
        {"messages": [{"role": A, "tool_calls": [{"name": "f"}]}]},
        "messages[0].tool_calls[0].arguments",
        "bad-tool-call",
    ),
    (
        {"messages": [{"role": A, "tool_calls": [{"name": "f", "arguments": 3}]}]},
        "messages[0].tool_calls[0].arguments",
        "bad-tool-call",
    ),
    (
        {
            "messages": [
                {
                    "role": A,
                    "tool_calls": [{"type": "code", "function": {"name": "f", "arguments": "{}"}}],
                }
            ]
        },
        "messages[0].tool_calls[0].type",
        "bad-tool-call",
    ),
    ({"messages": [], "tools": "not json"}, "tools", "bad-tools"),
    ({"messages": [], "tools": [1, 2]}, "tools", "bad-tools"),
    ({"messages": [{"role": U, "content": "x", "name": 4}]}, "messages[0].name", "wrong-type"),
]


@pytest.mark.parametrize(("row", "path", "code"), ERRORS)
def test_to_canonical_errors(row, path, code):
    with pytest.raises(RowError) as info:
        messages.to_canonical(row)
    assert (info.value.path, info.value.code) == (path, code)


def test_unknown_role_message_names_the_fix():
    with pytest.raises(RowError, match=r"unknown role 'bot'.*--role bot="):
        messages.to_canonical({"messages": [{"role": "bot", "content": "x"}]})


FROM_CANONICAL = [
    (
        Conversation([Message(U, "Hi"), Message(A, "Hello", train=False)], extra={"id": 1}),
        {
            "id": 1,
            "messages": [
                {"role": U, "content": "Hi"},
                {"role": A, "content": "Hello", "train": False},
            ],
        },
    ),
    (
        Conversation(
            [
                Message(
                    A,
                    None,
                    tool_calls=[ToolCall("f", {"x": 1}), ToolCall("g", "{}", id="c2")],
                    reasoning="r",
                ),
                Message("tool", "ok", tool_call_id="c2", name="g"),
            ],
            tools=[{"name": "f"}],
        ),
        {
            "tools": [{"name": "f"}],
            "messages": [
                {
                    "role": A,
                    "content": None,
                    "reasoning_content": "r",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": {"x": 1}}},
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "g", "arguments": "{}"},
                        },
                    ],
                },
                {"role": "tool", "content": "ok", "tool_call_id": "c2", "name": "g"},
            ],
        },
    ),
    # a plain conversation becomes ordinary chat messages
    (
        Conversation([Message(A, "Once")], plain=True),
        {"messages": [{"role": A, "content": "Once"}]},
    ),
    # message extras are written back into their message
    (
        Conversation([Message(U, "Hi", extra={"id": "m1"}), Message(A, "Yo", extra={"t": 2})]),
        {
            "messages": [
                {"role": U, "content": "Hi", "id": "m1"},
                {"role": A, "content": "Yo", "t": 2},
            ]
        },
    ),
]


@pytest.mark.parametrize(("example", "row"), FROM_CANONICAL)
def test_from_canonical(example, row):
    assert messages.from_canonical(example) == (row, [])


LOSSY = [
    (
        Preference([Message(U, "Q")], [Message(A, "good")], [Message(A, "bad")]),
        {"messages": [{"role": U, "content": "Q"}, {"role": A, "content": "good"}]},
        ["rejected responses"],
    ),
    (
        Unpaired([Message(U, "Q")], [Message(A, "good")], True),
        {"messages": [{"role": U, "content": "Q"}, {"role": A, "content": "good"}]},
        ["KTO labels"],
    ),
    (
        Conversation([Message(A, "x")], extra={"messages": "old", "k": 1}),
        {"messages": [{"role": A, "content": "x"}], "k": 1},
        ["extra field 'messages'"],
    ),
    # a message extra under a key this dialect reads (from a ShareGPT turn) would change
    # the message's meaning
    (
        Conversation([Message(A, "x", extra={"name": "bob", "id": 4})]),
        {"messages": [{"role": A, "content": "x", "id": 4}]},
        ["message field 'name'"],
    ),
]


@pytest.mark.parametrize(("example", "row", "dropped"), LOSSY)
def test_lossy_needs_permission(example, row, dropped):
    with pytest.raises(LossyConversion) as info:
        messages.from_canonical(example)
    assert info.value.dropped == dropped
    assert messages.from_canonical(example, allow_lossy=True) == (row, dropped)


def test_undesirable_kto_example_is_not_sft_data():
    example = Unpaired([Message(U, "Q")], [Message(A, "bad")], False)
    with pytest.raises(RowError) as info:
        messages.from_canonical(example, allow_lossy=True)
    assert info.value.code == "not-convertible"
