"""TRL's standard (strings) and conversational (message lists) forms: ``convert --to
preference|kto|prompt-completion --standard|--conversational``, row by row, with what is
refused, dropped under --allow-lossy, and noted."""

from __future__ import annotations

import doctest

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import dataprep.convert.forms
from dataprep.convert import convert_file
from dataprep.errors import UsageError
from dataprep.reading import read_records
from dataprep.validate.files import validate_files


def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


def s(text):
    return {"role": "system", "content": text}


def write(path, *rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def read(path):
    return [r.value for r in read_records(str(path)) if r.problem is None]


def convert_one(tmp_path, row, to, form, lossy=False):
    """(the row written or None, the reject code or None, the conversion)."""
    src = write(tmp_path / "in.jsonl", row)
    out = tmp_path / "out.jsonl"
    c = convert_file(src, str(out), to, form=form, allow_lossy=lossy)
    written = read(out)
    rejects = tmp_path / "out.jsonl.rejects.jsonl"
    code = read(rejects)[0]["code"] if rejects.exists() else None
    if written:
        # Whatever is written validates as the target.
        assert validate_files([str(out)], fmt=to).errors == 0
    return (written[0] if written else None), code, c


TOOL_CALL = {
    "role": "assistant",
    "content": "Looking.",
    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
}
TOOL_RESULT = {"role": "tool", "tool_call_id": "c1", "content": "21C"}

# (row, target, form, allow_lossy, the row written (None: rejected), reject code, dropped)
CASES = [
    # --- preference, standard -> conversational: strings become user/assistant messages
    (
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
        "preference", "conversational", False,
        {"prompt": [u("The sky is")], "chosen": [a(" blue.")], "rejected": [a(" green.")]},
        None, {},
    ),
    # an implicit prompt: the words both answers start with, cut between words
    (
        {"chosen": "The sky is blue.", "rejected": "The sky is black."},
        "preference", "conversational", False,
        {"prompt": [u("The sky is")], "chosen": [a(" blue.")], "rejected": [a(" black.")]},
        None, {},
    ),
    (
        {"chosen": "Yes", "rejected": "No"},
        "preference", "conversational", True, None, "no-shared-prompt", {},
    ),
    # --- preference, conversational -> standard
    (
        {"prompt": [u("Sky?")], "chosen": [a("Blue.")], "rejected": [a("Green.")]},
        "preference", "standard", False,
        {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green."},
        None, {},
    ),
    # TRL's implicit conversational prompt: the shared leading messages
    (
        {"chosen": [u("Sky?"), a("Blue.")], "rejected": [u("Sky?"), a("Green.")]},
        "preference", "standard", False,
        {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green."},
        None, {},
    ),
    # an implicit standard prompt made explicit here too (TRL extracts only where none is given)
    (
        {"chosen": "The sky is blue.", "rejected": "The sky is black."},
        "preference", "standard", False,
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " black."},
        None, {},
    ),
    (
        {"chosen": "Yes", "rejected": "No"},
        "preference", "standard", False,
        {"prompt": "", "chosen": "Yes", "rejected": "No"},
        None, {},
    ),
    # no form asked: the row stays standard, its implicit prompt made explicit, not ""
    # (TRL extracts a prompt only where none is given)
    (
        {"chosen": "The sky is blue.", "rejected": "The sky is black."},
        "preference", None, False,
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " black."},
        None, {},
    ),
    # a system message has no place in a string prompt: refused, or dropped and said so
    (
        {"prompt": [s("Be brief."), u("Sky?")], "chosen": [a("Blue.")], "rejected": [a("Green.")]},
        "preference", "standard", False, None, "lossy", {},
    ),
    (
        {"prompt": [s("Be brief."), u("Sky?")], "chosen": [a("Blue.")], "rejected": [a("Green.")]},
        "preference", "standard", True,
        {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Green."},
        None, {"system messages": 1},
    ),
    # a multi-turn prompt keeps its last user turn
    (
        {"prompt": [u("Hi"), a("Hello"), u("Sky?")], "chosen": [a("Blue.")], "rejected": [a("No.")]},
        "preference", "standard", True,
        {"prompt": "Sky?", "chosen": "Blue.", "rejected": "No."},
        None, {"prompt turns before the last user turn": 1},
    ),
    # tool use dropped; the assistant texts left side by side are one answer
    (
        {"prompt": [u("Weather?")], "chosen": [TOOL_CALL, TOOL_RESULT, a("21C")],
         "rejected": [a("Cold.")]},
        "preference", "standard", True,
        {"prompt": "Weather?", "chosen": "Looking.\n\n21C", "rejected": "Cold."},
        None,
        {"tool calls": 1, "tool results": 1, "turn boundaries (consecutive turns merged)": 1},
    ),
    # an answer that holds a user turn is no string answer, lossy or not
    (
        {"prompt": [u("Q")], "chosen": [a("A"), u("Q2"), a("A2")], "rejected": [a("B")]},
        "preference", "standard", True, None, "not-convertible", {},
    ),
    # --- kto
    (
        {"prompt": "2+2=", "completion": "4", "label": True},
        "kto", "conversational", False,
        {"prompt": [u("2+2=")], "completion": [a("4")], "label": True},
        None, {},
    ),
    (
        {"prompt": "", "completion": "Once upon", "label": False},
        "kto", "conversational", True, None, "not-convertible", {},
    ),
    (
        {"prompt": [u("2+2?")], "completion": [a("5")], "label": False},
        "kto", "standard", False,
        {"prompt": "2+2?", "completion": "5", "label": False},
        None, {},
    ),
    # LLaMA-Factory's KTO shape, a conversation beside a label
    (
        {"messages": [s("S"), u("Q"), a("A")], "label": True},
        "kto", "standard", True,
        {"prompt": "Q", "completion": "A", "label": True},
        None, {"system messages": 1},
    ),
    # --- prompt-completion
    (
        {"prompt": "The capital of France is", "completion": " Paris."},
        "prompt-completion", "conversational", False,
        {"prompt": [u("The capital of France is")], "completion": [a(" Paris.")]},
        None, {},
    ),
    (
        {"messages": [u("Q"), a("A")]},
        "prompt-completion", "standard", False,
        {"prompt": "Q", "completion": "A"},
        None, {},
    ),
    (
        {"messages": [u("Q"), a("A"), u("Q2"), a("A2")]},
        "prompt-completion", "standard", False, None, "lossy", {},
    ),
    (
        {"text": "plain text"},
        "prompt-completion", "conversational", True, None, "not-convertible", {},
    ),
    (
        {"text": "plain text"},
        "prompt-completion", "standard", False,
        {"prompt": "", "completion": "plain text"},
        None, {},
    ),
    # a preference pair to prompt-completion keeps the chosen answer, lossy as ever
    (
        {"prompt": "Q", "chosen": "A", "rejected": "B"},
        "prompt-completion", "conversational", True,
        {"prompt": [u("Q")], "completion": [a("A")]},
        None, {"rejected responses": 1},
    ),
    # an SFT conversation cannot be a preference pair in either form
    (
        {"messages": [u("Q"), a("A")]},
        "preference", "standard", True, None, "not-convertible", {},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("row", "to", "form", "lossy", "out", "code", "dropped"), CASES)
def test_forms(tmp_path, row, to, form, lossy, out, code, dropped):
    written, rejected, c = convert_one(tmp_path, row, to, form, lossy)
    assert (written, rejected) == (out, code)
    assert dict(c.dropped) == dropped


def test_notes_count_implicit_prompts_made_explicit(tmp_path):
    row = {"chosen": "The sky is blue.", "rejected": "The sky is black."}
    _, _, c = convert_one(tmp_path, row, "preference", "conversational")
    assert c.notes == {
        "implicit prompt made explicit (the words chosen and rejected start with)": 1
    }
    _, _, c = convert_one(tmp_path, {"chosen": "Yes", "rejected": "No"}, "preference", "standard")
    assert c.notes == {}


def test_lossy_refusal_names_everything_it_would_drop(tmp_path):
    row = {"prompt": [s("S"), u("Weather?")], "chosen": [TOOL_CALL, TOOL_RESULT, a("21C")],
           "rejected": [a("Cold.")]}  # fmt: skip
    src = write(tmp_path / "in.jsonl", row)
    convert_file(src, str(tmp_path / "out.jsonl"), "preference", form="standard")
    [reject] = read(tmp_path / "out.jsonl.rejects.jsonl")
    assert reject["message"] == (
        "converting to preference would drop system messages, tool calls, tool results, "
        "turn boundaries (consecutive turns merged) (pass --allow-lossy to drop them)"
    )


@pytest.mark.parametrize(
    ("to", "form", "message"),
    [
        ("messages", "standard", "--standard applies to --to preference, kto, prompt-completion"),
        ("alpaca", "conversational", "--conversational applies to --to preference"),
        ("preference", "chat", "unknown form 'chat'"),
    ],
)
def test_usage_errors(tmp_path, to, form, message):
    src = write(tmp_path / "in.jsonl", {"messages": [u("Q"), a("A")]})
    with pytest.raises(UsageError, match=message):
        convert_file(src, str(tmp_path / "out.jsonl"), to, form=form)


TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20
).filter(lambda t: t.strip() and "<" not in t)


@settings(max_examples=40, deadline=None)
@given(prompt=TEXT, chosen=TEXT, rejected=TEXT)
def test_standard_conversational_standard_round_trip(tmp_path_factory, prompt, chosen, rejected):
    """Explicit standard rows go to message lists and back unchanged."""
    assume(chosen != rejected)  # a pair that teaches nothing fails validate in both forms
    folder = tmp_path_factory.mktemp("rt")
    row = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    src = write(folder / "in.jsonl", row)
    mid, back = str(folder / "mid.jsonl"), str(folder / "back.jsonl")
    assert convert_file(src, mid, "preference", form="conversational").rows_out == 1
    assert read(mid) == [{"prompt": [u(prompt)], "chosen": [a(chosen)], "rejected": [a(rejected)]}]
    assert convert_file(mid, back, "preference", form="standard").rows_out == 1
    assert read(back) == [row]


@pytest.mark.parametrize(
    "row",
    [
        {"prompt": [u("Q")], "chosen": [a("A")], "rejected": [a("B")], "id": 7},
        {"prompt": [u("Q")], "completion": [a("A")], "label": False},
        {"prompt": [u("Q")], "completion": [a("A")]},
    ],
)
def test_conversational_standard_conversational_round_trip(tmp_path, row):
    to = "preference" if "chosen" in row else "kto" if "label" in row else "prompt-completion"
    src = write(tmp_path / "in.jsonl", row)
    mid, back = str(tmp_path / "mid.jsonl"), str(tmp_path / "back.jsonl")
    assert convert_file(src, mid, to, form="standard").dropped == {}
    assert all(
        isinstance(read(mid)[0][k], str) for k in ("prompt", "chosen", "completion") if k in row
    )
    convert_file(mid, back, to, form="conversational")
    assert read(back) == [row]


def test_doctests():
    assert doctest.testmod(dataprep.convert.forms).failed == 0
