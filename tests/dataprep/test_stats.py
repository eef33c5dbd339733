"""``dataprep.stats``, the library under ``dataprep stats``: its functions called directly."""

from __future__ import annotations

import orjson
import pytest

from dataprep.stats import file_stats, folder_stats, histogram, percentiles


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], {"count": 0}),
        ([7], {"count": 1, "mean": 7.0, "p50": 7.0, "p90": 7.0, "p99": 7.0, "max": 7}),
        (
            [1, 2, 3, 4],
            # numpy's linear interpolation: p90 = 3 + 0.7 * (4 - 3), p99 = 3 + 0.97
            {"count": 4, "mean": 2.5, "p50": 2.5, "p90": 3.7, "p99": 4.0, "max": 4},
        ),
    ],
)
def test_percentiles(values, expected):
    assert percentiles(values) == expected


@pytest.mark.parametrize(
    ("values", "bins", "width", "expected"),
    [
        ([], 3, 5, []),
        ([4, 4], 3, 4, ["      4 –       4  ████ 2"]),
        # 1..6 in 2 bins of 3 values: 3 values then 1 value; the fuller bin gets the width
        (
            [1, 2, 3, 6],
            2,
            8,
            ["      1 –       3  ████████ 3", "      4 –       6  ██▋ 1"],
        ),
    ],
)
def test_histogram(values, bins, width, expected):
    assert histogram(values, bins=bins, width=width) == expected


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def write_jsonl(path, rows):
    path.write_bytes(b"".join(r if isinstance(r, bytes) else orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


@pytest.mark.parametrize(
    ("rows", "fields", "expected"),
    [
        (
            [{"messages": [user("ab"), assistant("cde")]}] * 2,
            [],
            {"rows": 2, "duplicates": 1, "roles": {"user": 2, "assistant": 2}, "lengths": [5, 5]},
        ),
        (
            [
                {"instruction": "Hi", "output": "Yo!"},
                {"question": "?"},
                b"{oops\n",
                {"messages": [user("x"), assistant("y")], "images": ["a.png"]},
            ],
            [],
            {
                "rows": 4,
                "problems": {"unknown-format": 1, "invalid-json": 1, "unsupported-content": 1},
                "formats": {"alpaca": 1},
                "lengths": [5],
            },
        ),
        (
            [{"dialog": [user("abc"), assistant("d")]}],
            ["messages=dialog"],
            {"rows": 1, "formats": {"messages": 1}, "turns": 2, "lengths": [4]},
        ),
    ],
)
def test_file_stats_in_characters(tmp_path, rows, fields, expected):
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    s = file_stats(path, tokenizer=None, chat_template=None, fields=fields, roles=[], format_=None)
    got = {
        "rows": s["rows"],
        "duplicates": s["duplicates"],
        "roles": s["roles"],
        "problems": s["problems"],
        "formats": s["formats"],
        "turns": s["turns"].get("max"),
        "lengths": s["_lengths"],
    }
    assert {k: got[k] for k in expected} == expected
    assert (s["unit"], s["trainable_share"]) == ("characters", None)


def test_file_stats_with_a_tokenizer_counts_tokens(tmp_path, tok_dir):
    from dataprep.prepare.template.choice import load_transformers_tokenizer

    path = write_jsonl(tmp_path / "in.jsonl", [{"messages": [user("hello"), assistant("world")]}])
    s = file_stats(path, tokenizer=tok_dir, chat_template=None, fields=[], roles=[], format_=None)
    tok = load_transformers_tokenizer(tok_dir)  # transformers: an oracle apart from ours
    rendered = tok.apply_chat_template(
        [user("hello"), assistant("world")], tokenize=False
    )  # the tokenizer's own render, independent of dataprep's encoder
    assert s["unit"] == "tokens"
    assert s["_lengths"] == [len(tok(rendered, add_special_tokens=False)["input_ids"])]
    assert 0 < s["trainable_share"] < 1


def test_folder_stats_of_a_prepared_folder(tmp_path, tok_dir):
    from dataprep.prepare.output import read_split, split_folders
    from dataprep.prepare.pipeline import PrepareOptions, prepare

    rows = [{"messages": [user(f"question {i}"), assistant(f"answer {i}")]} for i in range(5)]
    src = write_jsonl(tmp_path / "in.jsonl", [*rows, rows[0]])
    out = str(tmp_path / "out")
    prepare(PrepareOptions(inputs=[src], tokenizer=tok_dir, output=out, max_length=256))
    s = folder_stats(out)
    table = read_split(split_folders(out)["train"])
    lengths = [len(ids) for ids in table.column("input_ids").to_pylist()]
    train = s["splits"]["train"]
    assert (s["prepared"], s["kind"], s["max_length"]) == (True, "sft", 256)
    assert (train["rows"], train["documents"]) == (table.num_rows, 6)
    assert train["tokens"] == sum(lengths)
    assert train["duplicate_documents"] == 1
    assert 0 < train["trainable_tokens"] < train["tokens"]
