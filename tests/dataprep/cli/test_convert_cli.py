"""``dataprep convert``: the summary's exact words, exit codes, stdout, rejects."""

from __future__ import annotations

import orjson
import pytest

MSG = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
TOOLS = {
    "messages": [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "21C"},
        {"role": "assistant", "content": "21C"},
    ]
}
SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}


def write(tmp_path, name, *rows):
    path = tmp_path / name
    path.write_bytes(
        b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows)
    )
    return str(path)


def test_all_converted(tmp_path, dataprep_cli):
    src = write(tmp_path, "in.jsonl", MSG, MSG)
    out = str(tmp_path / "out.jsonl")
    r = dataprep_cli("convert", src, "--to", "sharegpt", "-o", out)
    assert (r.code, r.out) == (0, "")
    assert r.err == f"{src} -> {out} (sharegpt): 2 rows in = 2 rows out + 0 rejected\n"
    assert (tmp_path / "out.jsonl").read_bytes() == (orjson.dumps(SHAREGPT) + b"\n") * 2


def test_rejects_are_summarised_with_reasons_and_the_hint(tmp_path, dataprep_cli):
    src = write(tmp_path, "in.jsonl", MSG, TOOLS, b"{bad", TOOLS)
    out = str(tmp_path / "out.jsonl")
    r = dataprep_cli("convert", src, "--to", "alpaca", "-o", out)
    assert r.code == 1
    bad_json = r.err.splitlines()[3].split("first at line 3: ")[1]  # reading's own words
    assert r.err == (
        f"{src} -> {out} (alpaca): 4 rows in = 1 row out + 3 rejected\n"
        f"rejected, written to {out}.rejects.jsonl:\n"
        "  lossy         2  first at line 2: converting to alpaca would drop tool calls, tool results "
        "(pass --allow-lossy to drop them)\n"
        f"  invalid-json  1  first at line 3: {bad_json}\n"
        "hint: --allow-lossy converts the lossy rows, dropping what the target cannot hold\n"
    )
    lines = (tmp_path / "out.jsonl.rejects.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x)["line"] for x in lines] == [2, 3, 4]


def test_allow_lossy_says_what_was_dropped(tmp_path, dataprep_cli):
    src = write(tmp_path, "in.jsonl", MSG, TOOLS, TOOLS)
    out = str(tmp_path / "out.jsonl")
    r = dataprep_cli("convert", src, "--to", "alpaca", "-o", out, "--allow-lossy")
    assert r.code == 0
    assert r.err == (
        f"{src} -> {out} (alpaca): 3 rows in = 3 rows out + 0 rejected\n"
        "dropped (--allow-lossy):\n"
        "  tool calls    2 rows\n"
        "  tool results  2 rows\n"
    )
    assert not (tmp_path / "out.jsonl.rejects.jsonl").exists()


def test_mixed_input_is_named(tmp_path, dataprep_cli):
    src = write(tmp_path, "in.jsonl", MSG, SHAREGPT, MSG)
    out = str(tmp_path / "out.jsonl")
    r = dataprep_cli("convert", src, "--to", "messages", "-o", out)
    assert r.code == 0
    assert r.err.splitlines()[1] == "  read as: messages 2, sharegpt 1 (the file mixes formats)"


def test_stdout_and_rejects_path(tmp_path, monkeypatch, dataprep_cli):
    monkeypatch.chdir(tmp_path)
    src = write(tmp_path, "in.jsonl", MSG, b"[1]")
    r = dataprep_cli("convert", src, "--to", "sharegpt")
    assert r.code == 1
    assert r.out == orjson.dumps(SHAREGPT).decode() + "\n"
    assert (
        r.err.splitlines()[0] == f"{src} -> stdout (sharegpt): 2 rows in = 1 row out + 1 rejected"
    )
    assert (tmp_path / "in.jsonl.rejects.jsonl").exists()


def test_stdin_to_stdout(tmp_path, monkeypatch, dataprep_cli):
    monkeypatch.chdir(tmp_path)
    r = dataprep_cli("convert", "-", "--to", "messages", stdin=orjson.dumps(SHAREGPT) + b"\n")
    assert r.code == 0
    assert orjson.loads(r.out) == MSG


def test_rejects_option(tmp_path, dataprep_cli):
    src = write(tmp_path, "in.jsonl", b"{bad")
    r = dataprep_cli(
        "convert",
        src,
        "--to",
        "messages",
        "-o",
        str(tmp_path / "o.jsonl"),
        "--rejects",
        str(tmp_path / "r.jsonl"),
    )
    assert r.code == 1
    assert (tmp_path / "r.jsonl").exists() and not (tmp_path / "o.jsonl.rejects.jsonl").exists()


def test_json_summary_goes_to_stderr(tmp_path, dataprep_cli):
    src = write(tmp_path, "in.jsonl", MSG)
    r = dataprep_cli("convert", src, "--to", "sharegpt", "--json")
    assert r.code == 0
    assert orjson.loads(r.out) == SHAREGPT
    doc = orjson.loads(r.err)
    assert (doc["rows_in"], doc["rows_out"], doc["rejected"], doc["rejects"]) == (1, 1, 0, None)


def test_mapping_options(tmp_path, dataprep_cli):
    row = {"dialog": [{"speaker": "human", "text": "Hi"}, {"speaker": "bot", "text": "Yo"}]}
    src = write(tmp_path, "in.jsonl", row)
    r = dataprep_cli(
        "convert", src, "--to", "sharegpt", "--field", "messages=dialog", "--field", "role=speaker",
        "--field", "content=text", "--role", "human=user", "--role", "bot=assistant",
    )  # fmt: skip
    assert r.code == 0
    assert orjson.loads(r.out) == SHAREGPT


def test_forms_and_notes_are_summarised(tmp_path, dataprep_cli):
    chat = {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sky?"}],
        "chosen": [{"role": "assistant", "content": "Blue."}],
        "rejected": [{"role": "assistant", "content": "Green."}],
    }
    implicit = {"chosen": "The sky is blue.", "rejected": "The sky is black."}
    src = write(tmp_path, "in.jsonl", chat, implicit)
    out = str(tmp_path / "out.jsonl")
    r = dataprep_cli("convert", src, "--to", "preference", "--standard", "-o", out, "--allow-lossy")
    assert r.code == 0
    assert r.err == (
        f"{src} -> {out} (preference): 2 rows in = 2 rows out + 0 rejected\n"
        "dropped (--allow-lossy):\n"
        "  system messages  1 row\n"
        "notes:\n"
        "  implicit prompt made explicit (the words chosen and rejected start with)  1 row\n"
    )
    assert [orjson.loads(x) for x in (tmp_path / "out.jsonl").read_bytes().splitlines()] == [
        {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green."},
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " black."},
    ]


def test_alpaca_join_is_noted(tmp_path, dataprep_cli):
    row = {"instruction": "Translate", "input": "cheese", "output": "fromage"}
    src = write(tmp_path, "in.jsonl", row, {"instruction": "Hi", "output": "Yo"})
    r = dataprep_cli("convert", src, "--to", "messages")
    assert r.code == 0
    assert r.err.splitlines()[1:] == [
        "notes:",
        "  alpaca instruction and input joined into one user turn (a blank line between): "
        "converting back cannot split them  1 row",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["convert", "in.jsonl", "--to", "messages", "--standard"],
            "error: --standard applies to --to preference, kto, prompt-completion",
        ),
        (["convert", "in.jsonl"], "Missing option '--to'"),
        (["convert", "in.jsonl", "--to", "chat"], "Invalid value for '--to': 'chat' is not one of"),
        (["convert", "nope.jsonl", "--to", "messages"], "error: no such file: nope.jsonl"),
        (
            ["convert", "in.jsonl", "--to", "messages", "-o", "x.parquet.gz"],
            "Parquet compresses inside",
        ),
    ],
)
def test_usage_errors_exit_2(tmp_path, monkeypatch, dataprep_cli, args, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "in.jsonl", MSG)
    r = dataprep_cli(*args)
    assert r.code == 2
    assert message in r.err


def test_help_teaches_with_an_example(dataprep_cli):
    r = dataprep_cli("convert", "--help")
    assert r.code == 0
    assert (
        "Examples:" in r.out and "dataprep convert data.jsonl --to messages -o clean.jsonl" in r.out
    )
    assert "rows in = rows out + rows rejected" in " ".join(r.out.split())
