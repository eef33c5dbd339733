"""Alpaca rows: ``instruction``, ``input``?, ``output``, ``system``?, ``history``?.

The conversation is ``[system?] + history turns + user + assistant``: ``history`` holds
earlier ``[question, answer]`` pairs, oldest first (LLaMA-Factory's multi-turn alpaca).
The user turn is ``instruction + "\\n\\n" + input`` when ``input`` is non-empty, else
``instruction`` alone (Stanford Alpaca separates the two by a blank line; note that
LLaMA-Factory joins them with a single newline). An empty ``system`` means none.

Written back, the whole user text goes into ``instruction`` and ``input`` is ``""``: the
canonical conversation no longer knows where an instruction ended and its input began.
Multi-turn conversations go into ``history`` without loss. Alpaca has no place for tool
calls and results, tool definitions, reasoning, message names, per-message train flags,
the extra keys of messages or a second system message: those are dropped only with
``allow_lossy``. Two user or two assistant turns left side by side (by those drops, or
so in the source) are merged into one, their texts joined by a blank line
(``_shared.merge_runs``), and that is counted as lossy too. A conversation
that is not ``[system?] (user, assistant)+`` once those are gone (it ends with a user
turn, or holds no user turn at all, like a ``text`` row) cannot be written as alpaca.

Round trips: canonical -> row -> canonical is exact for non-plain conversations of that
shape with none of the lossy parts. row -> canonical -> row is exact for rows whose
``input`` is ``""`` and present, with no empty ``system`` or ``history``.

>>> conv = to_canonical({"instruction": "Translate to French", "input": "cheese", "output": "fromage"})
>>> [(m.role, m.content) for m in conv.messages]
[('user', 'Translate to French\\n\\ncheese'), ('assistant', 'fromage')]
>>> from_canonical(conv)[0]
{'instruction': 'Translate to French\\n\\ncheese', 'input': '', 'output': 'fromage'}
"""

from __future__ import annotations

from typing import Any

from dataprep.canonical import Conversation, Example, Message
from dataprep.errors import RowError
from dataprep.formats import _shared

NAME = "alpaca"
KIND = "sft"
CLAIMED = frozenset({"instruction", "input", "output", "system", "history"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset({"instruction"})
# An extra field under a label key would make the written row read as KTO (see detect).
CLAIMED_WRITTEN = CLAIMED | frozenset(_shared.LABEL_KEYS)
INPUT_SEPARATOR = "\n\n"


def detect(row: dict) -> bool:
    # With a label (or kto_tag) beside it, LLaMA-Factory's alpaca KTO shape: kto's.
    return "instruction" in row and "output" in row and not _shared.has_label(row)


def read_history(value: Any) -> list[Message]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _shared.wrong_type("history", "a list of [question, answer] pairs", value)
    messages = []
    for i, pair in enumerate(value):
        path = f"history[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise RowError(
                path, "each history item must be a [question, answer] pair", "wrong-type"
            )
        question = _shared.text_or_none(pair[0], f"{path}[0]")
        answer = _shared.text_or_none(pair[1], f"{path}[1]")
        messages.append(Message("user", question, origin=f"{path}[0]"))
        messages.append(Message("assistant", answer, origin=f"{path}[1]"))
    return messages


def to_canonical(row: dict) -> Conversation:
    instruction = _shared.text_or_none(_shared.require(row, "instruction", ""), "instruction")
    output = _shared.text_or_none(_shared.require(row, "output", ""), "output")
    extra_input = _shared.text_or_none(row.get("input"), "input")
    system = _shared.text_or_none(row.get("system"), "system")
    messages = [Message("system", system, origin="system")] if system else []
    messages += read_history(row.get("history"))
    if extra_input:
        instruction = (instruction or "") + INPUT_SEPARATOR + extra_input
    messages.append(Message("user", instruction, origin="instruction"))
    messages.append(Message("assistant", output, origin="output"))
    return Conversation(messages, extra=_shared.split_extra(row, CLAIMED))


def from_canonical(
    example: Example, *, allow_lossy: bool = False
) -> tuple[dict[str, Any], list[str]]:
    dropped: list[str] = []
    conv, messages = _shared.as_text_turns(example, NAME, dropped)
    system = None
    if messages and messages[0].role == "system":
        system, messages = messages[0].content, messages[1:]
    if any(m.role == "system" for m in messages):
        _shared.add(dropped, _shared.DROP_LATE_SYSTEM)
        messages = [m for m in messages if m.role != "system"]
    # What tool use or a late system message left side by side is one turn here.
    messages = _shared.merge_runs(messages, dropped)
    shape_ok = (
        len(messages) >= 2
        and len(messages) % 2 == 0
        and all(m.role == ("user", "assistant")[i % 2] for i, m in enumerate(messages))
    )
    if not shape_ok:
        raise _shared.not_convertible(
            example,
            NAME,
            "alpaca needs alternating user and assistant turns that end with an assistant turn",
        )
    if any(m.content is None for m in messages):
        raise _shared.not_convertible(example, NAME, "a turn has no text")
    row: dict[str, Any] = {}
    if system is not None:
        row["system"] = system
    if len(messages) > 2:
        row["history"] = [
            [q.content, a.content] for q, a in zip(messages[:-2:2], messages[1:-2:2], strict=True)
        ]
    row["instruction"] = messages[-2].content
    row["input"] = ""
    row["output"] = messages[-1].content
    _shared.put_extra(row, conv.extra, CLAIMED_WRITTEN, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
