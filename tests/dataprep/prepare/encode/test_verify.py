"""Render-diff (``dataprep.prepare.encode.verify``): the independent reference for which tokens an
assistant turn trains, and the check that picks the span method that agrees with it.

The expected trained texts below are written by hand from what each small template
renders: a turn's own text plus what closes it, never what opens the next turn, and the
text the template inserts after its generation prompt (an empty think block) only where
that prompt does not write it.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from tokenizer_factory import family_tokenizer, save_tokenizer

from dataprep.canonical import Conversation, Message
from dataprep.cli import cli
from dataprep.errors import PrepareError
from dataprep.prepare.encode.encoder import Encoder
from dataprep.prepare.encode.verify import (
    check_encoder,
    probe_conversations,
    reference_row,
    reference_turn_spans,
)
from dataprep.prepare.template.choice import ChatTemplate
from dataprep.prepare.template.rendering import compile_template, render

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# The final turn gets an empty think block its generation prompt does not write (Qwen3).
THINK_LAST = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.role == 'assistant' and loop.last %}<think>\n\n</think>\n\n{% endif %}"
    "{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# The same block written by the generation prompt too (thinking off): it is the prompt's.
THINK_PROMPT = THINK_LAST.replace(
    "<|im_start|>assistant\n{% endif %}",
    "<|im_start|>assistant\n<think>\n\n</think>\n\n{% endif %}",
)
# End of turn directly followed by the next turn's opener (Cohere).
COHERE = (
    "{% for m in messages %}<|START_OF_TURN_TOKEN|>"
    "{{ {'user': '<|USER_TOKEN|>', 'system': '<|SYSTEM_TOKEN|>'}.get(m.role, '<|CHATBOT_TOKEN|>') }}"
    "{{ m.content }}<|END_OF_TURN_TOKEN|>{% endfor %}"
    "{% if add_generation_prompt %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% endif %}"
)
# A final answer ends with <|return|>, one in history with <|end|> (gpt-oss).
RETURN_LAST = (
    "{% for m in messages %}<|start|>{{ m.role }}<|message|>{{ m.content }}"
    "{{ '<|return|>' if (loop.last and m.role == 'assistant') else '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}<|start|>assistant<|message|>{% endif %}"
)
# No special tokens at all; turns separated by a space (Vicuna without EOS).
SPACED = (
    "{% for m in messages %}{{ {'user': 'USER: ', 'system': ''}.get(m.role, 'ASSISTANT: ') }}"
    "{{ m.content }} {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

TWO_TURNS = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Ciao"},
]


def _trained_runs(source: str, messages: list[dict[str, str]]) -> list[str]:
    """The render-diff trained text of each turn, cut to whole tokens of a tokenizer that
    carries the template's markers."""
    tok = family_tokenizer(source)
    encoder = Encoder(tok, ChatTemplate.from_source("t", source), verify=False)
    conv = Conversation(messages=[Message(role=m["role"], content=m["content"]) for m in messages])
    ref = reference_row(encoder, conv)
    return [ref.text[a:b] for a, b in ref.spans]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (CHATML, ["Hello<|im_end|>\n", "Ciao<|im_end|>\n"]),
        (THINK_LAST, ["Hello<|im_end|>\n", "<think>\n\n</think>\n\nCiao<|im_end|>\n"]),
        (THINK_PROMPT, ["Hello<|im_end|>\n", "Ciao<|im_end|>\n"]),
        (COHERE, ["Hello<|END_OF_TURN_TOKEN|>", "Ciao<|END_OF_TURN_TOKEN|>"]),
        # <|end|> and <|return|> differ, so nothing closes a turn both when the
        # conversation goes on and when it ends there: the end-of-turn token that follows
        # closes it.
        (RETURN_LAST, ["Hello<|end|>", "Ciao<|return|>"]),
        # The space after the generation prompt is the model's; the closing space is not
        # trained where the tokenizer merges it into the next header.
        (SPACED, None),
    ],
    ids=["chatml", "think-last", "think-in-prompt", "cohere", "return-last", "spaced"],
)
def test_reference_spans_by_hand(source, expected):
    runs = _trained_runs(source, TWO_TURNS)
    if expected is None:
        assert [r.strip() for r in runs] == ["Hello", "Ciao"]
        assert runs[0].startswith(" Hello")
    else:
        assert runs == expected


def test_reference_spans_without_a_tokenizer():
    """The pure function over a renderer: closing text compared as characters."""
    template = compile_template(CHATML)
    render_ = lambda messages, gen: render(template, messages, add_generation_prompt=gen).text  # noqa: E731
    text = render_(TWO_TURNS, False)
    spans = reference_turn_spans(render_, TWO_TURNS)
    assert [text[a:b] for a, b in spans] == ["Hello<|im_end|>\n", "Ciao<|im_end|>\n"]


def test_a_token_shared_with_the_next_header_is_not_trained():
    """``SPACED`` closes a turn with a space that the tokenizer merges into `` USER``:
    snapped to whole tokens, the space goes with the next header, untrained."""
    tok = family_tokenizer(SPACED)
    encoder = Encoder(tok, ChatTemplate.from_source("spaced", SPACED), verify=False)
    conv = Conversation(messages=[Message(role=m["role"], content=m["content"]) for m in TWO_TURNS])
    ref = reference_row(encoder, conv)
    trained = [tok.decode([int(i)]) for i in ref.input_ids[ref.labels != -100]]
    assert not any("USER" in t for t in trained)
    assert "Hello" in "".join(trained) and "Ciao" in "".join(trained)


@pytest.mark.parametrize("source", [CHATML, THINK_LAST, THINK_PROMPT, COHERE, SPACED])
def test_check_verifies_the_walk_on_templates_without_blocks(source):
    tok = family_tokenizer(source)
    check = check_encoder(Encoder(tok, ChatTemplate.from_source("t", source), verify=False))
    assert (check.ok, check.method) == (True, "walk"), check.problems
    assert check.probes >= 6


def test_check_prefers_generation_blocks_that_agree():
    source = CHATML.replace(
        "{{ m.content }}<|im_end|>\n",
        "{% if m.role == 'assistant' %}{% generation %}{{ m.content }}<|im_end|>\n"
        "{% endgeneration %}{% else %}{{ m.content }}<|im_end|>\n{% endif %}",
    )
    tok = family_tokenizer(source)
    encoder = Encoder(tok, ChatTemplate.from_source("t", source))
    assert encoder.span_check.method == "generation"
    assert encoder.span_check.agreeing == {"generation": encoder.span_check.probes,
                                           "walk": encoder.span_check.probes}  # fmt: skip


def test_blocks_that_train_the_header_are_not_used():
    # The block opens before the header: it would train <|im_start|>assistant.
    source = (
        "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
        "<|im_start|>assistant\n{{ m.content }}<|im_end|>\n{% endgeneration %}"
        "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tok = family_tokenizer(source)
    encoder = Encoder(tok, ChatTemplate.from_source("t", source))
    assert encoder.span_check.method == "walk"
    assert encoder.span_check.agreeing["generation"] == 0
    assert any("disagree" in note for note in encoder.notes)
    conv = probe_conversations()["one"]
    [row] = encoder.encode_sft([conv])
    trained = tok.decode(row.input_ids[row.labels != -100])
    assert trained == "Answer number 0: it is sunny.<|im_end|>\n"


# A reply that mentions the sun is written reversed: the walk cannot find it, render-diff
# still can (the probes that learn the markers do not mention it).
REVERSED = CHATML.replace(
    "{{ m.content }}",
    "{{ m.content[::-1] if (m.role == 'assistant' and 'sunny' in m.content) else m.content }}",
)


def test_a_template_no_method_agrees_with_is_refused():
    tok = family_tokenizer(REVERSED)
    with pytest.raises(PrepareError, match="cannot verify which tokens to train"):
        Encoder(tok, ChatTemplate.from_source("reversed", REVERSED))
    check = check_encoder(Encoder(tok, ChatTemplate.from_source("r", REVERSED), verify=False))
    assert not check.ok and check.method == "none"
    assert check.agreeing["walk"] < check.probes


def test_the_check_is_cached_per_template_and_tokenizer():
    tok = family_tokenizer(CHATML)
    a = Encoder(tok, ChatTemplate.from_source("t", CHATML))
    b = Encoder(tok, ChatTemplate.from_source("t", CHATML), mask="last")
    assert a.span_check is b.span_check


@pytest.mark.parametrize(
    ("thinking", "kept"),
    [("keep", [True, True]), ("last", [False, True]), ("drop", [False, False])],
)
def test_thinking_policy(thinking, kept):
    source = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n"
        "{% if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}"
        "{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tok = family_tokenizer(source)
    encoder = Encoder(tok, ChatTemplate.from_source("t", source), thinking=thinking)
    conv = probe_conversations()["reasoning"]
    [row] = encoder.encode_sft([conv])
    text = tok.decode(row.input_ids)
    assert ["two and two make four" in text, "three and three make six" in text] == kept
    # Reasoning that is rendered is trained with its turn.
    trained = tok.decode(row.input_ids[row.labels != -100])
    assert ("three and three make six" in trained) == kept[1]


def test_template_kwargs_reach_the_template():
    source = CHATML.replace(
        "{% if add_generation_prompt %}",
        "{% if flag is defined and flag %}<|im_start|>note\nflagged<|im_end|>\n{% endif %}"
        "{% if add_generation_prompt %}",
    )
    tok = family_tokenizer(source)
    conv = probe_conversations()["one"]
    on = Encoder(tok, ChatTemplate.from_source("t", source), template_kwargs={"flag": True})
    off = Encoder(tok, ChatTemplate.from_source("t", source))
    [a], [b] = on.encode_sft([conv]), off.encode_sft([conv])
    assert "flagged" in tok.decode(a.input_ids) and "flagged" not in tok.decode(b.input_ids)


@pytest.fixture
def reversed_template(tmp_path):
    path = tmp_path / "reversed.jinja"
    path.write_text(REVERSED, encoding="utf-8")
    return str(path)


@pytest.fixture
def chatml_tok(tmp_path):
    return str(save_tokenizer(family_tokenizer(CHATML), tmp_path / "tok"))


def test_check_template_cli_reports_a_verified_template(chatml_tok):
    result = CliRunner().invoke(cli, ["check-template", "--tokenizer", chatml_tok])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "chat template tokenizer: masks verified"
    assert "  end of turn         '<|im_end|>\\n', '<|im_end|>'" in lines
    assert "«Paris is the capital of France.<|im_end|>" in result.output


def test_check_template_cli_exits_1_where_masks_could_be_wrong(chatml_tok, reversed_template):
    result = CliRunner().invoke(
        cli, ["check-template", "--tokenizer", chatml_tok, "--chat-template", reversed_template]
    )
    assert result.exit_code == 1, result.output
    assert f"chat template {reversed_template}: MASKS COULD BE WRONG" in result.output


def test_check_template_json(chatml_tok):
    import json

    result = CliRunner().invoke(cli, ["check-template", "--tokenizer", chatml_tok, "--json"])
    report = json.loads(result.output)
    assert report["ok"] is True and report["masks"]["method"] == "walk"
    tokens = report["example"]["tokens"]
    trained = "".join(t["text"] for t in tokens if t["trained"])
    assert trained == "Paris is the capital of France.<|im_end|>\nTokyo.<|im_end|>\n"


def test_check_template_cli_bad_kwarg_is_a_usage_error(chatml_tok):
    result = CliRunner().invoke(
        cli, ["check-template", "--tokenizer", chatml_tok, "--template-kwarg", "no-equals"]
    )
    assert result.exit_code == 2
    assert "is not KEY=VALUE" in result.output


def test_reference_labels_match_token_count():
    tok = family_tokenizer(CHATML)
    encoder = Encoder(tok, ChatTemplate.from_source("t", CHATML))
    conv = probe_conversations()["three"]
    ref = reference_row(encoder, conv)
    [row] = encoder.encode_sft([conv])
    assert np.array_equal(ref.input_ids, row.input_ids)
    assert np.array_equal(ref.labels, row.labels)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("qwen3", "trained: the template writes it and its generation prompt does not"),
        ("qwen3_5_nothink", "part of the prompt: the generation prompt writes it too"),
        ("qwen2_5", "none"),
    ],
)
def test_check_template_says_whose_the_empty_think_block_is(template, expected):
    from dataprep.prepare.template.check import check_template
    from dataprep.prepare.template.choice import builtin_template

    source = builtin_template(template)
    report = check_template(family_tokenizer(source.source), source)
    assert report["ok"], report["masks"]["problems"]
    assert report["thinking"]["empty_block"] == expected
