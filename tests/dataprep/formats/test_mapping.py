"""Field and role mapping: specs parsed, rows renamed, bad specs refused with exact words."""

from __future__ import annotations

import copy
import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dataprep.formats.mapping
from dataprep.errors import RowError, UsageError
from dataprep.formats import FORMATS
from dataprep.formats.mapping import (
    MESSAGE_FIELDS,
    MESSAGE_LIST_FIELDS,
    ROW_FIELDS,
    Mapping,
    parse_field_maps,
    parse_role_maps,
    suggest_role,
)
from dataprep.validate.schema import load_schema

# (fields, roles, row, expected row)
CASES = [
    # Axolotl-style chat: list field, role and content keys, role values.
    (
        ["messages=dialog", "role=speaker", "content=text"],
        ["bot=assistant", "human=user"],
        {"id": 1, "dialog": [{"speaker": "human", "text": "Hi"}, {"speaker": "bot", "text": "Yo"}]},
        {
            "id": 1,
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
        },
    ),
    # LLaMA-Factory sharegpt with role/content tags, roles as ShareGPT names.
    (
        ["conversations=messages", "from=role", "value=content"],
        ["user=human", "assistant=gpt"],
        {"messages": [{"role": "user", "content": "Hi"}], "system": "S"},
        {"conversations": [{"from": "human", "value": "Hi"}], "system": "S"},
    ),
    # Alpaca columns: key order kept, unmapped keys kept.
    (
        ["instruction=question", "input=context", "output=answer"],
        [],
        {"question": "Q", "source": "web", "context": "C", "answer": "A"},
        {"instruction": "Q", "source": "web", "input": "C", "output": "A"},
    ),
    # Roles only: both role keys, in every message list; other values untouched.
    (
        [],
        ["USER=user", "ASSISTANT=assistant"],
        {
            "prompt": [{"role": "USER", "content": "x"}, {"role": 5, "content": "y"}],
            "completion": [
                {"role": "ASSISTANT", "content": "z"},
                {"role": "critic", "content": "w"},
            ],
        },
        {
            "prompt": [{"role": "user", "content": "x"}, {"role": 5, "content": "y"}],
            "completion": [
                {"role": "assistant", "content": "z"},
                {"role": "critic", "content": "w"},
            ],
        },
    ),
    (
        [],
        ["bot=gpt"],
        {"conversations": [{"from": "human", "value": "a"}, {"from": "bot", "value": "b"}]},
        {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
    ),
    # LLaMA-Factory preference: chosen/rejected are single turns, renamed inside too.
    (
        ["chosen=better", "rejected=worse", "from=speaker", "value=text"],
        ["ai=gpt"],
        {
            "conversations": [{"speaker": "human", "text": "q"}],
            "better": {"speaker": "ai", "text": "good"},
            "worse": {"speaker": "ai", "text": "bad"},
        },
        {
            "conversations": [{"from": "human", "value": "q"}],
            "chosen": {"from": "gpt", "value": "good"},
            "rejected": {"from": "gpt", "value": "bad"},
        },
    ),
    # Strings under message-list fields and non-dict items are left as they are.
    (
        ["prompt=question", "completion=answer", "content=text"],
        ["bot=assistant"],
        {"question": "2+2?", "answer": "4"},
        {"prompt": "2+2?", "completion": "4"},
    ),
    (
        ["content=text"],
        [],
        {"messages": [{"role": "user", "text": "a"}, "stray", None, ["x"]]},
        {"messages": [{"role": "user", "content": "a"}, "stray", None, ["x"]]},
    ),
    # Message keys are renamed only inside messages, not at the top of the row.
    (
        ["content=text"],
        [],
        {"text": "top", "messages": [{"role": "user", "text": "inner"}]},
        {"text": "top", "messages": [{"role": "user", "content": "inner"}]},
    ),
    # Row keys are renamed only at the top, not inside messages.
    (
        ["text=body"],
        [],
        {"body": "top", "messages": [{"role": "user", "content": "x", "body": 1}]},
        {"text": "top", "messages": [{"role": "user", "content": "x", "body": 1}]},
    ),
    # A row without the mapped key is left as it is (files mix spellings).
    (
        ["messages=dialog"],
        ["bot=assistant"],
        {"messages": [{"role": "bot", "content": "x"}]},
        {"messages": [{"role": "assistant", "content": "x"}]},
    ),
    # Swapped columns: each key is read as the other; no conflict.
    (
        ["prompt=completion", "completion=prompt"],
        [],
        {"completion": "Q", "prompt": "A", "label": True},
        {"prompt": "Q", "completion": "A", "label": True},
    ),
    # A nested rename of a key that is itself renamed away: no conflict either.
    (
        ["content=value", "value=content"],
        [],
        {"messages": [{"role": "user", "value": "x", "content": "y"}]},
        {"messages": [{"role": "user", "content": "x", "value": "y"}]},
    ),
    # Tool calls and reasoning under other names.
    (
        ["tool_calls=calls", "reasoning_content=thoughts"],
        [],
        {"messages": [{"role": "assistant", "content": None, "calls": [], "thoughts": "t"}]},
        {
            "messages": [
                {"role": "assistant", "content": None, "tool_calls": [], "reasoning_content": "t"}
            ]
        },
    ),
]


@pytest.mark.parametrize(("fields", "roles", "row", "expected"), CASES)
def test_apply(fields, roles, row, expected):
    before = copy.deepcopy(row)
    out = Mapping.from_specs(fields, roles).apply(row)
    assert out == expected
    assert list(out) == list(expected)  # key order kept
    assert row == before  # the input row is not changed
    assert out is not row


@pytest.mark.parametrize(
    "mapping",
    [
        Mapping(),
        Mapping.from_specs([], []),
        Mapping(fields={"messages": "messages", "role": "role"}),
    ],
)
def test_identity_returns_the_same_row(mapping):
    row = {"messages": [{"role": "user", "content": "x"}]}
    assert mapping.is_identity
    assert mapping.apply(row) is row


def test_non_object_rows_pass_through():
    mapping = Mapping.from_specs(["messages=dialog"], ["bot=assistant"])
    assert mapping.apply([1, 2]) == [1, 2]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "row", "path", "message"),
    [
        (
            ["messages=dialog"],
            {"messages": [], "dialog": []},
            "dialog",
            "cannot read 'dialog' as 'messages': the row already has 'messages'"
            " (remove one, or drop the --field messages=dialog mapping)",
        ),
        (
            ["content=text"],
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "user", "text": "b", "content": "c"},
                ]
            },
            "messages[1].text",
            "cannot read 'text' as 'content': the row already has 'content'"
            " (remove one, or drop the --field content=text mapping)",
        ),
        # The path is in the file's own terms: the list as the file names it.
        (
            ["messages=dialog", "role=speaker"],
            {"dialog": [{"speaker": "user", "role": "x"}]},
            "dialog[0].speaker",
            "cannot read 'speaker' as 'role': the row already has 'role'"
            " (remove one, or drop the --field role=speaker mapping)",
        ),
        (
            ["value=text"],
            {"conversations": [], "chosen": {"from": "gpt", "text": "a", "value": "b"}},
            "chosen.text",
            "cannot read 'text' as 'value': the row already has 'value'"
            " (remove one, or drop the --field value=text mapping)",
        ),
    ],
)
def test_conflicts_are_row_errors(fields, row, path, message):
    with pytest.raises(RowError) as e:
        Mapping.from_specs(fields).apply(row)
    assert (e.value.path, e.value.message, e.value.code) == (path, message, "mapping-conflict")


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ([], {}),
        (["messages=dialog"], {"messages": "dialog"}),
        ([" role = speaker "], {"role": "speaker"}),
        (
            ("instruction=question", "output=answer"),
            {"instruction": "question", "output": "answer"},
        ),
        # The same key of yours may be read at both levels: a row field and a message field.
        (["text=body", "content=body"], {"text": "body", "content": "body"}),
        (["messages=messages"], {"messages": "messages"}),
    ],
)
def test_parse_field_maps(specs, expected):
    assert parse_field_maps(specs) == expected


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ([], {}),
        (["bot=assistant", "human=user"], {"bot": "assistant", "human": "user"}),
        (["USER = human"], {"USER": "human"}),
        (
            ["a=function_call", "b=observation", "c=tool", "d=system"],
            {"a": "function_call", "b": "observation", "c": "tool", "d": "system"},
        ),
    ],
)
def test_parse_role_maps(specs, expected):
    assert parse_role_maps(specs) == expected


FIELDS_KNOWN = (
    "(row fields: chosen, chosen_messages, completion, conversations, history, input, instruction,"
    " kto_tag, label, messages, output, prompt, rejected, rejected_messages, system, text, tools;"
    " message fields: content, from, name, reasoning_content, role, tool_call_id, tool_calls,"
    " train, value)"
)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (
            ["messages"],
            "bad --field 'messages': expected OUR_FIELD=YOUR_KEY (e.g. --field messages=dialog)",
        ),
        (
            ["=dialog"],
            "bad --field '=dialog': expected OUR_FIELD=YOUR_KEY (e.g. --field messages=dialog)",
        ),
        (
            ["messages="],
            "bad --field 'messages=': expected OUR_FIELD=YOUR_KEY (e.g. --field messages=dialog)",
        ),
        (
            ["a=b=c"],
            "bad --field 'a=b=c': expected OUR_FIELD=YOUR_KEY (e.g. --field messages=dialog)",
        ),
        (
            ["dialog=messages"],
            f"bad --field 'dialog=messages': 'dialog' is not a field of any format {FIELDS_KNOWN}",
        ),
        (
            ["messages=dialog", "messages=chat"],
            "bad --field 'messages=chat': 'messages' is already mapped to 'dialog'",
        ),
        (
            ["prompt=q", "instruction=q"],
            "bad --field 'instruction=q': 'q' is already mapped to 'prompt'",
        ),
        (
            ["role=who", "from=who"],
            "bad --field 'from=who': 'who' is already mapped to 'role'",
        ),
    ],
)
def test_bad_field_specs(specs, message):
    with pytest.raises(UsageError) as e:
        parse_field_maps(specs)
    assert str(e.value) == message
    assert e.value.exit_code == 2


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["bot"], "bad --role 'bot': expected YOUR_ROLE=OUR_ROLE (e.g. --role bot=assistant)"),
        (["bot="], "bad --role 'bot=': expected YOUR_ROLE=OUR_ROLE (e.g. --role bot=assistant)"),
        (
            ["=assistant"],
            "bad --role '=assistant': expected YOUR_ROLE=OUR_ROLE (e.g. --role bot=assistant)",
        ),
        (
            ["bot=assistent"],
            "bad --role 'bot=assistent': 'assistent' is not a role"
            " (known: system, user, assistant, tool, human, gpt, function_call, observation)",
        ),
        (
            ["bot=assistant", "bot=user"],
            "bad --role 'bot=user': 'bot' is already mapped to 'assistant'",
        ),
    ],
)
def test_bad_role_specs(specs, message):
    with pytest.raises(UsageError) as e:
        parse_role_maps(specs)
    assert str(e.value) == message


def test_mapping_refuses_unknown_fields():
    with pytest.raises(UsageError, match=r"^unknown field\(s\) in a mapping: dialog$"):
        Mapping(fields={"dialog": "messages"})


# The field names are the schemas' own: they cannot drift apart.


def _schemas():
    return [load_schema(name) for name in FORMATS]


def _row_properties(schema):
    props = dict(schema.get("properties", {}))
    for branch in schema.get("anyOf", []):
        props.update(branch.get("properties", {}))
    return props


def test_row_fields_are_the_schemas_top_level_fields():
    assert {k for s in _schemas() for k in _row_properties(s)} == ROW_FIELDS


def test_message_fields_are_the_schemas_message_fields():
    defs = {}
    for s in _schemas():
        defs.update(s.get("$defs", {}))
    assert set(defs["message"]["properties"]) | set(defs["turn"]["properties"]) == MESSAGE_FIELDS


def test_message_list_fields_are_the_fields_that_hold_messages():
    holders = {"#/$defs/message", "#/$defs/turn"}
    found = set()
    for s in _schemas():
        for key, prop in _row_properties(s).items():
            # a list of messages, one message, or (anyOf) any of these
            for form in [prop, *prop.get("anyOf", [])]:
                if form.get("$ref") in holders or form.get("items", {}).get("$ref") in holders:
                    found.add(key)
    assert found == MESSAGE_LIST_FIELDS


# Renaming there and back gives the row back, for rows spelled only the file's way.

THEIR_KEYS = st.sampled_from(["speaker", "text", "name", "x"])
THEIR_VALUES = st.sampled_from(["user", "bot", "hi", "", None, 1, ["bot"]])
DIALOGS = st.lists(st.dictionaries(THEIR_KEYS, THEIR_VALUES, max_size=4) | THEIR_VALUES, max_size=4)
OURS = {"role": "speaker", "content": "text"}


@settings(max_examples=100, deadline=None)
@given(
    row=st.fixed_dictionaries(
        {"dialog": DIALOGS}, optional={"id": st.integers(), "system": st.text(max_size=3)}
    )
)
def test_mapping_there_and_back_is_exact(row):
    mapping = Mapping(fields={"messages": "dialog", **OURS}, roles={"bot": "assistant"})
    mapped = mapping.apply(row)
    assert "dialog" not in mapped
    assert all(
        not isinstance(m, dict) or not ({"speaker", "text"} & m.keys()) for m in mapped["messages"]
    )
    back = {("dialog" if k == "messages" else k): v for k, v in mapped.items()}
    back["dialog"] = [
        {OURS.get(k, k): ("bot" if k == "role" and v == "assistant" else v) for k, v in m.items()}
        if isinstance(m, dict)
        else m
        for m in mapped["messages"]
    ]
    assert back == row
    assert list(back) == list(row)
    assert [list(m) for m in back["dialog"] if isinstance(m, dict)] == [
        list(m) for m in row["dialog"] if isinstance(m, dict)
    ]


def test_module_docstrings_run():
    result = doctest.testmod(dataprep.formats.mapping)
    assert result.attempted > 0
    assert result.failed == 0


# The role an unknown role name is suggested to map to (``--role NAME=ROLE`` in messages).
@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("bot", "assistant"),
        ("gpt", "assistant"),
        ("model", "assistant"),
        ("chatbot", "assistant"),
        ("ai", "assistant"),
        ("AI", "assistant"),
        ("assistant_1", "assistant"),
        ("Model 2", "assistant"),
        ("ai-bot", "assistant"),
        ("llm", "assistant"),
        ("sys", "system"),
        ("developer", "system"),
        ("observation", "tool"),
        ("function_response", "tool"),
        ("human", "user"),
        ("customer", "user"),
        ("narrator", "user"),
        ("", "user"),
    ],
)
def test_suggest_role(name, role):
    assert suggest_role(name) == role


# Every place that words an unknown role gives the same suggestion.
@pytest.mark.parametrize(
    ("fmt", "row", "expected"),
    [
        (
            "messages",
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "chatbot", "content": "Yo"}]},
            "messages[1].role: unknown role 'chatbot' (known: system, user, assistant, tool; "
            "map it with --role chatbot=assistant)",
        ),
        (
            "messages",
            {
                "messages": [
                    {"role": "customer", "content": "Hi"},
                    {"role": "assistant", "content": "Yo"},
                ]
            },
            "messages[0].role: unknown role 'customer' (known: system, user, assistant, tool; "
            "map it with --role customer=user)",
        ),
        (
            "sharegpt",
            {"conversations": [{"from": "human", "value": "Hi"}, {"from": "ai", "value": "Yo"}]},
            "conversations[1].from: unknown role 'ai' (known: human, user, gpt, assistant, bot, "
            "model, chatgpt, system, function_call, observation, tool, function, ipython; "
            "map it with --role ai=assistant)",
        ),
    ],
)
def test_unknown_role_hints(fmt, row, expected):
    with pytest.raises(RowError) as e:
        FORMATS[fmt].to_canonical(row)
    assert (str(e.value), e.value.code) == (expected, "unknown-role")
