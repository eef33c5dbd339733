"""The whole prepare run: inputs of any format -> a folder datasets and TRL read."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import orjson
import pytest

from dataprep.canonical import Conversation, Message
from dataprep.errors import UsageError
from dataprep.formats import FORMATS
from dataprep.prepare import pipeline
from dataprep.prepare.encode.encoder import Encoder
from dataprep.prepare.encode.lengths import IGNORE
from dataprep.prepare.encode.workers import Worker, content_key
from dataprep.prepare.output import read_split, split_folders
from dataprep.prepare.pipeline import NothingLeft, PrepareOptions, prepare


@pytest.fixture(scope="module")
def tokenizer(tok_dir):
    from dataprep.prepare.template.choice import load_tokenizer

    return load_tokenizer(tok_dir)


def chat(i, turns=1, system=None):
    messages = [{"role": "system", "content": system}] if system else []
    for t in range(turns):
        messages.append(
            {"role": "user", "content": f"question {i} turn {t} about the weather in paris"}
        )
        messages.append(
            {"role": "assistant", "content": f"answer {i}.{t}: sure, here is a short reply"}
        )
    return {"messages": messages}


def write_jsonl(path, rows):
    with open(path, "wb") as f:
        for row in rows:
            f.write(row if isinstance(row, bytes) else orjson.dumps(row))
            f.write(b"\n")
    return str(path)


def run(tmp_path, inputs, tok_dir, name="out", **kw):
    kw.setdefault("max_length", 256)
    options = PrepareOptions(
        inputs=list(inputs), tokenizer=tok_dir, output=str(tmp_path / name), **kw
    )
    return prepare(options)


def data_files(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(Path(folder).rglob("*.arrow"))
    }


def documents(folder, split="train"):
    """The documents of a prepared split: rows cut at seq_lengths (or whole rows)."""
    table = read_split(split_folders(folder)[split]).to_pydict()
    out = []
    for i, ids in enumerate(table["input_ids"]):
        labels = table["labels"][i]
        cuts = np.cumsum([0, *table.get("seq_lengths", [[len(ids)]] * len(table["input_ids"]))[i]])
        out += [(tuple(ids[a:b]), tuple(labels[a:b])) for a, b in itertools.pairwise(cuts)]
    return out


# --- what comes out ----------------------------------------------------------------------


@pytest.mark.parametrize("pack", [True, False])
def test_sft_output_is_what_the_encoder_gives_packed_or_not(tmp_path, tok_dir, tokenizer, pack):
    import datasets

    from dataprep.prepare.encode.encoder import Encoder
    from dataprep.prepare.template.choice import resolve_template

    rows = [chat(i, turns=1 + i % 3, system="be brief" if i % 4 == 0 else None) for i in range(40)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    result = run(tmp_path, [src], tok_dir, pack=pack)
    out = tmp_path / "out"

    ds = datasets.load_from_disk(str(out))
    expected_columns = ["input_ids", "labels", "seq_lengths"] if pack else ["input_ids", "labels"]
    assert ds.column_names == expected_columns
    if pack:
        assert all(
            sum(s) == len(ids) for s, ids in zip(ds["seq_lengths"], ds["input_ids"], strict=True)
        )
        assert all(len(ids) <= 256 for ids in ds["input_ids"])
        assert len(ds) < 40
    else:
        assert len(ds) == 40

    encoder = Encoder(tokenizer, resolve_template(tokenizer, None))
    convs = [FORMATS["messages"].to_canonical(r) for r in rows]
    want = [
        (tuple(e.input_ids.tolist()), tuple(e.labels.tolist())) for e in encoder.encode_sft(convs)
    ]
    got = documents(out)
    if pack:
        assert sorted(got) == sorted(want)
    else:
        assert got == want  # unpacked rows keep the input order

    m = result.manifest
    assert m["kind"] == "sft" and m["packing"] is pack and m["mask"] == "assistant"
    assert m["counts"]["rows_in"] == m["counts"]["rows_out"] == 40
    assert m["tokens"]["total"] == sum(len(ids) for ids, _ in want)
    assert m["tokens"]["trainable"] == sum(
        sum(1 for x in lab[1:] if x != IGNORE) for _, lab in want
    )
    assert m["inputs"][0]["format"] == "messages" and m["inputs"][0]["formats"] == {"messages": 40}
    assert m["chat_template"]["has_generation"] is True
    assert (out / "rejects.jsonl").read_bytes() == b""


def test_manifest_holds_the_contract_fields(tmp_path, tok_dir):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(i) for i in range(5)])
    run(tmp_path, [src], tok_dir)
    m = json.loads((tmp_path / "out" / "dataprep.json").read_text())
    for key in (
        "fingerprint", "inputs", "tokenizer", "chat_template", "mask", "max_length", "length_policy",
        "packing", "kind", "eval_fraction", "seed", "dataprep_version", "counts", "tokens",
        "packing_efficiency", "notes",
    ):  # fmt: skip
        assert key in m, key
    import hashlib

    assert m["inputs"][0]["sha256"] == hashlib.sha256(Path(src).read_bytes()).hexdigest()
    assert set(m["tokenizer"]["files"]) >= {"tokenizer.json", "tokenizer_config.json"}
    assert m["tokens"]["document_length"]["max"] <= m["max_length"]


def test_any_input_format_is_converted_first(tmp_path, tok_dir):
    messages = write_jsonl(tmp_path / "m.jsonl", [chat(0, turns=2)])
    sharegpt = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {
                "conversations": [
                    {"from": "human", "value": "hi there"},
                    {"from": "gpt", "value": "hello"},
                ]
            }
        ],
    )
    alpaca = write_jsonl(
        tmp_path / "a.jsonl", [{"instruction": "add 2 and 2", "input": "", "output": "4"}]
    )
    result = run(tmp_path, [messages, sharegpt, alpaca], tok_dir)
    assert [i["format"] for i in result.manifest["inputs"]] == ["messages", "sharegpt", "alpaca"]
    assert result.manifest["counts"]["rows_out"] == 3


# --- rejects -----------------------------------------------------------------------------


def test_every_rejected_row_is_counted_with_its_line_and_reason(tmp_path, tok_dir):
    long_row = chat(99, turns=40)
    rows = [
        chat(0),
        b'{"messages": [oops',  # line 2: not JSON
        {"question": "what format is this?"},  # line 3: no format fits
        long_row,  # line 4: too long for 256
        {"prompt": "a", "chosen": "b", "rejected": "c"},  # line 5: a pair in SFT data
        {"messages": [{"role": "user", "content": "only a question"}]},  # line 6: validate fails it
        {  # line 7: nothing to train
            "messages": [
                {"role": "user", "content": "a question"},
                {"role": "assistant", "content": "not this", "train": False},
            ]
        },
        chat(1),
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    result = run(tmp_path, [src], tok_dir)
    counts = result.manifest["counts"]
    assert counts["rows_in"] == 8 and counts["rows_out"] == 2 and counts["rows_rejected"] == 6
    rejects = [
        json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    ]
    assert [(r["source"], r["line"]) for r in rejects] == [(src, n) for n in (2, 3, 4, 5, 6, 7)]
    codes = [r["code"] for r in rejects]
    assert codes[0] == "invalid-json" and codes[1] == "unknown-format" and codes[2] == "too-long"
    assert codes[3] == "wrong-kind"
    assert codes[4] == "no-final-assistant"
    assert codes[5] == "no-trained-token"
    assert rejects[2]["row"] == long_row
    assert sum(counts["rejected"].values()) == 6


@pytest.mark.parametrize(
    ("overlong", "rows_out", "check"),
    [
        ("drop", 1, lambda m: m["counts"]["rejected"] == {"too-long": 1}),
        ("truncate", 2, lambda m: m["counts"]["truncated"] == 1),
        ("split", 2, lambda m: m["counts"]["split"] == 1 and m["splits"]["train"]["documents"] > 2),
    ],
)
def test_length_policies(tmp_path, tok_dir, overlong, rows_out, check):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0), chat(1, turns=30)])
    result = run(tmp_path, [src], tok_dir, max_length=128, overlong=overlong)
    m = result.manifest
    assert m["counts"]["rows_out"] == rows_out and check(m)
    for ids, labels in documents(tmp_path / "out"):
        assert len(ids) <= 128
        assert any(x != IGNORE for x in labels[1:])


def test_nothing_left_is_an_error_and_writes_nothing(tmp_path, tok_dir):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0, turns=30), {"question": "?"}])
    with pytest.raises(
        NothingLeft, match=r"all 2 rows were rejected \(1 too-long, 1 unknown-format\)"
    ) as info:
        run(tmp_path, [src], tok_dir, max_length=64)
    assert info.value.exit_code == 1
    assert info.value.result.manifest["counts"]["rows_rejected"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


# --- determinism, cache, atomicity --------------------------------------------------------


def test_same_inputs_give_byte_identical_files_whatever_the_processes(tmp_path, tok_dir):
    rows = [chat(i, turns=1 + i % 5) for i in range(300)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    run(tmp_path, [src], tok_dir, name="a", eval_fraction=0.2)
    first = data_files(tmp_path / "a")
    run(tmp_path, [src], tok_dir, name="a", eval_fraction=0.2, force=True)
    assert data_files(tmp_path / "a") == first
    run(tmp_path, [src], tok_dir, name="b", eval_fraction=0.2, num_proc=2)
    assert data_files(tmp_path / "b") == first
    for name in ("state.json", "dataset_info.json"):
        assert (tmp_path / "a" / "train" / name).read_bytes() == (
            tmp_path / "b" / "train" / name
        ).read_bytes()


def written(folder):
    """What a rewrite of the files under ``folder`` changes (a rename: a new inode)."""
    stats = {p: p.stat() for p in Path(folder).rglob("*") if p.is_file()}
    return {p: (s.st_ino, s.st_mtime_ns, s.st_size) for p, s in stats.items()}


def test_second_run_is_a_cache_hit(tmp_path, tok_dir, monkeypatch):
    # A cache hit encodes nothing and writes nothing (how fast it is,
    # ``benchmarks/bench_timings.py`` measures).
    src = write_jsonl(tmp_path / "in.jsonl", [chat(i) for i in range(20)])
    first = run(tmp_path, [src], tok_dir)
    files = written(tmp_path / "out")
    encoded = []
    encode_sft = Encoder.encode_sft
    monkeypatch.setattr(
        Encoder,
        "encode_sft",
        lambda self, rows: encoded.append(len(rows)) or encode_sft(self, rows),
    )
    second = run(tmp_path, [src], tok_dir)
    assert second.cached and encoded == []
    assert second.manifest["fingerprint"] == first.manifest["fingerprint"]
    assert written(tmp_path / "out") == files
    # The counter sees a rebuild.
    assert not run(tmp_path, [src], tok_dir, force=True).cached
    assert sum(encoded) >= 20


def _change_data(tmp_path, src, tok_dir):
    Path(src).write_bytes(Path(src).read_bytes().replace(b"paris", b"tokyo"))
    return {}


def _change_tokenizer(tmp_path, src, tok_dir):
    cfg = Path(tok_dir) / "tokenizer_config.json"
    data = json.loads(cfg.read_text())
    data["model_max_length"] = 12345
    cfg.write_text(json.dumps(data))
    return {}


def _change_template(tmp_path, src, tok_dir):
    from dataprep.prepare.template.choice import builtin_template

    path = tmp_path / "t.jinja"
    path.write_text(builtin_template("chatml").source)
    return {"chat_template": str(path)}


@pytest.mark.parametrize(
    "change",
    [
        _change_data,
        _change_tokenizer,
        _change_template,
        lambda *_: {"max_length": 300},
        lambda *_: {"mask": "last"},
        lambda *_: {"pack": False},
        lambda *_: {"system": "hello"},
        lambda *_: {"eval_fraction": 0.1},
        lambda *_: {"seed": 1},
        lambda *_: {"dedup": True},
        lambda *_: {"overlong": "truncate"},
        lambda *_: {"fields": ["messages=messages"]},
        lambda *_: {"accept": ["empty-content"]},
    ],
)
def test_any_change_of_data_tokenizer_template_or_option_makes_a_new_fingerprint(
    tmp_path, tok_dir, change
):
    import shutil

    tok = shutil.copytree(tok_dir, tmp_path / "tok")
    src = write_jsonl(tmp_path / "in.jsonl", [chat(i) for i in range(6)])
    first = run(tmp_path, [src], str(tok))
    extra = change(tmp_path, src, str(tok))
    second = run(tmp_path, [src], str(tok), **extra)
    assert not second.cached
    assert second.manifest["fingerprint"] != first.manifest["fingerprint"]


def test_num_proc_is_not_part_of_the_fingerprint(tmp_path, tok_dir):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(i) for i in range(6)])
    run(tmp_path, [src], tok_dir)
    assert run(tmp_path, [src], tok_dir, num_proc=2).cached


@pytest.mark.parametrize("step", ["pack_best_fit_decreasing", "write_dataset_dict", "Worker.run"])
def test_interrupted_run_leaves_no_folder_and_keeps_the_previous_one(
    tmp_path, tok_dir, monkeypatch, step
):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(i) for i in range(6)])
    run(tmp_path, [src], tok_dir, name="kept")
    before = data_files(tmp_path / "kept")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    target = Worker if step == "Worker.run" else pipeline
    monkeypatch.setattr(target, step.split(".")[-1], interrupt)
    for name in ("fresh", "kept"):
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path, [src], tok_dir, name=name, eval_fraction=0.5, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "kept"]
    assert data_files(tmp_path / "kept") == before


def test_refuses_to_overwrite_a_folder_that_is_not_a_prepare_output(tmp_path, tok_dir):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0)])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    with pytest.raises(UsageError, match="refusing to overwrite"):
        run(tmp_path, [src], tok_dir)
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"


# --- eval split and dedup ----------------------------------------------------------------


def test_eval_split_is_deterministic_and_keeps_duplicates_together(tmp_path, tok_dir):
    import datasets

    rows = [chat(i % 50) for i in range(200)]  # every row four times
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    m = run(tmp_path, [src], tok_dir, eval_fraction=0.3, pack=False).manifest
    loaded = datasets.load_from_disk(str(tmp_path / "out"))
    assert isinstance(loaded, datasets.DatasetDict) and set(loaded) == {"train", "eval"}
    train = {tuple(x) for x in loaded["train"]["input_ids"]}
    evals = {tuple(x) for x in loaded["eval"]["input_ids"]}
    assert train and evals and not train & evals
    assert len(loaded["train"]) + len(loaded["eval"]) == 200
    assert 0.1 < m["splits"]["eval"]["documents"] / 200 < 0.5
    other_seed = run(tmp_path, [src], tok_dir, name="s1", eval_fraction=0.3, pack=False, seed=1)
    assert other_seed.manifest["splits"]["eval"]["documents"] != m["splits"]["eval"][
        "documents"
    ] or (data_files(tmp_path / "s1") != data_files(tmp_path / "out"))


def test_dedup_removes_exact_duplicates_across_files_and_formats(tmp_path, tok_dir):
    a = write_jsonl(tmp_path / "a.jsonl", [chat(0), chat(1), chat(0)])
    b = write_jsonl(
        tmp_path / "b.jsonl",
        [
            {
                "conversations": [
                    {"from": "human", "value": chat(1)["messages"][0]["content"]},
                    {"from": "gpt", "value": chat(1)["messages"][1]["content"]},
                ]
            }
        ],
    )
    m = run(tmp_path, [a, b], tok_dir, dedup=True).manifest
    assert m["counts"]["deduplicated"] == 2 and m["counts"]["rows_out"] == 2
    rejects = [
        json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    ]
    assert [(r["source"], r["line"], r["code"]) for r in rejects] == [
        (a, 3, "duplicate"),
        (b, 1, "duplicate"),
    ]
    assert rejects[0]["message"] == f"exact duplicate of {a}:1"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (Conversation([Message("user", "hi"), Message("assistant", "yo")]),
         Conversation([Message("user", "hi"), Message("assistant", "yo")], extra={"id": 7}), True),
        (Conversation([Message("user", "hi"), Message("assistant", "yo")]),
         Conversation([Message("user", "hi"), Message("assistant", "yo!")]), False),
        (Conversation([Message("user", "hi"), Message("assistant", "yo")]),
         Conversation([Message("user", "hi"), Message("assistant", "yo", train=False)]), False),
    ],
)  # fmt: skip
def test_content_key_is_about_content_not_metadata(a, b, same):
    assert (content_key(a) == content_key(b)) is same


# --- kinds, masks, mapping ---------------------------------------------------------------


def test_preference_input_becomes_dpo_columns_unpacked(tmp_path, tok_dir, tokenizer):
    import datasets

    rows = [
        {
            "prompt": [{"role": "user", "content": f"question {i} about paris"}],
            "chosen": [{"role": "assistant", "content": "sure, here is a short reply"}],
            "rejected": [{"role": "assistant", "content": "no"}],
        }
        for i in range(5)
    ]
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    m = run(tmp_path, [src], tok_dir).manifest
    assert m["kind"] == "dpo" and m["packing"] is False
    ds = datasets.load_from_disk(str(tmp_path / "out"))
    assert ds.column_names == ["prompt_ids", "chosen_ids", "rejected_ids"] and len(ds) == 5
    assert tokenizer.decode(ds[0]["prompt_ids"]).endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(ds[0]["chosen_ids"]).startswith("sure, here is a short reply")
    stored = sum(len(r[c]) for r in ds for c in ("prompt_ids", "chosen_ids", "rejected_ids"))
    assert m["tokens"]["total"] == stored
    assert m["tokens"]["trainable"] == sum(
        len(r["chosen_ids"]) + len(r["rejected_ids"]) for r in ds
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "dpo", "pack": True}, "DPO rows are never packed"),
        ({"kind": "dpo", "overlong": "split"}, "a preference pair cannot be split"),
        ({"max_length": 1}, "at least 2"),
        ({"eval_fraction": 1.0}, "eval-fraction"),
        ({"fields": ["bogus=x"]}, "not a field of any format"),
    ],
)
def test_usage_errors_come_before_any_work(tmp_path, tok_dir, options, message):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0)])
    with pytest.raises(UsageError, match=message):
        run(tmp_path, [src], tok_dir, **options)
    assert not (tmp_path / "out").exists()


def test_mixed_sft_and_preference_inputs_need_a_kind(tmp_path, tok_dir):
    sft = write_jsonl(tmp_path / "s.jsonl", [chat(0)])
    pref = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a", "chosen": "b", "rejected": "c"}])
    with pytest.raises(UsageError, match="mix SFT and preference data"):
        run(tmp_path, [sft, pref], tok_dir)
    m = run(tmp_path, [sft, pref], tok_dir, kind="sft").manifest
    assert m["counts"]["rejected"] == {"wrong-kind": 1}


def test_prompt_completion_input_trains_the_completion_by_default(tmp_path, tok_dir, tokenizer):
    rows = [
        {
            "prompt": [{"role": "user", "content": "question about paris"}],
            "completion": [{"role": "assistant", "content": "sure, here is a short reply"}],
        }
    ]
    src = write_jsonl(tmp_path / "pc.jsonl", rows)
    m = run(tmp_path, [src], tok_dir).manifest
    assert m["mask"] == "completion" and m["inputs"][0]["mask"] == "completion"
    [(ids, labels)] = documents(tmp_path / "out")
    trained = [i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE]
    assert tokenizer.decode(trained).startswith("sure, here is a short reply")


def test_field_and_role_mapping(tmp_path, tok_dir):
    rows = [
        {"dialog": [{"speaker": "human", "text": "hi there"}, {"speaker": "bot", "text": "hello"}]}
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    m = run(
        tmp_path,
        [src],
        tok_dir,
        fields=["messages=dialog", "role=speaker", "content=text"],
        roles=["bot=assistant", "human=user"],
    ).manifest
    assert m["counts"]["rows_out"] == 1 and m["inputs"][0]["format"] == "messages"


def test_system_prompt_is_added_where_missing(tmp_path, tok_dir, tokenizer):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0)])
    run(tmp_path, [src], tok_dir, system="you are terse", pack=False)
    [(ids, _)] = documents(tmp_path / "out")
    assert tokenizer.decode(ids).startswith("<|im_start|>system\nyou are terse<|im_end|>")
