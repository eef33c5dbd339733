"""One row to canonical: the same bad row reads the same in validate, convert, prepare, stats.

Each bad row sits at line 2 of a file after a good row; the four commands run on it
through their library entry points, and each must give the row the same code, and the
three that word it (validate's problem, convert's and prepare's rejects) the same text.
"""

from __future__ import annotations

import json

import orjson
import pytest

from dataprep.convert import convert_file
from dataprep.errors import RowError
from dataprep.formats.mapping import Mapping
from dataprep.prepare.pipeline import PrepareOptions, prepare
from dataprep.stats import file_stats
from dataprep.validate.canonical_row import to_canonical, unknown_format
from dataprep.validate.files import validate_files


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


GOOD = {"messages": [user("Hi"), assistant("Hello")]}
DIALOG = ["messages=dialog"]

# (bad row, --field specs, code, a piece of the message that says what is wrong)
BAD_ROWS = [
    ({"question": "?"}, [], "unknown-format", "row fits no format (keys: question)"),
    (
        {"messages": [user(5), assistant("a")]},
        [],
        "non-string-content",
        "messages[0].content: content must be a string",
    ),
    (
        {"messages": [user("Hi"), assistant("a")], "images": ["a.png"]},
        [],
        "unsupported-content",
        "images: the row holds images (1 item)",
    ),
    (
        {"messages": [user("<image> what is it"), assistant("a")]},
        [],
        "unsupported-content",
        "messages[0].content: <image> placeholder",
    ),
    (
        {"chosen": [user("a"), assistant("b")], "rejected": [user("c"), assistant("d")]},
        [],
        "prompt-mismatch",
        "chosen and rejected share no leading messages",
    ),
    (
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "robot", "value": "x"}]},
        [],
        "unknown-role",
        "conversations[1].from: unknown role 'robot'",
    ),
    ({"instruction": "Hi", "output": ["x"]}, [], "schema", "output: ['x'] is not of type"),
    # Paths are named in the file's own terms, whichever command reads the row.
    (
        {"dialog": [user(5), assistant("a")]},
        DIALOG,
        "non-string-content",
        "dialog[0].content: content must be a string",
    ),
    (
        {"dialog": [user("a"), assistant("b")], "messages": []},
        DIALOG,
        "mapping-conflict",
        "dialog: cannot read 'dialog' as 'messages'",
    ),
]


def write_jsonl(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def validate_says(src, fields):
    v = validate_files([src], mapping=Mapping.from_specs(fields, []))
    first = next(p for p in v.log.kept if p.line == 2 and p.severity == "error")
    return first.code, f"{first.path}: {first.message}" if first.path else first.message


def convert_says(src, fields, tmp_path):
    out = tmp_path / "out.jsonl"
    convert_file(src, str(out), "messages", mapping=Mapping.from_specs(fields, []))
    rejects = (tmp_path / "out.jsonl.rejects.jsonl").read_text().splitlines()
    (reject,) = [json.loads(line) for line in rejects]
    assert reject["line"] == 2
    return reject["code"], reject["message"]


def prepare_says(src, fields, tmp_path, tok_dir):
    options = PrepareOptions(
        inputs=[src], tokenizer=tok_dir, output=str(tmp_path / "prepared"), max_length=256,
        fields=list(fields), kind="sft",
    )  # fmt: skip
    prepare(options)
    rejects = (tmp_path / "prepared" / "rejects.jsonl").read_text().splitlines()
    (reject,) = [json.loads(line) for line in rejects]
    assert reject["line"] == 2
    return reject["code"], reject["message"]


def stats_counts(src, fields):
    result = file_stats(
        src, tokenizer=None, chat_template=None, fields=list(fields), roles=[], format_=None
    )
    return result["problems"]


@pytest.mark.parametrize(("bad", "fields", "code", "says"), BAD_ROWS)
def test_a_bad_row_reads_the_same_in_every_command(tmp_path, tok_dir, bad, fields, code, says):
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD, bad])
    validated = validate_says(src, fields)
    assert validated[0] == code and says in validated[1]
    assert convert_says(src, fields, tmp_path) == validated
    assert prepare_says(src, fields, tmp_path, tok_dir) == validated
    assert stats_counts(src, fields) == {code: 1}


@pytest.mark.parametrize(("bad", "fields", "code", "says"), BAD_ROWS)
def test_to_canonical_raises_the_row_error_validate_reports(bad, fields, code, says):
    with pytest.raises(RowError) as caught:
        to_canonical(bad, "messages", Mapping.from_specs(fields, []))
    assert caught.value.code == code and says in str(caught.value)


@pytest.mark.parametrize(
    ("row", "fmt", "forced", "expected"),
    [
        (GOOD, None, False, ("messages", ("messages",))),
        (GOOD, "messages", False, ("messages", ())),  # the file's format claims it
        ({"instruction": "Hi", "output": "Yo"}, "messages", False, ("alpaca", ("alpaca",))),
        ({"text": "plain words"}, None, False, ("text", ("text",))),
    ],
)
def test_the_format_a_row_is_read_as(row, fmt, forced, expected):
    read = to_canonical(row, fmt, None, forced=forced)
    assert (read.format, read.claimed) == expected


def test_a_forced_format_is_not_detected():
    with pytest.raises(RowError) as caught:
        to_canonical({"instruction": "Hi", "output": "Yo"}, "messages", None, forced=True)
    assert caught.value.code == "schema"


@pytest.mark.parametrize(
    ("row", "shown"),
    [
        ({"b": 1, "a": 2}, "keys: b, a"),  # as the file orders them
        ({}, "keys: none"),
        ({f"k{i}": i for i in range(10)}, "keys: k0, k1, k2, k3, k4, k5, k6, k7)"),
    ],
)
def test_unknown_format_names_the_first_keys(row, shown):
    assert shown in unknown_format(row).message


@pytest.mark.parametrize(("value", "what"), [([1], "an array"), ("x", "a string"), (None, "null")])
def test_a_row_that_is_not_an_object(value, what):
    with pytest.raises(RowError) as caught:
        to_canonical(value, None)
    assert (caught.value.code, caught.value.message) == (
        "non-object-row",
        f"the row is {what}, not a JSON object",
    )
