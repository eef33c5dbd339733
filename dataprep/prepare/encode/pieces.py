"""Tokenize long chat renderings in pieces cut just before special tokens.

A fast tokenizer's cost per token grows with the length of one input: with tokenizers
0.23 and a 32k byte-level BPE it is flat up to about 16k characters, then 1.4x at 64k and
1.8x at 256k (its per-character alignment tables outgrow the CPU caches). An 80-turn
conversation, rendered as one text, would cost much more per token than a 4-turn one.

The tokenizer splits its added tokens out of a text before normalizing or pre-tokenizing
anything, so a cut just before one changes no id, provided that token is matched in the
raw text (not ``normalized``), strips no whitespace on its left (``lstrip``), needs no
word boundary (``single_word``) and cannot be the tail of a longer added token that
starts before it. Only such tokens, and only those the chat template writes, are cut
before. As a guard against tokenizers that behave otherwise anyway, the
first few cut texts are also tokenized whole and compared; a difference turns cutting off
for the run and says so.

>>> from tokenizers import Tokenizer
>>> backend = Tokenizer.from_file("samples/tiny-tokenizer/tokenizer.json")
>>> long_rendering = "<|im_start|>user\\nHi there<|im_end|>\\n" * 300   # 10.8k characters
>>> pieces = PieceTokenizer(backend, ["<|im_start|>"], piece_chars=4096)
>>> len(pieces.cut_points(long_rendering))   # three pieces
2
>>> [enc] = pieces.encode_batch([long_rendering])
>>> enc.ids == backend.encode(long_rendering, add_special_tokens=False).ids
True
>>> enc.token_to_chars(0)   # offsets are into the whole text
(0, 12)
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import chain, pairwise
from typing import Any

# Pieces start at the first cut point at least this many characters after the last cut:
# well inside the flat part of the tokenizer's cost curve, and long enough that the
# per-input overhead of a batch stays small.
PIECE_CHARS = 4096


class Stitched:
    """The encodings of a text's pieces, read as the encoding of the whole text: ids,
    length and ``token_to_chars`` (what the masks need)."""

    def __init__(self, parts: Sequence[Any], char_starts: Sequence[int]):
        self._parts = parts
        self._char_starts = char_starts
        self._token_starts = []
        n = 0
        for part in parts:
            self._token_starts.append(n)
            n += len(part)
        self._len = n
        self.ids = list(chain.from_iterable(part.ids for part in parts))

    def __len__(self) -> int:
        return self._len

    def token_to_chars(self, t: int) -> tuple[int, int] | None:
        k = bisect_right(self._token_starts, t) - 1
        chars = self._parts[k].token_to_chars(t - self._token_starts[k])
        if chars is None:
            return None
        shift = self._char_starts[k]
        return (chars[0] + shift, chars[1] + shift)


def safe_cut_tokens(backend: Any, candidates: Sequence[str]) -> list[str]:
    """The candidates that are added tokens a text may be cut before without changing ids."""
    added = {t.content: t for t in backend.get_added_tokens_decoder().values()}
    out = []
    for text in candidates:
        token = added.get(text)
        if token is None or token.lstrip or token.single_word:
            continue
        if token.normalized and backend.normalizer is not None:
            continue
        if any(_straddles(other, text) for other in added if other != text):
            continue
        out.append(text)
    return out


def _straddles(other: str, token: str) -> bool:
    """True when ``other`` can start before ``token`` and reach into it: a match of
    ``other`` would then run across the cut."""
    for j in range(1, len(other)):
        if other[j] != token[0]:
            continue
        tail = other[j:]
        if token.startswith(tail) or tail.startswith(token):
            return True
    return False


class PieceTokenizer:
    """``encode_batch`` for chat renderings (no special tokens added), long texts in pieces.

    ``note`` is set once when the guard found a difference and cutting was turned off.
    """

    def __init__(
        self,
        backend: Any,
        candidates: Sequence[str],
        *,
        piece_chars: int = PIECE_CHARS,
        checks: int = 3,
    ):
        self._backend = backend
        self.cut_tokens = safe_cut_tokens(backend, candidates)
        self.piece_chars = max(1, piece_chars)
        self._checks_left = checks
        self.note: str | None = None

    def cut_points(self, text: str) -> list[int]:
        """Where to cut ``text``: before a cut token, at least ``piece_chars`` apart."""
        points: list[int] = []
        tokens = list(self.cut_tokens)
        pos = self.piece_chars
        while tokens and pos < len(text):
            found = [(text.find(t, pos), t) for t in tokens]
            # A token that no longer occurs is not searched for again.
            tokens = [t for at, t in found if at >= 0]
            hits = [at for at, _ in found if at >= 0]
            if not hits:
                break
            points.append(min(hits))
            pos = points[-1] + self.piece_chars
        return points

    def encode_batch(self, texts: Sequence[str]) -> list[Any]:
        if not self.cut_tokens:
            return self._backend.encode_batch(texts, add_special_tokens=False)
        pieces: list[str] = []
        layout: list[list[int] | None] = []  # piece boundaries of each cut text
        for text in texts:
            points = self.cut_points(text) if len(text) > self.piece_chars else []
            if not points:
                layout.append(None)
                pieces.append(text)
                continue
            bounds = [0, *points, len(text)]
            layout.append(bounds)
            pieces.extend(text[a:b] for a, b in pairwise(bounds))
        encodings = iter(self._backend.encode_batch(pieces, add_special_tokens=False))
        out: list[Any] = []
        for bounds in layout:
            if bounds is None:
                out.append(next(encodings))
            else:
                parts = [next(encodings) for _ in range(len(bounds) - 1)]
                out.append(Stitched(parts, bounds[:-1]))
        if self._checks_left > 0:
            out = self._guard(texts, layout, out)
        return out

    def _guard(
        self, texts: Sequence[str], layout: list[list[int] | None], out: list[Any]
    ) -> list[Any]:
        for i, bounds in enumerate(layout):
            if bounds is None or self._checks_left <= 0:
                continue
            self._checks_left -= 1
            whole = self._backend.encode(texts[i], add_special_tokens=False)
            if whole.ids != out[i].ids:
                self.cut_tokens = []
                self._checks_left = 0
                self.note = (
                    "this tokenizer gives other ids when a long text is cut before a special "
                    "token: tokenizing long conversations whole (slower per token)"
                )
                return self._backend.encode_batch(texts, add_special_tokens=False)
        return out
