"""A lower bound on a text's token count from its length, without tokenizing it.

Under ``--overlong drop`` a row longer than ``--max-length`` tokens is rejected anyway;
tokenizing a 50 MB row to learn that costs minutes and gigabytes (the tokenizer keeps an
object per token, with offsets). One token covers at most ``K`` characters, ``K`` being
the longest token of the vocabulary (byte-level vocabularies spell each byte as one
character, so ``K`` bytes, and a character is at least one byte). So a text of ``n``
characters has at least ``n / K`` tokens, and a text with more than ``max_length * K``
characters is certainly too long.

The bound only holds for tokenizers that cannot swallow text: every character must come
out as some token. ``max_token_chars`` gives ``K`` for those (byte-level BPE, BPE or
Unigram with byte fallback; normalizers that never shrink text, or Unicode composition,
which shrinks it at most fourfold and is allowed for) and None for the rest (an unknown
token may stand for a whole word; a normalizer or pre-tokenizer may drop characters):
their rows are tokenized as before.

This reads the tokenizer's JSON description (``tokenizers`` 0.2x layout: ``model``,
``normalizer``, ``pre_tokenizer``, ``added_tokens``).

>>> from tokenizers import Tokenizer
>>> max_token_chars(Tokenizer.from_file("samples/tiny-tokenizer/tokenizer.json"))
31
"""

from __future__ import annotations

import json
from typing import Any

# Normalizers that never make a text shorter, and those that shrink it by composing
# characters (NFC: a base letter and up to three marks become one; Hangul jamo, three).
_GROWING_NORMALIZERS = {"NFD", "NFKD", "Lowercase", "Prepend", "ByteLevel"}
_COMPOSING_NORMALIZERS = {"NFC", "NFKC"}
_COMPOSITION_FACTOR = 4
# Pre-tokenizers that keep every character (split, or map one-to-one).
_KEEPING_PRE_TOKENIZERS = {
    "ByteLevel",
    "Metaspace",
    "Digits",
    "UnicodeScripts",
    "Split",
    "Punctuation",
}


def max_token_chars(backend: Any) -> int | None:
    """``K`` times the normalizer's worst shrink factor, or None when no bound holds."""
    try:
        spec = json.loads(backend.to_str())
    except Exception:  # not a tokenizers backend we can read: no bound, tokenize
        return None
    model = spec.get("model") or {}
    if not _covers_every_character(model, spec.get("pre_tokenizer")):
        return None
    factor = _normalizer_factor(spec.get("normalizer"))
    if factor is None or not _keeps_characters(spec.get("pre_tokenizer")):
        return None
    vocab = model.get("vocab")
    if isinstance(vocab, dict):
        longest = max((len(token) for token in vocab), default=0)
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        longest = max((len(entry[0]) for entry in vocab), default=0)
    else:
        return None
    added = max((len(t.get("content", "")) for t in spec.get("added_tokens") or []), default=0)
    longest = max(longest, added)
    return longest * factor if longest else None


def _covers_every_character(model: dict[str, Any], pre_tokenizer: Any) -> bool:
    kind = model.get("type")
    if kind == "BPE":
        return bool(model.get("byte_fallback")) or _has_type(pre_tokenizer, "ByteLevel")
    if kind == "Unigram":
        return bool(model.get("byte_fallback"))
    return False  # WordPiece / WordLevel: one [UNK] may stand for a whole word


def _normalizer_factor(normalizer: Any) -> int | None:
    if normalizer is None:
        return 1
    kind = normalizer.get("type")
    if kind == "Sequence":
        factor = 1
        for part in normalizer.get("normalizers", []):
            f = _normalizer_factor(part)
            if f is None:
                return None
            factor *= f
        return factor
    if kind in _GROWING_NORMALIZERS:
        return 1
    if kind in _COMPOSING_NORMALIZERS:
        return _COMPOSITION_FACTOR
    if kind == "Replace":
        pattern = (normalizer.get("pattern") or {}).get("String")
        content = normalizer.get("content", "")
        if pattern is not None and len(content) >= len(pattern):
            return 1
    return None  # Strip, BertNormalizer, Precompiled, regex Replace: may drop characters


def _keeps_characters(pre_tokenizer: Any) -> bool:
    if pre_tokenizer is None:
        return True
    kind = pre_tokenizer.get("type")
    if kind == "Sequence":
        return all(_keeps_characters(p) for p in pre_tokenizer.get("pretokenizers", []))
    if kind not in _KEEPING_PRE_TOKENIZERS:
        return False  # Whitespace, WhitespaceSplit, BertPreTokenizer drop whitespace
    return pre_tokenizer.get("behavior") != "Removed"


def _has_type(part: Any, kind: str) -> bool:
    if not isinstance(part, dict):
        return False
    if part.get("type") == kind:
        return True
    return any(_has_type(p, kind) for p in part.get("pretokenizers", []))
