from __future__ import annotations

import json

import pytest

from dataprep.canonical import Conversation, Message, ToolCall
from dataprep.errors import LossyConversion, RowError
from dataprep.formats import sharegpt

U, A = "user", "assistant"


def turn(frm, value, **kw):
    return {"from": frm, "value": value, **kw}


TO_CANONICAL = [
    (
        {"conversations": [turn("human", "Hi"), turn("gpt", "Hello")]},
        Conversation([Message(U, "Hi"), Message(A, "Hello")]),
    ),
    # the system column leads; an empty one means none
    (
        {"system": "Be brief.", "conversations": [turn("human", "Hi"), turn("gpt", "Hello")]},
        Conversation([Message("system", "Be brief."), Message(U, "Hi"), Message(A, "Hello")]),
    ),
    (
        {"system": "", "id": "a1", "conversations": [turn("human", "Hi")]},
        Conversation([Message(U, "Hi")], extra={"id": "a1"}),
    ),
    # role aliases
    (
        {
            "conversations": [
                turn("system", "S"),
                turn("user", "u"),
                turn("bot", "b"),
                turn("model", "m"),
                turn("chatgpt", "c"),
                turn("assistant", "a"),
                turn("tool", "t"),
                turn("function", "f"),
                turn("ipython", "i"),
            ]
        },
        Conversation(
            [
                Message("system", "S"),
                Message(U, "u"),
                Message(A, "b"),
                Message(A, "m"),
                Message(A, "c"),
                Message(A, "a"),
                Message("tool", "t"),
                Message("tool", "f"),
                Message("tool", "i"),
            ]
        ),
    ),
    # glaive: function_call and observation turns, tools as a JSON string
    (
        {
            "tools": '[{"name": "f", "parameters": {}}]',
            "conversations": [
                turn("human", "Do it"),
                turn("function_call", '{"name": "f", "arguments": {"x": 1}}'),
                turn("observation", '{"ok": true}'),
                turn("gpt", "Done"),
            ],
        },
        Conversation(
            [
                Message(U, "Do it"),
                Message(A, None, tool_calls=[ToolCall("f", {"x": 1})]),
                Message("tool", '{"ok": true}'),
                Message(A, "Done"),
            ],
            tools=[{"name": "f", "parameters": {}}],
        ),
    ),
    # parallel calls as a JSON list; arguments as a string stay a string
    (
        {
            "conversations": [
                turn(
                    "function_call",
                    '[{"name": "f", "arguments": "{}"}, {"name": "g", "arguments": {}}]',
                )
            ]
        },
        Conversation([Message(A, None, tool_calls=[ToolCall("f", "{}"), ToolCall("g", {})])]),
    ),
    # a gpt turn right before a function_call is one message: text, then calls
    (
        {
            "conversations": [
                turn("human", "Q"),
                turn("gpt", "Let me look."),
                turn("function_call", '{"name": "f", "arguments": {}}'),
            ]
        },
        Conversation([Message(U, "Q"), Message(A, "Let me look.", tool_calls=[ToolCall("f", {})])]),
    ),
    # ... but not a human turn, and not a gpt turn whose train flag differs
    (
        {
            "conversations": [
                turn("gpt", "A", weight=0),
                turn("function_call", '{"name": "f", "arguments": {}}'),
            ]
        },
        Conversation(
            [Message(A, "A", train=False), Message(A, None, tool_calls=[ToolCall("f", {})])]
        ),
    ),
    # Axolotl's per-turn weight, and null values left for validate to report
    (
        {"conversations": [turn("human", "Q", weight=0), turn("gpt", None, train=True)]},
        Conversation([Message(U, "Q", train=False), Message(A, None, train=True)]),
    ),
    # other keys of a turn are the message's extra (empty ones carry nothing)
    (
        {
            "conversations": [
                turn("human", "x", markdown="**x**", id=None),
                turn("gpt", "y", weight=1, id="t2", meta={"a": [1]}),
            ]
        },
        Conversation(
            [
                Message(U, "x", extra={"markdown": "**x**"}),
                Message(A, "y", train=True, extra={"id": "t2", "meta": {"a": [1]}}),
            ]
        ),
    ),
    # a function_call turn with keys of its own stays its own message
    (
        {
            "conversations": [
                turn("gpt", "Let me look.", id=1),
                turn("function_call", '{"name": "f", "arguments": {}}', id=2),
            ]
        },
        Conversation(
            [
                Message(A, "Let me look.", extra={"id": 1}),
                Message(A, None, tool_calls=[ToolCall("f", {})], extra={"id": 2}),
            ]
        ),
    ),
    # the empty tools of LLaMA-Factory files
    ({"tools": "", "conversations": []}, Conversation([])),
    ({"tools": "[]", "conversations": []}, Conversation([], tools=[])),
]


@pytest.mark.parametrize(("row", "expected"), TO_CANONICAL)
def test_to_canonical(row, expected):
    assert sharegpt.to_canonical(row) == expected


def test_origins_point_into_the_row():
    row = {
        "system": "S",
        "conversations": [
            turn("human", "Q"),
            turn("gpt", "x"),
            turn("function_call", '{"name": "f", "arguments": {}}'),
        ],
    }
    assert [m.origin for m in sharegpt.to_canonical(row).messages] == [
        "system",
        "conversations[0]",
        "conversations[1]",
    ]


ERRORS = [
    ({}, "conversations", "missing-field"),
    ({"conversations": {"from": "human"}}, "conversations", "wrong-type"),
    ({"conversations": [["human", "hi"]]}, "conversations[0]", "wrong-type"),
    ({"conversations": [turn("narrator", "x")]}, "conversations[0].from", "unknown-role"),
    ({"conversations": [{"value": "x"}]}, "conversations[0].from", "missing-field"),
    ({"conversations": [{"from": "human"}]}, "conversations[0].value", "missing-field"),
    ({"conversations": [turn("human", ["x"])]}, "conversations[0].value", "non-string-content"),
    # unknown keys are data, but known keys must hold their types
    (
        {"conversations": [turn("gpt", "x", markdown="**x**", weight="1")]},
        "conversations[0].weight",
        "bad-weight",
    ),
    (
        {"conversations": [turn("function_call", "get_weather(Paris)")]},
        "conversations[0].value",
        "bad-tool-call",
    ),
    (
        {"conversations": [turn("function_call", '{"arguments": {}}')]},
        "conversations[0].value",
        "bad-tool-call",
    ),
    (
        {"conversations": [turn("function_call", '{"name": "", "arguments": {}}')]},
        "conversations[0].value",
        "bad-tool-call",
    ),
    ({"conversations": [turn("function_call", "[]")]}, "conversations[0].value", "bad-tool-call"),
    (
        {"conversations": [turn("function_call", '{"name": "f", "arguments": 1}')]},
        "conversations[0].value",
        "bad-tool-call",
    ),
    ({"conversations": [turn("gpt", "x", weight=2)]}, "conversations[0].weight", "bad-weight"),
    ({"conversations": [], "tools": "[{"}, "tools", "bad-tools"),
    ({"conversations": [], "system": 1}, "system", "wrong-type"),
]


@pytest.mark.parametrize(("row", "path", "code"), ERRORS)
def test_to_canonical_errors(row, path, code):
    with pytest.raises(RowError) as info:
        sharegpt.to_canonical(row)
    assert (info.value.path, info.value.code) == (path, code)


def test_unknown_role_message_lists_known_roles_and_the_option():
    with pytest.raises(
        RowError, match=r"unknown role 'narrator' \(known: human, user, gpt.*--role narrator="
    ):
        sharegpt.to_canonical({"conversations": [turn("narrator", "x")]})


FROM_CANONICAL = [
    (
        Conversation(
            [Message("system", "S"), Message(U, "Hi"), Message(A, "Hello")], extra={"id": 3}
        ),
        {
            "id": 3,
            "conversations": [turn("system", "S"), turn("human", "Hi"), turn("gpt", "Hello")],
        },
    ),
    (
        Conversation(
            [
                Message(U, "Q", train=False),
                Message(A, "Looking", tool_calls=[ToolCall("f", {"x": "é"})]),
                Message("tool", "{}"),
                Message(A, None, tool_calls=[ToolCall("f", "{}"), ToolCall("g", {})], train=True),
            ],
            tools=[{"name": "f"}],
        ),
        {
            "tools": '[{"name": "f"}]',
            "conversations": [
                turn("human", "Q", weight=0),
                turn("gpt", "Looking"),
                turn("function_call", '{"name": "f", "arguments": {"x": "é"}}'),
                turn("observation", "{}"),
                turn(
                    "function_call",
                    '[{"name": "f", "arguments": "{}"}, {"name": "g", "arguments": {}}]',
                    weight=1,
                ),
            ],
        },
    ),
]


FROM_CANONICAL += [
    # extras go into the message's turn; with text and calls, into the first (text) turn
    (
        Conversation(
            [
                Message(U, "Q", extra={"id": 1}),
                Message(A, "Looking", tool_calls=[ToolCall("f", {})], extra={"id": 2}),
                Message(A, None, tool_calls=[ToolCall("g", {})], extra={"id": 3}),
            ]
        ),
        {
            "conversations": [
                turn("human", "Q", id=1),
                turn("gpt", "Looking", id=2),
                turn("function_call", '{"name": "f", "arguments": {}}'),
                turn("function_call", '{"name": "g", "arguments": {}}', id=3),
            ]
        },
    ),
]


@pytest.mark.parametrize(("example", "row"), FROM_CANONICAL)
def test_from_canonical(example, row):
    assert sharegpt.from_canonical(example) == (row, [])


LOSSY = [
    (
        Conversation(
            [
                Message(U, "Q", name="ann"),
                Message(A, None, tool_calls=[ToolCall("f", "{}", id="c1")]),
                Message("tool", "1", tool_call_id="c1"),
                Message(A, "ok", reasoning="hmm"),
            ]
        ),
        {
            "conversations": [
                turn("human", "Q"),
                turn("function_call", '{"name": "f", "arguments": "{}"}'),
                turn("observation", "1"),
                turn("gpt", "ok"),
            ]
        },
        ["message names", "tool call ids", "reasoning"],
    ),
    # a message extra under a key a turn reads (from a messages row) would change the turn
    (
        Conversation([Message(A, "ok", extra={"from": "bob", "value": 1, "id": 4})]),
        {"conversations": [turn("gpt", "ok", id=4)]},
        ["message field 'from'", "message field 'value'"],
    ),
]


@pytest.mark.parametrize(("example", "row", "dropped"), LOSSY)
def test_lossy_needs_permission(example, row, dropped):
    with pytest.raises(LossyConversion) as info:
        sharegpt.from_canonical(example)
    assert info.value.dropped == dropped
    assert sharegpt.from_canonical(example, allow_lossy=True) == (row, dropped)


def test_function_call_value_is_json_that_llama_factory_reads():
    row, _ = sharegpt.from_canonical(
        Conversation([Message(A, None, tool_calls=[ToolCall("f", {"a": [1]})])])
    )
    assert json.loads(row["conversations"][0]["value"]) == {"name": "f", "arguments": {"a": [1]}}
