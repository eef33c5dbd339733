"""Paired preference rows, for DPO. Three shapes are read:

TRL's: ``prompt``?, ``chosen``, ``rejected``, all strings or all message lists
(``tools``? beside lists).
    Explicit prompt: taken as it is. Implicit prompt (no ``prompt`` key): for message
    lists, the longest run of leading messages ``chosen`` and ``rejected`` share becomes
    the prompt (as TRL's ``extract_prompt`` does; each side keeps at least one message of
    its own), and two lists that share nothing are a ``no-shared-prompt`` error; for
    strings the prompt stays empty (splitting text inside a word helps nobody).
    String rows give a ``plain`` example: the prompt is one user message (none when
    empty), chosen and rejected one assistant message each.

LLaMA-Factory's ShareGPT preference: ``conversations`` (ShareGPT turns: the prompt),
``chosen`` and ``rejected`` (one ShareGPT turn each), ``system``?, ``tools``?. The turns
may be messages (``role``/``content``) instead, and each answer a list of turns.

A single message object where a list is expected (``"chosen": {"role": "assistant",
"content": ...}`` beside a prompt) is read as a list of one.

LLaMA-Factory v1: ``chosen_messages`` and ``rejected_messages``, full conversations in
the messages dialect (content as parts ``{"type": "text", "value": ...}``, per-message
``loss_weight``), prompt implicit as above.

Written back: TRL's explicit-prompt shape, message lists for chat, strings for plain.
Only a preference pair can be written here: anything else is ``not-convertible``.

Round trips: row -> canonical -> row is exact for TRL explicit-prompt rows in the
canonical message spellings; canonical -> row -> canonical is exact for non-plain pairs,
and for plain pairs whose prompt is ``[]`` or one user message with non-empty text and
whose chosen and rejected are one assistant message each, text only.

>>> pair = to_canonical({
...     "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
...     "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}],
... })
>>> [m.content for m in pair.prompt], [m.content for m in pair.chosen], [m.content for m in pair.rejected]
(['2+2?'], ['4'], ['5'])
"""

from __future__ import annotations

from typing import Any

from dataprep.canonical import Example, Message, Preference
from dataprep.errors import RowError
from dataprep.formats import _shared, prompt_completion, sharegpt

NAME = "preference"
KIND = "preference"
CLAIMED_TRL = frozenset({"prompt", "chosen", "rejected", "tools"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset({"chosen", "chosen_messages"})
CLAIMED_SHAREGPT = frozenset({"conversations", "chosen", "rejected", "system", "tools"})
CLAIMED_V1 = frozenset({"chosen_messages", "rejected_messages", "tools"})
# Keys an extra field must not take in a written row, or the row would read back as
# another shape (TRL's is the one written; v1's keys would take precedence over it).
CLAIMED_WRITTEN = CLAIMED_TRL | {"chosen_messages", "rejected_messages"}


def detect(row: dict) -> bool:
    return ("chosen" in row and "rejected" in row) or (
        "chosen_messages" in row and "rejected_messages" in row
    )


def implicit_prompt(chosen: list[Message], rejected: list[Message]) -> Preference:
    shared = _shared.common_prefix(chosen, rejected)
    if shared == 0:
        raise RowError(
            "",
            "chosen and rejected share no leading messages, so there is no prompt: "
            "give an explicit 'prompt' or start both with the same messages",
            "no-shared-prompt",
        )
    return Preference(chosen[:shared], chosen[shared:], rejected[shared:])


def read_trl(row: dict) -> Preference:
    # A null prompt (a Parquet column of mixed rows) is no prompt.
    if row.get("prompt") is not None:
        prompt, chosen, plain = prompt_completion.read_pair(row, "chosen")
        _, rejected, _ = prompt_completion.read_pair(row, "rejected")
        return Preference(prompt, chosen, rejected, plain=plain)
    chosen, rejected = row["chosen"], row["rejected"]
    if isinstance(chosen, str) and isinstance(rejected, str):
        return Preference(
            [],
            [Message("assistant", chosen, origin="chosen")],
            [Message("assistant", rejected, origin="rejected")],
            plain=True,
        )
    if _shared.is_chat_value(chosen) and _shared.is_chat_value(rejected):
        return implicit_prompt(
            _shared.read_messages_or_one(chosen, "chosen"),
            _shared.read_messages_or_one(rejected, "rejected"),
        )
    for key, value in (("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, (str, list, dict)):
            raise _shared.wrong_type(key, "a string or a list of messages", value)
    raise RowError(
        "rejected",
        "chosen and rejected must both be strings or both messages (a list, or one message object)",
        "mixed-types",
    )


def read_sharegpt(row: dict) -> Preference:
    """LLaMA-Factory's shape, in either message dialect: ShareGPT turns (``from``/``value``)
    or messages (``role``/``content``, its ``sharegpt`` formatting with OpenAI tags); each
    answer is one turn (as LLaMA-Factory writes it) or a list of turns."""
    turns = row["conversations"]
    if _shared.has_role_turns(turns):
        prompt = _shared.read_messages(turns, "conversations")
    else:
        prompt = sharegpt.read_turns(turns, "conversations")
    system = _shared.optional_str(row.get("system"), "system")
    if system:
        prompt.insert(0, Message("system", system, origin="system"))
    return Preference(
        prompt, read_answer(row["chosen"], "chosen"), read_answer(row["rejected"], "rejected")
    )


def read_answer(value: Any, path: str) -> list[Message]:
    """One answer of the ShareGPT shape: a turn or message object, or a list of them."""
    if isinstance(value, list):
        if _shared.has_role_turns(value):
            return _shared.read_messages(value, path)
        return sharegpt.read_turns(value, path)
    if isinstance(value, dict) and "role" in value and "from" not in value:
        return [_shared.read_message(value, path)]
    _, message = sharegpt.read_turn(value, path)
    return [message]


def is_sharegpt_shape(row: dict) -> bool:
    """``conversations`` holds the prompt; ``chosen``/``rejected`` only the answers."""
    return "conversations" in row and isinstance(row.get("chosen"), (dict, list))


def to_canonical(row: dict) -> Preference:
    if "chosen_messages" in row and "rejected_messages" in row:
        pair = implicit_prompt(
            _shared.read_messages(row["chosen_messages"], "chosen_messages"),
            _shared.read_messages(row["rejected_messages"], "rejected_messages"),
        )
        claimed = CLAIMED_V1
    elif is_sharegpt_shape(row):
        pair, claimed = read_sharegpt(row), CLAIMED_SHAREGPT
    else:
        _shared.require(row, "chosen", "")
        _shared.require(row, "rejected", "")
        pair, claimed = read_trl(row), CLAIMED_TRL
    pair.tools = _shared.read_tools(row.get("tools"), "tools")
    pair.extra = _shared.split_extra(row, claimed)
    return pair


def is_plain(pair: Preference) -> bool:
    return (
        pair.plain
        and len(pair.chosen) == 1
        and len(pair.rejected) == 1
        and prompt_completion.is_plain_pair(pair.prompt + pair.chosen)
        and prompt_completion.is_plain_pair(pair.prompt + pair.rejected)
    )


def from_canonical(
    example: Example, *, allow_lossy: bool = False
) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(example, Preference):
        raise _shared.not_convertible(
            example, NAME, "preference rows hold a chosen and a rejected answer"
        )
    dropped: list[str] = []
    row: dict[str, Any]
    if is_plain(example):
        prompt, chosen = prompt_completion.write_plain_pair(example.prompt, example.chosen, dropped)
        _, rejected = prompt_completion.write_plain_pair(example.prompt, example.rejected, dropped)
        row = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        if example.tools:
            _shared.add(dropped, _shared.DROP_TOOLS)
    else:
        row = {
            "prompt": _shared.write_messages(example.prompt, dropped),
            "chosen": _shared.write_messages(example.chosen, dropped),
            "rejected": _shared.write_messages(example.rejected, dropped),
        }
        if example.tools is not None:
            row["tools"] = example.tools
    _shared.put_extra(row, example.extra, CLAIMED_WRITTEN, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
