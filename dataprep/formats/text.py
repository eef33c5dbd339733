"""Plain text rows, for language modelling: ``{"text": "..."}`` with no chat markup.

The canonical form is ``Conversation([Message("assistant", text)], plain=True)``: one
trained message, no template. Text holding ``<|im_start|>`` is the ``chatml`` format's,
and a row whose ``text`` sits beside another format's keys (``messages``, ...) is that
format's.

Written here: a conversation of a single assistant message as its text. A plain
conversation of several messages (a string prompt-completion) is written as its
contents concatenated, as a plain example is trained, losing where the prompt ended
(lossy). A chat conversation of several turns is ``not-convertible``: turning turns
into text needs a chat template (write ``chatml``, or run ``dataprep prepare``). So is
text holding ``<|im_start|>``, which would read back as ChatML.

Round trips: row -> canonical -> row and canonical -> row -> canonical are exact for
every text row and every plain single-assistant-message conversation with text only
and no ``<|im_start|>``.

>>> conv = to_canonical({"text": "Once upon a time"})
>>> conv.plain, [(m.role, m.content) for m in conv.messages]
(True, [('assistant', 'Once upon a time')])
"""

from __future__ import annotations

from typing import Any

from dataprep.canonical import Conversation, Example, Message
from dataprep.errors import RowError
from dataprep.formats import _shared
from dataprep.formats.chatml import CLAIMED_WRITTEN, OTHER_FORMATS_KEYS, START

NAME = "text"
KIND = "sft"
CLAIMED = frozenset({"text"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset({"text"})


def detect(row: dict) -> bool:
    text = row.get("text")
    return (
        isinstance(text, str)
        and START not in text
        and not any(k in row for k in OTHER_FORMATS_KEYS)
    )


def to_canonical(row: dict) -> Conversation:
    text = _shared.require(row, "text", "")
    if text is not None and not isinstance(text, str):
        raise RowError(
            "text", f"expected a string, got {_shared.type_name(text)}", "non-string-content"
        )
    return Conversation(
        [Message("assistant", text, origin="text")],
        plain=True,
        extra=_shared.split_extra(row, CLAIMED),
    )


def from_canonical(
    example: Example, *, allow_lossy: bool = False
) -> tuple[dict[str, Any], list[str]]:
    dropped: list[str] = []
    conv, messages = _shared.as_text_turns(example, NAME, dropped)
    if not messages or any(m.content is None for m in messages):
        raise _shared.not_convertible(example, NAME, "there is no text to write")
    if len(messages) == 1 and messages[0].role == "assistant":
        text = messages[0].content
    elif conv.plain:
        _shared.add(dropped, _shared.DROP_SPLIT)
        text = "".join(m.content for m in messages)
    else:
        raise _shared.not_convertible(
            example, NAME, "chat turns need a chat template to become text (write chatml instead)"
        )
    if START in text:
        raise _shared.not_convertible(
            example, NAME, f"text holding {START} would read back as ChatML (write chatml instead)"
        )
    row: dict[str, Any] = {"text": text}
    _shared.put_extra(row, conv.extra, CLAIMED_WRITTEN, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
