"""ChatML text rows: ``{"text": "<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n..."}``.

The text is a run of turns, each ``<|im_start|>ROLE\\nCONTENT<|im_end|>`` followed by a
newline (the last newline may be missing), exactly what the ChatML chat template
renders. Anything else (text before the first turn or between turns, a turn that never
ends, an unknown role) is a ``chatml-parse`` or ``unknown-role`` error naming the
character offset in ``text``.

ChatML has no place for tool calls, tool call ids, tool definitions, reasoning, message
names, train flags or the extra keys of messages: those are dropped only with
``allow_lossy`` (an assistant turn
that only called tools is dropped whole, and so are tool results: a result whose call
is gone fails ``validate``). Content holding ``<|im_start|>`` or
``<|im_end|>`` cannot be written at all.

Round trips: row -> canonical -> row is exact for well-formed text that ends with a
newline; canonical -> row -> canonical is exact for non-plain conversations with string
contents and none of the lossy parts.

>>> conv = to_canonical({"text": "<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nHello!<|im_end|>\\n"})
>>> [(m.role, m.content) for m in conv.messages]
[('user', 'Hi'), ('assistant', 'Hello!')]
"""

from __future__ import annotations

from typing import Any

from dataprep.canonical import ROLES, Conversation, Example, Message
from dataprep.errors import RowError
from dataprep.formats import _shared

NAME = "chatml"
KIND = "sft"
CLAIMED = frozenset({"text"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset({"text"})
START, END = "<|im_start|>", "<|im_end|>"
# Keys that make a row some other format's, even when it also carries a "text" column.
OTHER_FORMATS_KEYS = (
    "messages",
    "conversations",
    "instruction",
    "completion",
    "chosen",
    "chosen_messages",
)
# An extra field under one of these would make the written row read as another format.
CLAIMED_WRITTEN = CLAIMED | frozenset(OTHER_FORMATS_KEYS)


def detect(row: dict) -> bool:
    text = row.get("text")
    return isinstance(text, str) and START in text and not any(k in row for k in OTHER_FORMATS_KEYS)


def parse_error(offset: int, message: str) -> RowError:
    return RowError("text", f"at character {offset}: {message}", "chatml-parse")


def parse(text: str) -> list[Message]:
    """The turns of a ChatML text; ``origin`` names each turn's character offset."""
    messages = []
    pos = 0
    while pos < len(text):
        if not text.startswith(START, pos):
            raise parse_error(pos, f"expected {START}, found {text[pos : pos + 20]!r}")
        head = pos + len(START)
        newline = text.find("\n", head)
        end = text.find(END, head)
        next_start = text.find(START, head)
        if end < 0 or (0 <= next_start < end):
            raise parse_error(pos, f"turn is not closed by {END}")
        if newline < 0 or newline > end:
            raise parse_error(head, "the role must be followed by a newline")
        role = text[head:newline]
        if role not in ROLES:
            raise RowError(
                "text",
                f"at character {head}: unknown role '{role}' (known: {', '.join(ROLES)})",
                "unknown-role",
            )
        messages.append(Message(role, text[newline + 1 : end], origin=f"text@{pos}"))
        pos = end + len(END)
        if text.startswith("\n", pos):
            pos += 1
    if not messages:
        raise parse_error(0, f"no {START} turn found")
    return messages


def render(messages: list[Message]) -> str:
    return "".join(f"{START}{m.role}\n{m.content}{END}\n" for m in messages)


def to_canonical(row: dict) -> Conversation:
    text = _shared.require(row, "text", "")
    if not isinstance(text, str):
        raise RowError(
            "text", f"expected a string, got {_shared.type_name(text)}", "non-string-content"
        )
    return Conversation(parse(text), extra=_shared.split_extra(row, CLAIMED))


def from_canonical(
    example: Example, *, allow_lossy: bool = False
) -> tuple[dict[str, Any], list[str]]:
    dropped: list[str] = []
    conv = _shared.as_conversation(example, NAME, dropped)
    messages = []
    answering = False  # the tool results after a calling turn answer calls dropped here
    for m in conv.messages:
        if m.tool_calls:
            _shared.add(dropped, _shared.DROP_TOOL_CALLS)
            answering = True
            if m.content is None:
                continue
        elif m.role == "tool" and answering:
            # A result whose call is gone fails validate: it goes with its call. (A tool
            # turn that answered no call, as ChatML text holds them, stays as it was.)
            _shared.add(dropped, _shared.DROP_TOOL_RESULTS)
            continue
        else:
            answering = False
        if m.content is None:
            raise _shared.not_convertible(example, NAME, f"a {m.role} turn has no text")
        if START in m.content or END in m.content:
            raise _shared.not_convertible(
                example, NAME, "a message holds ChatML markup in its text"
            )
        messages.append(m)
    _shared.note_unheld(messages, dropped)
    if conv.tools:
        _shared.add(dropped, _shared.DROP_TOOLS)
    if not messages:
        raise _shared.not_convertible(example, NAME, "no message has text")
    row: dict[str, Any] = {"text": render(messages)}
    _shared.put_extra(row, conv.extra, CLAIMED_WRITTEN, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
