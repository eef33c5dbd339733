"""detect's proposals for unknown files: each must make the rows detect as its format."""

from __future__ import annotations

import pytest

from dataprep.detect import detect_rows, row_formats
from dataprep.formats.mapping import Mapping
from dataprep.formats.propose import propose
from dataprep.reading import Record

DIALOG = {"dialog": [{"speaker": "human", "text": "Hi"}, {"speaker": "bot", "text": "Hello!"}]}

# (rows, the best proposal's format, its --field map, its --role map)
CASES = [
    ([{"question": "2+2?", "answer": "4"}], "alpaca", {"instruction": "question", "output": "answer"}, {}),
    ([DIALOG], "messages", {"messages": "dialog", "role": "speaker", "content": "text"},
     {"human": "user", "bot": "assistant"}),
    ([{"messages": [{"author": "user", "body": "Hi"}, {"author": "model", "body": "Yo"}]}],
     "messages", {"role": "author", "content": "body"}, {"model": "assistant"}),
    ([{"question": "2+2?", "good": "4", "bad": "5"}], "preference",
     {"chosen": "good", "rejected": "bad", "prompt": "question"}, {}),
    ([{"body": "Once upon a time."}], "text", {"text": "body"}, {}),
]  # fmt: skip


@pytest.mark.parametrize(("rows", "name", "fields", "roles"), CASES)
def test_best_proposal_and_it_fits(rows, name, fields, roles):
    best = propose(rows)[0]
    assert (best.format, best.fields, best.roles) == (name, fields, roles)
    mapping = Mapping.from_specs(
        [f"{o}={y}" for o, y in best.fields.items()], [f"{y}={o}" for y, o in best.roles.items()]
    )
    assert all(row_formats(mapping.apply(r)) == (name,) for r in rows)
    assert all(row_formats(r) == () for r in rows)  # they did not fit before


def test_every_proposal_fits_and_none_leaves_the_answer_out():
    rows = [{"question": "2+2?", "answer": "4"}, {"question": "3+3?", "answer": "6"}]
    found = propose(rows)
    assert {p.format for p in found} == {"alpaca", "prompt-completion"}
    for p in found:
        mapping = Mapping(dict(p.fields), dict(p.roles))
        assert all(row_formats(mapping.apply(r)) == (p.format,) for r in rows)


@pytest.mark.parametrize("rows", [[{"n": 1}], [{"a": [1, 2]}], [{"flag": True}]])
def test_nothing_proposed_when_nothing_fits(rows):
    assert propose(rows) == []


def test_detect_reports_the_proposal_in_json_and_hint():
    records = [Record("d.jsonl", 1, DIALOG, None, None)]
    d = detect_rows(records)
    assert d.status == "unknown"
    assert d.proposals[0]["args"] == (
        "--field messages=dialog --field role=speaker --field content=text"
        " --role human=user --role bot=assistant"
    )
    assert d.hint == d.proposals[0]["args"]
    assert d.to_json()["proposals"] == d.proposals
