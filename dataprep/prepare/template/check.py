"""What a user should know about a chat template before a long training job, for one
tokenizer: how turns open and close, BOS handling, thinking blocks, tool calls, which span
method finds the trained tokens and whether it agrees with render-diff (``verify``), and
one conversation with its trained tokens. ``dataprep check-template`` prints it.

>>> from dataprep.prepare.template.choice import load_tokenizer, resolve_template
>>> tok = load_tokenizer("samples/tiny-tokenizer")
>>> report = check_template(tok, resolve_template(tok, None))
>>> report["ok"], report["masks"]["method"]
(True, 'walk')
"""

from __future__ import annotations

from typing import Any

from dataprep.canonical import Conversation, Message
from dataprep.contract import IGNORE_INDEX
from dataprep.errors import RowError
from dataprep.prepare.template.choice import ChatTemplate

_EXAMPLE = Conversation(
    messages=[
        Message(role="system", content="You are a careful helper."),
        Message(role="user", content="What is the capital of France?"),
        Message(role="assistant", content="Paris is the capital of France."),
        Message(role="user", content="And of Japan?"),
        Message(role="assistant", content="Tokyo."),
    ]
)


def check_template(
    tokenizer: Any,
    template: ChatTemplate,
    *,
    template_kwargs: dict[str, Any] | None = None,
    system: str | None = None,
    thinking: str = "keep",
) -> dict[str, Any]:
    """The report as a dict (what ``--json`` prints). ``report["ok"]`` is False where the
    masks could be wrong: no span method agrees with render-diff on the probes."""
    from dataprep.prepare.encode.encoder import Encoder
    from dataprep.prepare.encode.verify import cached_check

    encoder = Encoder(
        tokenizer,
        template,
        system=system,
        template_kwargs=template_kwargs,
        thinking=thinking,
        verify=False,
    )
    check = cached_check(encoder)
    if check.ok:
        encoder = encoder.with_method(check.method)
    markers = encoder._markers
    warnings = []
    if markers is not None and not markers.ends:
        warnings.append(
            "nothing the template writes closes an assistant turn: the model does not learn "
            "to stop from it"
            + (
                f" (turns end before {', '.join(markers.openers)}, which opens the next "
                "message and is never trained)"
                if markers.openers
                else ""
            )
        )
    if encoder._drops_tool_calls:
        warnings.append("the template does not write tool calls: rows with calls are refused")
    return {
        "ok": check.ok,
        "template": {"name": template.name, "sha256": template.sha256},
        "masks": {
            "method": check.method,
            "why": _why(template, check),
            "probes": check.probes,
            "agreeing": dict(check.agreeing),
            "problems": list(check.problems),
        },
        "turns": {
            "generation_prompt": markers.prompt if markers else None,
            "headers": list(markers.headers) if markers else [],
            "end_of_turn": list(markers.ends) if markers else [],
            "openers": list(markers.openers) if markers else [],
        },
        "bos": _bos(encoder),
        "thinking": _thinking(encoder),
        "tool_calls": "not written" if encoder._drops_tool_calls else "written",
        "warnings": warnings,
        "notes": list(encoder.notes),
        "example": _example(encoder) if check.ok else None,
    }


def _why(template: ChatTemplate, check: Any) -> str:
    if not check.ok:
        return "no span method agrees with render-diff on the probes: masks would be guesses"
    if check.method == "generation":
        return "the template's {% generation %} blocks agree with render-diff on every probe"
    if template.has_generation:
        return (
            "the template's {% generation %} blocks disagree with render-diff (they train "
            "what the generation prompt writes); the turn walk agrees on every probe"
        )
    return "no {% generation %} blocks; the turn walk agrees with render-diff on every probe"


def _bos(encoder: Any) -> dict[str, Any]:
    bos = encoder.tokenizer.bos_token
    text = _render(encoder, _EXAMPLE.messages[1:3], False) or ""
    added = encoder._backend.encode("Probe", add_special_tokens=True).ids
    return {
        "token": bos,
        "template_writes": bool(bos) and text.startswith(bos),
        "tokenizer_adds": bool(bos) and bool(added) and added[0] == encoder._bos_id,
        "rows_start_with": "one BOS" if bos and text.startswith(bos) else "no BOS",
    }


def _render(encoder: Any, messages: list[Message], add_generation_prompt: bool) -> str | None:
    try:
        return encoder._render_row(messages, None, add_generation_prompt).text
    except RowError:
        return None


def _thinking(encoder: Any) -> dict[str, Any]:
    """Whether the template writes a think block into a turn without reasoning, and
    whether that block is the generation prompt's (so not trained) or the turn's own."""
    user, answer = _EXAMPLE.messages[1], _EXAMPLE.messages[2]
    before = _render(encoder, [user], False) or ""
    prompt = _render(encoder, [user], True) or ""
    plain = _render(encoder, [user, answer], False) or ""
    at = plain.find(answer.content or "")
    turn = plain[len(before) : at] if plain.startswith(before) and at >= 0 else ""
    written = prompt[len(before) :] if prompt.startswith(before) else ""
    if "<think>" not in turn and "<think>" not in written:
        where = "none"
    elif "</think>" in written:
        where = "part of the prompt: the generation prompt writes it too"
    else:
        where = "trained: the template writes it and its generation prompt does not"
    with_reasoning = Message(role="assistant", content="Paris.", reasoning="Recall the capital")
    rendered = _render(encoder, [user, with_reasoning], False) or ""
    return {
        "empty_block": where,
        "renders_reasoning": "Recall the capital" in rendered,
        "policy": encoder.thinking,
    }


def _example(encoder: Any) -> dict[str, Any] | None:
    """The example conversation's tokens with their trained flags (the chosen method)."""
    conv = _EXAMPLE
    [row] = encoder.encode_sft([conv])
    if isinstance(row, RowError):  # e.g. a template with no system role
        conv = Conversation(messages=_EXAMPLE.messages[1:])
        [row] = encoder.encode_sft([conv])
    if isinstance(row, RowError):
        return None
    tok = encoder.tokenizer
    return {
        "tokens": [
            {"id": int(i), "text": tok.decode([int(i)]), "trained": bool(label != IGNORE_INDEX)}
            for i, label in zip(row.input_ids, row.labels, strict=True)
        ]
    }
