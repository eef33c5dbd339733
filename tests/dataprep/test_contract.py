"""The prepare -> train contract (``dataprep.contract``): the typed manifest reads every
manifest this project has written and writes back the same JSON, refuses a damaged one
by naming the entry, and stays light to import."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dataprep import contract
from dataprep.contract import (
    Manifest,
    ManifestDamaged,
    ManifestMissing,
    read_manifest,
    restore_added_tokens,
    vocab_sha256,
)
from dataprep.errors import PrepareError

# Manifests as dataprep prepare wrote them before the contract module existed (commit
# 75b55f9; paths shortened): KTO with an eval split, SFT with chatml and rejects.
WRITTEN = sorted((Path(__file__).parent / "data" / "manifests").glob("*.json"))


@pytest.mark.parametrize("path", WRITTEN, ids=lambda p: p.stem)
def test_a_manifest_as_written_round_trips_to_the_same_bytes(path):
    written = path.read_bytes()
    manifest = Manifest.from_json(json.loads(written))
    assert orjson.dumps(manifest.to_json(), option=orjson.OPT_INDENT_2) + b"\n" == written


def test_the_fixtures_are_both_kinds_and_shapes():
    # The round trip above covers what only some manifests hold: KTO labels and the
    # per-split desirable counts; a chat template's masks; rejected rows.
    kinds = {json.loads(p.read_text())["kind"] for p in WRITTEN}
    assert kinds == {"kto", "sft"}


def test_typed_fields_read_what_the_json_says():
    raw = json.loads((WRITTEN[0].parent / "kto.json").read_text())
    m = Manifest.from_json(raw)
    assert (m.kind, m.packing, m.max_length) == ("kto", False, 256)
    assert m.splits["eval"].desirable == raw["splits"]["eval"]["desirable"]
    assert m.labels.desirable == raw["labels"]["desirable"]
    assert m.counts.rows_in == raw["counts"]["rows_in"]
    assert m.tokenizer.vocab_sha256 == raw["tokenizer"]["vocab_sha256"]
    assert m.chat_template.masks.agreeing == raw["chat_template"]["masks"]["agreeing"]
    assert m.tokens.document_length.p90 == raw["tokens"]["document_length"]["p90"]


def oldest(raw: dict) -> dict:
    """The manifest as the first prepare wrote it (commit 19aa7f7): no accept, labels,
    template masks/thinking/kwargs, accepted/warned counts, vocabulary hash or added
    tokens."""
    raw = copy.deepcopy(raw)
    for key in ("accept", "labels"):
        raw.pop(key, None)
    for key in ("masks", "thinking", "template_kwargs"):
        raw["chat_template"].pop(key)
    for key in ("rows_accepted", "accepted", "rows_warned", "warnings"):
        raw["counts"].pop(key)
    for key in ("vocab_size", "vocab_sha256", "added_tokens"):
        raw["tokenizer"].pop(key)
    return raw


# name -> (manifest JSON, what the typed manifest says)
OLDER = {
    "first-prepare": (
        lambda sft: oldest(sft),
        lambda m: (m.kind, m.counts.rows_accepted, m.tokenizer.added_tokens, m.labels),
        ("sft", 0, (), None),
    ),
    "by-hand-in-train-tests": (
        lambda sft: {"kind": "sft", "tokenizer": {"name_or_path": "tok", "sha256": "ab"}},
        lambda m: (m.kind, m.packing, m.counts, m.tokenizer.sha256),
        ("sft", False, None, "ab"),
    ),
    "unknown-keys-ignored": (
        lambda sft: {**sft, "from_the_future": {"x": 1}, "counts": {**sft["counts"], "new": 2}},
        lambda m: (m.kind, m.counts.rows_in),
        ("sft", 9),
    ),
}


@pytest.mark.parametrize(("make", "read", "expected"), OLDER.values(), ids=OLDER.keys())
def test_older_and_newer_manifests_still_read(make, read, expected):
    sft = json.loads((WRITTEN[0].parent / "sft.json").read_text())
    assert read(Manifest.from_json(make(sft))) == expected


# name -> (change to a written manifest, the error's key, its message)
DAMAGED = {
    "no-tokenizer": (
        lambda m: m.pop("tokenizer"),
        "tokenizer",
        "no tokenizer entry, so the model's tokenizer cannot be checked against the data",
    ),
    "tokenizer-a-string": (
        lambda m: m.update(tokenizer="tiny"),
        "tokenizer",
        'tokenizer: expected an object, got "tiny"',
    ),
    "packing-a-string": (
        lambda m: m.update(packing="yes"),
        "packing",
        'packing: expected true or false, got "yes"',
    ),
    "kind-a-list": (
        lambda m: m.update(kind=["sft"]),
        "kind",
        'kind: expected a string, got ["sft"]',
    ),
    "rows-in-a-bool": (
        lambda m: m["counts"].update(rows_in=True),
        "counts.rows_in",
        "counts.rows_in: expected an integer, got true",
    ),
    "rows-out-missing": (
        lambda m: m["counts"].pop("rows_out"),
        "counts.rows_out",
        "no counts.rows_out entry",
    ),
    "split-rows-a-float": (
        lambda m: m["splits"]["train"].update(rows=1.5),
        "splits.train.rows",
        "splits.train.rows: expected an integer, got 1.5",
    ),
    "added-token-without-id": (
        lambda m: m["tokenizer"].update(added_tokens=[{"content": "<x>"}]),
        "tokenizer.added_tokens[0].id",
        "no tokenizer.added_tokens[0].id entry",
    ),
    "notes-not-a-list": (
        lambda m: m.update(notes="a note"),
        "notes",
        'notes: expected a list, got "a note"',
    ),
}


@pytest.mark.parametrize(("damage", "key", "message"), DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_manifest_names_the_entry(damage, key, message):
    raw = json.loads((WRITTEN[0].parent / "sft.json").read_text())
    damage(raw)
    with pytest.raises(ManifestDamaged) as info:
        Manifest.from_json(raw)
    assert (info.value.key, str(info.value)) == (key, message)


# name -> (what the folder holds, the error, its message after the folder)
FOLDERS = {
    "nothing": (None, ManifestMissing, ": not a prepared folder (no dataprep.json)"),
    "not-json": (b"{", ManifestDamaged, "/dataprep.json: unreadable manifest: "),
    "a-list": (b"[1]", ManifestDamaged, "/dataprep.json: the manifest is not a JSON object"),
    "no-tokenizer": (
        b'{"kind": "sft"}',
        ManifestDamaged,
        "/dataprep.json: no tokenizer entry, so the model's tokenizer cannot be checked "
        "against the data",
    ),
}


@pytest.mark.parametrize(("content", "error", "message"), FOLDERS.values(), ids=FOLDERS.keys())
def test_read_manifest_refuses_with_a_typed_error(tmp_path, content, error, message):
    if content is not None:
        (tmp_path / "dataprep.json").write_bytes(content)
    with pytest.raises(error) as info:
        read_manifest(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}{message}")


def test_read_manifest_reads_a_written_one(tmp_path):
    (tmp_path / "dataprep.json").write_bytes(WRITTEN[0].read_bytes())
    assert read_manifest(tmp_path).to_json() == json.loads(WRITTEN[0].read_bytes())


class Vocab:
    """What the hash and the added tokens need of a tokenizer."""

    def __init__(self, vocab: dict[str, int]):
        self.vocab = dict(vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def add_special_tokens(self, tokens) -> None:
        for t in tokens:
            self.vocab.setdefault(t.content, len(self.vocab))


def test_vocab_sha256_is_over_the_pairs_by_id():
    # The bytes the manifest's vocab_sha256 has always been taken over: [token, id] pairs
    # ordered by id, as compact JSON.
    expected = hashlib.sha256(b'[["b",0],["a",1]]').hexdigest()
    assert vocab_sha256(Vocab({"a": 1, "b": 0})) == expected
    assert vocab_sha256(Vocab({"a": 0, "b": 1})) != expected


@pytest.mark.parametrize(
    ("vocab", "recorded", "added"),
    [
        ({"a": 0}, [], 0),
        ({"a": 0}, [{"content": "<x>", "id": 1}], 1),
        ({"a": 0, "<x>": 1}, [{"content": "<x>", "id": 1}], 0),
        ({"a": 0}, [contract.AddedToken("<x>", 1), contract.AddedToken("<y>", 2)], 2),
    ],
)
def test_restore_added_tokens_adds_with_the_recorded_ids(vocab, recorded, added):
    tok = Vocab(vocab)
    assert restore_added_tokens(tok, recorded) == added


def test_restore_added_tokens_refuses_another_id():
    with pytest.raises(
        PrepareError, match="'<x>' added as token 5, but this tokenizer gives it id 1"
    ):
        restore_added_tokens(Vocab({"a": 0}), [{"content": "<x>", "id": 5}])


def test_the_contract_imports_nothing_heavy():
    code = (
        "import sys, dataprep.contract\n"
        "print(','.join(m for m in ('numpy', 'torch', 'transformers', 'tokenizers', 'datasets',"
        " 'pyarrow', 'click') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
