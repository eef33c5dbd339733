"""OpenAI / Hugging Face conversational rows: ``{"messages": [...], "tools"?: [...]}``.

Every canonical field has a place here, so any conversation converts to this format
without loss (a ``plain`` conversation becomes ordinary chat messages). Keys of a
message that no field claims (``id``, ``timestamp``, ``metadata``, ...) are data: they
are kept in ``Message.extra`` and written back into the message (keys that hold nothing,
like ``"refusal": null``, carry nothing and are not kept).

Accepted on the way in, beside the canonical spellings: ``content`` as a list of text
parts (joined with no separator), ``reasoning`` or ``thinking`` for
``reasoning_content``, ``weight`` or ``loss_weight`` (0 or 1) for ``train``, tool calls
in Hugging Face shape ``{name, arguments}``, tools as a JSON string, the roles
``developer`` (system) and ``function`` (tool). Written back: OpenAI shapes and the
canonical spellings.

Round trips: canonical -> row -> canonical is exact for every non-plain conversation;
row -> canonical -> row is exact for rows written in the canonical spellings (string or
null ``content`` present on every message, OpenAI-shape tool calls with
``"type": "function"``, ``train`` as a boolean, no null-valued optional keys).

>>> row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
>>> conv = to_canonical(row)
>>> [(m.role, m.content, m.origin) for m in conv.messages]
[('user', 'Hi', 'messages[0]'), ('assistant', 'Hello!', 'messages[1]')]
>>> from_canonical(conv) == (row, [])
True
"""

from __future__ import annotations

from typing import Any

from dataprep.canonical import Conversation, Example
from dataprep.formats import _shared

NAME = "messages"
KIND = "sft"
CLAIMED = frozenset({"messages", "tools"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset({"messages"})
# An extra field under a label key would make the written row read as KTO (see detect).
CLAIMED_WRITTEN = CLAIMED | frozenset(_shared.LABEL_KEYS)


def detect(row: dict) -> bool:
    # Messages with a label (or kto_tag) beside them are KTO rows: the kto format's.
    return _shared.has_message_list_prefix(row.get("messages")) and not _shared.has_label(row)


def to_canonical(row: dict) -> Conversation:
    messages = _shared.read_messages(_shared.require(row, "messages", ""), "messages")
    return Conversation(
        messages,
        tools=_shared.read_tools(row.get("tools"), "tools"),
        extra=_shared.split_extra(row, CLAIMED),
    )


def from_canonical(
    example: Example, *, allow_lossy: bool = False
) -> tuple[dict[str, Any], list[str]]:
    dropped: list[str] = []
    conv = _shared.as_conversation(example, NAME, dropped)
    row: dict[str, Any] = {"messages": _shared.write_messages(conv.messages, dropped)}
    if conv.tools is not None:
        row["tools"] = conv.tools
    _shared.put_extra(row, conv.extra, CLAIMED_WRITTEN, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
