"""``dataprep detect``: exact output, exit codes, JSON."""

from __future__ import annotations

import os

import orjson
import pytest

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "samples")

MSG = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}


def write(tmp_path, name, *rows):
    path = tmp_path / name
    path.write_bytes(
        b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows)
    )
    return str(path)


def test_one_format(tmp_path, dataprep_cli):
    path = write(tmp_path, "a.jsonl", {**MSG, "id": 1}, {**MSG, "id": 2})
    r = dataprep_cli("detect", path)
    assert (r.code, r.err) == (0, "")
    assert r.out == f"{path}: messages (2 rows)\n  keys: messages (2), id (2)\n"


def test_mixed_file_lists_the_lines_of_each_kind(tmp_path, dataprep_cli):
    path = write(tmp_path, "m.jsonl", MSG, SHAREGPT, MSG, {"question": "?"}, b"{bad")
    r = dataprep_cli("detect", path)
    assert r.code == 1
    assert r.out == (
        f"{path}: mixed: rows disagree: messages (2 rows), sharegpt (1 row), unknown (1 row)\n"
        "  messages  2 rows  lines 1, 3\n"
        "  sharegpt  1 row   line 2\n"
        "  unknown   1 row   line 4\n"
        "  keys: messages (2), conversations (1), question (1)\n"
        "  unreadable: 1 row (line 5); dataprep validate says why\n"
    )


def test_unknown_names_the_closest_format_and_the_fix(tmp_path, dataprep_cli):
    path = write(tmp_path, "u.jsonl", {"instruction": "Add 2 and 2", "response": "4"})
    r = dataprep_cli("detect", path)
    assert r.code == 1
    assert r.out == (
        f"{path}: unknown: no format fits these rows; closest is alpaca, which needs output\n"
        "  unknown  1 row  line 1\n"
        "  keys: instruction (1), response (1)\n"
        "  try: --field output=response (reads as alpaca)\n"
        "   or: --field prompt=instruction --field completion=response"
        " (reads as prompt-completion)\n"
    )
    fixed = dataprep_cli("detect", path, "--field", "output=response")
    assert (fixed.code, fixed.out.splitlines()[0]) == (0, f"{path}: alpaca (1 row)")


def test_ambiguous_names_the_candidates_and_the_option(tmp_path, dataprep_cli):
    path = write(tmp_path, "b.jsonl", {**MSG, **SHAREGPT})
    r = dataprep_cli("detect", path)
    assert r.code == 1
    assert r.out.splitlines()[0] == (
        f"{path}: ambiguous: every row fits messages and sharegpt; say which with --format "
        "(validate) or --from (convert)"
    )


def test_mapping_options(tmp_path, dataprep_cli):
    row = {"dialog": [{"speaker": "human", "text": "Hi"}, {"speaker": "bot", "text": "Yo"}]}
    path = write(tmp_path, "d.jsonl", row)
    r = dataprep_cli(
        "detect",
        path,
        "--field",
        "messages=dialog",
        "--field",
        "role=speaker",
        "--field",
        "content=text",
    )
    assert (r.code, r.out.splitlines()[0]) == (0, f"{path}: messages (1 row)")


def test_several_files_one_block_each(tmp_path, dataprep_cli):
    a = write(tmp_path, "a.jsonl", MSG)
    b = write(tmp_path, "b.jsonl", SHAREGPT)
    r = dataprep_cli("detect", a, b)
    assert r.code == 0
    assert r.out == (
        f"{a}: messages (1 row)\n  keys: messages (1)\n\n{b}: sharegpt (1 row)\n  keys: conversations (1)\n"
    )


def test_json_output(tmp_path, dataprep_cli):
    a = write(tmp_path, "a.jsonl", MSG, SHAREGPT)
    r = dataprep_cli("detect", a, "--json")
    doc = orjson.loads(r.out)
    assert r.code == 1 and doc["ok"] is False
    [f] = doc["files"]
    assert (f["status"], f["kinds"], f["lines"]) == (
        "mixed",
        {"messages": 1, "sharegpt": 1},
        {"messages": [1], "sharegpt": [2]},
    )


def test_reading_notes_are_shown(tmp_path, dataprep_cli):
    path = tmp_path / "w.jsonl"
    path.write_bytes(orjson.dumps(MSG).decode().encode("utf-16") + "\n".encode("utf-16-le"))
    r = dataprep_cli("detect", str(path))
    assert r.code == 0
    assert "  note: read as UTF-16 (little-endian)\n" in r.out


def test_stdin(dataprep_cli):
    r = dataprep_cli("detect", "-", stdin=orjson.dumps(MSG) + b"\n")
    assert (r.code, r.out.splitlines()[0]) == (0, "-: messages (1 row)")


def test_a_file_that_is_not_a_dataset(tmp_path, dataprep_cli):
    path = tmp_path / "x.jsonl.bz2"
    path.write_bytes(b"BZh91AY&SY" + b"\x00" * 20)
    good = write(tmp_path, "g.jsonl", MSG)
    r = dataprep_cli("detect", str(path), good)
    assert r.code == 1
    assert r.out.splitlines()[0] == (
        f"{path}: cannot be read: compressed as bzip2, which is not supported: decompress it, "
        "or use gzip or zstd [unsupported-compression]"
    )
    assert f"{good}: messages (1 row)" in r.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect"], "Missing argument 'FILE...'"),
        (["detect", "nope.jsonl"], "error: no such file: nope.jsonl"),
        (
            ["detect", "x.jsonl", "--field", "messages"],
            "bad --field 'messages': expected OUR_FIELD=YOUR_KEY",
        ),
        (
            ["detect", "x.jsonl", "--role", "bot=robot"],
            "bad --role 'bot=robot': 'robot' is not a role",
        ),
    ],
)
def test_usage_errors_exit_2(tmp_path, monkeypatch, dataprep_cli, args, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "x.jsonl", MSG)
    r = dataprep_cli(*args)
    assert r.code == 2
    assert message in r.err
    assert "Traceback" not in r.err


def test_every_sample_is_one_format(dataprep_cli):
    paths = sorted(os.path.join(SAMPLES, f) for f in os.listdir(SAMPLES) if f.endswith(".jsonl"))
    r = dataprep_cli("detect", *paths)
    assert r.code == 0, r.out


def test_help_teaches_with_an_example(dataprep_cli):
    r = dataprep_cli("detect", "--help")
    assert r.code == 0
    assert "Examples:" in r.out and "dataprep detect data.jsonl" in r.out
