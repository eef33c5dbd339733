"""The manifest's ``sources`` record (issue 10): optional, so older manifests read; typed
entries; a round trip gives the same JSON; a mistyped entry is named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from dataprep.contract import Manifest, ManifestDamaged, SourceRecord

WRITTEN = sorted((Path(__file__).parent / "data" / "manifests").glob("*.json"))

SOURCE = {
    "name": "alpaca_en_demo",
    "path": "data/alpaca_en_demo.json",
    "format": "alpaca",
    "amount": "500 rows",
    "eval": False,
    "mask": "assistant",
    "rows_read": 999,
    "rows_selected": 500,
    "rows_out": 490,
    "rows_rejected": 10,
    "rejected": {"too-long": 9, "duplicate": 1},
    "tokens": 120345,
    "trainable_tokens": 100001,
    "share": 0.75,
    "token_share": 0.8,
}


def with_sources(*sources):
    raw = json.loads(WRITTEN[0].read_text())
    keys = list(raw)
    raw["sources"] = list(sources)
    # where prepare writes it: after inputs
    at = keys.index("inputs") + 1
    order = [*keys[:at], "sources", *keys[at:]]
    return {k: raw[k] for k in order}


@pytest.mark.parametrize("path", WRITTEN, ids=lambda p: p.stem)
def test_a_manifest_without_sources_reads_and_writes_none(path):
    raw = json.loads(path.read_text())
    manifest = Manifest.from_json(raw)
    assert manifest.sources is None
    assert "sources" not in manifest.to_json()


@pytest.mark.parametrize(
    "sources", [[SOURCE], [SOURCE, {**SOURCE, "name": "held", "eval": True, "rejected": {}}]]
)
def test_the_sources_record_round_trips(sources):
    raw = with_sources(*sources)
    manifest = Manifest.from_json(copy.deepcopy(raw))
    assert manifest.sources[0] == SourceRecord(**{**SOURCE})
    assert manifest.to_json() == raw
    assert list(manifest.to_json()) == list(raw)


@pytest.mark.parametrize(
    "key, value",
    [("rows_out", "490"), ("rejected", ["too-long"]), ("name", None), ("share", "75%")],
)
def test_a_mistyped_source_entry_is_named(key, value):
    raw = with_sources({**SOURCE, key: value})
    with pytest.raises(ManifestDamaged) as info:
        Manifest.from_json(raw)
    assert f"sources[0].{key}" in str(info.value) or info.value.key == f"sources[0].{key}"
