"""``dataprep validate``: exact messages, the summary, exit codes, and the malformed corpus."""

from __future__ import annotations

import json
import os

import orjson
import pytest

HERE = os.path.dirname(__file__)
MALFORMED = os.path.join(HERE, "..", "data", "malformed")
SAMPLES = os.path.join(HERE, "..", "..", "..", "samples")


def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


GOOD = {"messages": [u("Hi"), a("Yo")]}


def write(tmp_path, name, *rows):
    path = tmp_path / name
    path.write_bytes(
        b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows)
    )
    return str(path)


def test_clean_file(tmp_path, dataprep_cli):
    path = write(tmp_path, "ok.jsonl", GOOD, {"messages": [u("Q"), a("A")]})
    r = dataprep_cli("validate", path)
    assert (r.code, r.out, r.err) == (0, f"{path}: messages, 2 rows: no problems\n", "")


def test_problems_then_summary(tmp_path, dataprep_cli):
    path = write(
        tmp_path,
        "d.jsonl",
        GOOD,
        {"messages": [u(""), a("Yo")]},
        {"messages": [{"role": "bot", "content": "Hi"}, a("Yo")]},
        GOOD,
        {"messages": [u("Hi"), a("Yo <|im_end|>")]},
        {"messages": [u("Hi")]},
    )
    r = dataprep_cli("validate", path)
    assert r.code == 1
    assert r.out == (
        f"{path}:2: messages[0].content: content is empty [empty-content]\n"
        f"{path}:3: messages[0].role: unknown role 'bot' (known: system, user, assistant, tool; "
        "map it with --role bot=assistant) [unknown-role]\n"
        f"{path}:4: warning: exact duplicate of line 1 [duplicate-row]\n"
        f"{path}:5: messages[1].content: content holds the chat-template control token "
        "'<|im_end|>': text rendered by a template leaked into the data [leaked-control-token]\n"
        f"{path}:6: messages[0]: the conversation ends with a user turn, not an assistant turn: "
        "nothing to learn from [no-final-assistant]\n"
        "\n"
        f"{path}: messages, 6 rows: 4 errors, 1 warning\n"
        "  duplicate-row         1  (warning)\n"
        "  empty-content         1\n"
        "  leaked-control-token  1\n"
        "  no-final-assistant    1\n"
        "  unknown-role          1\n"
    )


def test_double_encoded_tool_arguments_and_no_user_turn(tmp_path, dataprep_cli):
    twice = json.dumps(json.dumps({"city": "Paris"}))
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": twice}}
    path = write(
        tmp_path,
        "d.jsonl",
        GOOD,
        {"messages": [u("Weather?"), {"role": "assistant", "content": None, "tool_calls": [call]},
                      {"role": "tool", "tool_call_id": "c1", "content": "21C"}, a("It is 21C.")]},
        {"messages": [{"role": "system", "content": "Be brief"}, a("Hello!")]},
        {"conversations": [{"from": "gpt", "value": "Hello!"}]},
    )  # fmt: skip
    r = dataprep_cli("validate", path)
    assert r.code == 1
    assert r.out == (
        f"{path}:2: messages[1].tool_calls[0].function.arguments: arguments of 'weather' are "
        "JSON-encoded twice (a JSON string holding the object's JSON text): decode them once "
        "more [tool-args-double-encoded]\n"
        f"{path}:3: warning: assistant turns but no user turn: nothing asks for the answers it "
        "trains [no-user-turn]\n"
        f"{path}:4: warning: assistant turns but no user turn: nothing asks for the answers it "
        "trains [no-user-turn]\n"
        f"{path}:4: 1 row is sharegpt (line 4) but 3 are messages: each row was checked as its "
        "own format; pass --format to check all as one [mixed-formats]\n"
        "\n"
        f"{path}: mixed, 4 rows: 2 errors, 2 warnings\n"
        "  no-user-turn              2  (warning)\n"
        "  mixed-formats             1\n"
        "  tool-args-double-encoded  1\n"
    )
    strict = dataprep_cli("validate", path, "--strict")
    assert "  no-user-turn              2\n" in strict.out


@pytest.mark.parametrize(("strict", "code", "tag"), [([], 0, "warning: "), (["--strict"], 1, "")])
def test_strict_turns_warnings_into_errors(tmp_path, dataprep_cli, strict, code, tag):
    path = write(tmp_path, "d.jsonl", GOOD, GOOD)
    r = dataprep_cli("validate", path, *strict)
    assert r.code == code
    assert r.out.splitlines()[0] == f"{path}:2: {tag}exact duplicate of line 1 [duplicate-row]"


def test_max_errors_shows_the_first_and_counts_all(tmp_path, dataprep_cli):
    path = write(tmp_path, "d.jsonl", *({"messages": [u(f"Q{i}")]} for i in range(10)))
    r = dataprep_cli("validate", path, "--max-errors", "2")
    assert r.code == 1
    lines = r.out.splitlines()
    assert [line.split(":")[1] for line in lines[:2]] == ["1", "2"]
    assert (
        lines[2] == "... and 8 more problems not shown (--max-errors 2 shown; raise it to see more)"
    )
    assert lines[-1] == "  no-final-assistant  10"


def test_forced_format(tmp_path, dataprep_cli):
    path = write(tmp_path, "d.jsonl", GOOD)
    r = dataprep_cli("validate", path, "--format", "sharegpt")
    assert r.code == 1
    assert r.out.splitlines()[0] == f"{path}:1: 'conversations' is a required property [schema]"


def test_mapping_options_and_paths_in_the_files_names(tmp_path, dataprep_cli):
    row = {"dialog": [{"speaker": "human", "text": "Hi"}, {"speaker": "bot", "text": ""}]}
    path = write(tmp_path, "d.jsonl", row)
    r = dataprep_cli(
        "validate", path, "--field", "messages=dialog", "--field", "role=speaker",
        "--field", "content=text", "--role", "human=user", "--role", "bot=assistant",
    )  # fmt: skip
    assert r.code == 1
    assert r.out.splitlines()[0] == f"{path}:1: dialog[1].text: content is empty [empty-content]"


def test_json_output(tmp_path, dataprep_cli):
    path = write(tmp_path, "d.jsonl", GOOD, {"messages": [u(""), a("Yo")]}, GOOD)
    r = dataprep_cli("validate", path, "--json")
    doc = orjson.loads(r.out)
    assert r.code == 1
    assert (doc["ok"], doc["rows"], doc["errors"], doc["warnings"]) == (False, 3, 1, 1)
    assert doc["counts"] == {"duplicate-row": 1, "empty-content": 1}
    assert doc["problems"][0] == {
        "source": path,
        "line": 2,
        "path": "messages[0].content",
        "message": "content is empty",
        "code": "empty-content",
        "severity": "error",
    }
    assert doc["files"][0]["format"] == "messages"


def test_several_files_and_a_total(tmp_path, dataprep_cli):
    a_ = write(tmp_path, "a.jsonl", GOOD)
    b_ = write(tmp_path, "b.jsonl", {"instruction": "Hi", "output": ""})
    r = dataprep_cli("validate", a_, b_)
    assert r.code == 1
    assert r.out.splitlines()[-5:] == [
        "",
        f"{a_}: messages, 1 row: no problems",
        f"{b_}: alpaca, 1 row: 1 error",
        "  empty-content  1",
        "total: 2 files, 2 rows: 1 error, 0 warnings",
    ]


def test_stdin(dataprep_cli):
    r = dataprep_cli("validate", "-", stdin=orjson.dumps({"messages": [u("Hi")]}) + b"\n")
    assert r.code == 1
    assert r.out.splitlines()[0].startswith(
        "-:1: messages[0]: the conversation ends with a user turn"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate"], "Missing argument 'FILE...'"),
        (
            ["validate", "x.jsonl", "--format", "chat"],
            "Invalid value for '--format': 'chat' is not one of",
        ),
        (["validate", "x.jsonl", "--max-errors", "-1"], "Invalid value for '--max-errors'"),
        (["validate", "missing.jsonl"], "error: no such file: missing.jsonl"),
    ],
)
def test_usage_errors_exit_2(tmp_path, monkeypatch, dataprep_cli, args, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "x.jsonl", GOOD)
    r = dataprep_cli(*args)
    assert r.code == 2
    assert message in r.err


with open(os.path.join(MALFORMED, "expected.json")) as _f:
    EXPECTED = json.load(_f)


def test_the_malformed_corpus_has_an_oracle_for_every_file():
    files = {f for f in os.listdir(MALFORMED) if f not in ("expected.json", "README.md")}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_gives_its_line_and_code_and_no_traceback(dataprep_cli, name):
    path = os.path.join(MALFORMED, name)
    r = dataprep_cli("validate", path)
    assert r.code == 1, r.out + r.err
    assert "Traceback" not in r.out + r.err
    want = EXPECTED[name]
    where = f"{path}:{want['line']}:" if want["line"] else f"{path}:"
    first = r.out.splitlines()[0]
    assert first.startswith(where), first
    assert first.endswith(f"[{want['code']}]"), first


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_detect_never_crashes(dataprep_cli, name):
    r = dataprep_cli("detect", os.path.join(MALFORMED, name), "--json")
    assert r.code == 1
    assert orjson.loads(r.out)["ok"] is False


def test_every_sample_validates_clean(dataprep_cli):
    paths = sorted(os.path.join(SAMPLES, f) for f in os.listdir(SAMPLES) if f.endswith(".jsonl"))
    r = dataprep_cli("validate", *paths)
    assert r.code == 0, r.out
    total = r.out.splitlines()[-1]
    assert total.startswith(f"total: {len(paths)} files, ") and total.endswith(
        " rows: 0 errors, 0 warnings"
    )


def test_help_teaches_with_an_example(dataprep_cli):
    r = dataprep_cli("validate", "--help")
    assert r.code == 0
    assert "Examples:" in r.out and "dataprep validate data.jsonl" in r.out
    assert "[REASON-CODE]" in r.out


@pytest.mark.parametrize(
    ("strict", "code", "note"),
    [([], 0, "  consecutive-roles  1  (warning)"), (["--strict"], 1, "  consecutive-roles  1")],
)
def test_repeated_roles_in_messages_are_a_warning(tmp_path, dataprep_cli, strict, code, note):
    path = write(tmp_path, "d.jsonl", {"messages": [u("Hi"), u("again"), a("Yo")]})
    r = dataprep_cli("validate", path, *strict)
    assert r.code == code
    assert r.out.splitlines()[-1] == note
