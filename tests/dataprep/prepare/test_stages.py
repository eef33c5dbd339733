"""Each stage of ``prepare`` called alone: plan the inputs -> encode -> pack and write ->
the manifest; and the check that every row read is written or rejected."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from dataprep.contract import KTO_COLUMNS, PACKED_COLUMNS, SFT_COLUMNS, Counts
from dataprep.errors import InternalError, UsageError
from dataprep.prepare import pipeline
from dataprep.prepare.identity import hash_input, tokenizer_identity
from dataprep.prepare.options import PrepareOptions
from dataprep.prepare.output import read_split


def chat(i: int) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"question {i} about the weather in paris"},
            {"role": "assistant", "content": f"answer {i}: sure, here is a short reply"},
        ]
    }


def kto(i: int) -> dict:
    return {
        "prompt": [{"role": "user", "content": f"question {i}"}],
        "completion": [{"role": "assistant", "content": f"answer {i}"}],
        "label": i % 2 == 0,
    }


def pair(i: int) -> dict:
    return {
        "prompt": [{"role": "user", "content": f"question {i}"}],
        "chosen": [{"role": "assistant", "content": f"good answer {i}"}],
        "rejected": [{"role": "assistant", "content": f"bad answer {i}"}],
    }


def completion(i: int) -> dict:
    return {"prompt": f"question {i}", "completion": f"answer {i}"}


def write(path: Path, lines: list) -> str:
    path.write_bytes(
        b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    )
    return str(path)


def planned(tmp_path, tok_dir, lines, **kw):
    kw.setdefault("max_length", 256)
    options = PrepareOptions(
        inputs=[write(tmp_path / "in.jsonl", lines)],
        tokenizer=tok_dir,
        output=str(tmp_path / "out"),
        **kw,
    )
    inputs = [hash_input(p, p) for p in options.inputs]
    return options, inputs, pipeline.plan_inputs(options, inputs, tokenizer_identity(tok_dir))


# name -> (rows, options, (kind, pack, columns, masks, splits))
PLANS = {
    "chats-are-packed-sft": (
        [chat(0)],
        {},
        ("sft", True, SFT_COLUMNS, ["assistant"], ["train"]),
    ),
    "prompt-completion-trains-the-completion": (
        [completion(0)],
        {"pack": False},
        ("sft", False, SFT_COLUMNS, ["completion"], ["train"]),
    ),
    "kto-from-the-data-never-packed": (
        [kto(0)],
        {"eval_fraction": 0.5},
        ("kto", False, KTO_COLUMNS, ["assistant"], ["train", "eval"]),
    ),
    "mask-given": (
        [chat(0)],
        {"mask": "last"},
        ("sft", True, SFT_COLUMNS, ["last"], ["train"]),
    ),
}


@pytest.mark.parametrize(("rows", "kw", "expected"), PLANS.values(), ids=PLANS.keys())
def test_plan_inputs_decides_kind_packing_masks_and_splits(tmp_path, tok_dir, rows, kw, expected):
    _, _, plan = planned(tmp_path, tok_dir, rows, **kw)
    got = (plan.kind, plan.pack, plan.columns, [p.mask for p in plan.inputs], plan.splits)
    assert got == expected
    assert plan.tokenizer_id["vocab_size"] == len(plan.tokenizer)
    assert not (tmp_path / "out").exists()  # nothing is written before the rows


@pytest.mark.parametrize(
    ("rows", "kw", "message"),
    [
        ([pair(0)], {"pack": True}, "--pack applies to SFT only: DPO rows are never packed"),
        ([kto(0)], {"overlong": "split"}, "--overlong split applies to SFT only"),
    ],
)
def test_plan_inputs_refuses_what_the_kind_cannot_do(tmp_path, tok_dir, rows, kw, message):
    with pytest.raises(UsageError, match=message):
        planned(tmp_path, tok_dir, rows, **kw)


def test_encode_counts_rejects_and_spills(tmp_path, tok_dir):
    lines = [chat(0), chat(1), b"{not json", chat(0), {"messages": []}]
    options, inputs, plan = planned(tmp_path, tok_dir, lines, dedup=True)
    folder = tmp_path / "work"
    folder.mkdir()
    seen = []
    encoded = pipeline.encode(options, inputs, plan, folder, seen.append)
    counts = encoded.counts
    assert (counts["rows_in"], counts["rows_out"], counts["deduplicated"]) == (5, 2, 1)
    assert sum(encoded.reasons.values()) == 3 and encoded.reasons["duplicate"] == 1
    assert sum(seen) == 5
    rejects = [json.loads(x) for x in (folder / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["line"] for r in rejects) == [3, 4, 5]
    assert [s["line"] for s in encoded.shown] == [r["line"] for r in rejects]
    assert encoded.formats[0]["messages"] == 3  # the rows read as messages (duplicate too)


@pytest.mark.parametrize(("pack", "columns"), [(True, PACKED_COLUMNS), (False, SFT_COLUMNS)])
def test_pack_and_write_writes_every_document(tmp_path, tok_dir, pack, columns):
    options, inputs, plan = planned(tmp_path, tok_dir, [chat(i) for i in range(6)], pack=pack)
    folder = tmp_path / "work"
    folder.mkdir()
    encoded = pipeline.encode(options, inputs, plan, folder)
    written = pipeline.pack_and_write(options, plan, encoded, folder, "f" * 64)
    table = read_split(folder)
    assert tuple(table.column_names) == columns
    assert written.splits["train"].rows == table.num_rows
    assert written.splits["train"].documents == len(written.documents) == 6
    ids = table.column("input_ids").to_pylist()
    assert (
        sum(len(r) for r in ids) == written.splits["train"].tokens == int(written.documents.sum())
    )
    assert (table.num_rows < 6) is pack  # packed rows hold several documents
    assert not (folder / ".spill").exists()


def test_build_manifest_from_the_stages(tmp_path, tok_dir):
    options, inputs, plan = planned(tmp_path, tok_dir, [kto(i) for i in range(4)])
    folder = tmp_path / "work"
    folder.mkdir()
    encoded = pipeline.encode(options, inputs, plan, folder)
    written = pipeline.pack_and_write(options, plan, encoded, folder, "f" * 64)
    m = pipeline.build_manifest(options, inputs, plan, encoded, written, "f" * 64, 0.0)
    assert (m.kind, m.fingerprint, m.packing, m.columns) == ("kto", "f" * 64, False, KTO_COLUMNS)
    assert (m.counts.rows_in, m.counts.rows_out, m.counts.rows_rejected) == (4, 4, 0)
    assert (m.labels.desirable, m.labels.undesirable) == (2, 2)
    assert m.splits["train"].desirable == 2
    assert m.inputs[0].format == "kto" and m.inputs[0].formats == {"kto": 4}
    assert m.tokens.total == written.splits["train"].tokens
    assert m.chat_template is not None and m.tokenizer.vocab_size == len(plan.tokenizer)
    assert pipeline.Manifest.from_json(m.to_json()) == m


@pytest.mark.parametrize(
    ("rows_in", "rows_out", "rows_rejected", "broken"),
    [(5, 3, 2, False), (0, 0, 0, False), (5, 3, 1, True), (5, 5, 1, True)],
)
def test_check_counts_is_a_real_check(rows_in, rows_out, rows_rejected, broken):
    counts = Counts(rows_in=rows_in, rows_out=rows_out, rows_rejected=rows_rejected)
    if broken:
        with pytest.raises(InternalError, match="rows do not add up"):
            pipeline.check_counts(counts)
    else:
        pipeline.check_counts(counts)
