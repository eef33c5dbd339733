"""Our masks from each family's ORIGINAL template against TRL's oracle.

For every family whose ``*_training.jinja`` ships in the installed ``trl`` package (found by
glob; the original is the same stem without ``_training``, as trl/chat_templates/README.md
pairs them), a tokenizer carrying the family's markers is built, and for varied
conversations our labels (walking the ORIGINAL template, no ``{% generation %}`` marks)
are compared with the ``assistant_masks`` that ``apply_chat_template(...,
return_assistant_tokens_mask=True)`` gives with the TRAINING template.

Where a family's two templates legitimately differ, the difference is written out in
``DIFFERENCES`` below with its reason, as a function from the oracle's trained runs (the
decoded text of each run of consecutive trained tokens) to ours. Nothing is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tokenizer_factory

from dataprep.canonical import Conversation, Message, ToolCall
from dataprep.errors import RowError
from dataprep.prepare.encode.encoder import Encoder, SFTEncoded
from dataprep.prepare.template.choice import ChatTemplate, builtin_template

family_tokenizer = tokenizer_factory.family_tokenizer
trl_templates = tokenizer_factory.trl_templates

TEMPLATES = trl_templates()
FAMILIES = sorted(k.removesuffix("_training") for k in TEMPLATES if k.endswith("_training"))

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city"}},
                "required": ["city"],
            },
        },
    }
]

CONVERSATIONS = {
    "simple": Conversation(
        [
            Message("user", "What is the capital of France?"),
            Message("assistant", "Paris is the capital."),
        ]
    ),
    "system-multi": Conversation(
        [
            Message("system", "You are a helpful assistant."),
            Message("user", "hello there"),
            Message("assistant", "Hi! How can I help?"),
            Message("user", "Tell me about tokyo"),
            Message("assistant", "Tokyo is a city in Japan.\nIt is large."),
        ]
    ),
    "unicode": Conversation(
        [
            Message("user", "Ünïcödé 😀 你好"),
            Message("assistant", "  café — “ok” 🚀  "),
            Message("user", "again"),
            Message("assistant", "Привет мир"),
        ]
    ),
    "tools": Conversation(
        [
            Message("user", "Weather in Paris?"),
            Message(
                "assistant",
                None,
                tool_calls=[ToolCall("get_weather", '{"city": "Paris"}', id="c1")],
            ),
            Message("tool", '{"temperature": 21}', tool_call_id="c1", name="get_weather"),
            Message("assistant", "It is 21 celsius in Paris."),
        ],
        tools=TOOLS,
    ),
    "reasoning": Conversation(
        [
            Message("user", "2+2?"),
            Message("assistant", "4", reasoning="two plus two is four"),
            Message("user", "and 3+3?"),
            Message("assistant", "6", reasoning="three plus three"),
        ]
    ),
}

Runs = list[str]
Transform = Callable[[Runs, str, Any], Runs]


def _strip(run: str, prefix: str, tokenizer) -> str:
    """``run`` without the tokens that lie wholly inside the part of ``prefix`` (the
    generation prompt) it starts with: a token that straddles the end of that part
    (``<think>\\n`` then ``\\n`` merged into one token) overlaps the trained text, so it
    stays trained."""
    n = 0
    while n < min(len(run), len(prefix)) and run[n] == prefix[n]:
        n += 1
    prefix = prefix[:n]
    if not prefix:
        return run
    enc = tokenizer.backend_tokenizer.encode(run, add_special_tokens=False)
    keep = [i for i, (_, end) in enumerate(enc.offsets) if end > len(prefix)]
    return run[enc.offsets[keep[0]][0] :] if keep else ""


def _strip_each(prefix: str) -> Transform:
    return lambda runs, conv, tok: [_strip(r, prefix, tok) for r in runs]


_THINK = re.compile(r"^<think>.*?</think>\n\n", re.DOTALL)


def _qwen3_like(prompt: str, think_after_last_user: bool) -> Transform:
    # Qwen3-style originals write the think block only in turns after the last user
    # message (Qwen3 itself: only in the last turn, or one with reasoning); the training
    # templates write it in every turn (prefix preservation). And what the ORIGINAL
    # generation prompt writes is not generated, so not trained.
    def transform(runs: Runs, conv: str, tok) -> Runs:
        # In "tools" the tool-call turn comes after the last user message too.
        n_after = 2 if (conv == "tools" and think_after_last_user) else 1
        head = [_THINK.sub("", r) for r in runs[:-n_after]]
        return [*head, *(_strip(r, prompt, tok) for r in runs[-n_after:])]

    return transform


# family -> (why ours differs from the oracle, oracle runs -> our runs)
DIFFERENCES: dict[str, tuple[str, Transform]] = {
    "deepseek_r1_distill": (
        "the training template puts the <｜Assistant｜> header inside its generation block; "
        "it is the generation prompt, so we do not train it",
        _strip_each("<｜Assistant｜>"),
    ),
    "deepseekv3": (
        "as deepseek_r1_distill: <｜Assistant｜> is the generation prompt",
        _strip_each("<｜Assistant｜>"),
    ),
    "gptoss": (
        "the training template wraps <|start|>assistant, the generation prompt, in its block",
        _strip_each("<|start|>assistant"),
    ),
    "muse_glimmer": (
        "as gptoss: <|start|>assistant is the generation prompt",
        _strip_each("<|start|>assistant"),
    ),
    "qwen2_5": (
        "the training block starts before the newline of '<|im_start|>assistant\\n', which "
        "the generation prompt writes",
        _strip_each("\n"),
    ),
    "phi3": (
        "the original writes EOS after the final turn only; the training template trains it. "
        "Every turn ends with <|end|>\\n, which we train; the trailing EOS we leave",
        lambda runs, conv, tok: [*runs[:-1], runs[-1].removesuffix("</s>")],
    ),
    "phi3_5": (
        "as phi3: the EOS written after the final turn only",
        lambda runs, conv, tok: [*runs[:-1], runs[-1].removesuffix("</s>")],
    ),
    "glm4moe": (
        "GLM-4 writes no end-of-turn marker: the training template trains the next "
        "message's opening token (<|user|>, <|observation|>); we never train a token that "
        "opens a turn (DESIGN: trust rules), so a turn ends before it",
        lambda runs, conv, tok: [
            r.removesuffix("<|user|>").removesuffix("<|observation|>") for r in runs
        ],
    ),
    "llava_next": (
        "the original writes '</s> ' after every reply, so the end-of-turn suffix learned "
        "from it is '</s> ' with its space; the training block ends at </s>",
        lambda runs, conv, tok: [r + " " for r in runs],
    ),
    "diffusion_gemma": (
        "after a tool call the original writes <|tool_response>, the model's cue to stop for "
        "the result; no end-of-turn marker follows the call, so the turn ends where the "
        "rendering of the conversation up to it ends, which includes it",
        lambda runs, conv, tok: [
            r + "<|tool_response>" if r.endswith("<tool_call|>") else r for r in runs
        ],
    ),
    "qwen3": (
        "the original writes the think block in the last turn only (or one with reasoning)",
        _qwen3_like("", think_after_last_user=False),
    ),
    "qwen3_5_nothink": (
        "as qwen3, and the generation prompt (thinking off) writes the empty think block",
        _qwen3_like("<think>\n\n</think>\n\n", think_after_last_user=True),
    ),
    "qwen3_5_think": (
        "as qwen3, and the generation prompt (thinking on) writes '<think>\\n'",
        _qwen3_like("<think>\n", think_after_last_user=True),
    ),
    "qwen3_6": (
        "as qwen3_5_think",
        _qwen3_like("<think>\n", think_after_last_user=True),
    ),
    "qwen3_8": (
        "its original keeps history thinking (preserve_thinking on); the generation prompt "
        "writes '<think>\\n'",
        _strip_each("<think>\n"),
    ),
    **{
        name: (
            "the generation prompt writes '<think>\\n' (thinking on); the training block "
            "starts before it",
            _strip_each("<think>\n"),
        )
        for name in (
            "nemotron_3_nano",
            "nemotron_3_super",
            "nemotron_3_ultra",
            "nemotron_3_5_lightning",
        )
    },
}

# (family, conversation) -> why our walk refuses the row where the oracle does not.
# (Templates that write no tool calls refuse rows with calls: ``_drops_calls``.)
REFUSED: dict[tuple[str, str], str] = {}


def _drops_calls(encoder: Encoder, conv: Conversation) -> bool:
    """The template renders tool calls to nothing: a row with calls would lose them, so it
    is refused (``tool-calls-dropped``) where the oracle trains what is left."""
    return encoder._drops_tool_calls and any(m.tool_calls for m in conv.messages)


def _runs(tokenizer, ids: np.ndarray, mask: np.ndarray) -> Runs:
    out, start = [], None
    for i, m in enumerate([*mask.tolist(), 0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append(tokenizer.decode(ids[start:i].tolist()))
            start = None
    return out


def _oracle(tokenizer, messages, tools, template: str):
    out = tokenizer.apply_chat_template(
        messages,
        tools=tools,
        chat_template=template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    return np.array(out["input_ids"]), np.array(out["assistant_masks"])


def _tokenizer(family: str):
    return family_tokenizer(TEMPLATES[f"{family}_training"] + TEMPLATES[family])


@pytest.mark.parametrize("conv_name", sorted(CONVERSATIONS))
@pytest.mark.parametrize("family", FAMILIES)
def test_original_template_masks_match_training_template(family, conv_name):
    tokenizer = _tokenizer(family)
    conv = CONVERSATIONS[conv_name]
    encoder = Encoder(tokenizer, ChatTemplate.from_source(family, TEMPLATES[family]), spans="walk")
    messages = encoder.template_messages(conv.messages)
    [ours] = encoder.encode_sft([conv])
    try:
        ids, mask = _oracle(tokenizer, messages, conv.tools, TEMPLATES[f"{family}_training"])
    except Exception as e:  # the template refuses this conversation (e.g. Gemma: no system)
        assert isinstance(ours, RowError) and ours.code == "template-error", (ours, e)
        return
    if (family, conv_name) in REFUSED:
        assert isinstance(ours, RowError) and ours.code == "mask-unlocatable", ours
        return
    if _drops_calls(encoder, conv):
        assert isinstance(ours, RowError) and ours.code == "tool-calls-dropped", ours
        return
    assert isinstance(ours, SFTEncoded), ours
    # Our ids are apply_chat_template's with the original template, always.
    reference = tokenizer.apply_chat_template(
        messages, tools=conv.tools, chat_template=TEMPLATES[family], tokenize=True, return_dict=True
    )["input_ids"]
    assert ours.input_ids.tolist() == list(reference)

    oracle_runs = _runs(tokenizer, ids, mask)
    _, transform = DIFFERENCES.get(family, ("", lambda runs, conv, tok: runs))
    expected = transform(oracle_runs, conv_name, tokenizer)
    assert _runs(tokenizer, ours.input_ids, ours.labels != -100) == expected
    if family not in DIFFERENCES:
        # Same rendering, same tokens: the masks are equal token for token.
        assert ours.input_ids.tolist() == ids.tolist()
        assert ((ours.labels != -100).astype(int) == mask).all()


def test_every_difference_names_a_shipped_family():
    assert set(DIFFERENCES) <= set(FAMILIES)
    assert {f for f, _ in REFUSED} <= set(FAMILIES)


@pytest.mark.parametrize("conv_name", sorted(CONVERSATIONS))
@pytest.mark.parametrize("family", FAMILIES)
def test_generation_blocks_of_training_template_match_oracle_exactly(family, conv_name):
    """Path (a): the training template's own {% generation %} blocks, through our renderer,
    give exactly transformers' assistant_masks."""
    tokenizer = _tokenizer(family)
    conv = CONVERSATIONS[conv_name]
    source = TEMPLATES[f"{family}_training"]
    encoder = Encoder(tokenizer, ChatTemplate.from_source(family, source), spans="generation")
    messages = encoder.template_messages(conv.messages)
    [ours] = encoder.encode_sft([conv])
    try:
        ids, mask = _oracle(tokenizer, messages, conv.tools, source)
    except Exception:
        assert isinstance(ours, RowError) and ours.code == "template-error"
        return
    if _drops_calls(encoder, conv):
        assert isinstance(ours, RowError) and ours.code == "tool-calls-dropped", ours
        return
    assert isinstance(ours, SFTEncoded), ours
    assert ours.input_ids.tolist() == ids.tolist()
    assert ((ours.labels != -100).astype(int) == mask).all()


# Templates with {% generation %} blocks whose blocks hold exactly what the walk finds:
# there the two methods must agree token for token.
AGREEING = [
    "chatml",
    "lfm2_2_5",
    "lfm2_2_5_v2",
    "qwen3_instruct_2507_training",
    "qwen3_vl_training",
]


@pytest.mark.parametrize("conv_name", sorted(CONVERSATIONS))
@pytest.mark.parametrize("name", AGREEING)
@pytest.mark.parametrize("mask", ["assistant", "last"])
def test_generation_blocks_and_walk_agree(name, conv_name, mask):
    template = builtin_template(name)
    assert template.has_generation
    tokenizer = family_tokenizer(template.source)
    conv = CONVERSATIONS[conv_name]
    [a] = Encoder(tokenizer, template, mask=mask, spans="generation").encode_sft([conv])
    [b] = Encoder(tokenizer, template, mask=mask, spans="walk").encode_sft([conv])
    if isinstance(a, RowError):
        assert isinstance(b, RowError) and b.code == a.code
        return
    assert isinstance(b, SFTEncoded), b
    assert a.input_ids.tolist() == b.input_ids.tolist()
    assert a.labels.tolist() == b.labels.tolist()


@pytest.mark.parametrize("conv_name", sorted(CONVERSATIONS))
@pytest.mark.parametrize("family", FAMILIES)
def test_rows_cut_before_every_special_token_equal_whole_rows(family, conv_name):
    """Long renderings are tokenized in pieces (``pieces``); cutting before every special
    token each family's templates write changes no id and no label."""
    tokenizer = _tokenizer(family)
    conv = CONVERSATIONS[conv_name]
    for source in (TEMPLATES[family], TEMPLATES[f"{family}_training"]):
        template = ChatTemplate.from_source(family, source)
        [whole] = Encoder(tokenizer, template, piece_chars=10**9).encode_sft([conv])
        cut_encoder = Encoder(tokenizer, template, piece_chars=1)
        [cut] = cut_encoder.encode_sft([conv])
        assert cut_encoder._pieces.note is None
        if isinstance(whole, RowError):
            assert isinstance(cut, RowError) and cut.code == whole.code
            continue
        assert cut.input_ids.tolist() == whole.input_ids.tolist()
        assert cut.labels.tolist() == whole.labels.tolist()
