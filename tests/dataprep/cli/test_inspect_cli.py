"""``dataprep inspect``: trained tokens highlighted, document boundaries visible."""

from __future__ import annotations

import json
import sys

import orjson
import pytest

from dataprep.cli import main
from dataprep.prepare.output import read_split
from dataprep.prepare.pipeline import PrepareOptions, prepare


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tok_dir):
    base = tmp_path_factory.mktemp("inspect")
    chats = base / "chats.jsonl"
    rows = []
    for i in range(12):
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"question {i} about paris"},
                    {"role": "assistant", "content": f"answer {i}: sure"},
                    {"role": "user", "content": "and then?"},
                    {"role": "assistant", "content": "here is a short reply"},
                ]
            }
        )
    chats.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    pairs = base / "pairs.jsonl"
    pair = {
        "prompt": [{"role": "user", "content": "hello world"}],
        "chosen": [{"role": "assistant", "content": "thanks please"}],
        "rejected": [{"role": "assistant", "content": "no"}],
    }
    pairs.write_bytes(orjson.dumps(pair) + b"\n")
    out = {}
    for name, src, kw in (
        ("packed", chats, {}),
        ("eval", chats, {"eval_fraction": 0.4}),
        ("dpo", pairs, {}),
    ):
        prepare(
            PrepareOptions(
                inputs=[str(src)], tokenizer=tok_dir, max_length=200, output=str(base / name), **kw
            )
        )
        out[name] = base / name
    return out


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_packed_row_shows_documents_and_trained_text_between_markers(folders, capsys):
    code, out, _ = run(capsys, "inspect", folders["packed"], "--row", 0)
    assert code == 0
    row = read_split(folders["packed"]).slice(0, 1).to_pylist()[0]
    lines = out.splitlines()
    n_trained = sum(1 for j, x in enumerate(row["labels"]) if x != -100)
    plural = "s" if len(row["seq_lengths"]) > 1 else ""
    assert lines[0] == (
        f"row 0 of {read_split(folders['packed']).num_rows} (train) · {len(row['input_ids']):,} tokens"
        f" · {n_trained:,} trained · {len(row['seq_lengths'])} document{plural}"
    )
    separators = [line for line in lines if line.startswith("── document ")]
    assert [s.split(" · ")[1] for s in separators] == [f"{n} tokens" for n in row["seq_lengths"]]
    assert [s.split(" · ")[0] for s in separators] == [
        f"── document {i}" for i in range(len(row["seq_lengths"]))
    ]
    assert lines[1] == "(trained text is «between markers»)"
    text = "\n".join(lines[2:])
    # Each trained run is an assistant reply with its end-of-turn; headers stay outside.
    assert text.count("«") == text.count("»") == 2 * len(row["seq_lengths"])
    assert "<|im_start|>assistant\n«answer" in text
    assert "«here is a short reply<|im_end|>" in text
    assert "«<|im_start|>" not in text


def test_json_gives_every_token_with_its_trained_flag(folders, capsys):
    code, out, _ = run(capsys, "inspect", folders["packed"], "--row", 1, "--json")
    assert code == 0
    docs = json.loads(out)
    row = read_split(folders["packed"]).slice(1, 1).to_pylist()[0]
    assert [len(d["tokens"]) for d in docs] == row["seq_lengths"]
    assert [d["doc"] for d in docs] == list(range(len(docs)))
    flat = [t for d in docs for t in d["tokens"]]
    assert [t["id"] for t in flat] == row["input_ids"]
    starts = {sum(row["seq_lengths"][:i]) for i in range(len(row["seq_lengths"]))}
    assert [t["trained"] for t in flat] == [
        x != -100 and j not in starts for j, x in enumerate(row["labels"])
    ]
    assert {t["text"] for t in flat} >= {"<|im_start|>", "<|im_end|>"}


def test_colour_in_a_terminal(folders, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, out, _ = run(capsys, "inspect", folders["packed"])
    assert code == 0 and "«" not in out
    assert "\x1b[32m\x1b[1manswer" in out or "\x1b[1m\x1b[32manswer" in out


def test_eval_split_and_negative_rows(folders, capsys):
    code, out, _ = run(capsys, "inspect", folders["eval"], "--split", "eval", "--row", -1)
    n = read_split(folders["eval"] / "eval").num_rows
    assert code == 0 and out.startswith(f"row {n - 1} of {n} (eval)")


def test_dpo_row_shows_prompt_chosen_rejected(folders, capsys):
    code, out, _ = run(capsys, "inspect", folders["dpo"])
    assert code == 0
    separators = [line.split(" · ")[0] for line in out.splitlines() if line.startswith("── ")]
    assert separators == ["── prompt", "── chosen", "── rejected"]
    assert "«thanks please" in out and "«no" in out


def test_per_token_listing(folders, capsys):
    code, out, _ = run(capsys, "inspect", folders["dpo"], "--tokens")
    assert code == 0
    listing = [
        line.split()
        for line in out.splitlines()
        if line.startswith("  ") and len(line.split()) >= 3
    ]
    assert listing and all(parts[2] in ("T", "·") for parts in listing)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--row", "999"], "error: --row 999 is out of range: the train split has {n} rows"),
        (["--split", "eval"], "error: {dir} has no eval split (it has: train)"),
    ],
)
def test_bad_row_or_split_is_a_usage_error(folders, capsys, args, message):
    code, _, err = run(capsys, "inspect", folders["packed"], *args)
    n = read_split(folders["packed"]).num_rows
    assert code == 2 and err == message.format(n=n, dir=folders["packed"]) + "\n"


def test_a_folder_that_is_not_prepared(tmp_path, capsys):
    code, _, err = run(capsys, "inspect", tmp_path)
    assert code == 2
    assert (
        err
        == f"error: {tmp_path} is not a prepared folder (no dataprep.json); run dataprep prepare first\n"
    )
