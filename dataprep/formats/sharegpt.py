"""ShareGPT rows: ``{"conversations": [{"from", "value"}], "system"?, "tools"?}``.

Roles (``from``), with the aliases seen in the wild:

    human, user                                  -> user
    gpt, assistant, bot, model, chatgpt          -> assistant
    system                                       -> system
    function_call                                -> assistant with tool_calls
    observation, tool, function, ipython         -> tool

A ``function_call`` turn holds ``{"name": ..., "arguments": ...}`` as JSON (a JSON list
of them for parallel calls), as in LLaMA-Factory's glaive data. A ``gpt`` turn directly
followed by a ``function_call`` turn is one assistant message that says something and
then calls tools; that is also how such a message is written back. ``tools`` is a JSON
string of function schemas (LLaMA-Factory's column); it is parsed, and written back as
JSON. The ``system`` column becomes a leading system message; system messages are
written back as ``{"from": "system"}`` turns, which LLaMA-Factory and Axolotl both read.
A per-turn ``weight`` (0/1, Axolotl), ``loss_weight`` or ``train`` is the train flag;
it is written back as ``weight``. Other keys of a turn (``id``, ``timestamp``, ...) are
the message's ``extra``, written back into its turn (the first turn, when a message is
written as a text turn and a ``function_call`` turn; a ``function_call`` turn with keys
of its own stays a message of its own).

ShareGPT has no place for tool call ids, message names or reasoning: converting them
here is lossy. With ``allow_lossy``, two user or two assistant turns side by side are
merged into one, their texts joined by a blank line (``_shared.merge_runs``), and said
so; without it they are written as they are, and fail ``validate``.

Round trips: canonical -> row -> canonical is exact for conversations without those
three, whose assistant messages that carry tool calls have no plain assistant turn
right before them. row -> canonical -> row is exact for rows with no ``system`` column,
canonical role names (human, gpt, system, function_call, observation), and ``tools``
and ``function_call`` values as ``json.dumps`` writes them.

>>> row = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}
>>> [(m.role, m.content) for m in to_canonical(row).messages]
[('user', 'Hi'), ('assistant', 'Hello!')]
"""

from __future__ import annotations

import json
from typing import Any

from dataprep.canonical import Conversation, Example, Message, ToolCall, plain_message
from dataprep.errors import RowError
from dataprep.formats import _shared
from dataprep.formats.mapping import suggest_role

NAME = "sharegpt"
KIND = "sft"
CLAIMED = frozenset({"conversations", "system", "tools"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset({"conversations"})
# Extra fields "chosen" and "rejected" would make the written row read as preference, a
# label (or kto_tag) as KTO.
CLAIMED_WRITTEN = CLAIMED | {"chosen", "rejected", *_shared.LABEL_KEYS}

ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "system": "system",
    "function_call": "function_call",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
    "ipython": "tool",
}
ROLE_NAMES = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}
TURN_KEYS = frozenset({"from", "value", *_shared.TRAIN_KEYS})


def detect(row: dict) -> bool:
    # Rows with chosen/rejected beside their conversations are LLaMA-Factory's preference
    # shape: the preference format's; with a label (or kto_tag), its KTO shape: kto's.
    if ("chosen" in row and "rejected" in row) or _shared.has_label(row):
        return False
    turns = row.get("conversations")
    return isinstance(turns, list) and (
        not turns or (isinstance(turns[0], dict) and "from" in turns[0])
    )


def read_tool_calls(value: Any, path: str) -> list[ToolCall]:
    """The calls in a ``function_call`` turn's value."""
    if not isinstance(value, str):
        raise RowError(
            path,
            f"a function_call value must be a JSON string, got {_shared.type_name(value)}",
            "bad-tool-call",
        )
    try:
        parsed = json.loads(value)
    except ValueError as e:
        raise RowError(
            path, f"function_call value is not valid JSON ({e})", "bad-tool-call"
        ) from None
    calls = parsed if isinstance(parsed, list) else [parsed]
    if not calls:
        raise RowError(path, "function_call value holds no call", "bad-tool-call")
    out = []
    for call in calls:
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("name"), str)
            or not call["name"]
            or "arguments" not in call
        ):
            raise RowError(
                path, 'each call must be {"name": ..., "arguments": ...}', "bad-tool-call"
            )
        out.append(ToolCall(call["name"], _shared.read_arguments(call["arguments"], path)))
    return out


def read_turn(turn: Any, path: str) -> tuple[str, Message]:
    """One turn as (its role: canonical, or "function_call"; its message)."""
    if type(turn) is dict and len(turn) == 2:
        source, value = turn.get("from"), turn.get("value")
        if type(value) is str and type(source) is str:
            # The common turn, {from, value} with text: validate reads millions of them.
            role = ROLE_ALIASES.get(source)
            if role is not None and role != "function_call":
                return role, plain_message(role, value, path)
    if not isinstance(turn, dict):
        raise _shared.wrong_type(path, "a turn object {from, value}", turn)
    source = _shared.require(turn, "from", path)
    role = ROLE_ALIASES.get(source) if isinstance(source, str) else None
    if role is None:
        shown = source if isinstance(source, str) else _shared.type_name(source)
        raise RowError(
            f"{path}.from",
            f"unknown role '{shown}' (known: {', '.join(ROLE_ALIASES)}; "
            f"map it with --role {shown}={suggest_role(shown)})",
            "unknown-role",
        )
    value = _shared.require(turn, "value", path)
    train = _shared.read_train(turn, path)
    extra = _shared.split_message_extra(turn, TURN_KEYS)
    if role == "function_call":
        calls = read_tool_calls(value, f"{path}.value")
        return role, Message(
            "assistant", None, tool_calls=calls, train=train, origin=path, extra=extra
        )
    content = _shared.text_or_none(value, f"{path}.value")
    return role, Message(role, content, train=train, origin=path, extra=extra)


def read_turns(turns: Any, path: str) -> list[Message]:
    if not isinstance(turns, list):
        raise _shared.wrong_type(path, "a list of turns", turns)
    messages: list[Message] = []
    append = messages.append
    previous = None
    for i, turn in enumerate(turns):
        role, message = read_turn(turn, f"{path}[{i}]")
        if (
            role == "function_call"
            and ROLE_ALIASES.get(previous) == "assistant"
            and not messages[-1].tool_calls
            and messages[-1].train == message.train
            and message.extra is None
        ):
            # A gpt turn then a function_call turn: one assistant message, text then calls.
            messages[-1].tool_calls = message.tool_calls
        else:
            append(message)
        previous = turn["from"]
    return messages


def write_turns(messages: list[Message], dropped: list[str]) -> list[dict[str, Any]]:
    """The turns of ``messages``; what turns cannot hold (names, reasoning, tool call
    ids) goes into ``dropped``."""
    turns = []
    append = turns.append
    names = ROLE_NAMES
    for m in messages:
        if (
            m.train is None
            and m.tool_calls is None
            and m.name is None
            and m.reasoning is None
            and m.tool_call_id is None
        ):
            turn = {"from": names[m.role], "value": m.content}  # the common turn
            if m.extra:
                _shared.put_message_extra(turn, m.extra, TURN_KEYS, dropped)
            append(turn)
            continue
        _shared.note_unheld([m], dropped, train=False, extras=False)
        weight = {} if m.train is None else {"weight": int(m.train)}
        first = None
        if m.content is not None or not m.tool_calls:
            first = {"from": names[m.role], "value": m.content, **weight}
            append(first)
        if m.tool_calls:
            calls = [{"name": c.name, "arguments": c.arguments} for c in m.tool_calls]
            value = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
            call_turn = {"from": "function_call", "value": value, **weight}
            append(call_turn)
            if first is None:
                first = call_turn
        if m.extra:
            _shared.put_message_extra(first, m.extra, TURN_KEYS, dropped)
    return turns


def to_canonical(row: dict) -> Conversation:
    messages = read_turns(_shared.require(row, "conversations", ""), "conversations")
    system = _shared.optional_str(row.get("system"), "system")
    if system:
        messages.insert(0, Message("system", system, origin="system"))
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
    messages = conv.messages
    if allow_lossy:
        # Its readers take user and assistant turns strictly alternating: two side by
        # side are merged (and said so) rather than written to fail validate. Without
        # leave to lose, the turns are written as they are (an exact round trip) and
        # validate's consecutive-roles refuses the row.
        messages = _shared.merge_runs(messages, dropped)
    row: dict[str, Any] = {"conversations": write_turns(messages, dropped)}
    if conv.tools is not None:
        row["tools"] = json.dumps(conv.tools, ensure_ascii=False)
    _shared.put_extra(row, conv.extra, CLAIMED_WRITTEN, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
