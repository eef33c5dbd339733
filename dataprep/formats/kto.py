"""Unpaired preference rows, for KTO: one answer and a boolean label saying whether it is
desirable (``true``) or not (``false``). Four shapes are read:

TRL's: ``prompt``, ``completion``, ``label``. ``prompt`` and ``completion`` are both
strings (a ``plain`` example: the prompt is one user message, none when empty; the
completion one assistant message) or both message lists (a single message object reads
as a list of one); ``tools``? beside lists.

A conversation with a label beside it (LLaMA-Factory's KTO datasets, whose
``dataset_info.json`` maps the label column as ``kto_tag``): ``messages`` (the messages
dialect, under ``messages`` or ``conversations``), ``conversations`` (ShareGPT, with
``system``? and ``tools``?) or ``instruction`` / ``output`` (alpaca). The conversation is read by its own format's adapter; its last
message is the completion the label judges and must be the assistant's; the messages
before it are the prompt.

The label is ``label`` or ``kto_tag`` (one of them, not both), and must be a JSON boolean:
0/1 or "true" are refused (``bad-label``) rather than guessed, as the schema says. A label
key is enough to make a row KTO: beside a conversation it is never read as SFT data (the
conversational formats leave such rows alone), so an undesirable answer is never trained
as a good one by mistake. A file whose ``label`` means something else is read as SFT only
when asked, with ``--format messages`` (or ``sharegpt``, ``alpaca``).

Written back: TRL's shape (lists for chat, strings for plain). Only a KTO example can be
written here: a preference pair or an SFT conversation is ``not-convertible`` (one row in
gives one row out, and a pair would need two).

Round trips: row -> canonical -> row is exact for TRL rows (``label``) of string or list
form written in the canonical message spellings; canonical -> row -> canonical is exact
for non-plain examples, and for plain ones whose prompt is ``[]`` or one user message
with non-empty text and whose completion is one assistant message, text only.

>>> ex = to_canonical({"prompt": "2+2=", "completion": "4", "label": True})
>>> ex.label, [m.content for m in ex.prompt + ex.completion]
(True, ['2+2=', '4'])
>>> row = {"messages": [{"role": "user", "content": "2+2?"},
...                     {"role": "assistant", "content": "5"}], "label": False}
>>> ex = to_canonical(row)
>>> ex.label, [m.content for m in ex.prompt], [m.content for m in ex.completion]
(False, ['2+2?'], ['5'])
>>> evidence(row)
'boolean label beside messages'
"""

from __future__ import annotations

from typing import Any

from dataprep.canonical import Conversation, Example, Message, Unpaired
from dataprep.errors import RowError
from dataprep.formats import _shared, alpaca, messages, prompt_completion, sharegpt

NAME = "kto"
KIND = "kto"
CLAIMED = frozenset({"prompt", "completion", "label", "tools"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset(_shared.LABEL_KEYS)
# A written row is TRL's shape: an extra field under kto_tag would give it two labels.
CLAIMED_WRITTEN = CLAIMED | {"kto_tag"}

# The conversational shapes: the key that shows each, the adapter that reads the
# conversation (with the label key taken out), and how evidence names it.
CONVERSATIONS = (
    ("messages", messages, "messages"),
    ("conversations", sharegpt, "conversations (ShareGPT)"),
    ("instruction", alpaca, "instruction/output (alpaca)"),
    ("conversations", messages, "conversations (role/content)"),
)


def detect(row: dict) -> bool:
    if not _shared.has_label(row):
        return False
    if "prompt" in row and "completion" in row:
        return True
    return _conversation_of(row) is not None


def _conversation_of(row: dict) -> tuple[str, Any, str] | None:
    """The conversational shape of a labelled row (its key, adapter, words), if any: the
    shapes the adapters' own detect claims once the label is set aside."""
    if _shared.has_message_list_prefix(row.get("messages")):
        return CONVERSATIONS[0]
    turns = row.get("conversations")
    if _shared.has_role_turns(turns) and not ("chosen" in row and "rejected" in row):
        return CONVERSATIONS[3]
    is_turns = isinstance(turns, list) and (
        not turns or (isinstance(turns[0], dict) and "from" in turns[0])
    )
    # conversations with chosen and rejected are LLaMA-Factory's preference shape
    if is_turns and not ("chosen" in row and "rejected" in row):
        return CONVERSATIONS[1]
    if "instruction" in row and "output" in row:
        return CONVERSATIONS[2]
    return None


def evidence(row: dict) -> str:
    """Why ``detect`` took this row as KTO, in words, for ``dataprep detect``:
    ``boolean label beside messages``, ``non-boolean kto_tag beside conversations
    (ShareGPT)``, ``prompt, completion and boolean label``."""
    key = "label" if "label" in row else "kto_tag"
    kind = "boolean" if isinstance(row.get(key), bool) else "non-boolean"
    if "prompt" in row and "completion" in row:
        return f"prompt, completion and {kind} {key}"
    shape = _conversation_of(row)
    return f"{kind} {key} beside {shape[2] if shape else 'no conversation'}"


def read_label(row: dict) -> bool:
    """The row's label: ``label`` or ``kto_tag``, a JSON boolean."""
    present = [k for k in _shared.LABEL_KEYS if k in row]
    if not present:
        raise RowError("label", "missing required field 'label'", "missing-field")
    if len(present) > 1:
        raise RowError(
            "kto_tag", "both label and kto_tag: a row has one desirability label", "bad-label"
        )
    key = present[0]
    label = row[key]
    if not isinstance(label, bool):
        raise RowError(
            key,
            f"{key} must be true or false, got {label!r} (if this column is not a KTO label, "
            "read the file as SFT data with --format)",
            "bad-label",
        )
    return label


def split_conversation(conv: Conversation, key: str) -> tuple[list[Message], list[Message]]:
    """(prompt, completion): the completion is the last message, which must be the
    assistant's answer the label judges; the prompt is everything before it."""
    if not conv.messages or conv.messages[-1].role != "assistant":
        raise RowError(
            (conv.messages[-1].origin if conv.messages else None) or key,
            "a KTO conversation must end with the assistant's answer that its label judges",
            "no-final-assistant",
        )
    return conv.messages[:-1], conv.messages[-1:]


def to_canonical(row: dict) -> Unpaired:
    if "prompt" in row and "completion" in row:
        prompt, completion, plain = prompt_completion.read_pair(row, "completion")
        label = read_label(row)
        return Unpaired(
            prompt,
            completion,
            label,
            tools=_shared.read_tools(row.get("tools"), "tools"),
            plain=plain,
            extra=_shared.split_extra(row, CLAIMED_WRITTEN),
        )
    shape = _conversation_of(row)
    if shape is None:
        # None of the shapes (a row read as kto by --format): say what TRL's shape lacks.
        missing = "completion" if "prompt" in row else "prompt"
        raise RowError(missing, f"missing required field '{missing}'", "missing-field")
    key, adapter, _ = shape
    label = read_label(row)
    conv = adapter.to_canonical({k: v for k, v in row.items() if k not in _shared.LABEL_KEYS})
    prompt, completion = split_conversation(conv, key)
    return Unpaired(prompt, completion, label, tools=conv.tools, extra=conv.extra)


def from_canonical(
    example: Example, *, allow_lossy: bool = False
) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(example, Unpaired):
        raise _shared.not_convertible(
            example, NAME, "kto rows hold one completion with a desirability label"
        )
    dropped: list[str] = []
    row: dict[str, Any]
    if (
        example.plain
        and len(example.completion) == 1
        and prompt_completion.is_plain_pair(example.prompt + example.completion)
    ):
        prompt, completion = prompt_completion.write_plain_pair(
            example.prompt, example.completion, dropped
        )
        row = {"prompt": prompt, "completion": completion, "label": example.label}
        if example.tools:
            _shared.add(dropped, _shared.DROP_TOOLS)
    else:
        row = {
            "prompt": _shared.write_messages(example.prompt, dropped),
            "completion": _shared.write_messages(example.completion, dropped),
            "label": example.label,
        }
        if example.tools is not None:
            row["tools"] = example.tools
    _shared.put_extra(row, example.extra, CLAIMED_WRITTEN, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
