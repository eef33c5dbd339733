"""Long renderings tokenized in pieces: the same ids and character spans as whole, only
where that is guaranteed, and a guard that falls back when it is not."""

from __future__ import annotations

import random
from itertools import pairwise

import numpy as np
import pytest
import tokenizer_factory
from tokenizers import AddedToken, Tokenizer, normalizers

from dataprep.canonical import Conversation, Message
from dataprep.prepare.encode.encoder import Encoder
from dataprep.prepare.encode.pieces import PieceTokenizer, safe_cut_tokens
from dataprep.prepare.template.choice import builtin_template

CHATML = builtin_template("chatml")


@pytest.fixture(scope="module")
def tok():
    return tokenizer_factory.family_tokenizer(CHATML.source)


def _backend_with(tok, *tokens: AddedToken, normalizer=None) -> Tokenizer:
    backend = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    backend.add_special_tokens(list(tokens))
    if normalizer is not None:
        backend.normalizer = normalizer
    return backend


def _rendering(seed: int, turns: int) -> str:
    rng = random.Random(seed)
    words = tokenizer_factory.corpus(40, seed)
    parts = []
    for t in range(turns):
        role = "user" if t % 2 == 0 else "assistant"
        parts.append(f"<|im_start|>{role}\n{rng.choice(words)} {rng.choice(words)}<|im_end|>\n")
    return "".join(parts)


@pytest.mark.parametrize(
    ("token", "normalizer", "cut"),
    [
        (AddedToken("<X>", special=True, normalized=False), None, True),
        (AddedToken("<X>", special=True, normalized=False, lstrip=True), None, False),
        (AddedToken("<X>", special=True, normalized=False, single_word=True), None, False),
        (AddedToken("<X>", special=False, normalized=True), None, True),
        (AddedToken("<X>", special=False, normalized=True), normalizers.NFC(), False),
        (AddedToken("<X>", special=True, normalized=False), normalizers.NFC(), True),
    ],
)
def test_safe_cut_tokens(tok, token, normalizer, cut):
    backend = _backend_with(tok, token, normalizer=normalizer)
    assert safe_cut_tokens(backend, ["<X>", "<not-a-token>"]) == (["<X>"] if cut else [])


@pytest.mark.parametrize(
    ("other", "cut"),
    [
        ("a<X>", False),  # ends with the whole token: its match would start before the cut
        ("ab<X", False),  # ends inside the token
        ("<X>b", True),  # starts with it: same start, no straddle
        ("X>", True),  # the token's tail, not its head
        ("<Y>", True),
    ],
)
def test_a_token_another_can_straddle_is_not_cut(tok, other, cut):
    backend = _backend_with(
        tok, AddedToken("<X>", special=True, normalized=False), AddedToken(other, special=True)
    )
    assert safe_cut_tokens(backend, ["<X>"]) == (["<X>"] if cut else [])


@pytest.mark.parametrize("piece_chars", [1, 7, 100, 1000, 10**9])
def test_pieces_give_the_ids_and_chars_of_the_whole(tok, piece_chars):
    backend = tok.backend_tokenizer
    texts = [_rendering(seed, turns) for seed, turns in enumerate([1, 2, 9, 40, 80])]
    pieces = PieceTokenizer(backend, ["<|im_start|>", "<|im_end|>"], piece_chars=piece_chars)
    cut = [t for t in texts if pieces.cut_points(t)]
    if piece_chars < 1000:
        assert cut, "the long renderings are cut"
    for text, enc in zip(texts, pieces.encode_batch(texts), strict=True):
        whole = backend.encode(text, add_special_tokens=False)
        assert enc.ids == whole.ids
        assert len(enc) == len(whole)
        assert [enc.token_to_chars(t) for t in range(len(enc))] == whole.offsets
    assert pieces.note is None


def test_cut_points_sit_before_a_cut_token_and_keep_their_distance(tok):
    text = _rendering(3, 60)
    pieces = PieceTokenizer(tok.backend_tokenizer, ["<|im_start|>"], piece_chars=200)
    points = pieces.cut_points(text)
    assert len(points) > 3
    assert all(text.startswith("<|im_start|>", p) for p in points)
    assert points[0] >= 200 and all(b - a >= 200 for a, b in pairwise(points))


def test_guard_falls_back_to_whole_texts_when_cutting_changes_ids(tok):
    # A token that eats the spaces on its left is never chosen; force it to see the guard.
    backend = _backend_with(tok, AddedToken("<X>", special=True, normalized=False, lstrip=True))
    pieces = PieceTokenizer(backend, ["<X>"], piece_chars=1)
    assert pieces.cut_tokens == []
    pieces.cut_tokens = ["<X>"]
    texts = ["hello   <X> world   <X> again", "short"]
    encodings = pieces.encode_batch(texts)
    assert [e.ids for e in encodings] == [
        e.ids for e in backend.encode_batch(texts, add_special_tokens=False)
    ]
    assert pieces.note and "whole" in pieces.note
    assert pieces.cut_tokens == []


def test_encoder_ignores_truncation_and_padding_in_the_tokenizer_json(tok):
    tokenizer = tokenizer_factory.family_tokenizer(CHATML.source)
    tokenizer.backend_tokenizer.enable_truncation(max_length=5)
    tokenizer.backend_tokenizer.enable_padding(length=64)
    conv = Conversation([Message("user", "hello there " * 10), Message("assistant", "sure " * 10)])
    [row] = Encoder(tokenizer, CHATML).encode_sft([conv])
    [reference] = Encoder(tok, CHATML).encode_sft([conv])
    assert row.input_ids.tolist() == reference.input_ids.tolist()
    assert len(row.input_ids) > 5 and tok.pad_token_id not in row.input_ids.tolist()
    # the caller's tokenizer is left as it was
    assert tokenizer.backend_tokenizer.truncation["max_length"] == 5


@pytest.mark.parametrize("spans", ["generation", "walk"])
@pytest.mark.parametrize("mask", ["assistant", "last", "all"])
def test_encoder_rows_are_the_same_cut_or_whole(tok, spans, mask):
    rng = np.random.default_rng(0)
    words = tokenizer_factory.corpus(60, 1)
    convs = []
    for turns in (2, 12, 80):
        msgs = [Message("system", "be brief")]
        for t in range(turns):
            msgs.append(Message("user" if t % 2 == 0 else "assistant", str(rng.choice(words))))
        convs.append(Conversation(msgs))
    whole = Encoder(tok, CHATML, spans=spans, mask=mask, piece_chars=10**9).encode_sft(convs)
    cut = Encoder(tok, CHATML, spans=spans, mask=mask, piece_chars=1).encode_sft(convs)
    for a, b in zip(whole, cut, strict=True):
        assert a.input_ids.tolist() == b.input_ids.tolist()
        assert a.labels.tolist() == b.labels.tolist()
