"""Shapes people write (issue 10, point 4): role/content conversations, tools as a JSON
string, one message where a list is expected, content parts, loss_weight."""

from __future__ import annotations

import json

import pytest

from dataprep.detect import row_formats
from dataprep.errors import RowError
from dataprep.formats import FORMATS
from dataprep.validate.schema import Validator

U = {"role": "user", "content": "2+2?"}
A = {"role": "assistant", "content": "4"}
B = {"role": "assistant", "content": "5"}
TOOLS = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]


def texts(messages):
    return [(m.role, m.content) for m in messages]


# (row, format, what to_canonical must give: the messages, or prompt/answers)
SHAPES = [
    # 1. role/content turns under conversations: messages, with the system column read
    ({"conversations": [U, A]}, "messages", [("user", "2+2?"), ("assistant", "4")]),
    (
        {"conversations": [U, A], "system": "Add."},
        "messages",
        [("system", "Add."), ("user", "2+2?"), ("assistant", "4")],
    ),
    ({"conversations": [U, A], "label": True}, "kto", ([("user", "2+2?")], [("assistant", "4")])),
    (
        {"conversations": [U], "chosen": A, "rejected": B},
        "preference",
        ([("user", "2+2?")], [("assistant", "4")], [("assistant", "5")]),
    ),
    # 3. one message object where a list is expected
    (
        {"prompt": [U], "chosen": A, "rejected": B},
        "preference",
        ([("user", "2+2?")], [("assistant", "4")], [("assistant", "5")]),
    ),
    (
        {"conversations": [{"from": "human", "value": "2+2?"}], "chosen": [{"from": "gpt", "value": "4"}],
         "rejected": [{"from": "gpt", "value": "5"}]},
        "preference",
        ([("user", "2+2?")], [("assistant", "4")], [("assistant", "5")]),
    ),
    ({"prompt": [U], "completion": A}, "prompt-completion", [("user", "2+2?"), ("assistant", "4")]),
    ({"prompt": U, "completion": A}, "prompt-completion", [("user", "2+2?"), ("assistant", "4")]),
    ({"prompt": [U], "completion": B, "label": False}, "kto", ([("user", "2+2?")], [("assistant", "5")])),
]  # fmt: skip


@pytest.mark.parametrize(("row", "name", "expected"), SHAPES)
def test_shape_detects_reads_and_passes_its_schema(row, name, expected):
    assert row_formats(row) == (name,)
    example = FORMATS[name].to_canonical(row)
    if name == "preference":
        got = (texts(example.prompt), texts(example.chosen), texts(example.rejected))
    elif name == "kto":
        got = (texts(example.prompt), texts(example.completion))
    else:
        got = texts(example.messages)
    assert got == expected
    assert Validator(name).check(row) == []


# Rows the adapters refuse must not pass the schema either where the schema can tell.
@pytest.mark.parametrize(
    ("row", "name"),
    [
        ({"prompt": [U], "chosen": "4", "rejected": B}, "preference"),  # mixed types
        ({"prompt": "2+2?", "completion": A}, "prompt-completion"),
    ],
)
def test_mixed_strings_and_messages_are_refused(row, name):
    with pytest.raises(RowError) as e:
        FORMATS[name].to_canonical(row)
    assert e.value.code == "mixed-types"


@pytest.mark.parametrize("as_text", [True, False])
def test_messages_tools_round_trip_as_written(as_text):
    tools = json.dumps(TOOLS) if as_text else TOOLS
    row = {"messages": [U, A], "tools": tools}
    conv = FORMATS["messages"].to_canonical(row)
    assert conv.tools == TOOLS
    assert Validator("messages").check(row) == []
    out, dropped = FORMATS["messages"].from_canonical(conv)
    assert out == row and dropped == []


def test_tools_string_that_is_not_json_is_a_row_error():
    with pytest.raises(RowError) as e:
        FORMATS["messages"].to_canonical({"messages": [U, A], "tools": "[{"})
    assert e.value.code == "bad-tools"


# 4. content parts: text joined with no separator (what every chat template in trl's
# chat_templates that reads parts does: AAA, BBB -> "AAABBB"); media and others refused.
@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([{"type": "text", "text": "AAA"}, {"type": "text", "text": "BBB"}], "AAABBB"),
        ([{"type": "text", "value": "AAA"}, {"type": "text", "value": "BBB"}], "AAABBB"),
        ([{"type": "text", "text": "A\n"}, "B"], "A\nB"),
        ([{"type": "image_url", "image_url": {"url": "x.png"}}], "unsupported-content"),
        ([{"type": "image"}], "unsupported-content"),
        ([{"type": "hologram", "text": "x"}], "unsupported-content"),
        ([{"type": "text"}], "missing-field"),
        ([{"type": "text", "text": 3}], "non-string-content"),
    ],
)
def test_content_parts(parts, expected):
    row = {"messages": [{"role": "user", "content": parts}, A]}
    try:
        got = FORMATS["messages"].to_canonical(row).messages[0].content
    except RowError as e:
        got = e.code
        assert e.path.startswith("messages[0].content")
    assert got == expected


# 5. loss_weight as LLaMA-Factory v1 writes it (0.0 / 1.0), and what cannot be honoured
@pytest.mark.parametrize(
    ("weight", "expected"),
    [(0.0, False), (1.0, True), (0, False), (1, True), (0.5, "fractional"), (2, "bad-weight"),
     (True, "bad-weight"), ("1", "bad-weight")],
)  # fmt: skip
def test_loss_weight(weight, expected):
    row = {"chosen_messages": [{**U, "loss_weight": 0.0}, {**A, "loss_weight": weight}],
           "rejected_messages": [{**U, "loss_weight": 0.0}, {**B, "loss_weight": 1.0}]}  # fmt: skip
    try:
        got = FORMATS["preference"].to_canonical(row).chosen[0].train
    except RowError as e:
        assert e.code == "bad-weight" and e.path == "chosen_messages[1].loss_weight"
        got = "fractional" if "cannot be honoured" in e.message else e.code
    assert got == expected
