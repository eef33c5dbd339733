"""The shipped schemas, the compiled check (it must answer what jsonschema answers), and
the messages of rows that fail."""

from __future__ import annotations

import copy
import doctest
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import dataprep.validate.schema
from dataprep._fast.schema import compile_schema
from dataprep.errors import UsageError
from dataprep.formats import FORMATS
from dataprep.validate.schema import (
    Validator,
    format_path,
    load_schema,
    schema_errors,
    schema_names,
)

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
NAMES = sorted(FORMATS)

# Valid rows of each format, written here so the tests need nothing else; the sample
# files join them below.
VALID_ROWS: dict[str, list[dict[str, Any]]] = {
    "messages": [
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
            ]
        },
        {
            "id": "r2",
            "messages": [
                {"role": "system", "content": "Be brief.", "weight": 0},
                {"role": "user", "content": [{"type": "text", "text": "Weather in Oslo?"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "name": "weather", "content": "-3 °C"},
                {"role": "assistant", "tool_calls": [{"name": "noop", "arguments": {}}]},
                {
                    "role": "assistant",
                    "content": "Cold: −3 °C.",
                    "reasoning_content": "…",
                    "train": True,
                },
            ],
            "tools": [{"type": "function", "function": {"name": "weather"}}],
        },
    ],
    "sharegpt": [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
        {
            "conversations": [
                {"from": "human", "value": "2+2?"},
                {"from": "function_call", "value": '{"name": "add", "arguments": {"a": 2}}'},
                {"from": "observation", "value": "4"},
                {"from": "gpt", "value": "4", "weight": 1},
            ],
            "system": "You add.",
            "tools": '[{"name": "add"}]',
        },
        {"conversations": [{"from": "human", "value": "x"}], "tools": [{"name": "add"}]},
    ],
    "alpaca": [
        {"instruction": "Add 2 and 2", "output": "4"},
        {
            "instruction": "And 3?",
            "input": "",
            "output": "7",
            "system": "Math.",
            "history": [["2+2?", "4"], ["Double it", "8"]],
            "source": "mine",
        },
    ],
    "chatml": [
        {"text": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"}
    ],
    "text": [{"text": "Once upon a time."}, {"text": "", "meta": {"lang": "en"}}],
    "prompt-completion": [
        {"prompt": "The sky is", "completion": " blue."},
        {
            "prompt": [{"role": "user", "content": "Sky colour?"}],
            "completion": [{"role": "assistant", "content": "Blue."}],
        },
    ],
    "kto": [
        {"prompt": "The sky is", "completion": " green.", "label": False},
        {
            "prompt": [{"role": "user", "content": "Sky colour?"}],
            "completion": [{"role": "assistant", "content": "Blue."}],
            "label": True,
        },
    ],
    "preference": [
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
        {
            "chosen": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ],
            "rejected": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Go away"},
            ],
        },
        {
            "conversations": [{"from": "human", "value": "Hi"}],
            "chosen": {"from": "gpt", "value": "Hello"},
            "rejected": {"from": "gpt", "value": "Go away"},
        },
        {
            "chosen_messages": [
                {"role": "user", "content": [{"type": "text", "value": "Hi"}], "loss_weight": 0.0},
                {
                    "role": "assistant",
                    "content": [{"type": "text", "value": "Hello"}],
                    "loss_weight": 1.0,
                },
            ],
            "rejected_messages": [
                {"role": "user", "content": [{"type": "text", "value": "Hi"}], "loss_weight": 0.0},
                {
                    "role": "assistant",
                    "content": [{"type": "text", "value": "Go"}],
                    "loss_weight": 1.0,
                },
            ],
        },
    ],
}


def sample_rows() -> list[tuple[str, int, dict[str, Any]]]:
    """(format, line, row) of every row of samples/<format>.jsonl."""
    out = []
    for path in sorted(SAMPLES.glob("*.jsonl")):
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if text.strip():
                out.append((path.stem, line, json.loads(text)))
    return out


SAMPLE_ROWS = sample_rows()
ROWS = [(name, row) for name, rows in VALID_ROWS.items() for row in rows] + [
    (name, row) for name, _, row in SAMPLE_ROWS if name in FORMATS
]


def reference(schema: Any) -> Draft202012Validator:
    return Draft202012Validator(schema)


# --------------------------------------------------------------------- the schemas


def test_schema_names_are_the_formats():
    assert schema_names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_2020_12_and_compiles(name):
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:dataprep:schemas:{name}"
    assert schema["title"] == name
    assert schema["description"]
    assert callable(compile_schema(schema))


def _properties(schema: Any, where: str = ""):
    """(path, property schema) of every property declared anywhere in a schema."""
    if isinstance(schema, dict):
        for key, sub in schema.get("properties", {}).items():
            yield f"{where}.{key}", sub
        for key, sub in schema.items():
            if key in ("properties", "$defs"):
                for k, s in sub.items():
                    yield from _properties(s, f"{where}.{k}")
            elif isinstance(sub, (dict, list)):
                yield from _properties(sub, f"{where}/{key}")
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            yield from _properties(sub, f"{where}[{i}]")


@pytest.mark.parametrize("name", NAMES)
def test_every_field_is_described(name):
    schema = load_schema(name)
    undescribed = [
        path
        for path, sub in _properties(schema)
        if isinstance(sub, dict) and "description" not in sub and "$ref" not in sub
    ]
    assert undescribed == []
    assert all("description" in d for d in schema.get("$defs", {}).values())


def test_shared_definitions_are_the_same_everywhere():
    seen: dict[str, tuple[str, Any]] = {}
    for name in NAMES:
        for key, definition in load_schema(name).get("$defs", {}).items():
            first_name, first = seen.setdefault(key, (name, definition))
            assert definition == first, f"$defs/{key} differs between {first_name} and {name}"
    assert {"message", "turn"} <= seen.keys()


def test_load_schema_gives_a_fresh_copy():
    load_schema("text")["required"].append("oops")
    assert load_schema("text")["required"] == ["text"]


def test_unknown_schema_is_a_usage_error():
    with pytest.raises(UsageError, match=r"^no schema for format 'nope' \(known: alpaca, chatml, "):
        load_schema("nope")


# ---------------------------------------------- the compiled check == jsonschema


@pytest.mark.parametrize(("name", "row"), ROWS)
def test_valid_rows_pass_both_checks(name, row):
    assert reference(load_schema(name)).is_valid(row)
    assert compile_schema(load_schema(name))(row)
    assert Validator(name).check(row) == []


@pytest.mark.parametrize(("name", "line", "row"), SAMPLE_ROWS)
def test_sample_rows_agree_on_every_schema(name, line, row):
    for other in NAMES:
        expected = reference(load_schema(other)).is_valid(row)
        assert compile_schema(load_schema(other))(row) == expected, (name, line, other)


def test_every_format_has_sample_rows():
    have = {name for name, _, _ in SAMPLE_ROWS}
    assert set(NAMES) <= have


# Small schemas exercising each keyword the compiler knows, with instances on both
# sides of it (the test checks that each table row has both outcomes).
KEYWORD_CASES: list[tuple[Any, list[Any]]] = [
    ({"type": "integer"}, [1, 1.0, -0.0, 1.5, True, False, "1", None, 2**70, [1]]),
    ({"type": "number"}, [1, 1.5, -2.0, True, "1", None, {}]),
    ({"type": "string"}, ["", "x", 1, None, ["x"]]),
    ({"type": "boolean"}, [True, False, 0, 1, None, "true"]),
    ({"type": "null"}, [None, 0, False, "", []]),
    ({"type": "array"}, [[], [1], {}, "[]", None]),
    ({"type": "object"}, [{}, {"a": 1}, [], "{}", None]),
    ({"type": ["string", "null"]}, ["", None, 0, [], {}]),
    ({"type": ["integer", "string"]}, [1, 1.0, "a", True, 2.5, None]),
    ({"type": ["number", "boolean"]}, [1, 1.5, True, None, "1"]),
    ({"properties": {"a": {"type": "string"}}}, [{}, {"a": "x"}, {"a": 1}, "text", [1], 3]),
    ({"required": ["a", "b"]}, [{"a": 1, "b": 2}, {"a": 1}, {}, [], "ab"]),
    (
        {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}, "b": True}},
        [{"a": 1}, {"a": 1, "b": [None]}, {"a": "1"}, {"b": 1}, [], None],
    ),
    (
        {"properties": {"a": {"type": "integer"}}, "additionalProperties": False},
        [{"a": 1}, {"a": 1, "b": 2}, {}, {"b": None}, "x"],
    ),
    (
        {"properties": {"n": {"type": "integer"}}, "additionalProperties": {"type": "string"}},
        [{"n": 1, "x": "s"}, {"n": 1, "x": 2}, {"x": None}, {"n": "1"}, {}],
    ),
    ({"properties": {"a": True, "b": False}}, [{"a": 1}, {"b": 1}, {}, {"b": None}]),
    ({"items": {"type": "integer"}}, [[1, 2], [1, "a"], [], {"a": 1}, "ab"]),
    (
        {"prefixItems": [{"type": "string"}, {"type": "integer"}]},
        [["a", 1], ["a"], [1, "a"], ["a", 1, None], []],
    ),
    (
        {"prefixItems": [{"type": "string"}], "items": {"type": "integer"}},
        [["a", 1, 2], ["a", "b"], [], [1]],
    ),
    ({"prefixItems": [{"type": "string"}], "items": False}, [["a"], ["a", "b"], [], [1]]),
    ({"minItems": 2, "maxItems": 3}, [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4], "abcd", {"a": 1}]),
    ({"type": "array", "maxItems": 0}, [[], [None], {}]),
    ({"minLength": 2}, ["a", "ab", "日本", "😀", "😀😀", 5, ["a", "b"]]),
    ({"maxLength": 2}, ["ab", "abc", "日本語", "", 123]),
    (
        {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^[a-z]+$"},
        ["ab", "", "abcd", "aB", 1],
    ),
    ({"pattern": "b"}, ["abc", "a", "", 5, None]),
    ({"pattern": "^a"}, ["abc", "bab", 1]),
    ({"pattern": "<\\|im_start\\|>"}, ["x<|im_start|>user", "<|im_end|>", "im_start"]),
    (
        {"enum": ["a", 1, None, [1, True]]},
        ["a", 1, 1.0, True, None, [1, True], [1, 1], [True, True], "b", 0],
    ),
    ({"enum": ["x", "y"]}, ["x", "z", 1, None, ["x"]]),
    (
        {"enum": [0, False, {"a": [1.0]}]},
        [0, 0.0, False, True, 1, {"a": [1]}, {"a": [True]}, {"a": [1], "b": 1}],
    ),
    ({"const": 0}, [0, 0.0, -0.0, False, "0", None]),
    ({"const": False}, [False, 0, None, True]),
    ({"const": "text"}, ["text", "Text", 1]),
    ({"const": {"a": [1]}}, [{"a": [1]}, {"a": [True]}, {"a": [1.0]}, {"a": [1], "b": 1}, {}]),
    ({"const": None}, [None, 0, False, "", []]),
    ({"minimum": 1, "maximum": 2}, [1, 2, 1.5, 0.5, 2.5, True, False, "x", None]),
    ({"exclusiveMinimum": 1, "exclusiveMaximum": 2}, [1, 1.5, 2, 1.0001, "1.5"]),
    ({"type": "integer", "minimum": 0}, [0, 3, 3.0, -1, True, 0.5]),
    ({"anyOf": [{"type": "string"}, {"minimum": 3}]}, ["a", 5, 1, None, 2.5]),
    (
        {"anyOf": [{"required": ["content"]}, {"required": ["tool_calls"]}]},
        [{"content": 1}, {"tool_calls": 1}, {}, [], "x"],
    ),
    (
        {"anyOf": [{"required": ["a", "b"]}, {"required": ["c"]}]},
        [{"a": 1, "b": 1}, {"a": 1}, {"c": 1}, {}],
    ),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, [1, 3, 2.5, "x", 1.0]),
    ({"allOf": [{"minimum": 1}, {"maximum": 3}]}, [0, 1, 3, 4, "x"]),
    (
        {
            "allOf": [
                {"type": "object"},
                {"required": ["a"]},
                {"properties": {"a": {"type": "null"}}},
            ]
        },
        [{"a": None}, {"a": 1}, {}, None],
    ),
    ({"not": {"type": "string"}}, ["a", 1, None]),
    ({"not": {"not": {"enum": [1]}}}, [1, 2, True]),
    (
        {"$ref": "#/$defs/pos", "$defs": {"pos": {"type": "integer", "minimum": 1}}},
        [1, 0, "a", 2.0],
    ),
    ({"$ref": "#/$defs/a~0b~1c", "$defs": {"a~b/c": {"type": "string"}}}, ["x", 1]),
    ({"$ref": "#/$defs/s", "maxLength": 1, "$defs": {"s": {"type": "string"}}}, ["x", "xy", 1]),
    (
        {
            "$ref": "#/$defs/node",
            "$defs": {
                "node": {
                    "type": "object",
                    "required": ["v"],
                    "properties": {
                        "v": {"type": "integer"},
                        "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                    },
                }
            },
        },
        [
            {"v": 1},
            {"v": 1, "kids": [{"v": 2, "kids": []}]},
            {"v": 1, "kids": [{"v": 2, "kids": [{}]}]},
            {"kids": []},
        ],
    ),
    (
        {"type": "object", "properties": {"next": {"$ref": "#"}}},
        [{}, {"next": {"next": {}}}, {"next": {"next": 1}}, 1],
    ),
    ({"type": "string", "properties": {"a": {"type": "integer"}}}, ["x", {"a": 1}, {"a": "x"}]),
    (
        {"type": ["array", "object"], "items": {"type": "integer"}, "required": ["a"]},
        [[1], ["x"], {"a": 1}, {}, "s"],
    ),
    (
        {"type": ["integer", "array"], "items": {"type": "string"}, "minimum": 2},
        [3, 1, ["a"], [1], 2.0, True, "x"],
    ),
    (
        {"type": ["string", "null", "array"], "items": {"type": "object"}},
        ["x", None, [{}], [1], 1, {}],
    ),
    (True, [1, None, {}]),
    (False, [1, None, {}]),
    ({}, [1, None, {}]),
]


@pytest.mark.parametrize(("schema", "instances"), KEYWORD_CASES)
def test_compiled_check_agrees_with_jsonschema_per_keyword(schema, instances):
    Draft202012Validator.check_schema(schema)
    check, ref = compile_schema(schema), reference(schema)
    got = [check(x) for x in instances]
    expected = [ref.is_valid(x) for x in instances]
    assert got == expected, [x for x, g, e in zip(instances, got, expected, strict=True) if g != e]
    if schema not in (True, False, {}):
        assert True in expected and False in expected, "the table row tests one side only"


def test_known_semantics_edges():
    # The three places where JSON Schema is not Python, stated once outright.
    assert compile_schema({"type": "integer"})(True) is False
    assert compile_schema({"type": "integer"})(1.0) is True
    assert compile_schema({"pattern": "b"})("abc") is True


# JSON values for hypothesis: keys and strings drawn mostly from the formats' own words,
# so that generated objects often come close to a real row.
WORDS = sorted(
    {
        *(
            k
            for name in NAMES
            for path, _ in _properties(load_schema(name))
            for k in [path.rsplit(".", 1)[-1]]
        ),
        "id",
        "type",
    }
)
STRINGS = [
    "",
    "user",
    "assistant",
    "human",
    "gpt",
    "text",
    "function",
    "<|im_start|>user\nHi<|im_end|>",
    "Hi",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, 1.0, -1.0, 2.0])
    | st.sampled_from(STRINGS)
    | st.text(max_size=6)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=16,
)
OTHER_TYPES = [None, True, 0, 1.5, "", "s", [], [1], {}, {"a": 1}]
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _paths(value: Any, prefix: tuple = ()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@st.composite
def near_misses(draw, rows: list[Any]) -> Any:
    """A valid row with one thing changed: a value removed, replaced, retyped, or a
    key or item added."""
    row = copy.deepcopy(draw(st.sampled_from(rows)))
    path = draw(st.sampled_from(list(_paths(row))))
    op = draw(st.sampled_from(["remove", "replace", "retype", "add"]))
    if not path:
        return draw(JSON) if op != "add" else {**row, draw(st.sampled_from(WORDS)): draw(JSON)}
    parent = row
    for step in path[:-1]:
        parent = parent[step]
    last, target = path[-1], parent[path[-1]]
    if op == "remove":
        del parent[last]
    elif op == "replace":
        parent[last] = draw(JSON)
    elif op == "retype":
        parent[last] = draw(
            st.sampled_from([v for v in OTHER_TYPES if type(v) is not type(target)])
        )
    elif isinstance(target, dict):
        target[draw(st.sampled_from(WORDS))] = draw(JSON)
    elif isinstance(target, list):
        target.insert(
            draw(st.integers(0, len(target))), draw(JSON | st.sampled_from(target or [None]))
        )
    else:
        parent[last] = draw(JSON)
    return row


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(value=JSON)
def test_compiled_check_agrees_on_any_json(name, value):
    assert compile_schema(load_schema(name))(value) == reference(load_schema(name)).is_valid(value)


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_compiled_check_agrees_on_near_misses(name, data):
    rows = [row for n, row in ROWS if n == name]
    row = data.draw(near_misses(rows))
    expected = reference(load_schema(name)).is_valid(row)
    assert Validator(name).is_valid(row) == expected
    errors = Validator(name).check(row)
    assert (errors == []) == expected
    assert all(isinstance(p, str) and isinstance(m, str) and m for p, m in errors)


@pytest.mark.parametrize(("schema", "instances"), KEYWORD_CASES)
@settings(max_examples=40, deadline=None)
@given(value=JSON)
def test_compiled_keyword_check_agrees_on_any_json(schema, instances, value):
    assert compile_schema(schema)(value) == reference(schema).is_valid(value)


# ------------------------------------------------------------- what it refuses


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"format": "email"}, "#: the compiled check does not know the keyword(s) format;"),
        (
            {"uniqueItems": True, "if": {}},
            "#: the compiled check does not know the keyword(s) if, uniqueItems;",
        ),
        (
            {"properties": {"a": {"patternProperties": {}}}},
            "#/properties/a: the compiled check does not know the keyword(s) patternProperties;",
        ),
        (
            {"items": {"contains": {}}},
            "#/items: the compiled check does not know the keyword(s) contains;",
        ),
        (
            {"anyOf": [{}, {"multipleOf": 2}]},
            "#/anyOf/1: the compiled check does not know the keyword(s) multipleOf;",
        ),
        (
            {"$ref": "#/$defs/x", "$defs": {"x": {"minProperties": 1}}},
            "#/$defs/x: the compiled check does not know the keyword(s) minProperties;",
        ),
        (
            {"unevaluatedProperties": False},
            "#: the compiled check does not know the keyword(s) unevaluatedProperties;",
        ),
        ({"$ref": "https://example.com/s.json"}, "#/$ref: only local references (#/...) are known"),
        ({"type": "decimal"}, "#/type: unknown JSON type 'decimal'"),
        ({"items": [{"type": "string"}]}, "#/items: a list of schemas is prefixItems in 2020-12"),
    ],
)
def test_unknown_keywords_are_refused(schema, message):
    with pytest.raises(NotImplementedError) as e:
        compile_schema(schema)
    assert str(e.value).startswith(message)


def test_a_reference_to_nothing_is_an_error():
    with pytest.raises(ValueError, match=r"'#/\$defs/missing' points at nothing"):
        compile_schema({"$ref": "#/$defs/missing"})


# ------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("name", "row", "errors"),
    [
        ("alpaca", {"instruction": "Add", "output": 4}, [("output", "4 is not of type 'string'")]),
        (
            "alpaca",
            {"instruction": "Add", "output": "4", "history": [["q"], ["q", 1]]},
            [
                ("history[0]", "['q'] is too short"),
                ("history[1][1]", "1 is not of type 'string'"),
            ],
        ),
        ("text", [1, 2], [("", "[1, 2] is not of type 'object'")]),
        (
            "chatml",
            {"text": "user: hi"},
            [("text", "'user: hi' does not match '<\\\\|im_start\\\\|>'")],
        ),
        (
            "kto",
            {"prompt": "Hi", "completion": "Hello", "label": "yes"},
            [("label", "'yes' is not of type 'boolean'")],
        ),
        (
            "messages",
            {
                "messages": [
                    {"role": "user"},
                    {"role": "assistant", "content": 5},
                    {"role": 1, "content": "x"},
                ]
            },
            [
                ("messages[0]", "'content' is a required property"),
                ("messages[1].content", "5 is not of type 'string', 'null', 'array'"),
                ("messages[2].role", "1 is not of type 'string'"),
            ],
        ),
        (
            "messages",
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{"type": "function"}, {"function": {"name": "f"}}],
                    }
                ]
            },
            [
                ("messages[0].tool_calls[0]", "'function' is a required property"),
                ("messages[0].tool_calls[1].function", "'arguments' is a required property"),
            ],
        ),
        ("messages", {"messages": []}, [("messages", "[] should be non-empty")]),
        (
            "sharegpt",
            {"conversations": [{"from": "human"}]},
            [("conversations[0]", "'value' is a required property")],
        ),
        # anyOf at the top of preference: the branch the row aimed at speaks.
        ("preference", {"prompt": "x", "chosen": "a"}, [("", "'rejected' is a required property")]),
        (
            "preference",
            {
                "conversations": [{"from": "human", "value": "q"}],
                "chosen": {"from": "gpt", "value": "a"},
                "rejected": {"from": "gpt"},
            },
            [("rejected", "'value' is a required property")],
        ),
        (
            "preference",
            {"chosen_messages": [{"role": "user", "content": "x"}]},
            [("", "'rejected_messages' is a required property")],
        ),
        (
            "preference",
            {"chosen": "a", "rejected": 5},
            # one message object stands for a list of one, so an object is a type it takes
            [("rejected", "5 is not of type 'string', 'array', 'object'")],
        ),
        # A long value is cut short in the message: the path says where it is.
        (
            "alpaca",
            {"instruction": "x" * 500, "output": "y", "input": ["z" * 500]},
            [("input", "['" + "z" * 58 + "... is not of type 'string'")],
        ),
        ("text", {"text": "fine", "odd key": 1}, []),
    ],
)
def test_schema_errors(name, row, errors):
    assert schema_errors(name, row) == errors
    assert Validator(name).check(row) == errors


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ([], ""),
        (["messages", 2, "content"], "messages[2].content"),
        ([0, "a"], "[0].a"),
        (["odd key", 0], '["odd key"][0]'),
        (["history", 1, 0], "history[1][0]"),
    ],
)
def test_format_path(path, text):
    assert format_path(path) == text


def test_module_docstrings_run():
    result = doctest.testmod(dataprep.validate.schema)
    assert result.attempted > 0
    assert result.failed == 0
