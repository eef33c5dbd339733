from __future__ import annotations

import pytest

from dataprep.canonical import Conversation, Message, ToolCall, Unpaired
from dataprep.errors import LossyConversion, RowError
from dataprep.formats import prompt_completion

S, U, A = "system", "user", "assistant"

TO_CANONICAL = [
    (
        {"prompt": "The sky is", "completion": " blue."},
        Conversation([Message(U, "The sky is"), Message(A, " blue.")], plain=True),
    ),
    # an empty string prompt is no prompt: the same as a text row
    (
        {"prompt": "", "completion": "All of it.", "id": 1},
        Conversation([Message(A, "All of it.")], plain=True, extra={"id": 1}),
    ),
    (
        {
            "prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
            "completion": [{"role": "assistant", "content": "R"}],
            "tools": [{"name": "f"}],
        },
        Conversation([Message(S, "S"), Message(U, "Q"), Message(A, "R")], tools=[{"name": "f"}]),
    ),
    # message lists keep the keys of a message no field claims
    (
        {
            "prompt": [{"role": "user", "content": "Q", "id": "q1"}],
            "completion": [{"role": "assistant", "content": "R", "score": 0.9}],
        },
        Conversation([Message(U, "Q", extra={"id": "q1"}), Message(A, "R", extra={"score": 0.9})]),
    ),
]


@pytest.mark.parametrize(("row", "expected"), TO_CANONICAL)
def test_to_canonical(row, expected):
    assert prompt_completion.to_canonical(row) == expected


@pytest.mark.parametrize(
    ("row", "origins"),
    [
        ({"prompt": "p", "completion": "c"}, ["prompt", "completion"]),
        (
            {
                "prompt": [{"role": "user", "content": "p"}],
                "completion": [{"role": "assistant", "content": "c"}],
            },
            ["prompt[0]", "completion[0]"],
        ),
    ],
)
def test_origins_point_into_the_row(row, origins):
    assert [m.origin for m in prompt_completion.to_canonical(row).messages] == origins


ERRORS = [
    ({"completion": "c"}, "prompt", "missing-field"),
    ({"prompt": "p"}, "completion", "missing-field"),
    (
        {"prompt": "p", "completion": [{"role": "assistant", "content": "c"}]},
        "completion",
        "mixed-types",
    ),
    ({"prompt": [], "completion": "c"}, "completion", "mixed-types"),
    ({"prompt": 1, "completion": "c"}, "prompt", "wrong-type"),
    ({"prompt": "p", "completion": None}, "completion", "wrong-type"),
    (
        {"prompt": [], "completion": [{"role": "robot", "content": "c"}]},
        "completion[0].role",
        "unknown-role",
    ),
]


@pytest.mark.parametrize(("row", "path", "code"), ERRORS)
def test_to_canonical_errors(row, path, code):
    with pytest.raises(RowError) as info:
        prompt_completion.to_canonical(row)
    assert (info.value.path, info.value.code) == (path, code)


def msg(role, content, **kw):
    return {"role": role, "content": content, **kw}


FROM_CANONICAL = [
    (
        Conversation([Message(U, "p"), Message(A, "c")], plain=True),
        {"prompt": "p", "completion": "c"},
    ),
    (
        Conversation([Message(A, "c")], plain=True, extra={"id": 1}),
        {"prompt": "", "completion": "c", "id": 1},
    ),
    # chat: the completion is everything after the last user (or system) message
    (
        Conversation([Message(U, "q0"), Message(A, "a0"), Message(U, "q1"), Message(A, "a1")]),
        {"prompt": [msg(U, "q0"), msg(A, "a0"), msg(U, "q1")], "completion": [msg(A, "a1")]},
    ),
    (
        Conversation(
            [
                Message(S, "S"),
                Message(U, "q"),
                Message(A, None, tool_calls=[ToolCall("f", "{}", id="c")]),
                Message("tool", "1", tool_call_id="c"),
                Message(A, "done"),
            ],
            tools=[{"name": "f"}],
        ),
        {
            "prompt": [msg(S, "S"), msg(U, "q")],
            "completion": [
                msg(
                    A,
                    None,
                    tool_calls=[
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                ),
                msg("tool", "1", tool_call_id="c"),
                msg(A, "done"),
            ],
            "tools": [{"name": "f"}],
        },
    ),
    (Conversation([Message(A, "hello")]), {"prompt": [], "completion": [msg(A, "hello")]}),
]


@pytest.mark.parametrize(("example", "row"), FROM_CANONICAL)
def test_from_canonical(example, row):
    assert prompt_completion.from_canonical(example) == (row, [])


LOSSY = [
    # strings have no place for a train flag
    (
        Conversation([Message(U, "p"), Message(A, "c", train=True)], plain=True),
        {"prompt": "p", "completion": "c"},
        ["per-message train flags"],
    ),
    (
        Conversation([Message(U, "p"), Message(A, "c")], tools=[{"name": "f"}], plain=True),
        {"prompt": "p", "completion": "c"},
        ["tool definitions"],
    ),
    (
        Unpaired([Message(U, "p")], [Message(A, "c")], True, plain=True),
        {"prompt": "p", "completion": "c"},
        ["KTO labels"],
    ),
    (
        Conversation([Message(U, "p"), Message(A, "c")], plain=True, extra={"label": True}),
        {"prompt": "p", "completion": "c"},
        ["extra field 'label'"],
    ),
    # strings have no place for a message's extra either
    (
        Conversation([Message(U, "p", extra={"id": 1}), Message(A, "c")], plain=True),
        {"prompt": "p", "completion": "c"},
        ["message field 'id'"],
    ),
]


@pytest.mark.parametrize(("example", "row", "dropped"), LOSSY)
def test_lossy_needs_permission(example, row, dropped):
    with pytest.raises(LossyConversion) as info:
        prompt_completion.from_canonical(example)
    assert info.value.dropped == dropped
    assert prompt_completion.from_canonical(example, allow_lossy=True) == (row, dropped)


@pytest.mark.parametrize("example", [Conversation([Message(U, "q")]), Conversation([])])
def test_not_convertible_without_a_completion(example):
    with pytest.raises(RowError) as info:
        prompt_completion.from_canonical(example, allow_lossy=True)
    assert info.value.code == "not-convertible"
