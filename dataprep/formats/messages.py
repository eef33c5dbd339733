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

The same messages under ``conversations`` (``{"conversations": [{"role", "content"}]}``,
as LLaMA-Factory's ``sharegpt`` formatting with ``role``/``content`` tags and many Hub
datasets write them) are read here too: the message dialect, not the row key, decides
the format, since the turns hold what messages hold (tool calls, content parts, ...),
which ShareGPT's ``{from, value}`` turns cannot. Such a row may carry a ``system`` column,
read as a leading system message as the ShareGPT adapter reads it. Written back under
``messages``, the canonical key. ``tools`` given as a JSON string (LLaMA-Factory writes
its ``tools`` column so) is parsed, and written back as a JSON string.

Round trips: canonical -> row -> canonical is exact for every non-plain conversation;
row -> canonical -> row is exact for rows written in the canonical spellings (string or
null ``content`` present on every message, OpenAI-shape tool calls with
``"type": "function"``, ``train`` as a boolean, no null-valued optional keys, ``tools``
as a list or as ``json.dumps`` writes it).

>>> row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
>>> conv = to_canonical(row)
>>> [(m.role, m.content, m.origin) for m in conv.messages]
[('user', 'Hi', 'messages[0]'), ('assistant', 'Hello!', 'messages[1]')]
>>> from_canonical(conv) == (row, [])
True
"""

from __future__ import annotations

import json
from typing import Any

from dataprep.canonical import Conversation, Example, Message
from dataprep.formats import _shared

NAME = "messages"
KIND = "sft"
CLAIMED = frozenset({"messages", "tools"})
# A row whose role/content messages sit under "conversations" claims these instead.
CLAIMED_CONVERSATIONS = frozenset({"conversations", "system", "tools"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset({"messages", "conversations"})
# An extra field under a label key would make the written row read as KTO (see detect).
CLAIMED_WRITTEN = CLAIMED | frozenset(_shared.LABEL_KEYS)


def detect(row: dict) -> bool:
    # Messages with a label (or kto_tag) beside them are KTO rows: the kto format's.
    if _shared.has_label(row):
        return False
    if "messages" in row:
        return _shared.has_message_list_prefix(row["messages"])
    # conversations with chosen and rejected beside them are a preference prompt.
    return has_role_conversations(row) and not ("chosen" in row and "rejected" in row)


def has_role_conversations(row: dict) -> bool:
    """Does the row hold messages (``role``/``content``) under ``conversations``?"""
    return "messages" not in row and _shared.has_role_turns(row.get("conversations"))


def to_canonical(row: dict) -> Conversation:
    if "messages" not in row and has_role_conversations(row):
        messages = _shared.read_messages(row["conversations"], "conversations")
        system = _shared.optional_str(row.get("system"), "system")
        if system:
            messages.insert(0, Message("system", system, origin="system"))
        claimed = CLAIMED_CONVERSATIONS
    else:
        messages = _shared.read_messages(_shared.require(row, "messages", ""), "messages")
        claimed = CLAIMED
    tools = row.get("tools")
    return Conversation(
        messages,
        tools=_shared.read_tools(tools, "tools"),
        extra=_shared.split_extra(row, claimed),
        tools_as_text=isinstance(tools, str) and tools != "",
    )


def from_canonical(
    example: Example, *, allow_lossy: bool = False
) -> tuple[dict[str, Any], list[str]]:
    dropped: list[str] = []
    conv = _shared.as_conversation(example, NAME, dropped)
    row: dict[str, Any] = {"messages": _shared.write_messages(conv.messages, dropped)}
    if conv.tools is not None:
        row["tools"] = (
            json.dumps(conv.tools, ensure_ascii=False) if conv.tools_as_text else conv.tools
        )
    _shared.put_extra(row, conv.extra, CLAIMED_WRITTEN, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
