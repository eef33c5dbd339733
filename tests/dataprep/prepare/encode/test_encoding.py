"""Encoder: mask policies, train flags, end-of-turn and header, double BOS, plain text,
DPO prefix checks, and linear cost in turns."""

from __future__ import annotations

import numpy as np
import pytest
import tokenizer_factory

from dataprep.canonical import Conversation, Message, Preference, Unpaired
from dataprep.errors import PrepareError, RowError
from dataprep.prepare.encode.encoder import (
    DPOEncoded,
    Encoder,
    KTOEncoded,
    SFTEncoded,
)
from dataprep.prepare.template.choice import ChatTemplate, builtin_template

CHATML = builtin_template("chatml")
LLAMA3 = builtin_template("llama3")


@pytest.fixture(scope="module")
def tok():
    return tokenizer_factory.family_tokenizer(CHATML.source)


def _trained_texts(tokenizer, row: SFTEncoded) -> list[str]:
    mask = np.concatenate([[False], row.labels != -100, [False]])
    edges = np.flatnonzero(mask[1:] != mask[:-1])
    return [
        tokenizer.decode(row.input_ids[a:b].tolist())
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]


CONV = Conversation(
    [
        Message("system", "Be brief."),
        Message("user", "Hi"),
        Message("assistant", "Hello!"),
        Message("user", "Weather?"),
        Message("assistant", "Sunny."),
    ]
)


def _with_flags(*flags):
    msgs = [Message(m.role, m.content, train=f) for m, f in zip(CONV.messages, flags, strict=True)]
    return Conversation(msgs)


@pytest.mark.parametrize("spans", ["generation", "walk"])
@pytest.mark.parametrize(
    ("mask", "conv", "expected"),
    [
        ("assistant", CONV, ["Hello!<|im_end|>\n", "Sunny.<|im_end|>\n"]),
        ("last", CONV, ["Sunny.<|im_end|>\n"]),
        ("completion", CONV, ["Sunny.<|im_end|>\n"]),
        # train=False wins over the policy, train=True over "last".
        ("assistant", _with_flags(None, None, False, None, None), ["Sunny.<|im_end|>\n"]),
        (
            "last",
            _with_flags(None, None, True, None, None),
            ["Hello!<|im_end|>\n", "Sunny.<|im_end|>\n"],
        ),
        ("last", _with_flags(None, None, None, None, False), []),
        # a non-assistant message flagged True: its text
        ("last", _with_flags(None, True, None, None, None), ["Hi", "Sunny.<|im_end|>\n"]),
    ],
)
def test_policies_and_flags(tok, mask, conv, expected, spans):
    [row] = Encoder(tok, CHATML, mask=mask, spans=spans).encode_sft([conv])
    assert _trained_texts(tok, row) == expected


def test_mask_all_trains_everything_but_flagged(tok):
    [row] = Encoder(tok, CHATML, mask="all").encode_sft([CONV])
    assert (row.labels == row.input_ids).all()
    [row] = Encoder(tok, CHATML, mask="all").encode_sft(
        [_with_flags(None, None, False, None, None)]
    )
    text = tok.decode(row.input_ids[row.labels != -100].tolist())
    assert "Hello!" not in text and "Sunny." in text and "<|im_start|>system" in text


@pytest.mark.parametrize(
    "template",
    [
        CHATML,
        LLAMA3,
        builtin_template("gemma"),
        builtin_template("phi3"),
        builtin_template("qwen2_5"),
    ],
    ids=lambda t: t.name,
)
def test_each_turn_trains_its_content_and_end_not_its_header(template):
    tokenizer = tokenizer_factory.family_tokenizer(template.source)
    conv = Conversation(CONV.messages[1:])  # gemma has no system role
    enc = Encoder(tokenizer, template, spans="walk")
    [row] = enc.encode_sft([conv])
    header = enc._markers.headers[-1]
    end = enc._markers.ends[0]
    for text, content in zip(_trained_texts(tokenizer, row), ["Hello!", "Sunny."], strict=True):
        assert text.strip() == (content + end).strip()
        assert header.strip() not in text
    # labels equal ids where trained
    trained = row.labels != -100
    assert (row.labels[trained] == row.input_ids[trained]).all()


def test_ids_equal_apply_chat_template(tok):
    enc = Encoder(tok, CHATML)
    [row] = enc.encode_sft([CONV])
    ref = tok.apply_chat_template(enc.template_messages(CONV.messages), chat_template=CHATML.source)
    assert row.input_ids.tolist() == ref["input_ids"]
    assert row.input_ids.dtype == np.int32 and row.labels.dtype == np.int32


WEIRD = ChatTemplate.from_source(
    "weird",
    # A reply mentioning a secret is written reversed: nothing of it can be found.
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if 'secret' in m.content %}{{ m.content[::-1] }}{% else %}{{ m.content }}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
)


def test_unlocatable_turn_is_a_row_error_not_a_guess(tok):
    enc = Encoder(tok, WEIRD)
    [ok] = enc.encode_sft([Conversation(CONV.messages[1:3])])
    assert _trained_texts(tok, ok) == ["Hello!<|im_end|>\n"]
    conv = Conversation([Message("user", "Hi"), Message("assistant", "my secret is out")])
    [row] = enc.encode_sft([conv])
    assert isinstance(row, RowError) and row.code == "mask-unlocatable"
    assert row.path == "messages[1]"


def test_template_refusal_is_a_row_error(tok):
    gemma = builtin_template("gemma")
    tokenizer = tokenizer_factory.family_tokenizer(gemma.source)
    [row] = Encoder(tokenizer, gemma).encode_sft([CONV])
    assert isinstance(row, RowError) and row.code == "template-error"
    assert "System role not supported" in str(row)


def test_template_without_turn_markers_is_refused_up_front(tok):
    flat = ChatTemplate.from_source("flat", "{% for m in messages %}{{ m.content }}{% endfor %}")
    with pytest.raises(PrepareError, match="nothing in the template ends an assistant turn"):
        Encoder(tok, flat)


@pytest.mark.parametrize("add_bos", [True, False])
def test_double_bos_detected_and_avoided(add_bos):
    tokenizer = tokenizer_factory.family_tokenizer(
        LLAMA3.source, bos="<|begin_of_text|>", add_bos=add_bos
    )
    enc = Encoder(tokenizer, LLAMA3)
    [row] = enc.encode_sft([Conversation(CONV.messages[1:3])])
    bos = tokenizer.bos_token_id
    assert row.input_ids[0] == bos and row.input_ids[1] != bos
    assert any("adds another" in n for n in enc.notes) == add_bos
    # the naive way does double it
    text = enc._render_row(CONV.messages[1:3], None).text
    assert (tokenizer(text)["input_ids"][:2] == [bos, bos]) == add_bos


def test_leading_double_bos_in_rendering_is_removed():
    tokenizer = tokenizer_factory.family_tokenizer(LLAMA3.source, bos="<|begin_of_text|>")
    enc = Encoder(tokenizer, LLAMA3, system="<|begin_of_text|>")  # a system text holding BOS
    twice = ChatTemplate.from_source("twice", "{{ bos_token }}" + LLAMA3.source)
    enc = Encoder(tokenizer, twice)
    [row] = enc.encode_sft([Conversation(CONV.messages[1:3])])
    assert row.input_ids[0] == tokenizer.bos_token_id != row.input_ids[1]
    assert any("two BOS" in n for n in enc.notes)


def test_default_system_prompt(tok):
    enc = Encoder(tok, CHATML, system="You are terse.")
    [row] = enc.encode_sft([Conversation(CONV.messages[1:3])])
    assert tok.decode(row.input_ids.tolist()).startswith("<|im_start|>system\nYou are terse.")
    [row] = enc.encode_sft([CONV])  # has its own
    assert "You are terse." not in tok.decode(row.input_ids.tolist())


@pytest.mark.parametrize(
    ("messages", "mask", "trained"),
    [
        ([Message("user", "just some text")], "assistant", "just some text</s>"),
        ([Message("user", "Q: 2+2? "), Message("assistant", "A: 4")], "completion", "A: 4</s>"),
        ([Message("user", "Q: 2+2? "), Message("assistant", "A: 4")], "all", "Q: 2+2? A: 4</s>"),
    ],
)
def test_plain_text(tok, messages, mask, trained):
    [row] = Encoder(tok, CHATML, mask=mask).encode_sft([Conversation(messages, plain=True)])
    assert row.input_ids[-1] == tok.eos_token_id  # EOS appended so the model learns to stop
    assert tok.decode(row.input_ids[row.labels != -100].tolist()) == trained
    assert tok.decode(row.input_ids.tolist()) == "".join(m.content for m in messages) + "</s>"


PROMPT = [Message("user", "Capital of France?")]


def test_dpo_prompt_is_a_prefix(tok):
    enc = Encoder(tok, CHATML)
    pref = Preference(PROMPT, [Message("assistant", "Paris.")], [Message("assistant", "Lyon.")])
    [row] = enc.encode_dpo([pref])
    assert isinstance(row, DPOEncoded)
    full = tok.apply_chat_template(
        enc.template_messages([*PROMPT, *pref.chosen]), chat_template=CHATML.source
    )["input_ids"]
    assert [*row.prompt_ids.tolist(), *row.chosen_ids.tolist()] == full
    assert tok.decode(row.chosen_ids.tolist()) == "Paris.<|im_end|>\n"
    assert tok.decode(row.rejected_ids.tolist()) == "Lyon.<|im_end|>\n"
    assert tok.decode(row.prompt_ids.tolist()).endswith("<|im_start|>assistant\n")


def test_dpo_prompt_rendered_differently_is_rejected():
    # A template that writes a different cue when generating than in history.
    t = ChatTemplate.from_source(
        "drift",
        CHATML.source.replace(
            "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}",
            "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n<think>' }}",
        ),
    )
    assert t.source != CHATML.source
    tokenizer = tokenizer_factory.family_tokenizer(t.source)
    pref = Preference(PROMPT, [Message("assistant", "Paris.")], [Message("assistant", "Lyon.")])
    [row] = Encoder(tokenizer, t).encode_dpo([pref])
    assert isinstance(row, RowError) and row.code == "prompt-not-prefix"
    assert "<think>" in str(row)


def test_dpo_plain_token_merge_is_rejected(tok):
    # "hel" + "lo world" tokenizes as "hello world": the prompt's tokens are not a prefix.
    pref = Preference(
        [Message("user", "hel")],
        [Message("assistant", "lo world")],
        [Message("assistant", " there")],
        plain=True,
    )
    [row] = Encoder(tok, CHATML).encode_dpo([pref])
    assert isinstance(row, RowError) and row.code == "prompt-not-prefix"
    ok = Preference(
        [Message("user", "hello")],
        [Message("assistant", " world")],
        [Message("assistant", " there")],
        plain=True,
    )
    [row] = Encoder(tok, CHATML).encode_dpo([ok])
    assert isinstance(row, DPOEncoded) and row.chosen_ids[-1] == tok.eos_token_id


def test_kto(tok):
    ex = Unpaired(PROMPT, [Message("assistant", "Paris.")], label=False)
    [row] = Encoder(tok, CHATML).encode_kto([ex])
    assert isinstance(row, KTOEncoded) and row.label is False
    assert tok.decode(row.completion_ids.tolist()) == "Paris.<|im_end|>\n"


def _long_conversation(turns: int, seed: int) -> Conversation:
    rng = np.random.default_rng(seed)
    words = tokenizer_factory.WORDS
    msgs = []
    for t in range(turns):
        role = "user" if t % 2 == 0 else "assistant"
        msgs.append(Message(role, " ".join(rng.choice(words, size=40))))
    return Conversation(msgs)


@pytest.mark.parametrize("spans", ["generation", "walk"])
def test_cost_is_linear_in_turns(tok, spans, monkeypatch):
    """One render per row, however many turns: masks never re-render per turn (which is
    what made a cost quadratic in turns). The per-token time ratio itself (the issue's
    1.2x) is measured by benchmarks/bench_prepare.py, not here: wall-clock bars in tests
    flake on a busy machine."""
    import dataprep.prepare.encode.encoder as encoding

    enc = Encoder(tok, CHATML, spans=spans, mask="last")  # "last" takes the walk in both
    calls = []
    real = encoding.render
    monkeypatch.setattr(encoding, "render", lambda *a, **k: calls.append(1) or real(*a, **k))
    rows = enc.encode_sft([_long_conversation(80, seed) for seed in range(3)])
    assert all(isinstance(r, SFTEncoded) for r in rows)
    assert len(calls) == 3
