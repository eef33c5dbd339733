"""``prepare`` of KTO data, in every shape it comes in: the columns TRL 1.16's
KTOTrainer reads (prompt_ids, completion_ids without the prompt, a boolean label),
tokenized as the tokenizer's own chat template tokenizes them, and refused as any other
kind with a message that names ``--kind kto``."""

from __future__ import annotations

import json

import orjson
import pytest

from dataprep.errors import UsageError
from dataprep.prepare.pipeline import NothingLeft, PrepareOptions, prepare


@pytest.fixture(scope="module")
def tokenizer(tok_dir):
    from dataprep.prepare.template.choice import load_transformers_tokenizer

    return load_transformers_tokenizer(tok_dir)  # the oracle: transformers' own API


def write_jsonl(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def run(tmp_path, inputs, tok_dir, name="out", **kw):
    kw.setdefault("max_length", 256)
    return prepare(
        PrepareOptions(inputs=list(inputs), tokenizer=tok_dir, output=str(tmp_path / name), **kw)
    )


def msg(role, content):
    return {"role": role, "content": content}


def turn(source, value):
    return {"from": source, "value": value}


# (row, label, the prompt and completion as messages: what TRL's own tokenization is given)
SHAPES = [
    (
        {
            "messages": [msg("user", "what is two plus two"), msg("assistant", "it is four")],
            "label": True,
        },
        True,
        [msg("user", "what is two plus two")],
        [msg("assistant", "it is four")],
    ),
    (
        {
            "messages": [
                msg("system", "be brief"),
                msg("user", "what is two plus two"),
                msg("assistant", "four"),
                msg("user", "and three plus three"),
                msg("assistant", "it is seven"),
            ],
            "label": False,
        },
        False,
        [
            msg("system", "be brief"),
            msg("user", "what is two plus two"),
            msg("assistant", "four"),
            msg("user", "and three plus three"),
        ],
        [msg("assistant", "it is seven")],
    ),
    (
        {"conversations": [turn("human", "name a colour"), turn("gpt", "blue")], "kto_tag": True},
        True,
        [msg("user", "name a colour")],
        [msg("assistant", "blue")],
    ),
    (
        {
            "prompt": [msg("user", "name a fruit")],
            "completion": [msg("assistant", "a chair")],
            "label": False,
        },
        False,
        [msg("user", "name a fruit")],
        [msg("assistant", "a chair")],
    ),
    (
        {"instruction": "name a city in france", "output": "paris", "kto_tag": True},
        True,
        [msg("user", "name a city in france")],
        [msg("assistant", "paris")],
    ),
]


def test_every_shape_gives_the_columns_trl_reads(tmp_path, tok_dir, tokenizer):
    import datasets

    src = write_jsonl(tmp_path / "kto.jsonl", [row for row, *_ in SHAPES])
    manifest = run(tmp_path, [src], tok_dir).manifest  # the kind comes from the data
    ds = datasets.load_from_disk(str(tmp_path / "out"))
    assert ds.column_names == ["prompt_ids", "completion_ids", "label"]
    assert str(ds.features["label"].dtype) == "bool"
    assert len(ds) == len(SHAPES)
    for got, (_, label, prompt, completion) in zip(ds, SHAPES, strict=True):
        assert got["label"] is label
        # What KTOTrainer's own tokenization makes of the same prompt and completion:
        # the prompt with the generation prompt, and the rest of the whole conversation.
        prompt_ids = tokenizer.apply_chat_template(
            prompt, add_generation_prompt=True, tokenize=True
        )
        full_ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True)
        prompt_ids = list(getattr(prompt_ids, "input_ids", prompt_ids))
        full_ids = list(getattr(full_ids, "input_ids", full_ids))
        assert full_ids[: len(prompt_ids)] == prompt_ids
        assert got["prompt_ids"] == prompt_ids
        assert got["completion_ids"] == full_ids[len(prompt_ids) :]
        # The completion is the last assistant turn and its end-of-turn, nothing else.
        answer = completion[0]["content"]
        assert tokenizer.decode(got["completion_ids"]).startswith(answer + "<|im_end|>")
        assert answer not in tokenizer.decode(got["prompt_ids"])
    assert manifest["kind"] == "kto" and manifest["packing"] is False and manifest["mask"] is None
    assert manifest["columns"] == ["prompt_ids", "completion_ids", "label"]
    desirable = sum(label for _, label, *_ in SHAPES)
    assert manifest["labels"] == {"desirable": desirable, "undesirable": len(SHAPES) - desirable}
    assert manifest["tokens"]["total"] == sum(
        len(r["prompt_ids"]) + len(r["completion_ids"]) for r in ds
    )
    assert manifest["tokens"]["trainable"] == sum(len(r["completion_ids"]) for r in ds)


def test_bad_labels_are_rejected_with_their_line(tmp_path, tok_dir):
    good = {"messages": [msg("user", "q"), msg("assistant", "a")], "label": True}
    rows = [
        good,
        {**good, "label": "true"},  # line 2
        {**good, "label": 1},  # line 3
        {"messages": [msg("user", "q")], "label": False},  # line 4: nothing to judge
        good,
    ]
    src = write_jsonl(tmp_path / "kto.jsonl", rows)
    result = run(tmp_path, [src], tok_dir)
    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    # prepare rejects a row with the code validate gives it: the schema's, naming `label`
    assert [(r["line"], r["code"]) for r in rejects] == [
        (2, "schema"),
        (3, "schema"),
        (4, "no-final-assistant"),
    ]
    assert all("label" in r["message"] for r in rejects[:2])
    assert result.manifest["labels"] == {"desirable": 2, "undesirable": 0}


@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_kto_data_as_another_kind_is_refused_naming_kind_kto(tmp_path, tok_dir, kind):
    src = write_jsonl(tmp_path / "kto.jsonl", [row for row, *_ in SHAPES])
    with pytest.raises(NothingLeft) as info:
        run(tmp_path, [src], tok_dir, kind=kind)
    shown = info.value.result.rejects_shown
    assert len(shown) == len(SHAPES)
    assert shown[0]["message"].startswith("a KTO example (kto row) is not ")
    assert all(s["code"] == "wrong-kind" for s in shown)
    assert all(s["message"].endswith("; prepare it with --kind kto") for s in shown)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"messages": [msg("user", "q"), msg("assistant", "a")]}, "prepare it with --kind sft"),
        ({"prompt": "q", "chosen": "a", "rejected": "b"}, "prepare it with --kind dpo"),
    ],
)
def test_other_data_as_kto_is_refused(tmp_path, tok_dir, row, message):
    src = write_jsonl(tmp_path / "in.jsonl", [row])
    with pytest.raises(NothingLeft) as info:
        run(tmp_path, [src], tok_dir, kind="kto")
    [shown] = info.value.result.rejects_shown
    assert "is not a KTO example" in shown["message"] and shown["message"].endswith(message)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "kto", "pack": True}, "--pack applies to SFT only: KTO rows are never packed"),
        (
            {"kind": "kto", "overlong": "split"},
            "--overlong split applies to SFT only: a KTO example cannot be split",
        ),
        ({"pack": True}, "--pack applies to SFT only: KTO rows are never packed"),
    ],
)
def test_usage_errors(tmp_path, tok_dir, options, message):
    src = write_jsonl(tmp_path / "kto.jsonl", [row for row, *_ in SHAPES])
    with pytest.raises(UsageError) as info:
        run(tmp_path, [src], tok_dir, **options)
    assert str(info.value) == message


def test_kto_and_sft_inputs_together_need_a_kind(tmp_path, tok_dir):
    kto = write_jsonl(tmp_path / "k.jsonl", [row for row, *_ in SHAPES])
    sft = write_jsonl(
        tmp_path / "s.jsonl", [{"messages": [msg("user", "q"), msg("assistant", "a")]}]
    )
    with pytest.raises(UsageError) as info:
        run(tmp_path, [sft, kto], tok_dir)
    assert str(info.value) == (
        f"the inputs mix SFT and KTO data ({sft}: sft, {kto}: kto); pass --kind sft or --kind kto"
    )


def test_truncate_keeps_the_end_of_the_prompt(tmp_path, tok_dir, tokenizer):
    import datasets

    long_question = " ".join(f"word{i}" for i in range(200))
    row = {
        "messages": [msg("user", long_question), msg("assistant", "short answer")],
        "label": True,
    }
    src = write_jsonl(tmp_path / "kto.jsonl", [row])
    with pytest.raises(NothingLeft):
        run(tmp_path, [src], tok_dir, max_length=64)
    m = run(tmp_path, [src], tok_dir, name="cut", max_length=64, overlong="truncate").manifest
    assert m["counts"]["truncated"] == 1
    [got] = datasets.load_from_disk(str(tmp_path / "cut"))
    assert len(got["prompt_ids"]) + len(got["completion_ids"]) <= 64
    assert tokenizer.decode(got["prompt_ids"]).endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(got["completion_ids"]).startswith("short answer")


def test_eval_split_counts_labels_per_split(tmp_path, tok_dir):
    rows = [
        {
            "messages": [msg("user", f"question {i}"), msg("assistant", f"answer {i}")],
            "label": i % 3 > 0,
        }
        for i in range(60)
    ]
    src = write_jsonl(tmp_path / "kto.jsonl", rows)
    m = run(tmp_path, [src], tok_dir, eval_fraction=0.25).manifest
    splits = m["splits"]
    assert splits["eval"]["rows"] > 0
    assert sum(s["desirable"] + s["undesirable"] for s in splits.values()) == 60
    assert sum(s["desirable"] for s in splits.values()) == m["labels"]["desirable"] == 40


def test_the_summary_shows_the_labels(tmp_path, tok_dir):
    from dataprep.cli.prepare import summary

    src = write_jsonl(tmp_path / "kto.jsonl", [row for row, *_ in SHAPES])
    manifest = run(tmp_path, [src], tok_dir).manifest
    lines = summary(manifest, "out").splitlines()
    assert lines[0] == "prepared out (kto, max length 256)"
    assert any(line.split() == ["labels", "3", "desirable,", "2", "undesirable"] for line in lines)
