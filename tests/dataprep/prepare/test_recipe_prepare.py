"""``dataprep prepare`` on a recipe, a LLaMA-Factory dataset_info.json with --dataset and an
Axolotl config (issue 10): the sources, their amounts, their own format/mapping/system/
mask, determinism for a seed, dedup and the eval split across sources, the manifest's
``sources`` record and ``dataprep stats``. Configs and data are written here."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from dataprep.cli import main
from dataprep.contract import read_manifest


def chat(tag, i):
    return {
        "messages": [
            {"role": "user", "content": f"{tag} question {i} about the weather"},
            {"role": "assistant", "content": f"{tag} answer {i}: sure, a reply"},
        ]
    }


def alpaca(tag, i):
    return {"instruction": f"{tag} task {i}", "input": "", "output": f"{tag} done {i}"}


def write_jsonl(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def prepare(capsys, config, tok_dir, out, *extra):
    return run(capsys, "prepare", config, "--tokenizer", tok_dir, "--max-length", 256,
               "-o", out, *extra)  # fmt: skip


def sources_of(out):
    return {s.name: s for s in read_manifest(out).sources}


@pytest.mark.parametrize(
    "amount, rows_in_file, expected",
    [
        ("rows: 4", 10, 4),
        ("rows: 25", 10, 25),  # more than the file has: every row twice, 5 drawn
        ("fraction: 0.5", 10, 5),
        ("fraction: 0.25", 8, 2),
        ("", 7, 7),  # no amount: every row once
    ],
)
def test_a_source_amount_selects_that_many_rows(
    tmp_path, tok_dir, capsys, amount, rows_in_file, expected
):
    write_jsonl(tmp_path / "a.jsonl", [chat("a", i) for i in range(rows_in_file)])
    recipe = tmp_path / "mix.yaml"
    recipe.write_text(f"sources:\n  - path: a.jsonl\n    name: a\n    {amount}\n")
    code, stdout, _ = prepare(capsys, recipe, tok_dir, tmp_path / "out")
    assert code == 0, stdout
    a = sources_of(tmp_path / "out")["a"]
    assert (a.rows_read, a.rows_selected, a.rows_out, a.rows_rejected) == (
        rows_in_file, expected, expected, 0,
    )  # fmt: skip
    assert read_manifest(tmp_path / "out").counts.rows_in == expected


@pytest.mark.parametrize(
    "weights, recipe_rows, expected",
    [
        ((1, 1), 10, (5, 5)),
        ((1, 3), 8, (2, 6)),
        ((1, 1), None, (12, 12)),  # the largest mix that keeps the ratio, no repeats
        ((2, 1), None, (24, 12)),
    ],
)
def test_weights_share_the_rows(tmp_path, tok_dir, capsys, weights, recipe_rows, expected):
    write_jsonl(tmp_path / "a.jsonl", [chat("a", i) for i in range(30)])
    write_jsonl(tmp_path / "b.jsonl", [chat("b", i) for i in range(12)])
    head = f"rows: {recipe_rows}\n" if recipe_rows else ""
    (tmp_path / "mix.yaml").write_text(
        f"{head}sources:\n  - path: a.jsonl\n    name: a\n    weight: {weights[0]}\n"
        f"  - path: b.jsonl\n    name: b\n    weight: {weights[1]}\n"
    )
    code, stdout, _ = prepare(capsys, tmp_path / "mix.yaml", tok_dir, tmp_path / "out")
    assert code == 0, stdout
    got = sources_of(tmp_path / "out")
    assert (got["a"].rows_out, got["b"].rows_out) == expected
    total = sum(expected)
    assert got["a"].share == pytest.approx(expected[0] / total, abs=1e-6)
    assert got["a"].tokens + got["b"].tokens == read_manifest(tmp_path / "out").tokens.total


def test_each_source_keeps_its_own_format_mapping_system_and_mask(tmp_path, tok_dir, capsys):
    rows = [chat("x", i) for i in range(6)]
    write_jsonl(tmp_path / "plain.jsonl", rows)
    # the same conversations under other keys and role names: only the mapping reads them
    renamed = [
        {"dialog": [{"speaker": "human" if m["role"] == "user" else "bot", "text": m["content"]}
                    for m in r["messages"]]}
        for r in rows
    ]  # fmt: skip
    write_jsonl(tmp_path / "renamed.jsonl", renamed)
    write_jsonl(tmp_path / "tasks.jsonl", [alpaca("t", i) for i in range(4)])
    (tmp_path / "mix.yaml").write_text("""\
sources:
  - path: plain.jsonl
    name: plain
  - path: renamed.jsonl
    name: renamed
    format: messages
    fields: {messages: dialog, role: speaker, content: text}
    roles: {human: user, bot: assistant}
    system: You are a pirate who answers every question with a long sea shanty.
    mask: all
  - path: tasks.jsonl
    name: tasks
    format: alpaca
""")
    code, stdout, _ = prepare(capsys, tmp_path / "mix.yaml", tok_dir, tmp_path / "out")
    assert code == 0, stdout
    got = sources_of(tmp_path / "out")
    assert {n: (s.format, s.rows_out, s.mask) for n, s in got.items()} == {
        "plain": ("messages", 6, "assistant"),
        "renamed": ("messages", 6, "all"),
        "tasks": ("alpaca", 4, "assistant"),
    }
    # The system prompt is the renamed source's own: more tokens for the same talk; its
    # mask trains every token but the first of each document.
    assert got["renamed"].tokens > got["plain"].tokens
    assert got["renamed"].trainable_tokens > got["plain"].trainable_tokens
    assert "sources:" in stdout and "renamed" in stdout


def test_the_same_seed_takes_the_same_rows_and_another_seed_others(tmp_path, tok_dir, capsys):
    write_jsonl(tmp_path / "a.jsonl", [chat("a", i) for i in range(40)])
    (tmp_path / "mix.yaml").write_text("sources:\n  - path: a.jsonl\n    fraction: 0.25\n")

    def data(out, seed):
        code, stdout, _ = prepare(capsys, tmp_path / "mix.yaml", tok_dir, out, "--seed", seed,
                                  "--no-pack")  # fmt: skip
        assert code == 0, stdout
        return sorted(p.read_bytes() for p in Path(out).glob("*.arrow"))

    first = data(tmp_path / "one", 1)
    assert data(tmp_path / "two", 1) == first
    assert data(tmp_path / "three", 2) != first


def test_a_duplicate_across_two_sources_counts_once(tmp_path, tok_dir, capsys):
    write_jsonl(tmp_path / "a.jsonl", [chat("s", i) for i in range(6)])
    write_jsonl(tmp_path / "b.jsonl", [chat("s", i) for i in range(3, 9)])  # 3, 4, 5 shared
    (tmp_path / "mix.yaml").write_text(
        "dedup: true\nsources:\n  - path: a.jsonl\n    name: a\n  - path: b.jsonl\n    name: b\n"
    )
    code, stdout, _ = prepare(capsys, tmp_path / "mix.yaml", tok_dir, tmp_path / "out")
    assert code == 0, stdout
    got = sources_of(tmp_path / "out")
    assert (got["a"].rows_out, got["b"].rows_out, got["b"].rejected) == (6, 3, {"duplicate": 3})
    assert read_manifest(tmp_path / "out").counts.deduplicated == 3


def test_the_eval_split_follows_content_not_source_order(tmp_path, tok_dir, capsys):
    write_jsonl(tmp_path / "a.jsonl", [chat("a", i) for i in range(40)])
    write_jsonl(tmp_path / "b.jsonl", [chat("b", i) for i in range(40)])
    splits = []
    for order in (("a", "b"), ("b", "a")):
        recipe = tmp_path / f"{''.join(order)}.yaml"
        recipe.write_text(
            "eval_fraction: 0.3\nsources:\n"
            + "".join(f"  - path: {n}.jsonl\n    name: {n}\n" for n in order)
        )
        out = tmp_path / f"out-{''.join(order)}"
        code, stdout, _ = prepare(capsys, recipe, tok_dir, out, "--no-pack")
        assert code == 0, stdout
        from datasets import load_from_disk

        eval_rows = load_from_disk(str(out))["eval"]["input_ids"]
        splits.append(sorted(map(tuple, eval_rows)))
    assert splits[0] == splits[1]
    assert 0 < len(splits[0]) < 80


@pytest.mark.parametrize("pack", ["--pack", "--no-pack"])
def test_each_document_records_its_source(tmp_path, tok_dir, capsys, pack):
    """document_sources.npy names, for each document in the order the rows hold them
    (packed or not, train and eval), the recipe source it came from: checked against
    the text of each document, decoded from the rows."""
    import numpy as np
    from datasets import load_from_disk
    from tokenizers import Tokenizer

    from dataprep.contract import DOCUMENT_SOURCES

    write_jsonl(tmp_path / "a.jsonl", [chat("alpha", i) for i in range(9)])
    write_jsonl(tmp_path / "b.jsonl", [chat("beta", i) for i in range(6)])
    (tmp_path / "mix.yaml").write_text(
        "eval_fraction: 0.3\nsources:\n  - path: a.jsonl\n  - path: b.jsonl\n"
    )
    out = tmp_path / "out"
    code, stdout, _ = prepare(capsys, tmp_path / "mix.yaml", tok_dir, out, pack)
    assert code == 0, stdout
    manifest = read_manifest(out)
    assert manifest.document_sources == "sources"
    names = [s.name for s in manifest.sources]
    tokenizer = Tokenizer.from_file(str(Path(tok_dir) / "tokenizer.json"))
    for split, rows in load_from_disk(str(out)).items():
        recorded = np.load(out / split / DOCUMENT_SOURCES)
        texts = []
        for row in rows:
            lengths = row.get("seq_lengths") or [len(row["input_ids"])]
            start = 0
            for n in lengths:
                texts.append(tokenizer.decode(row["input_ids"][start : start + n]))
                start += n
        assert len(recorded) == len(texts) == manifest.splits[split].documents
        for source, text in zip(recorded, texts, strict=True):
            tag = "alpha" if "alpha" in text else "beta"
            assert names[source].endswith("a.jsonl" if tag == "alpha" else "b.jsonl")


def test_one_source_records_none(tmp_path, tok_dir, capsys):
    from dataprep.contract import DOCUMENT_SOURCES

    write_jsonl(tmp_path / "a.jsonl", [chat("a", i) for i in range(5)])
    code, stdout, _ = prepare(capsys, tmp_path / "a.jsonl", tok_dir, tmp_path / "out")
    assert code == 0, stdout
    assert read_manifest(tmp_path / "out").document_sources is None
    assert not (tmp_path / "out" / DOCUMENT_SOURCES).exists()


def test_an_eval_source_goes_to_the_eval_split(tmp_path, tok_dir, capsys):
    write_jsonl(tmp_path / "a.jsonl", [chat("a", i) for i in range(5)])
    write_jsonl(tmp_path / "held.jsonl", [chat("h", i) for i in range(3)])
    (tmp_path / "mix.yaml").write_text(
        "sources:\n  - path: a.jsonl\n  - path: held.jsonl\n    eval: true\n"
    )
    code, stdout, _ = prepare(capsys, tmp_path / "mix.yaml", tok_dir, tmp_path / "out", "--no-pack")
    assert code == 0, stdout
    splits = read_manifest(tmp_path / "out").splits
    assert (splits["train"].rows, splits["eval"].rows) == (5, 3)


def write_dataset_info(tmp_path):
    write_jsonl(tmp_path / "tasks.jsonl", [alpaca("t", i) for i in range(5)])
    (tmp_path / "talk.json").write_text(json.dumps([
        {"conversations": [{"from": "human", "value": f"hi {i}"},
                           {"from": "gpt", "value": f"hello {i}"}]}
        for i in range(4)
    ]))  # fmt: skip
    (tmp_path / "pairs.json").write_text(json.dumps([
        {"instruction": f"q {i}", "chosen": f"good {i}", "rejected": f"bad {i}"}
        for i in range(3)
    ]))  # fmt: skip
    (tmp_path / "kto.json").write_text(json.dumps([
        {"messages": [{"role": "user", "content": f"q {i}"},
                      {"role": "assistant", "content": f"a {i}"}], "label": i % 2 == 0}
        for i in range(4)
    ]))  # fmt: skip
    info = {
        "tasks": {"file_name": "tasks.jsonl", "num_samples": 3},
        "talk": {"file_name": "talk.json", "formatting": "sharegpt"},
        "pairs": {"file_name": "pairs.json", "ranking": True,
                  "columns": {"prompt": "instruction", "chosen": "chosen",
                              "rejected": "rejected"}},
        "kto": {"file_name": "kto.json", "formatting": "sharegpt",
                "columns": {"messages": "messages", "kto_tag": "label"},
                "tags": {"role_tag": "role", "content_tag": "content",
                         "user_tag": "user", "assistant_tag": "assistant"}},
    }  # fmt: skip
    path = tmp_path / "dataset_info.json"
    path.write_text(json.dumps(info, indent=1))
    return path


@pytest.mark.parametrize(
    "datasets, kind, rows",
    [
        ("tasks,talk", "sft", {"tasks": 3, "talk": 4}),
        ("pairs", "dpo", {"pairs": 3}),
        ("kto", "kto", {"kto": 4}),
    ],
)
def test_a_dataset_info_with_dataset_prepares_its_stanzas(
    tmp_path, tok_dir, capsys, datasets, kind, rows
):
    info = write_dataset_info(tmp_path)
    code, stdout, err = prepare(capsys, info, tok_dir, tmp_path / "out", "--dataset", datasets)
    assert code == 0, stdout + err
    manifest = read_manifest(tmp_path / "out")
    assert manifest.kind == kind
    assert {s.name: s.rows_out for s in manifest.sources} == rows
    assert "LLaMA-Factory dataset_info" in err


def test_a_key_that_changes_training_and_cannot_be_honoured_stops_before_any_work(
    tmp_path, tok_dir, capsys
):
    info = write_dataset_info(tmp_path)
    code, _, err = prepare(capsys, info, tok_dir, tmp_path / "out", "--dataset",
                           "tasks,talk,pairs,kto")  # fmt: skip
    assert code == 1
    assert "not-honoured (changes training): the datasets are of different kinds" in err
    assert "nothing was prepared" in err
    assert not (tmp_path / "out").exists()


AXOLOTL = {
    "sft": """\
base_model: {tok}
sequence_len: 200
sample_packing: false
val_set_size: 0.0
dataset_prepared_path: {out}
datasets:
  - path: chats.jsonl
    type: chat_template
    field_messages: dialog
    message_property_mappings: {{role: speaker, content: text}}
    roles: {{user: [human], assistant: [bot]}}
  - path: tasks.jsonl
    type: alpaca
""",
    "dpo": """\
base_model: {tok}
sequence_len: 200
rl: dpo
dataset_prepared_path: {out}
datasets:
  - path: pairs.jsonl
    type: chatml.prompt_pairs
""",
    "kto": """\
base_model: {tok}
sequence_len: 200
rl: kto
dataset_prepared_path: {out}
datasets:
  - path: kto.jsonl
    type: chatml.prompt_pairs
""",
}


@pytest.mark.parametrize(
    "which, kind, rows",
    [
        ("sft", "sft", {"datasets[0]": 3, "datasets[1]": 2}),
        ("dpo", "dpo", {"datasets[0]": 2}),
        ("kto", "kto", {"datasets[0]": 4}),
    ],
)
def test_an_axolotl_config_prepares_with_its_own_options(
    tmp_path, tok_dir, capsys, which, kind, rows
):
    write_jsonl(tmp_path / "chats.jsonl", [
        {"dialog": [{"speaker": "human", "text": f"hi {i}"}, {"speaker": "bot", "text": f"yo {i}"}]}
        for i in range(3)
    ])  # fmt: skip
    write_jsonl(tmp_path / "tasks.jsonl", [alpaca("t", i) for i in range(2)])
    write_jsonl(tmp_path / "pairs.jsonl", [
        {"prompt": f"q {i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(2)
    ])  # fmt: skip
    write_jsonl(tmp_path / "kto.jsonl", [
        {"prompt": f"q {i}", "completion": f"a {i}", "label": i % 2 == 0} for i in range(4)
    ])  # fmt: skip
    out = tmp_path / "prepared"
    config = tmp_path / "axolotl.yaml"
    config.write_text(AXOLOTL[which].format(tok=tok_dir, out=out))
    code, stdout, err = run(capsys, "prepare", config)  # tokenizer, length, output: the config's
    assert code == 0, stdout + err
    manifest = read_manifest(out)
    assert (manifest.kind, manifest.max_length) == (kind, 200)
    assert {s.name: s.rows_out for s in manifest.sources} == rows


def test_the_command_line_wins_over_the_config_and_says_so(tmp_path, tok_dir, capsys):
    write_jsonl(tmp_path / "tasks.jsonl", [alpaca("t", i) for i in range(2)])
    config = tmp_path / "axolotl.yaml"
    config.write_text(f"base_model: {tok_dir}\nsequence_len: 200\ndataset_prepared_path: "
                      f"{tmp_path / 'cfg-out'}\ndatasets:\n  - path: tasks.jsonl\n    type: alpaca\n")  # fmt: skip
    code, stdout, err = run(capsys, "prepare", config, "--max-length", 128, "-o", tmp_path / "out")
    assert code == 0, stdout + err
    assert read_manifest(tmp_path / "out").max_length == 128
    assert not (tmp_path / "cfg-out").exists()
    assert (
        "note: --max-length 128 from the command line wins over the config (max_length 200)" in err
    )


@pytest.mark.parametrize(
    "recipe, extra, message",
    [
        ("sources:\n  - path: a.jsonl\n", ("--field", "messages=dialog"),
         "--field does not go with a recipe"),
        ("sources:\n  - path: missing.jsonl\n", (), "no such file"),
    ],
)  # fmt: skip
def test_usage_errors_of_a_recipe_run(tmp_path, tok_dir, capsys, recipe, extra, message):
    write_jsonl(tmp_path / "a.jsonl", [chat("a", 0)])
    (tmp_path / "mix.yaml").write_text(recipe)
    code, _, err = prepare(capsys, tmp_path / "mix.yaml", tok_dir, tmp_path / "out", *extra)
    assert code == 2
    assert message in err


def test_stats_prints_the_sources_of_a_prepared_folder(tmp_path, tok_dir, capsys):
    write_jsonl(tmp_path / "a.jsonl", [chat("a", i) for i in range(4)])
    write_jsonl(tmp_path / "b.jsonl", [chat("b", i) for i in range(2)] + [{"bad": 1}])
    (tmp_path / "mix.yaml").write_text(
        "sources:\n  - path: a.jsonl\n    name: first\n  - path: b.jsonl\n    name: second\n"
    )
    code, stdout, _ = prepare(capsys, tmp_path / "mix.yaml", tok_dir, tmp_path / "out")
    assert code == 0, stdout
    code, stdout, _ = run(capsys, "stats", tmp_path / "out")
    assert code == 0
    lines = stdout.splitlines()
    start = lines.index("sources:")
    table = [line.split()[:7] for line in lines[start + 1 : start + 4]]
    assert table == [
        ["source", "format", "amount", "read", "selected", "out", "rejected"],
        ["first", "messages", "every", "row", "4", "4", "4"],
        ["second", "messages", "every", "row", "3", "3", "2"],
    ]
    assert any(line.strip().startswith("second: rejected") for line in lines)
