"""TRL's prompt-completion rows: ``prompt`` and ``completion``, both strings or both
message lists (``tools``? beside lists). A single message object where a list is
expected (``"completion": {"role": "assistant", "content": ...}``) is read as a list of
one, and written back as a list.

Strings give a ``plain`` conversation ``[user(prompt), assistant(completion)]``; an empty
prompt gives no user message, so ``{"prompt": "", "completion": text}`` means the same
as a ``text`` row. Lists give a chat conversation: the prompt's messages, then the
completion's.

The canonical conversation does not mark where the prompt ends. Written back, the
completion is every message after the last user or system message (so a prompt that
ends with a tool result is not recovered as written). A plain conversation of the
shape ``[user?, assistant]`` is written as strings, any other as message lists. Message
lists keep the extra keys of their messages (``Message.extra``); strings cannot, so a
plain conversation whose messages have extras loses them (lossy).

Round trips: row -> canonical -> row is exact for string rows, and for list rows whose
prompt ends with its last user or system message. canonical -> row -> canonical is exact
for plain ``[user?, assistant]`` conversations with non-empty prompt text and nothing
but role and content, and for non-plain conversations that end with a run of
assistant/tool messages after a user or system message.

>>> conv = to_canonical({"prompt": "The capital of France is", "completion": " Paris."})
>>> conv.plain, [(m.role, m.content) for m in conv.messages]
(True, [('user', 'The capital of France is'), ('assistant', ' Paris.')])
"""

from __future__ import annotations

from typing import Any

from dataprep.canonical import Conversation, Example, Message
from dataprep.errors import RowError
from dataprep.formats import _shared

NAME = "prompt-completion"
KIND = "sft"
CLAIMED = frozenset({"prompt", "completion", "tools"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset({"completion"})
# An extra field under "label" (or "kto_tag") or "chosen" would make the written row read
# as kto or preference (see detect).
CLAIMED_WRITTEN = CLAIMED | {"chosen", *_shared.LABEL_KEYS}


def detect(row: dict) -> bool:
    return (
        "prompt" in row
        and "completion" in row
        and "chosen" not in row
        and not _shared.has_label(row)
    )


def read_pair(row: dict, second: str) -> tuple[list[Message], list[Message], bool]:
    """The prompt and ``second`` (completion, chosen, ...) of a TRL row, as messages, and
    whether they were strings. Shared by prompt-completion and kto."""
    prompt = _shared.require(row, "prompt", "")
    answer = _shared.require(row, second, "")
    if isinstance(prompt, str) and isinstance(answer, str):
        head = [Message("user", prompt, origin="prompt")] if prompt else []
        return head, [Message("assistant", answer, origin=second)], True
    chat = _shared.is_chat_value
    if chat(prompt) and chat(answer):
        # A single message object stands for a list of one (a one-message answer).
        return (
            _shared.read_messages_or_one(prompt, "prompt"),
            _shared.read_messages_or_one(answer, second),
            False,
        )
    if isinstance(prompt, (str, list, dict)) and isinstance(answer, (str, list, dict)):
        raise RowError(
            second,
            f"prompt is {_shared.type_name(prompt)} but {second} is {_shared.type_name(answer)}: "
            "both must be strings or both messages (a list, or one message object)",
            "mixed-types",
        )
    bad, value = (
        ("prompt", prompt) if not isinstance(prompt, (str, list, dict)) else (second, answer)
    )
    raise _shared.wrong_type(bad, "a string or a list of messages", value)


def is_plain_pair(messages: list[Message]) -> bool:
    """Messages a string prompt/completion holds: ``[user?, assistant]``, text only."""
    roles = [m.role for m in messages]
    return roles in (["assistant"], ["user", "assistant"]) and all(
        isinstance(m.content, str) and not m.tool_calls and m.tool_call_id is None for m in messages
    )


def write_plain_pair(
    prompt: list[Message], answer: list[Message], dropped: list[str]
) -> tuple[str, str]:
    _shared.note_unheld(prompt + answer, dropped)
    return (prompt[0].content if prompt else ""), answer[0].content


def split_completion(messages: list[Message]) -> int:
    """Index where the completion starts: after the last user or system message."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role in ("user", "system"):
            return i + 1
    return 0


def to_canonical(row: dict) -> Conversation:
    prompt, completion, plain = read_pair(row, "completion")
    return Conversation(
        prompt + completion,
        tools=_shared.read_tools(row.get("tools"), "tools"),
        plain=plain,
        extra=_shared.split_extra(row, CLAIMED),
    )


def from_canonical(
    example: Example, *, allow_lossy: bool = False
) -> tuple[dict[str, Any], list[str]]:
    dropped: list[str] = []
    conv = _shared.as_conversation(example, NAME, dropped)
    messages = conv.messages
    row: dict[str, Any]
    if conv.plain and is_plain_pair(messages):
        prompt, completion = write_plain_pair(messages[:-1], messages[-1:], dropped)
        row = {"prompt": prompt, "completion": completion}
        if conv.tools:
            _shared.add(dropped, _shared.DROP_TOOLS)
    else:
        split = split_completion(messages)
        if split == len(messages):
            raise _shared.not_convertible(
                example, NAME, "nothing follows the last user turn to be the completion"
            )
        row = {
            "prompt": _shared.write_messages(messages[:split], dropped),
            "completion": _shared.write_messages(messages[split:], dropped),
        }
        if conv.tools is not None:
            row["tools"] = conv.tools
    _shared.put_extra(row, conv.extra, CLAIMED_WRITTEN, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
