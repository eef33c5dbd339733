"""The special tokens a chat template writes and the tokenizer lacks: added to the tokenizer
``prepare`` uses, recorded in the manifest, and added again by ``train``.

A base model's tokenizer given ``--chat-template chatml`` has no ``<|im_start|>`` or
``<|im_end|>``: tokenized as text, the end of a turn would be six ordinary tokens, the
model would learn to stop on pieces of markup, and nothing would say so. Instead each
marker the template writes that the tokenizer cannot encode as one token is added as a
special token, at the end of the vocabulary, in the order the template writes them; the
manifest records each (``tokenizer.added_tokens``: content and id), and ``train`` adds
the same tokens to the model's tokenizer (``restore_added_tokens``, which checks the ids)
and grows the model's embeddings to fit.

Which markers count (a template is code, its text holds prose too):

- ``<|...|>`` and DeepSeek's ``<｜...｜>``, and Gemma 4's half-barred ``<|turn>`` /
  ``<turn|>``: special tokens in every family that writes them, wherever the template
  has them;
- ``<word>`` / ``</word>`` tags only where the template writes them in a plain
  conversation (rendered once here): ``<start_of_turn>``, ``<end_of_utterance>``,
  Qwen 3's ``<think>``; not the ``<description>`` or ``<tools>`` of a tool-use prompt,
  which families keep as text.

Only templates given with ``--chat-template`` are looked at: a tokenizer's own template
is the one it was trained with.

>>> markers_in("{{ '<|im_start|>' + role }}<think></think><<SYS>>")
[('<|im_start|>', True), ('<think>', False), ('</think>', False)]
"""

from __future__ import annotations

import re
from typing import Any

# Adding them again is the contract's (train does it, and must not import prepare).
from dataprep.contract import _add_special as _add
from dataprep.contract import restore_added_tokens  # noqa: F401  (where callers look)
from dataprep.prepare.template.choice import ChatTemplate

# Barred markers (always special) first, then plain tags (special where rendered). A tag
# inside a doubled bracket (Llama 2's <<SYS>>) is prose.
_BARRED = r"<\|[^\s|<>'\"]{1,40}\|>|<｜[^｜<>'\"]{1,40}｜>|<\|[A-Za-z_]{1,30}>|<[A-Za-z_]{1,30}\|>"
_TAG = r"(?<!<)</?[A-Za-z_][A-Za-z0-9_]{0,30}>(?!>)"
MARKUP = re.compile(f"(?P<barred>{_BARRED})|(?P<tag>{_TAG})")


def markers_in(source: str) -> list[tuple[str, bool]]:
    """The markup-like markers in ``source``, once each in order of first appearance,
    with whether each is barred (always a special token)."""
    seen: dict[str, bool] = {}
    for m in MARKUP.finditer(source):
        seen.setdefault(m.group(0), m.group("barred") is not None)
    return list(seen.items())


def template_markers(tokenizer: Any, template: ChatTemplate) -> list[str]:
    """The markers of ``template`` that count as special tokens (see the module's notes)."""
    rendered = _probe_rendering(tokenizer, template)
    return [text for text, barred in markers_in(template.source) if barred or text in rendered]


def missing_markers(tokenizer: Any, markers: list[str]) -> list[str]:
    """The markers the tokenizer does not encode as one token."""
    backend = tokenizer.backend_tokenizer
    return [m for m in markers if len(backend.encode(m, add_special_tokens=False).ids) != 1]


def add_template_tokens(tokenizer: Any, template: ChatTemplate | None) -> list[dict[str, Any]]:
    """Add the special tokens ``template`` writes and ``tokenizer`` lacks (in place);
    returns them as the manifest records them: ``[{"content": ..., "id": ...}]``.

    Nothing is added for no template or the tokenizer's own.
    """
    if template is None or template.name == "tokenizer":
        return []
    missing = missing_markers(tokenizer, template_markers(tokenizer, template))
    if not missing:
        return []
    _add(tokenizer, missing)
    return [{"content": m, "id": tokenizer.convert_tokens_to_ids(m)} for m in missing]


def added_note(added: list[dict[str, Any]], template: ChatTemplate, tokenizer_name: str) -> str:
    """The manifest's note for tokens added."""
    listed = ", ".join(f"{t['content']} ({t['id']})" for t in added)
    return (
        f"chat template {template.name} writes special tokens that {tokenizer_name} lacks: "
        f"added {listed}; train adds them to the model's tokenizer and grows its embeddings"
    )


def _probe_rendering(tokenizer: Any, template: ChatTemplate) -> str:
    """A plain conversation rendered by ``template`` (with and without a system turn, text
    or block contents: whatever the template accepts), joined; empty if it renders none."""
    import jinja2

    from dataprep.canonical import Message
    from dataprep.prepare.template.rendering import compile_template, render, to_template_messages

    compiled = compile_template(template.source)
    turns = [
        Message("user", "Probe question"),
        Message("assistant", "Probe answer"),
        Message("user", "Probe again"),
        Message("assistant", "Probe end"),
    ]
    variables = dict(getattr(tokenizer, "special_tokens_map", None) or {})
    texts = []
    for messages in ([Message("system", "Probe system"), *turns], turns):
        for blocks in (False, True):
            try:
                dicts = to_template_messages(messages, content_blocks=blocks)
                texts.append(render(compiled, dicts, variables=variables).text)
            except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError):
                continue
    return "\n".join(texts)
