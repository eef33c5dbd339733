"""Tool calls checked against the tools a row declares (``dataprep.validate.tools``),
through ``check_row`` in every shape that declares tools, and through ``validate``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dataprep.cli import cli
from dataprep.validate.rows import check_row
from dataprep.validate.tools import call_problems, declared_tools

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "stops": {"type": "array", "items": {"type": "string"}},
            "where": {
                "type": "object",
                "properties": {"lat": {"type": "number"}},
                "required": ["lat"],
                "additionalProperties": False,
            },
        },
        "required": ["city"],
    },
}
OPENAI_TOOLS = [{"type": "function", "function": WEATHER}]


def _messages(args, name="get_weather", tools=OPENAI_TOOLS, as_string=True):
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args) if as_string else args},
    }
    return {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "21C"},
            {"role": "assistant", "content": "It is 21C."},
        ],
        "tools": tools,
    }


def _sharegpt(args, name="get_weather"):
    return {
        "conversations": [
            {"from": "human", "value": "Weather in Paris?"},
            {"from": "function_call", "value": json.dumps({"name": name, "arguments": args})},
            {"from": "observation", "value": "21C"},
            {"from": "gpt", "value": "It is 21C."},
        ],
        "tools": json.dumps([WEATHER]),
    }


ARGS = "messages[1].tool_calls[0].function.arguments"
CASES = [
    # (row, format, expected [(path, code)])
    (_messages({"city": "Paris"}), "messages", []),
    (_messages({"city": "Paris", "days": 3, "unit": "c"}, as_string=False), "messages", []),
    (_messages({"city": "Paris"}, name="get_wether"), "messages",
     [("messages[1].tool_calls[0].function.name", "undeclared-tool")]),
    (_messages({"days": 3}), "messages", [(f"{ARGS}.city", "missing-tool-argument")]),
    (_messages({"city": "Paris", "days": "3"}), "messages",
     [(f"{ARGS}.days", "wrong-tool-argument-type")]),
    (_messages({"city": "Paris", "days": 3.0}), "messages", []),  # 3.0 is an integer in JSON Schema
    (_messages({"city": "Paris", "days": True}), "messages",
     [(f"{ARGS}.days", "wrong-tool-argument-type")]),  # a boolean is not an integer
    (_messages({"city": "Paris", "unit": "k"}), "messages",
     [(f"{ARGS}.unit", "wrong-tool-argument-type")]),
    (_messages({"city": "Paris", "stops": ["a", 2]}), "messages",
     [(f"{ARGS}.stops[1]", "wrong-tool-argument-type")]),
    (_messages({"city": "Paris", "where": {"lon": 2}}), "messages",
     [(f"{ARGS}.where.lat", "missing-tool-argument"), (f"{ARGS}.where.lon", "wrong-tool-argument-type")]),
    (_messages({"city": "Paris", "extra": 1}), "messages", []),  # open schema: extras allowed
    # flat declarations (Hugging Face templates, LLaMA-Factory) and dict arguments
    (_messages({"days": 3}, tools=[WEATHER], as_string=False), "messages",
     [("messages[1].tool_calls[0].function.arguments.city", "missing-tool-argument")]),
    # no tools declared: nothing to check against
    (_messages({"days": 3}, tools=None) | {"tools": []}, "messages", []),
    # a declaration without a name: the row's names are unknowable, so no undeclared-tool
    (_messages({}, name="other", tools=[WEATHER, {"description": "nameless"}]), "messages", []),
    # Python spellings of type names; an unknown type name is not checked
    (_messages({"n": "x"}, name="f", tools=[{"name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "int"}}}}]),
     "messages", [(f"{ARGS}.n", "wrong-tool-argument-type")]),
    (_messages({"n": "x"}, name="f", tools=[{"name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "whole"}}}}]),
     "messages", []),
    # ShareGPT with a tools string, as LLaMA-Factory writes it
    (_sharegpt({"city": "Paris"}), "sharegpt", []),
    (_sharegpt({"city": "Paris"}, name="search"), "sharegpt", [("conversations[1].value", "undeclared-tool")]),
    (_sharegpt({"city": 7}), "sharegpt", [("conversations[1].value.arguments.city", "wrong-tool-argument-type")]),
]  # fmt: skip


@pytest.mark.parametrize("row,fmt,expected", CASES)
def test_calls_are_checked_against_declared_tools(row, fmt, expected):
    tool_codes = {"undeclared-tool", "missing-tool-argument", "wrong-tool-argument-type"}
    found = [(f.path, f.code) for f in check_row(row, fmt) if f.code in tool_codes]
    assert found == expected
    # the other checks see nothing wrong with these rows
    assert [f for f in check_row(row, fmt) if f.code not in tool_codes] == []


def test_preference_rows_are_checked_too():
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    row = {
        "prompt": [{"role": "user", "content": "Weather?"}],
        "chosen": [{"role": "assistant", "content": None, "tool_calls": [call]}],
        "rejected": [{"role": "assistant", "content": "No idea."}],
        "tools": OPENAI_TOOLS,
    }
    codes = [(f.path, f.code) for f in check_row(row, "preference")]
    assert ("chosen[0].tool_calls[0].function.arguments.city", "missing-tool-argument") in codes


@pytest.mark.parametrize(
    "args,message",
    [
        ({"days": 1}, "'get_weather' requires argument 'city', absent"),
        ({"city": 1}, "argument 'city' of 'get_weather' must be string, got integer (1)"),
        ({"city": "P", "unit": "k"}, "argument 'unit' of 'get_weather' is 'k', not one of its enum ('c', 'f')"),
        ({"city": "P", "where": {"lat": 1, "x": 2}}, "'get_weather' takes no argument 'where.x' (its schema allows only: lat)"),
    ],
)  # fmt: skip
def test_messages_say_what_is_wrong(args, message):
    [problem] = call_problems("get_weather", args, declared_tools(OPENAI_TOOLS))
    assert problem.message == message


def test_validate_reports_file_line(tmp_path):
    rows = [_messages({"city": "Paris"}), _messages({"days": "x"})]
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert (
        f"{path}:2: {ARGS}.city: 'get_weather' requires argument 'city', absent [missing-tool-argument]"
        in result.output
    )
    assert (
        f"{path}:2: {ARGS}.days: argument 'days' of 'get_weather' must be integer, got string ('x') [wrong-tool-argument-type]"
        in result.output
    )
