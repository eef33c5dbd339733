"""KTO rows in every shape people bring: a boolean ``label`` (or LLaMA-Factory's
``kto_tag``) beside a conversation makes the row KTO, never SFT; the label must be a
boolean; ``dataprep detect`` says why it decided."""

from __future__ import annotations

import orjson
import pytest

from dataprep.canonical import Message, Unpaired
from dataprep.detect import detect_rows
from dataprep.errors import RowError
from dataprep.formats import FORMATS, kto
from dataprep.reading import Record

U, A, S = "user", "assistant", "system"


def msg(role, content):
    return {"role": role, "content": content}


def turn(source, value):
    return {"from": source, "value": value}


CHAT = [msg(U, "2+2?"), msg(A, "4"), msg(U, "and 3+3?"), msg(A, "7")]
TURNS = [turn("human", "2+2?"), turn("gpt", "4"), turn("human", "and 3+3?"), turn("gpt", "7")]

# (row, the formats that claim it, why kto did, in words)
DETECTION = [
    ({"messages": CHAT, "label": False}, ["kto"], "boolean label beside messages"),
    ({"messages": CHAT, "kto_tag": True}, ["kto"], "boolean kto_tag beside messages"),
    (
        {"conversations": TURNS, "kto_tag": False},
        ["kto"],
        "boolean kto_tag beside conversations (ShareGPT)",
    ),
    (
        {"conversations": TURNS, "label": True},
        ["kto"],
        "boolean label beside conversations (ShareGPT)",
    ),
    (
        {"instruction": "2+2?", "output": "4", "kto_tag": True},
        ["kto"],
        "boolean kto_tag beside instruction/output (alpaca)",
    ),
    (
        {"prompt": "2+2=", "completion": "4", "label": True},
        ["kto"],
        "prompt, completion and boolean label",
    ),
    (
        {"prompt": "2+2=", "completion": "4", "kto_tag": False},
        ["kto"],
        "prompt, completion and boolean kto_tag",
    ),
    # a label that is not a boolean still makes the row KTO: its problem is reported, the
    # row is never taken for SFT data
    ({"messages": CHAT, "label": "true"}, ["kto"], "non-boolean label beside messages"),
    ({"messages": CHAT, "label": 1}, ["kto"], "non-boolean label beside messages"),
    (
        {"conversations": TURNS, "kto_tag": None},
        ["kto"],
        "non-boolean kto_tag beside conversations (ShareGPT)",
    ),
    # without a label: the conversational formats, as always
    ({"messages": CHAT}, ["messages"], None),
    ({"conversations": TURNS}, ["sharegpt"], None),
    ({"instruction": "2+2?", "output": "4"}, ["alpaca"], None),
    # LLaMA-Factory's ShareGPT preference stays preference, label or not
    (
        {
            "conversations": TURNS[:1],
            "chosen": turn("gpt", "4"),
            "rejected": turn("gpt", "5"),
            "label": True,
        },
        ["preference"],
        None,
    ),
    # a label beside nothing KTO can read
    ({"messages": "2+2?", "label": True}, [], None),
    ({"label": True}, [], None),
]


@pytest.mark.parametrize(("row", "claimed", "why"), DETECTION)
def test_detection(row, claimed, why):
    assert [name for name, module in FORMATS.items() if module.detect(row)] == claimed
    if why is not None:
        assert kto.evidence(row) == why


def test_detect_says_why_for_a_whole_file():
    rows = [{"messages": CHAT, "label": True}, {"messages": CHAT, "label": False}]
    rows.append({"conversations": TURNS, "kto_tag": "yes"})
    records = (Record("f.jsonl", i, r, orjson.dumps(r), None) for i, r in enumerate(rows, 1))
    d = detect_rows(records)
    assert (d.status, d.format) == ("ok", "kto")
    assert d.evidence == {
        "kto": {
            "boolean label beside messages": 2,
            "non-boolean kto_tag beside conversations (ShareGPT)": 1,
        }
    }
    assert d.to_json()["evidence"] == d.evidence


PROMPT = [Message(U, "2+2?"), Message(A, "4"), Message(U, "and 3+3?")]

TO_CANONICAL = [
    # messages: the last message is the completion, everything before it the prompt
    ({"messages": CHAT, "label": False}, Unpaired(PROMPT, [Message(A, "7")], False)),
    (
        {"messages": [msg(S, "Be brief."), *CHAT], "kto_tag": True, "id": 7},
        Unpaired([Message(S, "Be brief."), *PROMPT], [Message(A, "7")], True, extra={"id": 7}),
    ),
    # ShareGPT: its system column and tools string are read as the sharegpt format reads them
    (
        {"conversations": TURNS, "system": "Be brief.", "tools": '[{"name": "f"}]', "label": True},
        Unpaired(
            [Message(S, "Be brief."), *PROMPT], [Message(A, "7")], True, tools=[{"name": "f"}]
        ),
    ),
    (
        {"instruction": "Add", "input": "2 and 2", "output": "5", "kto_tag": False},
        Unpaired([Message(U, "Add\n\n2 and 2")], [Message(A, "5")], False),
    ),
    (
        {"prompt": [msg(U, "2+2?")], "completion": [msg(A, "4")], "kto_tag": True},
        Unpaired([Message(U, "2+2?")], [Message(A, "4")], True),
    ),
]


@pytest.mark.parametrize(("row", "expected"), TO_CANONICAL)
def test_to_canonical(row, expected):
    assert kto.to_canonical(row) == expected


def test_origins_point_into_the_row():
    ex = kto.to_canonical({"conversations": TURNS, "label": True})
    assert [m.origin for m in ex.prompt + ex.completion] == [
        f"conversations[{i}]" for i in range(4)
    ]


ERRORS = [
    ({"messages": CHAT, "label": "true"}, "label", "bad-label"),
    ({"messages": CHAT, "label": 1}, "label", "bad-label"),
    ({"conversations": TURNS, "kto_tag": None}, "kto_tag", "bad-label"),
    ({"messages": CHAT, "label": True, "kto_tag": True}, "kto_tag", "bad-label"),
    ({"messages": CHAT[:3], "label": True}, "messages[2]", "no-final-assistant"),
    ({"messages": [], "label": True}, "messages", "no-final-assistant"),
    (
        {"conversations": [turn("gpt", "hi"), turn("human", "?")], "label": True},
        "conversations[1]",
        "no-final-assistant",
    ),
    (
        {"messages": [msg("narrator", "x"), msg(A, "y")], "label": True},
        "messages[0].role",
        "unknown-role",
    ),
    # read as kto by --format, a row of no KTO shape says what TRL's shape lacks
    ({"prompt": "p", "label": True}, "completion", "missing-field"),
    ({"text": "t", "label": True}, "prompt", "missing-field"),
]


@pytest.mark.parametrize(("row", "path", "code"), ERRORS)
def test_to_canonical_errors(row, path, code):
    with pytest.raises(RowError) as info:
        kto.to_canonical(row)
    assert (info.value.path, info.value.code) == (path, code)


def test_a_non_boolean_label_says_how_to_read_the_file_as_sft():
    with pytest.raises(RowError) as info:
        kto.to_canonical({"messages": CHAT, "label": "safe"})
    assert str(info.value) == (
        "label: label must be true or false, got 'safe' (if this column is not a KTO "
        "label, read the file as SFT data with --format)"
    )


@pytest.mark.parametrize("name", ["messages", "sharegpt", "alpaca", "prompt-completion"])
def test_sft_formats_never_write_a_label_beside_a_conversation(name):
    """A conversation whose extra fields hold a 'label' would read back as KTO: the key is
    dropped, and said so, like any key the format claims."""
    from dataprep.canonical import Conversation
    from dataprep.errors import LossyConversion

    conv = Conversation([Message(U, "q"), Message(A, "a")], extra={"label": True, "id": 1})
    with pytest.raises(LossyConversion):
        FORMATS[name].from_canonical(conv)
    row, dropped = FORMATS[name].from_canonical(conv, allow_lossy=True)
    assert "label" not in row and row["id"] == 1
    assert dropped == ["extra field 'label'"]
    assert not FORMATS["kto"].detect(row)
