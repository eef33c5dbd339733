"""Every chat-template family of the corpus (``tests/support/template_corpus.py``: the
templates the installed trl wheel ships, and ours written from each family's published
format) against every probe conversation:

(a) our ids equal ``tokenizer.apply_chat_template(..., tokenize=True)``'s;
(b) each of our templates renders the hand-written text of the family's published format;
(c) our labels equal the render-diff labels of ``dataprep.prepare.encode.verify`` (with the
    template's own ``{% generation %}`` blocks and with the walk, when it has blocks);
(d) the labels of a ``{% generation %}`` variant (trl's ``*_training``) equal its
    render-diff labels, or, for the variants whose blocks train what the generation
    prompt writes (``GENERATION_DIFFERS``, each with its reason), the verified encoder
    uses the walk and its labels do.

A failure of (c)/(d) says which token differs and what each side trains, decoded.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest
import template_corpus as tc
import tokenizer_factory

from dataprep.errors import PrepareError, RowError
from dataprep.prepare.encode.encoder import Encoder
from dataprep.prepare.encode.verify import Unverifiable, first_difference, reference_row
from dataprep.prepare.template.choice import ChatTemplate
from dataprep.prepare.template.rendering import compile_template, render, to_template_messages

FAMILIES = list(tc.FAMILIES)
OURS = [f.name for f in tc.FAMILIES.values() if f.template.startswith("corpus:")]
CASES = [(f.name, probe) for f in tc.FAMILIES.values() for probe in tc.probes_for(f)]
TRAINING_CASES = [
    (f.name, probe)
    for f in tc.FAMILIES.values()
    if tc.training_source(f) is not None
    for probe in tc.probes_for(f)
]
# Original templates that carry {% generation %} blocks themselves: their walk is checked
# too (the default method uses the blocks).
WALK_TOO = [
    (f.name, probe)
    for f in tc.FAMILIES.values()
    if ChatTemplate.from_source(f.name, tc.template_source(f)).has_generation
    for probe in tc.probes_for(f)
]


@cache
def _encoder(
    family_name: str, variant: str = "original", spans: str = "auto", verify: bool = True
) -> Encoder:
    """The encoder a user gets for the family (``auto`` spans, verified against
    render-diff before use), or one with its span method forced (not verified)."""
    family = tc.FAMILIES[family_name]
    source = tc.template_source(family) if variant == "original" else tc.training_source(family)
    assert source is not None
    template = ChatTemplate.from_source(family_name, source)
    return Encoder(tc.family_tokenizer(family), template, spans=spans, verify=verify)


def _encoder_or_fail(family_name: str, variant: str = "original", spans: str = "auto") -> Encoder:
    __tracebackhide__ = True
    try:
        return _encoder(family_name, variant, spans)
    except PrepareError as e:
        refusal = str(e)
    pytest.fail(f"{family_name}: the encoder refuses the template: {refusal}", pytrace=False)


@cache
def _row(
    family_name: str,
    probe: str,
    variant: str = "original",
    spans: str = "auto",
    verify: bool = True,
) -> Any:
    """``encode_sft`` of one probe."""
    [row] = _encoder(family_name, variant, spans, verify).encode_sft([tc.PROBES[probe]])
    return row


def _template_messages(family_name: str, conversation: Any) -> list[dict[str, Any]]:
    """The messages as our encoder hands them to the template (text or text blocks), or
    as plain dicts when the encoder refuses the template (the table tests still apply)."""
    try:
        return _encoder(family_name, verify=False).template_messages(conversation.messages)
    except PrepareError:
        return to_template_messages(conversation.messages)


def _runs(tokenizer: Any, ids: np.ndarray, labels: np.ndarray) -> list[str]:
    """The decoded text of each run of consecutive trained tokens."""
    out, start = [], None
    for i, trained in enumerate([*(labels != -100).tolist(), False]):
        if trained and start is None:
            start = i
        elif not trained and start is not None:
            out.append(tokenizer.decode(ids[start:i].tolist()))
            start = None
    return out


def _compare_with_render_diff(
    family_name: str, probe: str, variant: str = "original", spans: str = "auto"
) -> None:
    __tracebackhide__ = True  # the failure message says it all
    encoder = _encoder_or_fail(family_name, variant, spans)
    conv = tc.PROBES[probe]
    row = _row(family_name, probe, variant, spans)
    try:
        ref = reference_row(encoder, conv)
    except RowError as e:
        # The template refuses the conversation (no system role, ...): so must we.
        assert isinstance(row, RowError) and row.code == e.code, (row, e)
        return
    except Unverifiable as e:
        pytest.fail(f"{family_name}/{probe}: render-diff cannot read the rendering: {e}")
    if isinstance(row, RowError):
        pytest.fail(f"{family_name}/{probe}: we refuse the row: {row.message} [{row.code}]")
    assert row.input_ids.tolist() == ref.input_ids.tolist()
    if row.labels.tolist() != ref.labels.tolist():
        tok = encoder.tokenizer
        pytest.fail(
            f"{family_name}/{probe}: "
            + first_difference(tok, row.input_ids, row.labels, ref.labels)
            + f"\n  ours trains:        {_runs(tok, row.input_ids, row.labels)}"
            + f"\n  render-diff trains: {_runs(tok, ref.input_ids, ref.labels)}"
        )


# -- (a) ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "probe"), CASES)
def test_ids_equal_apply_chat_template(family, probe):
    # Ids do not depend on masks: the encoder is built without the span check, so a
    # template whose masks cannot be verified still has its ids checked.
    try:
        encoder = _encoder(family, verify=False)
    except PrepareError as e:
        pytest.skip(f"the encoder refuses the template ({e}); the labels test reports it")
    conv = tc.PROBES[probe]
    row = _row(family, probe, verify=False)
    messages = encoder.template_messages(conv.messages)
    try:
        reference = encoder.tokenizer.apply_chat_template(
            messages, tools=conv.tools, tokenize=True, return_dict=True
        )["input_ids"]
    except Exception as e:  # the template refuses the conversation: so must we
        assert isinstance(row, RowError) and row.code == "template-error", (row, e)
        return
    if isinstance(row, RowError):
        pytest.skip(f"row refused ({row.code}); test_labels_equal_render_diff reports it")
    assert row.input_ids.tolist() == list(reference)


# -- (b) our templates render the published format ----------------------------------------


@pytest.mark.parametrize("family", OURS)
def test_corpus_template_renders_the_published_format(family):
    f = tc.FAMILIES[family]
    conv = tc.REFERENCE if f.system else tc.REFERENCE_NO_SYSTEM
    messages = to_template_messages(conv.messages)
    text = tc.family_tokenizer(f).apply_chat_template(messages, tokenize=False)
    assert text == f.expected
    # ...and our renderer renders the same.
    variables = {"bos_token": f.bos, "eos_token": f.eos}
    ours = render(compile_template(tc.template_source(f)), messages, variables=variables)
    assert ours.text == f.expected


# -- (c) labels against render-diff --------------------------------------------------------


@pytest.mark.parametrize(("family", "probe"), CASES)
def test_labels_equal_render_diff(family, probe):
    _compare_with_render_diff(family, probe)


@pytest.mark.parametrize(("family", "probe"), WALK_TOO)
def test_walk_labels_equal_render_diff(family, probe):
    _compare_with_render_diff(family, probe, spans="walk")


# -- (d) generation blocks against render-diff ---------------------------------------------


# Training templates whose {% generation %} blocks hold more or less than the turn's own
# text and its closing text (render-diff's definition, DESIGN's trust rules): there the
# runtime check must see the difference and use the walk, which agrees.
GENERATION_DIFFERS = {
    "deepseek_r1_distill": "the block holds <｜Assistant｜>, the generation prompt",
    "deepseekv3": "the block holds <｜Assistant｜>, the generation prompt",
    "gptoss": "the block holds <|start|>assistant, the generation prompt",
    "muse_glimmer": "the block holds <|start|>assistant, the generation prompt",
    "qwen2_5": "the block starts at the newline of <|im_start|>assistant\\n (the prompt's)",
    "qwen3_5_nothink": "the block holds the empty think block the generation prompt writes",
    "qwen3_5_think": "the block holds <think>\\n, which the generation prompt writes",
    "qwen3_6": "the block holds <think>\\n, which the generation prompt writes",
    "qwen3_8": "the block holds <think>\\n, which the generation prompt writes",
    **{
        name: "the block holds <think>, which the generation prompt writes"
        for name in (
            "nemotron_3_nano",
            "nemotron_3_super",
            "nemotron_3_ultra",
            "nemotron_3_5_lightning",
        )
    },
    "phi3": "the block holds the EOS written after the final turn only",
    "phi3_5": "the block holds the EOS written after the final turn only",
    "llava_next_mistral": "the block ends at </s>; the template closes a turn with '</s> '",
    "diffusion_gemma": "the block leaves out the <|tool_response> cue that follows a call",
}


@pytest.mark.parametrize(("family", "probe"), TRAINING_CASES)
def test_generation_labels_equal_render_diff(family, probe):
    if family in GENERATION_DIFFERS:
        # The user's encoder for this template verifies and falls back to the walk.
        assert _encoder_or_fail(family, "training").span_check.method == "walk"
        _compare_with_render_diff(family, probe, "training")
    else:
        _compare_with_render_diff(family, probe, "training", spans="generation")


@pytest.mark.parametrize("family", sorted(GENERATION_DIFFERS))
def test_every_listed_generation_difference_is_real(family):
    """The table cannot go stale: each listed family's blocks differ on some probe."""
    encoder = _encoder(family, "training", "generation", verify=False)
    differs = []
    for probe in tc.probes_for(tc.FAMILIES[family]):
        try:
            ref = reference_row(encoder, tc.PROBES[probe])
        except (RowError, Unverifiable):
            continue
        row = _row(family, probe, "training", "generation", False)
        differs.append(not isinstance(row, RowError) and row.labels.tolist() != ref.labels.tolist())
    assert any(differs)


# -- the table itself ----------------------------------------------------------------------


def test_every_corpus_template_is_in_the_table():
    files = {p.stem for p in tc.CORPUS_DIR.glob("*.jinja")}
    named = {f.template.removeprefix("corpus:") for f in tc.FAMILIES.values()}
    assert files <= named
    assert {n.removeprefix("corpus:") for n in named if n.startswith("corpus:")} <= files


@pytest.mark.parametrize("family", OURS)
def test_corpus_template_names_its_family_and_source(family):
    f = tc.FAMILIES[family]
    first_line = tc.template_source(f).splitlines()[0]
    assert first_line.startswith("{#-") and first_line.endswith("-#}")
    repository = f.published.split(":")[0]
    assert repository in first_line
    assert f.expected is not None


@pytest.mark.parametrize("family", FAMILIES)
def test_table_says_whether_the_template_writes_bos(family):
    f = tc.FAMILIES[family]
    conv = tc.REFERENCE if f.system else tc.REFERENCE_NO_SYSTEM
    messages = _template_messages(family, conv)
    text = tc.family_tokenizer(f).apply_chat_template(messages, tokenize=False)
    starts_with_bos = f.bos is not None and text.startswith(f.bos)
    assert starts_with_bos == f.writes_bos


@pytest.mark.parametrize("family", FAMILIES)
def test_special_tokens_are_single_tokens(family):
    f = tc.FAMILIES[family]
    tok = tc.family_tokenizer(f)
    for special in {*tc.special_tokens(f), f.bos, f.eos} - {None}:
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1, special


def _tokens(pretokenizer: str, text: str, specials: tuple[str, ...] = ()) -> list[str]:
    tok = tokenizer_factory.spec_tokenizer(
        "", specials=specials, bos="<s>", eos="</s>", pretokenizer=pretokenizer
    )
    return tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])


def test_spec_tokenizer_special_tokens_are_what_the_family_names():
    # Mistral v1 writes "[INST]" as text, v3 as a control token.
    assert "[INST]" not in _tokens("sp-always", " [INST] the model")
    assert _tokens("sp-first", "[INST] the model", ("[INST]",))[0] == "[INST]"


@pytest.mark.parametrize(
    ("pretokenizer", "space_after_special", "space_at_start"),
    [
        ("sp-always", True, True),  # legacy Llama 2 / Mistral v1 conversion
        ("sp-first", False, True),  # Mistral v3 / v7 conversion
        ("sp-never", False, False),  # Gemma, Yi: no dummy prefix
    ],
)
def test_spec_tokenizer_sentencepiece_prefix(pretokenizer, space_after_special, space_at_start):
    after = _tokens(pretokenizer, "</s>model")
    assert after[0] == "</s>"
    assert after[1].startswith("▁") == space_after_special
    assert _tokens(pretokenizer, "model")[0].startswith("▁") == space_at_start
    # A space is "▁", kept with the word that follows it.
    assert _tokens(pretokenizer, "the model")[-1] == "▁model"


def test_spec_tokenizer_byte_level():
    assert _tokens("bytelevel", "the model")[-1] == "Ġmodel"
    assert _tokens("bytelevel", "</s>model")[1] != "Ġmodel"


# -- controls: the checks above can fail ----------------------------------------------------


def test_control_published_format_check_catches_a_missing_space():
    f = tc.FAMILIES["mistral_v1"]
    wrong = tc.template_source(f).replace("' [INST] '", "'[INST] '")
    messages = to_template_messages(tc.REFERENCE.messages)
    text = tc.family_tokenizer(f).apply_chat_template(messages, chat_template=wrong, tokenize=False)
    assert text != f.expected and text.replace("[INST]", " [INST]") == f.expected


def test_control_render_diff_comparison_catches_trained_prompts():
    encoder = _encoder("chatml", verify=False)
    conv = tc.PROBES["system-one-exchange"]
    [everything] = Encoder(encoder.tokenizer, encoder.template, mask="all").encode_sft([conv])
    ref = reference_row(encoder, conv)
    assert everything.input_ids.tolist() == ref.input_ids.tolist()
    assert everything.labels.tolist() != ref.labels.tolist()
    assert "render-diff does the opposite" in first_difference(
        encoder.tokenizer, everything.input_ids, everything.labels, ref.labels
    )


# -- cost: one render a row, whatever its length -------------------------------------------


def _long_conversation(exchanges: int) -> Any:
    from dataprep.canonical import Conversation, Message

    messages = []
    for i in range(exchanges):
        messages.append(Message(role="user", content=f"Question {i} about the weather in town?"))
        messages.append(Message(role="assistant", content=f"Answer {i}: it is sunny today."))
    return Conversation(messages=messages)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_long_conversation_is_rendered_once(family, monkeypatch):
    """Masks cost linear time: the walk never renders the conversation again per turn
    (40 exchanges, one render), for every family whose template the encoder takes."""
    import dataprep.prepare.encode.encoder as encoding

    try:
        encoder = _encoder(family)
    except PrepareError:
        pytest.skip("the encoder refuses this template (test_labels_equal_render_diff says why)")
    calls = []
    real = encoding.render
    monkeypatch.setattr(encoding, "render", lambda *a, **k: calls.append(1) or real(*a, **k))
    [row] = encoder.encode_sft([_long_conversation(40)])
    if isinstance(row, RowError):
        pytest.skip(f"the template refuses the conversation: {row.message}")
    assert len(calls) == 1
    assert int((row.labels != -100).sum()) > 0
