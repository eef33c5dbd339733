from __future__ import annotations

import pytest

from dataprep.canonical import Conversation, Message, Preference, ToolCall, Unpaired
from dataprep.errors import LossyConversion, RowError
from dataprep.formats import preference

S, U, A = "system", "user", "assistant"


def msg(role, content, **kw):
    return {"role": role, "content": content, **kw}


def turn(frm, value):
    return {"from": frm, "value": value}


TO_CANONICAL = [
    # TRL, explicit prompt, strings
    (
        {"prompt": "2+2=", "chosen": "4", "rejected": "5"},
        Preference([Message(U, "2+2=")], [Message(A, "4")], [Message(A, "5")], plain=True),
    ),
    # TRL, implicit prompt, strings: the prompt stays empty
    (
        {"chosen": "The answer is 4", "rejected": "The answer is 5", "id": 1},
        Preference(
            [],
            [Message(A, "The answer is 4")],
            [Message(A, "The answer is 5")],
            plain=True,
            extra={"id": 1},
        ),
    ),
    (
        {"prompt": None, "chosen": "4", "rejected": "5"},
        Preference([], [Message(A, "4")], [Message(A, "5")], plain=True),
    ),
    # TRL, explicit prompt, conversational
    (
        {
            "prompt": [msg(U, "Q")],
            "chosen": [msg(A, "good")],
            "rejected": [msg(A, "bad")],
            "tools": [{"name": "f"}],
        },
        Preference(
            [Message(U, "Q")], [Message(A, "good")], [Message(A, "bad")], tools=[{"name": "f"}]
        ),
    ),
    # TRL, implicit prompt, conversational: the shared leading messages are the prompt
    (
        {
            "chosen": [msg(S, "S"), msg(U, "Q"), msg(A, "good")],
            "rejected": [msg(S, "S"), msg(U, "Q"), msg(A, "bad"), msg(U, "more"), msg(A, "worse")],
        },
        Preference(
            [Message(S, "S"), Message(U, "Q")],
            [Message(A, "good")],
            [Message(A, "bad"), Message(U, "more"), Message(A, "worse")],
        ),
    ),
    # identical sides still keep one message each (validate reports chosen == rejected)
    (
        {"chosen": [msg(U, "Q"), msg(A, "same")], "rejected": [msg(U, "Q"), msg(A, "same")]},
        Preference([Message(U, "Q")], [Message(A, "same")], [Message(A, "same")]),
    ),
    # LLaMA-Factory's ShareGPT preference
    (
        {
            "system": "Be kind.",
            "conversations": [turn("human", "Q"), turn("gpt", "A0"), turn("human", "Q1")],
            "chosen": turn("gpt", "good"),
            "rejected": turn("gpt", "bad"),
            "source": "lf",
        },
        Preference(
            [Message(S, "Be kind."), Message(U, "Q"), Message(A, "A0"), Message(U, "Q1")],
            [Message(A, "good")],
            [Message(A, "bad")],
            extra={"source": "lf"},
        ),
    ),
    (
        {
            "conversations": [turn("human", "Weather?")],
            "chosen": turn("function_call", '{"name": "w", "arguments": {}}'),
            "rejected": turn("gpt", "No idea."),
            "tools": '[{"name": "w"}]',
        },
        Preference(
            [Message(U, "Weather?")],
            [Message(A, None, tool_calls=[ToolCall("w", {})])],
            [Message(A, "No idea.")],
            tools=[{"name": "w"}],
        ),
    ),
    # LLaMA-Factory v1: content parts with "value", per-message loss_weight
    (
        {
            "chosen_messages": [
                {"role": "user", "content": [{"type": "text", "value": "Q"}], "loss_weight": 0.0},
                {
                    "role": "assistant",
                    "content": [{"type": "text", "value": "good"}],
                    "loss_weight": 1.0,
                },
            ],
            "rejected_messages": [
                {"role": "user", "content": [{"type": "text", "value": "Q"}], "loss_weight": 0.0},
                {
                    "role": "assistant",
                    "content": [{"type": "text", "value": "bad"}],
                    "loss_weight": 1.0,
                },
            ],
        },
        Preference(
            [Message(U, "Q", train=False)],
            [Message(A, "good", train=True)],
            [Message(A, "bad", train=True)],
        ),
    ),
]


@pytest.mark.parametrize(("row", "expected"), TO_CANONICAL)
def test_to_canonical(row, expected):
    assert preference.to_canonical(row) == expected


ORIGINS = [
    ({"prompt": "p", "chosen": "c", "rejected": "r"}, (["prompt"], ["chosen"], ["rejected"])),
    (
        {"chosen": [msg(U, "Q"), msg(A, "c")], "rejected": [msg(U, "Q"), msg(A, "r")]},
        (["chosen[0]"], ["chosen[1]"], ["rejected[1]"]),
    ),
    (
        {
            "system": "S",
            "conversations": [turn("human", "Q")],
            "chosen": turn("gpt", "c"),
            "rejected": turn("gpt", "r"),
        },
        (["system", "conversations[0]"], ["chosen"], ["rejected"]),
    ),
    (
        {
            "chosen_messages": [msg(U, "Q"), msg(A, "c")],
            "rejected_messages": [msg(U, "Q"), msg(A, "r")],
        },
        (["chosen_messages[0]"], ["chosen_messages[1]"], ["rejected_messages[1]"]),
    ),
]


@pytest.mark.parametrize(("row", "origins"), ORIGINS)
def test_origins_point_into_the_row(row, origins):
    pair = preference.to_canonical(row)
    assert (
        tuple([m.origin for m in part] for part in (pair.prompt, pair.chosen, pair.rejected))
        == origins
    )


ERRORS = [
    ({"chosen": [msg(A, "good")], "rejected": [msg(A, "bad")]}, "", "no-shared-prompt"),
    (
        {
            "chosen_messages": [msg(U, "a"), msg(A, "x")],
            "rejected_messages": [msg(U, "b"), msg(A, "y")],
        },
        "",
        "no-shared-prompt",
    ),
    ({"chosen": "x", "rejected": [msg(A, "y")]}, "rejected", "mixed-types"),
    ({"prompt": "p", "chosen": "x", "rejected": [msg(A, "y")]}, "rejected", "mixed-types"),
    ({"prompt": [msg(U, "p")], "chosen": "x", "rejected": "y"}, "chosen", "mixed-types"),
    ({"chosen": 1, "rejected": "y"}, "chosen", "wrong-type"),
    ({"prompt": "p", "chosen": "x"}, "rejected", "missing-field"),
    (
        {
            "conversations": [turn("human", "Q")],
            "chosen": turn("gpt", "c"),
            "rejected": turn("robot", "r"),
        },
        "rejected.from",
        "unknown-role",
    ),
    (
        {"conversations": "Q", "chosen": turn("gpt", "c"), "rejected": turn("gpt", "r")},
        "conversations",
        "wrong-type",
    ),
    (
        {"chosen_messages": [msg(U, "Q"), msg(A, [{"type": "image"}])], "rejected_messages": []},
        "chosen_messages[1].content[0].type",
        "unsupported-content",
    ),
]


@pytest.mark.parametrize(("row", "path", "code"), ERRORS)
def test_to_canonical_errors(row, path, code):
    with pytest.raises(RowError) as info:
        preference.to_canonical(row)
    assert (info.value.path, info.value.code) == (path, code)


FROM_CANONICAL = [
    (
        Preference([Message(U, "2+2=")], [Message(A, "4")], [Message(A, "5")], plain=True),
        {"prompt": "2+2=", "chosen": "4", "rejected": "5"},
    ),
    # message extras go back into their message dicts
    (
        Preference(
            [Message(U, "Q", extra={"id": 1})],
            [Message(A, "good", extra={"rank": 1})],
            [Message(A, "bad", extra={"rank": 2})],
        ),
        {
            "prompt": [{"role": U, "content": "Q", "id": 1}],
            "chosen": [{"role": A, "content": "good", "rank": 1}],
            "rejected": [{"role": A, "content": "bad", "rank": 2}],
        },
    ),
    (
        Preference([], [Message(A, "4")], [Message(A, "5")], plain=True, extra={"id": 1}),
        {"prompt": "", "chosen": "4", "rejected": "5", "id": 1},
    ),
    (
        Preference(
            [Message(S, "S"), Message(U, "Q", train=False)],
            [Message(A, "good")],
            [Message(A, "bad")],
            tools=[],
        ),
        {
            "prompt": [msg(S, "S"), msg(U, "Q", train=False)],
            "chosen": [msg(A, "good")],
            "rejected": [msg(A, "bad")],
            "tools": [],
        },
    ),
]


@pytest.mark.parametrize(("example", "row"), FROM_CANONICAL)
def test_from_canonical(example, row):
    assert preference.from_canonical(example) == (row, [])


LOSSY = [
    (
        Preference(
            [Message(U, "p", name="ann")],
            [Message(A, "c")],
            [Message(A, "r")],
            plain=True,
            tools=[{"name": "f"}],
        ),
        {"prompt": "p", "chosen": "c", "rejected": "r"},
        ["message names", "tool definitions"],
    ),
    (
        Preference(
            [Message(U, "p")],
            [Message(A, "c")],
            [Message(A, "r")],
            extra={"chosen_messages": [], "rejected_messages": [], "k": 0},
        ),
        {"prompt": [msg(U, "p")], "chosen": [msg(A, "c")], "rejected": [msg(A, "r")], "k": 0},
        ["extra field 'chosen_messages'", "extra field 'rejected_messages'"],
    ),
    # strings have no place for a message's extra
    (
        Preference([], [Message(A, "c", extra={"rank": 1})], [Message(A, "r")], plain=True),
        {"prompt": "", "chosen": "c", "rejected": "r"},
        ["message field 'rank'"],
    ),
]


@pytest.mark.parametrize(("example", "row", "dropped"), LOSSY)
def test_lossy_needs_permission(example, row, dropped):
    with pytest.raises(LossyConversion) as info:
        preference.from_canonical(example)
    assert info.value.dropped == dropped
    assert preference.from_canonical(example, allow_lossy=True) == (row, dropped)


@pytest.mark.parametrize(
    "example",
    [
        Conversation([Message(U, "q"), Message(A, "a")]),
        Unpaired([Message(U, "q")], [Message(A, "a")], True),
    ],
)
def test_only_pairs_can_be_written(example):
    with pytest.raises(RowError) as info:
        preference.from_canonical(example, allow_lossy=True)
    assert info.value.code == "not-convertible"
