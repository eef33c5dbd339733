from __future__ import annotations

import pytest

from dataprep.canonical import Conversation, Message, Preference, Unpaired
from dataprep.errors import LossyConversion, RowError
from dataprep.formats import kto

U, A = "user", "assistant"


def msg(role, content, **kw):
    return {"role": role, "content": content, **kw}


TO_CANONICAL = [
    (
        {"prompt": "2+2=", "completion": "4", "label": True},
        Unpaired([Message(U, "2+2=")], [Message(A, "4")], True, plain=True),
    ),
    (
        {"prompt": "", "completion": "meh", "label": False, "id": 3},
        Unpaired([], [Message(A, "meh")], False, plain=True, extra={"id": 3}),
    ),
    (
        {
            "prompt": [msg(U, "Q")],
            "completion": [msg(A, "R")],
            "label": False,
            "tools": [{"name": "f"}],
        },
        Unpaired([Message(U, "Q")], [Message(A, "R")], False, tools=[{"name": "f"}]),
    ),
    (
        {"prompt": [msg(U, "Q", id=1)], "completion": [msg(A, "R", rating=-1)], "label": False},
        Unpaired(
            [Message(U, "Q", extra={"id": 1})], [Message(A, "R", extra={"rating": -1})], False
        ),
    ),
]


@pytest.mark.parametrize(("row", "expected"), TO_CANONICAL)
def test_to_canonical(row, expected):
    assert kto.to_canonical(row) == expected


def test_origins_point_into_the_row():
    ex = kto.to_canonical({"prompt": [msg(U, "Q")], "completion": [msg(A, "R")], "label": True})
    assert [m.origin for m in ex.prompt + ex.completion] == ["prompt[0]", "completion[0]"]


ERRORS = [
    ({"prompt": "p", "completion": "c", "label": 1}, "label", "bad-label"),
    ({"prompt": "p", "completion": "c", "label": "true"}, "label", "bad-label"),
    ({"prompt": "p", "completion": "c", "label": None}, "label", "bad-label"),
    ({"prompt": "p", "completion": "c"}, "label", "missing-field"),
    ({"prompt": "p", "completion": [msg(A, "c")], "label": True}, "completion", "mixed-types"),
    (
        {"prompt": [msg("narrator", "p")], "completion": [msg(A, "c")], "label": True},
        "prompt[0].role",
        "unknown-role",
    ),
]


@pytest.mark.parametrize(("row", "path", "code"), ERRORS)
def test_to_canonical_errors(row, path, code):
    with pytest.raises(RowError) as info:
        kto.to_canonical(row)
    assert (info.value.path, info.value.code) == (path, code)


FROM_CANONICAL = [
    (
        Unpaired([Message(U, "p")], [Message(A, "c")], False, plain=True),
        {"prompt": "p", "completion": "c", "label": False},
    ),
    (
        Unpaired([], [Message(A, "c")], True, plain=True, extra={"id": 1}),
        {"prompt": "", "completion": "c", "label": True, "id": 1},
    ),
    (
        Unpaired([Message(U, "Q")], [Message(A, "R", train=True)], True, tools=[{"name": "f"}]),
        {
            "prompt": [msg(U, "Q")],
            "completion": [msg(A, "R", train=True)],
            "label": True,
            "tools": [{"name": "f"}],
        },
    ),
    # a plain example whose completion is not one assistant message is written as lists
    (
        Unpaired([], [Message(U, "Q"), Message(A, "R")], True, plain=True),
        {"prompt": [], "completion": [msg(U, "Q"), msg(A, "R")], "label": True},
    ),
]


@pytest.mark.parametrize(("example", "row"), FROM_CANONICAL)
def test_from_canonical(example, row):
    assert kto.from_canonical(example) == (row, [])


@pytest.mark.parametrize(
    ("completion", "dropped"),
    [
        (Message(A, "c", reasoning="r"), ["reasoning"]),
        (Message(A, "c", extra={"id": 9}), ["message field 'id'"]),
    ],
)
def test_lossy_needs_permission(completion, dropped):
    example = Unpaired([Message(U, "p")], [completion], True, plain=True)
    with pytest.raises(LossyConversion) as info:
        kto.from_canonical(example)
    assert info.value.dropped == dropped
    assert kto.from_canonical(example, allow_lossy=True) == (
        {"prompt": "p", "completion": "c", "label": True},
        dropped,
    )


@pytest.mark.parametrize(
    "example",
    [
        Conversation([Message(U, "q"), Message(A, "a")]),
        Preference([Message(U, "q")], [Message(A, "a")], [Message(A, "b")]),
    ],
)
def test_only_kto_examples_can_be_written(example):
    with pytest.raises(RowError) as info:
        kto.from_canonical(example, allow_lossy=True)
    assert info.value.code == "not-convertible"
