"""Prepare trains only rows that pass validate's row checks: a row validate fails is
rejected with validate's code, line and message; --accept keeps it knowingly; warnings
are counted and the row kept."""

from __future__ import annotations

import json

import orjson
import pytest

from dataprep.errors import UsageError
from dataprep.prepare.encode.gate import ACCEPTABLE_CODES
from dataprep.prepare.pipeline import PrepareOptions, prepare
from dataprep.validate.files import validate_files
from dataprep.validate.rows import ROW_ERROR_CODES, ROW_WARNING_CODES

# Tool-call arguments JSON-encoded twice: json.dumps over the object's JSON text.
TWICE = json.dumps(json.dumps({"city": "paris"}))


def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


WEATHER_TOOL = {
    "name": "weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def calling(arguments, call_id="c1"):
    """An assistant turn calling one tool, OpenAI shape."""
    function = {"name": "weather", "arguments": arguments}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


def result(text="21C", call_id="c1"):
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def turns(*pairs):
    return {"conversations": [{"from": f, "value": v} for f, v in pairs]}


# A clean row of each format, written before the bad one in the same file.
CLEAN = {
    "messages": {"messages": [u("question about the weather in paris"), a("sure, it is sunny")]},
    "sharegpt": turns(("human", "question about paris"), ("gpt", "sure, it is sunny")),
    "alpaca": {"instruction": "question about paris", "output": "sure, it is sunny"},
    "text": {"text": "a plain text about the weather in paris"},
    "preference": {"prompt": [u("question about paris")], "chosen": [a("sunny")], "rejected": [a("rain")]},
}  # fmt: skip

# (bad row, its format, the error code validate reports for it first)
GATED = [
    # arguments JSON-encoded twice, in each shape a call can have
    ({"messages": [u("weather?"), calling(TWICE), result(), a("it is 21C")]}, "messages", "tool-args-double-encoded"),
    (
        {"messages": [u("weather?"), {"role": "assistant", "content": None, "tool_calls": [{"name": "weather", "arguments": TWICE}]},
                      {"role": "tool", "content": "21C"}, a("it is 21C")]},
        "messages",
        "tool-args-double-encoded",
    ),
    (
        turns(("human", "weather?"), ("function_call", json.dumps({"name": "weather", "arguments": TWICE})),
              ("observation", "21C"), ("gpt", "it is 21C")),
        "sharegpt",
        "tool-args-double-encoded",
    ),
    ({"messages": [u("weather?"), calling("{bad"), result(), a("it is 21C")]}, "messages", "bad-tool-arguments"),
    # tool results that answer no call
    ({"messages": [u("weather?"), {"role": "tool", "content": "21C"}, a("it is 21C")]}, "messages", "orphan-tool-result"),
    ({"messages": [u("weather?"), calling('{"city": "paris"}'), result(call_id="c9"), a("it is 21C")]}, "messages", "orphan-tool-result"),
    # template control tokens leaked into the text
    ({"messages": [u("hi"), a("hello<|im_end|>")]}, "messages", "leaked-control-token"),
    ({"messages": [u("[INST] hi"), a("hello")]}, "messages", "leaked-control-token"),
    (turns(("human", "hi <|eot_id|>"), ("gpt", "hello")), "sharegpt", "leaked-control-token"),
    ({"instruction": "hi", "output": "hello </s>"}, "alpaca", "leaked-control-token"),
    ({"text": "one document<|endoftext|>another"}, "text", "leaked-control-token"),
    # an empty or missing answer
    ({"messages": [u("hi"), a("")]}, "messages", "empty-content"),
    ({"messages": [u("hi"), a("   \n")]}, "messages", "empty-content"),
    ({"instruction": "hi", "output": ""}, "alpaca", "empty-content"),
    ({"messages": [u(None), a("hello")]}, "messages", "null-content"),
    ({"messages": [u("hi"), a(5)]}, "messages", "non-string-content"),
    # the order of turns
    ({"messages": [u("hi"), a("hello"), u("and?")]}, "messages", "no-final-assistant"),
    ({"messages": [u("hi"), {"role": "system", "content": "late"}, a("hello")]}, "messages", "system-not-first"),
    (turns(("human", "hi"), ("gpt", "hello"), ("gpt", "again")), "sharegpt", "consecutive-roles"),
    # rows the adapter refuses: the same code as validate's (its schema's first)
    ({"messages": [{"role": "robot", "content": "hi"}, a("hello")]}, "messages", "unknown-role"),
    # preference pairs
    ({"prompt": [u("question")], "chosen": [a("same")], "rejected": [a("same")]}, "preference", "chosen-equals-rejected"),
    ({"chosen": [u("one question"), a("yes")], "rejected": [u("another"), a("no")]}, "preference", "prompt-mismatch"),
]  # fmt: skip


def write_jsonl(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def run(tmp_path, src, tok_dir, **kw):
    kw.setdefault("max_length", 256)
    return prepare(
        PrepareOptions(inputs=[src], tokenizer=tok_dir, output=str(tmp_path / "out"), **kw)
    )


def rejects(tmp_path):
    text = (tmp_path / "out" / "rejects.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def validate_errors(src):
    """validate's errors as (line, code, "path: message"), in its order."""
    v = validate_files([src], jobs=1)
    return [
        (p.line, p.code, f"{p.path}: {p.message}" if p.path else p.message)
        for p in v.log.kept
        if p.severity == "error"
    ]


def case_id(case):
    return f"{case[1]}-{case[2]}"


@pytest.mark.parametrize(("bad", "fmt", "code"), GATED, ids=[case_id(c) for c in GATED])
def test_a_row_validate_fails_is_rejected_with_its_code_and_line(tmp_path, tok_dir, bad, fmt, code):
    src = write_jsonl(tmp_path / "in.jsonl", [CLEAN[fmt], bad])
    first = validate_errors(src)[0]
    assert first[:2] == (2, code)  # the table says what validate reports

    m = run(tmp_path, src, tok_dir).manifest
    assert (m["counts"]["rows_out"], m["counts"]["rejected"]) == (1, {code: 1})
    [reject] = rejects(tmp_path)
    assert (reject["source"], reject["line"], reject["code"], reject["message"]) == (src, *first)
    assert reject["row"] == bad


@pytest.mark.parametrize("num_proc", [1, 2])
def test_a_file_of_many_problems_is_gated_row_by_row_as_validate_reports_it(
    tmp_path, tok_dir, num_proc
):
    rows = [CLEAN["messages"]]
    for bad, fmt, _ in GATED:
        if fmt == "messages":
            rows += [bad, CLEAN["messages"]]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    first_per_line: dict[int, tuple] = {}
    for line, code, message in validate_errors(src):
        first_per_line.setdefault(line, (line, code, message))

    m = run(tmp_path, src, tok_dir, num_proc=num_proc).manifest
    got = [(r["line"], r["code"], r["message"]) for r in rejects(tmp_path)]
    assert got == list(first_per_line.values())
    assert m["counts"]["rows_out"] == len(rows) - len(got)


# (the code accepted, a row whose only error it is, its format): one per acceptable code
ACCEPTED = [
    ("tool-args-double-encoded", {"messages": [u("weather?"), calling(TWICE), result(), a("it is 21C")]}, "messages"),
    ("bad-tool-arguments", {"messages": [u("weather?"), calling("{bad"), result(), a("it is 21C")]}, "messages"),
    ("orphan-tool-result", {"messages": [u("weather?"), {"role": "tool", "content": "21C"}, a("it is 21C")]}, "messages"),
    ("leaked-control-token", {"messages": [u("hi"), a("hello<|im_end|>")]}, "messages"),
    ("empty-content", {"messages": [u(""), a("hello")]}, "messages"),
    ("null-content", {"messages": [u(None), a("hello")]}, "messages"),
    ("no-final-assistant", {"messages": [u("hi"), a("hello"), u("and?")]}, "messages"),
    ("system-not-first", {"messages": [u("hi"), {"role": "system", "content": "late"}, a("hello")]}, "messages"),
    ("consecutive-roles", turns(("human", "hi"), ("gpt", "hello"), ("gpt", "again")), "sharegpt"),
    ("chosen-equals-rejected", {"prompt": [u("question")], "chosen": [a("same")], "rejected": [a("same")]}, "preference"),
    # calls checked against the declared tools
    ("undeclared-tool", {"messages": [u("weather?"), calling('{"city": "x"}'), result(), a("it is 21C")], "tools": [{"name": "search"}]}, "messages"),
    ("missing-tool-argument", {"messages": [u("weather?"), calling("{}"), result(), a("it is 21C")], "tools": [WEATHER_TOOL]}, "messages"),
    ("wrong-tool-argument-type", {"messages": [u("weather?"), calling('{"city": 1}'), result(), a("it is 21C")], "tools": [WEATHER_TOOL]}, "messages"),
]  # fmt: skip


def test_every_acceptable_code_has_a_case():
    assert sorted(code for code, _, _ in ACCEPTED) == sorted(ACCEPTABLE_CODES)


@pytest.mark.parametrize(("code", "bad", "fmt"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accept_keeps_the_row_and_records_it(tmp_path, tok_dir, code, bad, fmt):
    src = write_jsonl(tmp_path / "in.jsonl", [CLEAN[fmt], bad])
    assert [c for _, c, _ in validate_errors(src)] == [code]

    m = run(tmp_path, src, tok_dir, accept=[code]).manifest
    counts = m["counts"]
    assert (counts["rows_out"], counts["rows_rejected"]) == (2, 0)
    assert (counts["rows_accepted"], counts["accepted"]) == (1, {code: 1})
    assert m["accept"] == [code] and m["options"]["accept"] == [code]
    assert rejects(tmp_path) == []


def test_accept_keeps_only_the_codes_it_names(tmp_path, tok_dir):
    both = {"messages": [u(""), a("hello <|im_end|>")]}  # empty-content, leaked-control-token
    src = write_jsonl(tmp_path / "in.jsonl", [CLEAN["messages"], both])
    m = run(tmp_path, src, tok_dir, accept=["empty-content"]).manifest
    assert m["counts"]["rejected"] == {"leaked-control-token": 1}
    assert (m["counts"]["rows_accepted"], m["counts"]["accepted"]) == (0, {})
    m = run(tmp_path, src, tok_dir, accept=["empty-content", "leaked-control-token"]).manifest
    assert m["counts"]["rows_out"] == 2
    assert m["counts"]["accepted"] == {"empty-content": 1, "leaked-control-token": 1}
    assert m["counts"]["rows_accepted"] == 1


# (a row validate warns about and passes, its format, the warning's code)
WARNED = [
    ({"messages": [{"role": "system", "content": "be brief"}, a("hello there")]}, "messages", "no-user-turn"),
    (turns(("system", "be brief"), ("gpt", "hello there")), "sharegpt", "no-user-turn"),
    ({"messages": [u("hi"), u("again"), a("hello")]}, "messages", "consecutive-roles"),
]  # fmt: skip


@pytest.mark.parametrize(("row", "fmt", "code"), WARNED, ids=[f"{c[1]}-{c[2]}" for c in WARNED])
def test_warnings_keep_the_row_and_are_counted(tmp_path, tok_dir, row, fmt, code):
    src = write_jsonl(tmp_path / "in.jsonl", [CLEAN[fmt], row, row])
    v = validate_files([src], jobs=1)
    assert v.errors == 0
    assert [(p.line, p.code) for p in v.log.kept if p.code != "duplicate-row"] == [
        (2, code),
        (3, code),
    ]

    m = run(tmp_path, src, tok_dir).manifest
    counts = m["counts"]
    assert (counts["rows_out"], counts["rows_rejected"]) == (3, 0)
    assert (counts["rows_warned"], counts["warnings"]) == (2, {code: 2})


def test_warnings_are_counted_only_for_rows_that_are_kept(tmp_path, tok_dir):
    warned = {"messages": [{"role": "system", "content": "be brief"}, a("hello there")]}
    too_long = {"messages": [{"role": "system", "content": "be brief"}, a("hello there " * 200)]}
    src = write_jsonl(tmp_path / "in.jsonl", [CLEAN["messages"], warned, too_long])
    m = run(tmp_path, src, tok_dir).manifest
    assert m["counts"]["rejected"] == {"too-long": 1}
    assert (m["counts"]["rows_warned"], m["counts"]["warnings"]) == (1, {"no-user-turn": 1})


def test_a_clean_file_has_no_accepted_rows_and_no_warnings(tmp_path, tok_dir):
    src = write_jsonl(tmp_path / "in.jsonl", [CLEAN["messages"]] * 3)
    counts = run(tmp_path, src, tok_dir).manifest["counts"]
    assert (counts["rows_accepted"], counts["accepted"]) == (0, {})
    assert (counts["rows_warned"], counts["warnings"]) == (0, {})


def test_field_mapping_names_paths_in_the_files_own_terms(tmp_path, tok_dir):
    rows = [
        {"dialog": [{"speaker": "human", "text": "hi"}, {"speaker": "bot", "text": "yo"}]},
        {"dialog": [{"speaker": "human", "text": "hi"}, {"speaker": "bot", "text": ""}]},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    mapping = {"fields": ["messages=dialog", "role=speaker", "content=text"], "roles": ["bot=assistant", "human=user"]}  # fmt: skip
    run(tmp_path, src, tok_dir, **mapping)
    [reject] = rejects(tmp_path)
    assert (reject["line"], reject["code"]) == (2, "empty-content")
    assert reject["message"] == "dialog[1].text: content is empty"


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (["orphan-tool-results"], "unknown code 'orphan-tool-results' for --accept (known: "),
        (["no-user-turn"], "--accept no-user-turn: no-user-turn is a warning"),
        (["unknown-role"], "--accept unknown-role: a row with unknown-role cannot be trained"),
        (["schema"], "--accept schema: a row with schema cannot be trained"),
        (
            ["prompt-mismatch"],
            "--accept prompt-mismatch: a row with prompt-mismatch cannot be trained",
        ),
    ],
)
def test_accept_refuses_codes_it_cannot_keep(tmp_path, tok_dir, codes, message):
    src = write_jsonl(tmp_path / "in.jsonl", [CLEAN["messages"]])
    with pytest.raises(UsageError) as info:
        run(tmp_path, src, tok_dir, accept=codes)
    assert str(info.value).startswith(message)
    assert info.value.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_acceptable_codes_are_row_check_errors():
    assert set(ACCEPTABLE_CODES) < set(ROW_ERROR_CODES)
    assert "no-user-turn" in ROW_WARNING_CODES and "no-user-turn" not in ROW_ERROR_CODES


def test_changing_accept_rebuilds(tmp_path, tok_dir):
    src = write_jsonl(tmp_path / "in.jsonl", [CLEAN["messages"], {"messages": [u(""), a("hi")]}])
    first = run(tmp_path, src, tok_dir)
    again = run(tmp_path, src, tok_dir)
    assert again.cached
    accepted = run(tmp_path, src, tok_dir, accept=["empty-content"])
    assert not accepted.cached
    assert accepted.manifest["fingerprint"] != first.manifest["fingerprint"]
    assert accepted.manifest["counts"]["rows_out"] == 2
    # the order and repetition of --accept do not matter
    assert run(tmp_path, src, tok_dir, accept=["empty-content", "empty-content"]).cached
