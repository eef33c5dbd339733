"""Validation: every check fires where it should (path and code), the fast path never
vouches for a bad row, and files of any size validate the same in one or several
processes."""

from __future__ import annotations

import doctest
import glob
import json
import os

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonl_mix import lines_with_blanks

import dataprep._fast.parallel
import dataprep.validate
import dataprep.validate.files
import dataprep.validate.rows
import dataprep.validate.seen
from dataprep._fast.clean import FAST_CLEAN
from dataprep._fast.seen import SeenRows
from dataprep.errors import RowError
from dataprep.formats import FORMATS
from dataprep.formats.mapping import Mapping
from dataprep.reading import read_records
from dataprep.validate.files import validate_files, validate_records
from dataprep.validate.problems import ProblemLog
from dataprep.validate.rows import (
    CONTROL_TOKENS,
    ROW_ERROR_CODES,
    ROW_WARNING_CODES,
    check_converted,
    check_row,
    find_control_token,
)

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "samples")


def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


def call(name="f", arguments='{"x": 1}', id_="c1"):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


# Tool-call arguments JSON-encoded twice: json.dumps over the object's JSON text.
TWICE = json.dumps(json.dumps({"x": 1}))


def messages(*msgs, **extra):
    return {"messages": list(msgs), **extra}


def turns(*pairs, **extra):
    return {"conversations": [{"from": f, "value": v} for f, v in pairs], **extra}


# (row, format, expected [(path, code)])
CASES = [
    # clean rows of several shapes
    (messages(u("Hi"), a("Yo")), "messages", []),
    (messages({"role": "system", "content": "Be brief"}, u("Hi"), a("Yo")), "messages", []),
    (
        messages(
            u("Weather?"),
            {"role": "assistant", "content": None, "tool_calls": [call()]},
            {"role": "tool", "tool_call_id": "c1", "content": "21C"},
            a("It is 21C."),
        ),
        "messages",
        [],
    ),
    (turns(("human", "Hi"), ("gpt", "Yo")), "sharegpt", []),
    ({"instruction": "Add", "input": "2 and 2", "output": "4"}, "alpaca", []),
    ({"prompt": "Q", "chosen": "A", "rejected": "B"}, "preference", []),
    ({"prompt": "Q", "completion": "A", "label": False}, "kto", []),
    # content
    (messages(u(""), a("Yo")), "messages", [("messages[0].content", "empty-content")]),
    (messages(u("  \n"), a("Yo")), "messages", [("messages[0].content", "empty-content")]),
    (messages(u(None), a("Yo")), "messages", [("messages[0].content", "null-content")]),
    (messages(u("Hi"), a(5)), "messages", [("messages[1].content", "non-string-content")]),
    (
        turns(("human", "Hi"), ("gpt", None)),
        "sharegpt",
        [("conversations[1].value", "null-content")],
    ),
    (
        turns(("human", ""), ("gpt", "Yo")),
        "sharegpt",
        [("conversations[0].value", "empty-content")],
    ),
    ({"instruction": "Add", "output": ""}, "alpaca", [("output", "empty-content")]),
    ({"text": ""}, "text", [("text", "empty-content")]),
    # an assistant turn that only calls tools may have no text
    (
        messages(
            u("Hi"),
            {"role": "assistant", "content": "", "tool_calls": [call()]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            a("Done"),
        ),
        "messages",
        [],
    ),
    # roles
    (
        messages({"role": "bot", "content": "Hi"}, a("Yo")),
        "messages",
        [("messages[0].role", "unknown-role")],
    ),
    (
        turns(("robot", "Hi"), ("gpt", "Yo")),
        "sharegpt",
        [("conversations[0].from", "unknown-role")],
    ),
    (messages(u("Hi"), u("again"), a("Yo")), "messages", [("messages[1]", "consecutive-roles")]),
    (
        turns(("human", "Hi"), ("gpt", "Yo"), ("gpt", "More")),
        "sharegpt",
        [("conversations[2]", "consecutive-roles")],
    ),
    (messages(u("Hi")), "messages", [("messages[0]", "no-final-assistant")]),
    # assistant turns and no user turn (a warning)
    (
        messages({"role": "system", "content": "Be brief"}, a("Yo")),
        "messages",
        [("", "no-user-turn")],
    ),
    (turns(("gpt", "Yo")), "sharegpt", [("", "no-user-turn")]),
    (
        {"prompt": [{"role": "system", "content": "S"}], "chosen": [a("A")], "rejected": [a("B")]},
        "preference",
        [("", "no-user-turn")],
    ),
    ({"text": "no chat here"}, "text", []),
    # keys of a message that no field claims are data: no problem; known keys keep types
    (messages({**u("Hi"), "id": "m1", "ts": 3}, {**a("Yo"), "meta": {"k": 1}}), "messages", []),
    (
        turns(("human", "Hi"), ("gpt", "Yo"))
        | {
            "conversations": [
                {"from": "human", "value": "Hi", "id": 1},
                {"from": "gpt", "value": "Yo"},
            ]
        },
        "sharegpt",
        [],
    ),
    (
        messages({**u("Hi"), "id": "m1", "weight": 0.5}, a("Yo")),
        "messages",
        [("messages[0].weight", "bad-weight")],
    ),
    (messages(u("Hi"), a("Yo"), u("And?")), "messages", [("messages[2]", "no-final-assistant")]),
    (
        messages(u("Hi"), {"role": "system", "content": "Late"}, a("Yo")),
        "messages",
        [("messages[1]", "system-not-first")],
    ),
    # tools
    (
        messages(u("Hi"), {"role": "tool", "content": "42"}, a("Yo")),
        "messages",
        [("messages[1]", "orphan-tool-result")],
    ),
    (
        messages(
            u("Hi"),
            {"role": "assistant", "content": None, "tool_calls": [call(id_="c1")]},
            {"role": "tool", "tool_call_id": "c9", "content": "42"},
            a("Yo"),
        ),
        "messages",
        [("messages[2]", "orphan-tool-result")],
    ),
    (
        messages(
            u("Hi"),
            {"role": "assistant", "content": None, "tool_calls": [call()]},
            {"role": "tool", "content": "1"},
            {"role": "tool", "content": "2"},
            a("Yo"),
        ),
        "messages",
        [("messages[3]", "orphan-tool-result")],
    ),
    (
        messages(
            u("Hi"), {"role": "assistant", "content": None, "tool_calls": [call(arguments="{bad")]}
        ),
        "messages",
        [("messages[1].tool_calls[0].function.arguments", "bad-tool-arguments")],
    ),
    (
        messages(
            u("Hi"), {"role": "assistant", "content": None, "tool_calls": [call(arguments="[1]")]}
        ),
        "messages",
        [("messages[1].tool_calls[0].function.arguments", "bad-tool-arguments")],
    ),
    (
        messages(
            u("Hi"),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"name": "f", "arguments": "nope"}],
            },
        ),
        "messages",
        [("messages[1].tool_calls[0].arguments", "bad-tool-arguments")],
    ),
    # arguments JSON-encoded twice: a JSON string whose value is the object's JSON text
    (
        messages(
            u("Hi"),
            {"role": "assistant", "content": None, "tool_calls": [call(arguments=TWICE)]},
            {"role": "tool", "tool_call_id": "c1", "content": "1"},
            a("Yo"),
        ),
        "messages",
        [("messages[1].tool_calls[0].function.arguments", "tool-args-double-encoded")],
    ),
    (
        messages(
            u("Hi"),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"name": "f", "arguments": TWICE}],
            },
            {"role": "tool", "content": "1"},
            a("Yo"),
        ),
        "messages",
        [("messages[1].tool_calls[0].arguments", "tool-args-double-encoded")],
    ),
    (
        turns(
            ("human", "Hi"),
            ("function_call", json.dumps({"name": "f", "arguments": TWICE})),
            ("observation", "1"),
            ("gpt", "Yo"),
        ),
        "sharegpt",
        [("conversations[1].value", "tool-args-double-encoded")],
    ),
    # calls checked against the tools the row declares (more in test_tool_calls.py)
    (
        messages(
            u("Hi"),
            {"role": "assistant", "content": None, "tool_calls": [call(name="g")]},
            {"role": "tool", "tool_call_id": "c1", "content": "1"},
            a("Yo"),
            tools=[
                {
                    "name": "f",
                    "parameters": {
                        "type": "object",
                        "properties": {"x": {"type": "string"}},
                        "required": ["y"],
                    },
                }
            ],
        ),
        "messages",
        [("messages[1].tool_calls[0].function.name", "undeclared-tool")],
    ),
    (
        messages(
            u("Hi"),
            {"role": "assistant", "content": None, "tool_calls": [call()]},
            {"role": "tool", "tool_call_id": "c1", "content": "1"},
            a("Yo"),
            tools=[
                {
                    "name": "f",
                    "parameters": {
                        "type": "object",
                        "properties": {"x": {"type": "string"}},
                        "required": ["y"],
                    },
                }
            ],
        ),
        "messages",
        [
            ("messages[1].tool_calls[0].function.arguments.y", "missing-tool-argument"),
            ("messages[1].tool_calls[0].function.arguments.x", "wrong-tool-argument-type"),
        ],
    ),
    # a JSON string that holds no object stays bad-tool-arguments
    (
        messages(
            u("Hi"), {"role": "assistant", "content": None, "tool_calls": [call(arguments='"[1]"')]}
        ),
        "messages",
        [("messages[1].tool_calls[0].function.arguments", "bad-tool-arguments")],
    ),
    # object arguments are fine (Hugging Face shape)
    (
        messages(
            u("Hi"),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"name": "f", "arguments": {"x": 1}}],
            },
            {"role": "tool", "content": "1"},
            a("Yo"),
        ),
        "messages",
        [],
    ),
    # preference
    (
        {"prompt": "Q", "chosen": "A", "rejected": "A"},
        "preference",
        [("rejected", "chosen-equals-rejected")],
    ),
    # answers that differ only in their messages' extras (ids) are the same answer
    (
        {"prompt": [u("Q")], "chosen": [{**a("A"), "id": 1}], "rejected": [{**a("A"), "id": 2}]},
        "preference",
        [("rejected", "chosen-equals-rejected")],
    ),
    (
        {"prompt": [u("Q")], "chosen": [{**u("Q"), "id": 1}, a("A")], "rejected": [a("B")]},
        "preference",
        [("rejected", "prompt-mismatch"), ("chosen[0]", "consecutive-roles")],
    ),
    (
        {"chosen": [u("Q1"), a("A")], "rejected": [u("Q2"), a("B")]},
        "preference",
        [("", "prompt-mismatch")],
    ),
    (
        {"prompt": [u("Q")], "chosen": [u("Q"), a("A")], "rejected": [a("B")]},
        "preference",
        [("rejected", "prompt-mismatch"), ("chosen[0]", "consecutive-roles")],
    ),
    (
        {"prompt": [u("Q")], "chosen": [a("A")], "rejected": [u("more")]},
        "preference",
        [
            ("rejected[0]", "consecutive-roles"),
            ("rejected[0]", "no-final-assistant"),
            ("rejected", "prompt-mismatch"),
        ],
    ),
    (
        {"prompt": [u("Q")], "completion": [a("A")], "label": True},
        "kto",
        [],
    ),
    (
        {"prompt": [u("Q")], "completion": [u("A")], "label": True},
        "kto",
        [("completion[0]", "consecutive-roles"), ("completion[0]", "no-final-assistant")],
    ),
    # control tokens, in every spelling of a message's text
    (
        messages(u("Hi <|im_start|>"), a("Yo")),
        "messages",
        [("messages[0].content", "leaked-control-token")],
    ),
    (
        messages(u("Hi"), a("Yo </s>")),
        "messages",
        [("messages[1].content", "leaked-control-token")],
    ),
    (
        turns(("human", "[INST] Hi"), ("gpt", "Yo")),
        "sharegpt",
        [("conversations[0].value", "leaked-control-token")],
    ),
    ({"instruction": "Hi", "output": "<|eot_id|>"}, "alpaca", [("output", "leaked-control-token")]),
    ({"text": "plain <|endoftext|> text"}, "text", [("text", "leaked-control-token")]),
    # schema
    (messages(), "messages", [("messages", "schema")]),
    ({"messages": [{"content": "Hi"}]}, "messages", [("messages[0]", "schema")]),
    ({"instruction": "Hi", "output": 4}, "alpaca", [("output", "schema")]),
    ({"prompt": "Q", "completion": "A", "label": "yes"}, "kto", [("label", "schema")]),
]


@pytest.mark.parametrize(("row", "fmt", "expected"), CASES)
def test_check_row(row, fmt, expected):
    found = check_row(row, fmt)
    assert sorted((f.path, f.code) for f in found) == sorted(expected)


@pytest.mark.parametrize(("row", "fmt", "expected"), CASES)
def test_fast_path_agrees(row, fmt, expected):
    """Where the fast check vouches for a row, the full path finds nothing."""
    clean = FAST_CLEAN.get(fmt)
    if clean is not None and clean(row):
        assert expected == []


@pytest.mark.parametrize(("row", "fmt", "expected"), CASES)
def test_check_converted_agrees_with_check_row(row, fmt, expected):
    """prepare checks the example it already converted (check_converted): the same
    findings as check_row, in order; where the schema fails, the meaning checks follow."""
    try:
        example = FORMATS[fmt].to_canonical(row)
    except RowError:
        return  # prepare rejects the row before any check (its code: test_gate)
    full = check_row(row, fmt)
    found = check_converted(row, fmt, example)
    if any(f.code == "schema" for f in full):
        assert found[: len(full)] == full
    else:
        assert found == full


def test_every_row_check_code_is_documented_and_found_by_a_case():
    """The codes prepare's gate and --accept rely on are the ones the checks give, and
    validate's docstring lists each."""
    found: dict[str, set[str]] = {}
    for row, fmt, _ in CASES:
        try:
            example = FORMATS[fmt].to_canonical(row)
        except RowError as e:
            found.setdefault(e.code, set()).add("error")
            continue
        for f in check_converted(row, fmt, example):
            found.setdefault(f.code, set()).add(f.severity)
    for code in ROW_ERROR_CODES:
        assert "error" in found[code], code
        assert f"``{code}``" in dataprep.validate.__doc__, code
    for code in ROW_WARNING_CODES:
        assert "warning" in found[code], code
        assert f"``{code}``" in dataprep.validate.__doc__, code


@pytest.mark.parametrize(
    ("row", "fmt", "message"),
    [
        (messages(u(""), a("Yo")), "messages", "content is empty"),
        (messages(u("Hi"), a(5)), "messages", "content must be a string, not int"),
        (
            messages(u("Hi"), u("again"), a("Yo")),
            "messages",
            "two user turns in a row; many chat templates (Llama 2, Mistral, Gemma) refuse this",
        ),
        (
            turns(("human", "Hi"), ("gpt", "Yo"), ("gpt", "More")),
            "sharegpt",
            "two assistant turns in a row; this format requires user and assistant turns to alternate: "
            "merge them or add the missing turn",
        ),
        (
            messages(u("Hi")),
            "messages",
            "the conversation ends with a user turn, not an assistant turn: nothing to learn from",
        ),
        (
            messages(u("Hi <|im_end|>"), a("Yo")),
            "messages",
            "content holds the chat-template control token '<|im_end|>': text rendered by a "
            "template leaked into the data",
        ),
        (
            {"prompt": "Q", "chosen": "A", "rejected": "A"},
            "preference",
            "chosen and rejected are the same: the pair teaches nothing",
        ),
        (
            messages(
                u("Hi"),
                {"role": "assistant", "content": None, "tool_calls": [call(arguments=TWICE)]},
            ),
            "messages",
            "arguments of 'f' are JSON-encoded twice (a JSON string holding the object's JSON "
            "text): decode them once more",
        ),
        (
            messages({"role": "system", "content": "S"}, a("Yo")),
            "messages",
            "assistant turns but no user turn: nothing asks for the answers it trains",
        ),
    ],
)
def test_messages_are_exact(row, fmt, message):
    assert [f.message for f in check_row(row, fmt)] == [message]


@pytest.mark.parametrize(
    ("row", "fmt", "severity"),
    [
        (messages(u("Hi"), u("again"), a("Yo")), "messages", "warning"),
        (
            {"chosen": [u("Q"), u("Q2"), a("A")], "rejected": [u("Q"), u("Q2"), a("B")]},
            "preference",
            "warning",
        ),
        (turns(("human", "Hi"), ("human", "again"), ("gpt", "Yo")), "sharegpt", "error"),
    ],
)
def test_repeated_roles_are_an_error_only_where_the_format_forbids_them(row, fmt, severity):
    assert [(f.code, f.severity) for f in check_row(row, fmt)] == [("consecutive-roles", severity)]


@pytest.mark.parametrize("token", CONTROL_TOKENS)
@pytest.mark.parametrize("where", ["user", "assistant", "tool", "sharegpt"])
def test_every_control_token_is_found_past_the_fast_checks(token, where):
    text = f"before {token} after"
    row, fmt = {
        "user": (messages(u(text), a("Yo")), "messages"),
        "assistant": (messages(u("Hi"), a(text)), "messages"),
        "tool": (
            messages(
                u("Hi"),
                {"role": "assistant", "content": None, "tool_calls": [call()]},
                {"role": "tool", "tool_call_id": "c1", "content": text},
                a("Yo"),
            ),
            "messages",
        ),
        "sharegpt": (turns(("human", "Hi"), ("gpt", text)), "sharegpt"),
    }[where]
    assert find_control_token(text) == token
    assert not FAST_CLEAN[fmt](row)
    assert [f.code for f in check_row(row, fmt)] == ["leaked-control-token"]


@pytest.mark.parametrize("text", ["a < b", "x <= y", "<b>bold</b>", "[INSTANT]", "list[int]"])
def test_text_with_lookalikes_stays_on_the_fast_path(text):
    assert FAST_CLEAN["messages"](messages(u(text), a(text)))
    assert FAST_CLEAN["sharegpt"](turns(("human", text), ("gpt", text)))


@pytest.mark.parametrize("token", CONTROL_TOKENS)
@pytest.mark.parametrize("fmt", ["messages", "sharegpt"])
def test_escaped_control_tokens_do_not_slip_past_the_fast_path(tmp_path, token, fmt):
    """Writers that escape "<" as \\u003c (Gson, Go's encoding/json) hide it from the raw
    pre-check; the fast path must still hand the row to the full checks."""
    if fmt == "messages":
        row = messages(u(f"before {token} after"), a("Yo"))
    else:
        row = turns(("human", f"before {token} after"), ("gpt", "Yo"))
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(row).replace("<", "\\u003c") + "\n")
    v = validate_files([str(path)])
    assert [p.code for p in v.log.kept] == ["leaked-control-token"]


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("[INST] hi <|im_end|>", "[INST]"),
        ("<s>[INST] hi [/INST]", "<s>"),
        ("a < b [/INST] <</SYS>>", "[/INST]"),
        ("x <<SYS>> y", "<<SYS>>"),
        ("<｜User｜>hi", "<｜User｜>"),
    ],
)
def test_the_first_control_token_is_named(text, first):
    assert find_control_token(text) == first


@pytest.mark.parametrize("text", ["a < b", "x <= y", "<b>bold</b>", "[INSTANT]", "list[int]"])
def test_lookalikes_are_not_tokens(text):
    assert find_control_token(text) is None


# --------------------------------------------------------------- the fast path, property

ROLES = st.sampled_from(["system", "user", "assistant", "tool", "bot", "", 3])
CONTENT = st.one_of(
    st.sampled_from(["Hi", "", " ", "\n", "ok <|im_end|>"]),
    st.none(),
    st.integers(),
    st.lists(st.just("x"), max_size=1),
)
CALL = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["c1", "c2"]),
        "type": st.sampled_from(["function", "code"]),
        "function": st.fixed_dictionaries(
            {
                "name": st.sampled_from(["f", ""]),
                "arguments": st.sampled_from(['{"x": 1}', "{", "[1]", "1"]),
            }
        ),
    }
)
MESSAGE = st.fixed_dictionaries(
    {"role": ROLES},
    optional={
        "content": CONTENT,
        "tool_calls": st.lists(CALL, max_size=2),
        "tool_call_id": st.sampled_from(["c1", "c2", "c3"]),
        "name": st.just("n"),
        # extras (data), and known keys with good and bad values
        "id": st.sampled_from(["m1", None, [], 0]),
        "weight": st.sampled_from([0, 1, 0.5, None]),
        "reasoning": st.sampled_from(["r", None, 1]),
    },
)
MESSAGES_ROW = st.fixed_dictionaries(
    {"messages": st.lists(MESSAGE, max_size=6)},
    optional={
        "tools": st.sampled_from([[], [{"type": "function"}], ["x"], "[]"]),
        "id": st.integers(),
    },
)
TURN = st.fixed_dictionaries(
    {"from": st.sampled_from(["human", "gpt", "system", "observation", "function_call", "bot"])},
    optional={
        "value": CONTENT,
        "weight": st.sampled_from([0, 2]),
        "id": st.sampled_from(["t1", None]),
        "train": st.sampled_from([True, "yes"]),
    },
)
SHAREGPT_ROW = st.fixed_dictionaries(
    {"conversations": st.lists(TURN, max_size=6)},
    optional={"system": st.sampled_from(["", "sys"]), "tools": st.just("[]")},
)


def _clean_full_path(row, fmt):
    """The full path finds nothing (control tokens included)."""
    return check_row(row, fmt) == []


@settings(max_examples=300, deadline=None)
@given(MESSAGES_ROW)
def test_fast_messages_never_vouches_for_a_bad_row(row):
    if FAST_CLEAN["messages"](row):
        assert _clean_full_path(row, "messages")


@settings(max_examples=300, deadline=None)
@given(SHAREGPT_ROW)
def test_fast_sharegpt_never_vouches_for_a_bad_row(row):
    if FAST_CLEAN["sharegpt"](row):
        assert _clean_full_path(row, "sharegpt")


# Rows of the shapes the fast checks vouch for, then a few mutations: most rows are near
# the line between clean and not, where a wrong answer would hide.
CLEAN_TEXT = st.sampled_from(["Hi", "a < b", "list[int]", "[INSTANT]", "naïve ✓", "<b>x</b>"])
BAD_TEXT = st.sampled_from(["", " ", "ok <|im_end|>", "x [INST] y", "<s>", None, 3, ["x"]])
ARGUMENTS = st.sampled_from(['{"x": 1}', '{"a": "<|im_end|>"}', "{", "[1]"])


@st.composite
def near_clean_messages(draw, mutations):
    msgs = [{"role": "system", "content": draw(CLEAN_TEXT)}] if draw(st.booleans()) else []
    for turn in range(draw(st.integers(1, 3))):
        msgs.append({"role": "user", "content": draw(CLEAN_TEXT)})
        if draw(st.booleans()):
            ids = [f"c{turn}-{k}" for k in range(draw(st.integers(1, 2)))]
            calls = [
                {"id": i, "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
                for i in ids
            ]
            msgs.append(
                {"role": "assistant", "content": draw(st.none() | CLEAN_TEXT), "tool_calls": calls}
            )
            msgs += [{"role": "tool", "tool_call_id": i, "content": draw(CLEAN_TEXT)} for i in ids]
        msgs.append({"role": "assistant", "content": draw(CLEAN_TEXT)})
    for _ in range(draw(mutations)):
        m = msgs[draw(st.integers(0, len(msgs) - 1))]
        kind = draw(st.sampled_from(["extra", "known", "drop", "role", "text", "arguments"]))
        if kind == "extra":  # data: never a problem
            m[draw(st.sampled_from(["id", "timestamp", "refusal"]))] = draw(
                st.sampled_from(["m1", None, [], 0, {"k": 1}])
            )
        elif kind == "known":
            key = draw(st.sampled_from(["name", "weight", "reasoning", "train", "tool_call_id"]))
            m[key] = draw(st.sampled_from(["n", 0, 1, 0.5, None, True, "c0-0"]))
        elif kind == "drop":
            del m[draw(st.sampled_from(sorted(m)))]
        elif kind == "role":
            m["role"] = draw(st.sampled_from(["user", "assistant", "system", "tool", "developer"]))
        elif kind == "text":
            m["content"] = draw(BAD_TEXT)
        elif "tool_calls" in m:
            m["tool_calls"][0]["function"]["arguments"] = draw(ARGUMENTS)
    return {"messages": msgs}


@st.composite
def near_clean_sharegpt(draw, mutations):
    turns = [{"from": "system", "value": draw(CLEAN_TEXT)}] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 3))):
        turns += [{"from": "human", "value": draw(CLEAN_TEXT)}]
        turns += [{"from": "gpt", "value": draw(CLEAN_TEXT)}]
    row = {"conversations": turns}
    for _ in range(draw(mutations)):
        t = turns[draw(st.integers(0, len(turns) - 1))]
        kind = draw(st.sampled_from(["extra", "known", "drop", "role", "text", "column"]))
        if kind == "extra":
            t[draw(st.sampled_from(["id", "markdown"]))] = draw(st.sampled_from(["t1", None, 0]))
        elif kind == "known":
            t[draw(st.sampled_from(["weight", "train", "loss_weight"]))] = draw(
                st.sampled_from([0, 1, 2, True, "yes", None])
            )
        elif kind == "drop":
            del t[draw(st.sampled_from(sorted(t)))]
        elif kind == "role":
            t["from"] = draw(st.sampled_from(["human", "gpt", "system", "observation", "bot"]))
        elif kind == "text":
            t["value"] = draw(BAD_TEXT)
        else:
            row[draw(st.sampled_from(["system", "tools", "id"]))] = draw(st.sampled_from(["", "s"]))
    return row


@settings(max_examples=300, deadline=None)
@given(near_clean_sharegpt(st.integers(0, 2)))
def test_fast_sharegpt_never_vouches_for_a_bad_row_near_the_line(row):
    if FAST_CLEAN["sharegpt"](row):
        assert _clean_full_path(row, "sharegpt")


@settings(max_examples=50, deadline=None)
@given(near_clean_sharegpt(st.just(0)))
def test_fast_sharegpt_vouches_for_the_common_clean_shapes(row):
    assert _clean_full_path(row, "sharegpt")
    assert FAST_CLEAN["sharegpt"](row)


@settings(max_examples=300, deadline=None)
@given(near_clean_messages(st.integers(0, 2)))
def test_fast_messages_never_vouches_for_a_bad_row_near_the_line(row):
    if FAST_CLEAN["messages"](row):
        assert _clean_full_path(row, "messages")


@settings(max_examples=50, deadline=None)
@given(near_clean_messages(st.just(0)))
def test_fast_messages_vouches_for_the_common_clean_shapes(row):
    """Without mutations every row is clean, and the fast check says so (it is what makes
    validate fast: a fast check that vouched for nothing would pass the test above)."""
    assert _clean_full_path(row, "messages")
    assert FAST_CLEAN["messages"](row)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(SAMPLES, "*.jsonl"))))
def test_samples_are_clean(path):
    v = validate_files([path])
    assert [str(p) for p in v.log.kept] == []
    assert v.exit_code == 0


# ------------------------------------------------------------------------ files


def write_jsonl(path, rows):
    with open(path, "wb") as f:
        for row in rows:
            f.write(row if isinstance(row, bytes) else orjson.dumps(row))
            f.write(b"\n")
    return str(path)


def test_problems_carry_file_line_and_are_all_counted(tmp_path):
    rows = [
        messages(u("Hi"), a("Yo")),
        messages(u(""), a("Yo")),
        b"{oops",
        messages(u("Hi"), a("")),
    ] * 30
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    v = validate_files([path], max_errors=3)
    unreadable = next(r.problem for r in read_records(path) if r.problem)  # reading's own words
    assert [str(p) for p in v.log.kept] == [
        f"{path}:2: messages[0].content: content is empty [empty-content]",
        str(unreadable),
        f"{path}:4: messages[1].content: content is empty [empty-content]",
    ]
    assert unreadable.line == 3 and unreadable.code == "invalid-json"
    assert v.log.counts == {"empty-content": 60, "invalid-json": 30, "duplicate-row": 87}
    assert (v.errors, v.warnings, v.rows, v.exit_code) == (90, 87, 120, 1)


@pytest.mark.parametrize(
    ("strict", "severity", "exit_code"), [(False, "warning", 0), (True, "error", 1)]
)
def test_duplicates_are_warnings_unless_strict(tmp_path, strict, severity, exit_code):
    row = messages(u("Hi"), a("Yo"))
    path = write_jsonl(tmp_path / "d.jsonl", [row, messages(u("Q"), a("A")), row])
    v = validate_files([path], strict=strict)
    [p] = v.log.kept
    assert (p.line, p.code, p.severity, p.message) == (
        3,
        "duplicate-row",
        severity,
        "exact duplicate of line 1",
    )
    assert v.exit_code == exit_code


def test_duplicates_without_raw_bytes_are_found_by_value():
    """Parquet rows carry no raw bytes: the same row with keys in another order is a duplicate."""
    from dataprep.reading import Record

    rows = [{"instruction": "a", "output": "b"}, {"output": "b", "instruction": "a"}]
    log = ProblemLog()
    validate_records(
        (Record("t.parquet", i + 1, r, None, None) for i, r in enumerate(rows)), "t.parquet", log
    )
    assert [(p.line, p.code) for p in log.kept] == [(2, "duplicate-row")]


def test_forced_format_checks_every_row_as_it(tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl", [messages(u("Hi"), a("Yo")), turns(("human", "Hi"), ("gpt", "Yo"))]
    )
    v = validate_files([path], fmt="messages")
    # messages also reads role/content turns under "conversations": a ShareGPT row forced
    # as messages is told what its turns lack, turn by turn.
    assert [(p.line, p.path, p.code) for p in v.log.kept] == [
        (2, "conversations[0]", "schema"),
        (2, "conversations[0]", "schema"),
        (2, "conversations[1]", "schema"),
        (2, "conversations[1]", "schema"),
    ]
    assert v.files[0].format == "messages" and v.files[0].detection is None


def test_mixed_file_is_reported_at_the_minority_lines(tmp_path):
    rows = [messages(u(f"Q{i}"), a("A")) for i in range(5)] + [
        turns(("human", "Hi"), ("gpt", "Yo"))
    ]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    v = validate_files([path])
    assert [str(p) for p in v.log.kept] == [
        f"{path}:6: 1 row is sharegpt (line 6) but 5 are messages: each row was checked as its own "
        "format; pass --format to check all as one [mixed-formats]"
    ]
    assert v.files[0].detection.status == "mixed"


def test_ambiguous_file_asks_for_format(tmp_path):
    both = {**messages(u("Hi"), a("Yo")), **turns(("human", "Hi"), ("gpt", "Yo"))}
    path = write_jsonl(tmp_path / "d.jsonl", [both])
    v = validate_files([path])
    assert [(p.line, p.code) for p in v.log.kept] == [(0, "ambiguous-format")]
    assert "say which with --format" in v.log.kept[0].message


def test_mapping_paths_are_in_the_files_own_names(tmp_path):
    row = {"dialog": [{"speaker": "human", "text": ""}, {"speaker": "bot", "text": "Yo"}]}
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    mapping = Mapping.from_specs(
        fields=["messages=dialog", "role=speaker", "content=text"],
        roles=["human=user", "bot=assistant"],
    )
    v = validate_files([path], mapping=mapping)
    assert [str(p) for p in v.log.kept] == [
        f"{path}:1: dialog[0].text: content is empty [empty-content]"
    ]


def test_mapping_conflict_is_a_problem_not_a_crash(tmp_path):
    row = {"dialog": [], "messages": []}
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    v = validate_files([path], mapping=Mapping.from_specs(fields=["messages=dialog"]))
    assert [p.code for p in v.log.kept] == ["mapping-conflict"]


def test_a_file_that_is_not_a_dataset_is_one_problem_and_the_next_file_still_runs(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"\x00\x01\x02binary\xff" * 50)
    good = write_jsonl(tmp_path / "g.jsonl", [messages(u("Hi"), a("Yo"))])
    v = validate_files([str(bad), good])
    assert [(p.source, p.line) for p in v.log.kept] == [(str(bad), 0)]
    assert [f.errors for f in v.files] == [1, 0]


def test_unknown_format_name_is_a_usage_error(tmp_path):
    from dataprep.errors import UsageError

    with pytest.raises(UsageError, match="unknown format 'chat'"):
        validate_files([write_jsonl(tmp_path / "d.jsonl", [{}])], fmt="chat")


# ------------------------------------------------------------------------ parallel


def test_parallel_run_equals_single_process(tmp_path, monkeypatch):
    """Two processes over byte ranges find exactly what one process finds, duplicates
    across the ranges included."""
    good = [
        messages(u(f"question {i} " + "x" * 300), a("answer " + "y" * 300)) for i in range(2500)
    ]
    bad = {
        100: messages(u(""), a("Yo")),
        1800: turns(("human", "Hi"), ("gpt", "Yo")),
        2000: b"{broken",
        2300: good[5],  # a duplicate of a row in the first range
        2400: messages(u("Hi"), a("x <|im_end|>")),
    }
    rows = [bad.get(i, r) for i, r in enumerate(good)]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    assert os.path.getsize(path) > 1.2 * 1024 * 1024  # reading splits files of 1 MiB and up
    monkeypatch.setattr(dataprep._fast.parallel, "PARALLEL_MIN_BYTES", 0)
    one = validate_files([path], jobs=1, max_errors=100)
    two = validate_files([path], jobs=2, max_errors=100)
    assert [str(p) for p in two.log.kept] == [str(p) for p in one.log.kept]
    assert (
        two.log.counts
        == one.log.counts
        == {
            "empty-content": 1,
            "invalid-json": 1,
            "duplicate-row": 1,
            "leaked-control-token": 1,
            "mixed-formats": 1,
        }
    )
    assert two.files[0].detection.to_json() == one.files[0].detection.to_json()
    assert two.rows == one.rows == 2500


@pytest.mark.parametrize("jobs", [2, 3, 5, 8])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_parallel_ranges_renumber_lines_exactly(tmp_path, monkeypatch, jobs, bom):
    """Blank and whitespace lines wherever the split falls: every problem keeps its line,
    duplicates across ranges point at the right earlier line."""
    path = tmp_path / "d.jsonl"
    path.write_bytes(bom + lines_with_blanks(600))
    monkeypatch.setattr(dataprep._fast.parallel, "PARALLEL_MIN_BYTES", 0)
    one = validate_files([str(path)], jobs=1, max_errors=10_000)
    many = validate_files([str(path)], jobs=jobs, max_errors=10_000)
    assert [str(p) for p in many.log.kept] == [str(p) for p in one.log.kept]
    assert many.log.counts == one.log.counts
    assert one.log.counts["duplicate-row"] > 0 and one.log.counts["invalid-json"] > 0
    assert many.files[0].detection.to_json() == one.files[0].detection.to_json()


# ----------------------------------------------------------------------- duplicates


def test_seen_rows_grows_and_finds_every_duplicate():
    seen = SeenRows(capacity=4)
    for i in range(1, 5001):
        assert seen.add(hash(f"row {i}".encode()), i) == 0
    assert len(seen) == 5000
    assert seen.add(hash(b"row 1234"), 9999) == 1234
    assert seen.get(hash(b"row 4321")) == 4321
    assert seen.get(hash(b"never")) == 0
    assert seen.add(0, 7) == 0 and seen.add(0, 8) == 7  # 0 is a valid hash too


def test_seen_rows_memory_is_small():
    seen = SeenRows()
    for i in range(100_000):
        seen.add(hash(i.to_bytes(8, "little") + b"x"), i + 1)
    size = (
        seen._keys.buffer_info()[1] * seen._keys.itemsize
        + seen._lines.buffer_info()[1] * seen._lines.itemsize
    )
    assert size / len(seen) <= 32


def test_format_table_and_fast_paths_agree():
    assert set(FAST_CLEAN) <= set(FORMATS)


@pytest.mark.parametrize(
    "module", [dataprep.validate.files, dataprep.validate.rows, dataprep.validate.seen]
)
def test_doctests(module):
    assert doctest.testmod(module).failed == 0
