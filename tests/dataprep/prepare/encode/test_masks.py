"""Span finding in one rendering, and spans -> token labels."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from dataprep.errors import RowError
from dataprep.prepare.encode.masks import (
    TurnMarkers,
    labels_from_ranges,
    locate_turns,
    merge_spans,
    token_ranges,
)

CHATML = TurnMarkers(("<|im_start|>assistant\n",), ("<|im_end|>\n", "<|im_end|>"))


def _chatml(messages):
    return "".join(f"<|im_start|>{m['role']}\n{m.get('content', '')}<|im_end|>\n" for m in messages)


def u(text):
    return {"role": "user", "content": text}


def a(text):
    return {"role": "assistant", "content": text}


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([u("Hi"), a("Hello")], {1: "Hello<|im_end|>\n"}),
        # a reply that also occurs in the header ("a" in "assistant") and in the question
        ([u("say a"), a("a")], {1: "a<|im_end|>\n"}),
        ([u("x"), a("same"), u("same"), a("same")], {1: "same<|im_end|>\n", 3: "same<|im_end|>\n"}),
        # an empty reply: its header is the next one
        ([u("x"), a(""), u("y"), a("z")], {1: "<|im_end|>\n", 3: "z<|im_end|>\n"}),
        # reply text that contains the end marker itself
        ([u("x"), a("write <|im_end|> please")], {1: "write <|im_end|> please<|im_end|>\n"}),
    ],
)
def test_locate_turns(messages, expected):
    text = _chatml(messages)
    loc = locate_turns(text, messages, CHATML)
    found = {i: text[s:e] for i, s_e in enumerate(loc.turns) if s_e is not None for s, e in [s_e]}
    assert found == expected


def test_stripped_content_is_found():
    text = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nanswer<|im_end|>\n"
    loc = locate_turns(text, [u("q"), a("  answer \n")], CHATML)
    assert text[slice(*loc.turns[1])] == "answer<|im_end|>\n"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nrewritten<|im_end|>\n", "not in"),
        ("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nanswer", "end-of-turn"),
        ("<|im_start|>user\nq<|im_end|>\nanswer<|im_end|>\n", "header"),
    ],
)
def test_unlocatable(text, why):
    with pytest.raises(RowError, match=why) as e:
        locate_turns(text, [u("q"), a("answer")], CHATML)
    assert e.value.code == "mask-unlocatable"


def test_prefix_rendering_is_the_fallback_for_a_missing_header():
    # DeepSeek-V3 after tool outputs: no assistant header before the reply.
    text = "<U>q<T>result<TE>reply<EOS>"
    messages = [u("q"), {"role": "tool", "content": "result"}, a("reply")]
    markers = TurnMarkers(("<A>",), ("<EOS>",))
    prefixes = {(2, True): "<U>q<T>result<TE>"}
    loc = locate_turns(text, messages, markers, lambda k, g: prefixes[(k, g)])
    assert text[slice(*loc.turns[2])] == "reply<EOS>"


@pytest.fixture(scope="module")
def byte_tok():
    vocab = {c: i for i, c in enumerate(pre_tokenizers.ByteLevel.alphabet())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return tok


@pytest.mark.parametrize(
    ("text", "span", "expected_tokens"),
    [
        ("abc", (1, 2), (1, 2)),
        ("abc", (0, 3), (0, 3)),
        ("abc", (3, 3), None),
        # 😀 is 4 bytes = 4 byte-level tokens sharing one character: all of them overlap
        ("a😀b", (1, 2), (1, 5)),
        ("a😀b", (0, 2), (0, 5)),
        ("a😀b", (2, 3), (5, 6)),
    ],
)
def test_token_ranges_overlap(byte_tok, text, span, expected_tokens):
    enc = byte_tok.encode(text, add_special_tokens=False)
    got = token_ranges(enc, [span])
    assert got == ([expected_tokens] if expected_tokens else [])
    # the same answer as the overlap rule over every token's offsets
    if expected_tokens:
        overlap = [i for i, (s, e) in enumerate(enc.offsets) if s < span[1] and e > span[0]]
        assert (overlap[0], overlap[-1] + 1) == expected_tokens


def test_labels_from_ranges():
    ids = np.arange(10, 16, dtype=np.int32)
    labels = labels_from_ranges(ids, [(1, 3), (5, 6)])
    assert labels.tolist() == [-100, 11, 12, -100, -100, 15]


@pytest.mark.parametrize(
    ("spans", "merged"),
    [
        ([(5, 7), (0, 2), (1, 3)], [(0, 3), (5, 7)]),
        ([(0, 0), (2, 2)], []),
        ([(0, 2), (2, 4)], [(0, 4)]),
    ],
)
def test_merge_spans(spans, merged):
    assert merge_spans(spans) == merged
