"""Tiny tokenizers for tests, built in-process with the ``tokenizers`` library.

A byte-level BPE is trained on a small corpus (seconds, no network), and the markers a
chat template writes (``<|im_start|>``, ``<start_of_turn>``, ``<｜Assistant｜>``, ...) are
added as special tokens, so rendering with that template tokenizes the way the real
model's tokenizer would: one token per marker, text in byte-level pieces.

    tok = family_tokenizer(template_source)      # cached per set of markers
    tok.apply_chat_template(messages, chat_template=template_source)
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

# <|im_start|>, <｜Assistant｜> (DeepSeek's full-width bars), <|turn>, <turn|> (Gemma 4),
# <start_of_turn>, </think>.
_MARKER = re.compile(
    r"<\|[^\s|<>'\"]{1,40}\|>|<｜[^｜<>'\"]{1,40}｜>|<\|[A-Za-z_]{1,30}>|<[A-Za-z_]{1,30}\|>"
    r"|</?[A-Za-z_][A-Za-z0-9_]{0,30}>"
)

WORDS = [
    "the",
    "model",
    "answers",
    "questions",
    "about",
    "weather",
    "cities",
    "numbers",
    "and",
    "code",
    "while",
    "tools",
    "return",
    "results",
    "in",
    "json",
    "with",
    "names",
    "arguments",
    "values",
    "and",
    "the",
    "user",
    "asks",
    "again",
    "for",
    "more",
    "detail",
    "hello",
    "world",
    "thanks",
    "please",
    "sure",
    "here",
    "is",
    "a",
    "short",
    "reply",
    "about",
    "paris",
    "london",
    "tokyo",
    "berlin",
    "temperature",
    "celsius",
    "function",
    "call",
    "result",
    "error",
    "retry",
    "system",
    "prompt",
    "you",
    "are",
    "helpful",
    "assistant",
    "def",
    "return",
    "print",
    "import",
    "list",
    "dict",
    "true",
    "false",
    "null",
]
_EXTRA = [
    "Ünïcödé façade naïve café — “quotes” 😀 🚀 你好世界 こんにちは Привет мир",
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
    "line one\nline two\n\n  indented\tTab\r\nend.",
    "1234567890 3.14159 -42 1e10 ( ) [ ] { } < > | / \\ : ; , . ! ? ' \" ` ~ @ # $ % ^ & * _ + =",
]


def corpus(lines: int = 400, seed: int = 0) -> list[str]:
    """A small deterministic corpus: English-ish words, unicode, JSON, whitespace."""
    rng = random.Random(seed)
    out = list(_EXTRA)
    for _ in range(lines):
        out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20))))
    return out


def markers_in(template_source: str) -> list[str]:
    """The special markers a template writes, found by scanning its text."""
    return sorted(set(_MARKER.findall(template_source)))


def _pick(markers: list[str], pattern: str, default: str) -> str:
    for m in markers:
        if re.search(pattern, m):
            return m
    return default


@lru_cache(maxsize=64)
def _build(
    specials: tuple[str, ...], bos: str | None, eos: str | None, vocab_size: int, add_bos: bool
) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    all_specials = [t for t in (bos, eos) if t] + [s for s in specials if s not in (bos, eos)]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=all_specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(lines=max(400, vocab_size // 4)), trainer)
    if add_bos and bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A",
            pair=f"{bos} $A {bos} $B",
            special_tokens=[(bos, tok.token_to_id(bos))],
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def family_tokenizer(
    template_source: str,
    *,
    extra: tuple[str, ...] = (),
    bos: str | None = "auto",
    eos: str | None = "auto",
    add_bos: bool = False,
    vocab_size: int = 600,
) -> PreTrainedTokenizerFast:
    """A tokenizer carrying ``template_source``'s markers as special tokens, with that
    template as its chat template.

    BOS / EOS (``auto``) are the template's own markers when it names them (DeepSeek's
    ``<｜begin▁of▁sentence｜>``, ...), else ``<s>`` / ``</s>``. ``add_bos`` makes the
    post-processor add BOS to every encoding, like Llama's and Gemma's tokenizers.
    """
    markers = markers_in(template_source)
    if bos == "auto":
        bos = _pick(markers, r"begin.of.sentence|begin_of_text|\bbos\b|BOS", "<s>")
    if eos == "auto":
        eos = _pick(markers, r"end.of.sentence|end_of_text|endoftext|\beos\b", "</s>")
    specials = tuple(sorted({*markers, *extra}))
    backend = _build(specials, bos, eos, vocab_size, add_bos)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend.__class__.from_str(backend.to_str()),
        bos_token=bos,
        eos_token=eos,
        pad_token=eos,
    )
    tokenizer.chat_template = template_source
    return tokenizer


def trl_templates() -> dict[str, str]:
    """Every template shipped in the installed trl package, by stem."""
    import importlib.util

    spec = importlib.util.find_spec("trl")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "chat_templates"
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.jinja"))}


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, folder: Path) -> Path:
    """Write a tokenizer folder that ``AutoTokenizer.from_pretrained`` opens offline."""
    tokenizer.save_pretrained(folder)
    return folder


# -- tokenizers shaped like a family's real one -------------------------------------------

# How the real tokenizer splits text before BPE:
#   bytelevel: GPT-2 style byte-level BPE (Llama 3, Qwen, DeepSeek, Tekken, Cohere, ...);
#   sp-always: SentencePiece converted the legacy way (Llama 2, Mistral v1): spaces become
#              "▁" and every text run, also one that follows a special token, gets a "▁"
#              prepended;
#   sp-first:  SentencePiece, "▁" prepended only at the start of the whole text (Mistral
#              v3 / v7 conversions, InternLM2);
#   sp-never:  SentencePiece with no dummy prefix (Gemma, Yi, Baichuan 2).
PRETOKENIZERS = ("bytelevel", "sp-always", "sp-first", "sp-never")


@lru_cache(maxsize=8)
def _base(pretokenizer: str, vocab_size: int) -> str:
    """A BPE trained on ``corpus()`` without any special token, as JSON: trained once per
    kind, then copied for each family (training is the slow part)."""
    import json

    if pretokenizer not in PRETOKENIZERS:
        raise ValueError(f"unknown pretokenizer {pretokenizer!r}; one of {PRETOKENIZERS}")
    if pretokenizer == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(corpus(lines=max(400, vocab_size // 4)), trainer)
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        return tok.to_str()
    scheme = pretokenizer.removeprefix("sp-")
    tok = Tokenizer(models.BPE(byte_fallback=True))
    # Train on words (split=True) so merges stay inside words, then tokenize like
    # SentencePiece: the whole text is one piece, spaces are "▁" (split=False).
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme=scheme, split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False)
    tok.train_from_iterator(corpus(lines=max(400, vocab_size // 4)), trainer)
    spec = json.loads(tok.to_str())
    # Byte fallback, as SentencePiece models have: any character the training text lacked
    # (CJK, emoji) becomes its UTF-8 bytes instead of an unknown token.
    vocab = spec["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    spec["model"]["byte_fallback"] = True
    spec["pre_tokenizer"] = {
        "type": "Metaspace",
        "replacement": "▁",
        "prepend_scheme": scheme,
        "split": False,
    }
    spec["decoder"] = {
        "type": "Sequence",
        "decoders": [
            {"type": "ByteFallback"},
            {"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": False},
        ],
    }
    return json.dumps(spec)


def spec_tokenizer(
    template_source: str,
    *,
    specials: tuple[str, ...],
    bos: str | None,
    eos: str | None,
    add_bos: bool = False,
    pretokenizer: str = "bytelevel",
    vocab_size: int = 600,
) -> PreTrainedTokenizerFast:
    """A tokenizer whose special tokens are exactly ``specials`` plus ``bos`` / ``eos``
    (as a family's real tokenizer has them: Mistral v3's ``[INST]`` is one token, Mistral
    v1's is text), split the way ``pretokenizer`` says, with ``template_source`` as its chat
    template. ``add_bos``: the post-processor adds BOS to every encoding, as the Llama,
    Mistral and Gemma tokenizers do.

    >>> tok = spec_tokenizer("", specials=("[INST]", "[/INST]"), bos="<s>", eos="</s>",
    ...                      pretokenizer="sp-first")                  # doctest: +SKIP
    >>> tok.tokenize("[INST] hi[/INST]")                               # doctest: +SKIP
    ['[INST]', '▁hi', '[/INST]']
    """
    from tokenizers import AddedToken

    tok = Tokenizer.from_str(_base(pretokenizer, vocab_size))
    added = list(dict.fromkeys(t for t in (bos, eos, *specials) if t))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added])
    if add_bos and bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A",
            pair=f"{bos} $A {bos} $B",
            special_tokens=[(bos, tok.token_to_id(bos))],
        )
    elif pretokenizer != "bytelevel":
        tok.post_processor = None
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=eos or bos
    )
    tokenizer.chat_template = template_source
    return tokenizer
