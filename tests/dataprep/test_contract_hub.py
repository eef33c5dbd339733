"""The manifest's record of an input read from the Hub (``InputRecord.hub``): optional, so
manifests written before it read; it round-trips through from_json/to_json."""

from __future__ import annotations

import pytest

from dataprep.contract import HubInput, InputRecord, ManifestDamaged

SHA = "0123456789abcdef0123456789abcdef01234567"
HUB = {"repo_id": "org/chat", "revision": SHA, "subset": "en", "split": "test", "path": "t.jsonl"}


@pytest.mark.parametrize(
    ("doc", "hub"),
    [
        ({"path": "a.jsonl", "sha256": "x"}, None),  # a local input, or an older manifest
        (
            {"path": f"hf://datasets/org/chat@{SHA}/t.jsonl", "hub": HUB},
            HubInput("org/chat", SHA, "en", "test", "t.jsonl"),
        ),
        (
            {"path": "p", "hub": {"repo_id": "org/chat", "revision": SHA}},
            HubInput("org/chat", SHA),
        ),
    ],
)
def test_input_record_hub_reads_and_round_trips(doc, hub):
    record = InputRecord.from_json(doc)
    assert record.hub == hub
    again = record.to_json()
    assert ("hub" in again) == (hub is not None)  # no "hub": null for local inputs
    assert InputRecord.from_json(again) == record


@pytest.mark.parametrize(
    ("hub", "key"),
    [({"revision": SHA}, "hub.repo_id"), ({"repo_id": "org/chat", "revision": 7}, "hub.revision")],
)
def test_a_damaged_hub_record_names_its_key(hub, key):
    with pytest.raises(ManifestDamaged) as caught:
        InputRecord.from_json({"path": "p", "hub": hub})
    assert caught.value.key == key
