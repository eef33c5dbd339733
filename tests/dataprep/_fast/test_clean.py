"""dataprep._fast.clean against its reference: a row FAST_CLEAN vouches for is one in
which the full row checks (``dataprep.validate.rows.check_row``) find nothing, on rows
generated in the shapes it vouches for and then changed in one place."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from dataprep._fast.clean import FAST_CLEAN
from dataprep.validate.rows import check_row

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOD_TEXT = st.sampled_from(["Hi", "a < b", "list[int]", "[INSTANT]", "naïve ✓", "<b>x</b>", "2"])
# Values that some check refuses, or that only look like trouble.
ODD_VALUES = st.sampled_from(
    ["", " ", "\n", "ok <|im_end|>", "x [INST] y", "<s>", "see <image>", "<|eot_id|>",
     None, 3, True, ["x"], {"a": 1}, "user", "assistant", "tool", "gpt", "human", "system",
     '{"a": 1}', '"{\\"a\\": 1}"', "[1]", "not json", "c1", "c2"]
)  # fmt: skip


@st.composite
def clean_messages_row(draw: st.DrawFn) -> dict[str, Any]:
    """A messages row of a shape the fast path vouches for: optional system, alternating
    user/assistant turns, some assistant turns calling tools answered by id."""
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(GOOD_TEXT)})
    n_call = 0
    for _ in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(GOOD_TEXT)})
        if draw(st.booleans()):
            calls = []
            for _ in range(draw(st.integers(1, 2))):
                n_call += 1
                calls.append({"id": f"c{n_call}", "type": "function",
                              "function": {"name": "f", "arguments": '{"a": 1}'}})  # fmt: skip
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
            for call in calls:
                messages.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": draw(GOOD_TEXT)}
                )
        messages.append({"role": "assistant", "content": draw(GOOD_TEXT)})
    for m in messages:
        if draw(st.integers(0, 4)) == 0:
            m["id"] = "m"  # extra keys are data
    row: dict[str, Any] = {"messages": messages}
    # Declared tools: the calls (to f with {"a": 1}) fit the declaration, so the row is
    # still certainly clean; the mutations of ``changed`` break the fit.
    if draw(st.booleans()):
        params = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
        row["tools"] = [{"type": "function", "function": {"name": "f", "parameters": params}}]
    return row


@st.composite
def clean_sharegpt_row(draw: st.DrawFn) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    if draw(st.booleans()):
        turns.append({"from": "system", "value": draw(GOOD_TEXT)})
    for _ in range(draw(st.integers(1, 3))):
        turns.append({"from": "human", "value": draw(GOOD_TEXT)})
        turns.append({"from": "gpt", "value": draw(GOOD_TEXT)})
    for t in turns:
        if draw(st.integers(0, 4)) == 0:
            t["id"] = "t"
    return {"conversations": turns}


def _places(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _places(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _places(v, (*path, i))
    return out


@st.composite
def changed(draw: st.DrawFn, rows: st.SearchStrategy) -> dict[str, Any]:
    """A clean row changed in one place: a value replaced, a key or item removed, an item
    repeated or swapped, a key added (a known one, a media column, an extra)."""
    row = copy.deepcopy(draw(rows))
    path = draw(st.sampled_from(_places(row)[1:]))
    *head, last = path
    parent: Any = row
    for part in head:
        parent = parent[part]
    how = draw(st.sampled_from(["replace", "remove", "repeat", "swap", "add"]))
    if how == "replace":
        parent[last] = draw(ODD_VALUES)
    elif how == "remove":
        del parent[last]
    elif how == "repeat" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    elif how == "swap" and isinstance(parent, list) and last + 1 < len(parent):
        parent[last], parent[last + 1] = parent[last + 1], parent[last]
    elif isinstance(parent, dict):
        key = draw(st.sampled_from(["name", "tool_calls", "train", "weight", "images",
                                    "tool_call_id", "reasoning_content", "value", "extra"]))  # fmt: skip
        parent[key] = draw(ODD_VALUES)
    return row


SHAPES = {"messages": clean_messages_row(), "sharegpt": clean_sharegpt_row()}


def test_every_fast_path_is_tested_here():
    assert set(FAST_CLEAN) == set(SHAPES)


@pytest.mark.parametrize("fmt", sorted(SHAPES))
@EXAMPLES
@given(data=st.data())
def test_a_vouched_row_has_no_problem_on_the_full_path(fmt, data):
    row = data.draw(st.one_of(SHAPES[fmt], changed(SHAPES[fmt])))
    if FAST_CLEAN[fmt](row):
        assert check_row(row, fmt) == [], row


@pytest.mark.parametrize("fmt", sorted(SHAPES))
@EXAMPLES
@given(data=st.data())
def test_the_generated_shapes_are_clean_and_vouched_for(fmt, data):
    """Control: the unchanged rows are clean on the full path and the fast path takes
    them, so the test above sees many rows it vouches for."""
    row = data.draw(SHAPES[fmt])
    assert check_row(row, fmt) == []
    assert FAST_CLEAN[fmt](row)


@pytest.mark.parametrize("fmt", sorted(SHAPES))
def test_changed_rows_reach_both_answers(fmt):
    """Control: some changed rows are still vouched for, some have a problem."""
    settings_ = settings(max_examples=2000, database=None)
    find(changed(SHAPES[fmt]), lambda r: FAST_CLEAN[fmt](r) and r != {}, settings=settings_)
    find(changed(SHAPES[fmt]), lambda r: check_row(r, fmt) != [], settings=settings_)


def _tool_turn(call_id):
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "Hi"},
            {"role": "assistant", "content": "ok"},
        ]
    }


@pytest.mark.parametrize(
    ("call_id", "vouched"),
    [
        ("c1", True),
        (["x"], False),  # unhashable: once a TypeError (exit 3) on the fast path
        ({"id": "c1"}, False),
        (7, False),
        ("c9", False),
    ],
)
def test_tool_call_ids_of_any_type(call_id, vouched):
    row = _tool_turn(call_id)
    assert FAST_CLEAN["messages"](row) is vouched
    assert (check_row(row, "messages") == []) is vouched
