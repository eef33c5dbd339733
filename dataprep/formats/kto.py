"""TRL's unpaired preference rows, for KTO: ``prompt``, ``completion``, ``label`` (bool).

``prompt`` and ``completion`` are both strings (a ``plain`` example: the prompt is one
user message, none when empty; the completion one assistant message) or both message
lists; ``tools``? beside lists. ``label`` must be a JSON boolean: 0/1 or "true" are
refused (``bad-label``) rather than guessed, as the schema says.

Only a KTO example can be written here: a preference pair or an SFT conversation is
``not-convertible`` (one row in gives one row out, and a pair would need two).

Round trips: row -> canonical -> row is exact for every row of string or list form
written in the canonical message spellings; canonical -> row -> canonical is exact for
non-plain examples, and for plain ones whose prompt is ``[]`` or one user message with
non-empty text and whose completion is one assistant message, text only.

>>> ex = to_canonical({"prompt": "2+2=", "completion": "4", "label": True})
>>> ex.label, [m.content for m in ex.prompt + ex.completion]
(True, ['2+2=', '4'])
"""

from __future__ import annotations

from typing import Any

from dataprep.canonical import Example, Unpaired
from dataprep.errors import RowError
from dataprep.formats import _shared, prompt_completion

NAME = "kto"
KIND = "kto"
CLAIMED = frozenset({"prompt", "completion", "label", "tools"})
# detect() claims no row without one of these keys (lets detection skip it).
DETECT_KEYS = frozenset({"label"})


def detect(row: dict) -> bool:
    return "prompt" in row and "completion" in row and "label" in row


def to_canonical(row: dict) -> Unpaired:
    prompt, completion, plain = prompt_completion.read_pair(row, "completion")
    label = _shared.require(row, "label", "")
    if not isinstance(label, bool):
        raise RowError("label", f"label must be true or false, got {label!r}", "bad-label")
    return Unpaired(
        prompt,
        completion,
        label,
        tools=_shared.read_tools(row.get("tools"), "tools"),
        plain=plain,
        extra=_shared.split_extra(row, CLAIMED),
    )


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
    _shared.put_extra(row, example.extra, CLAIMED, dropped)
    return _shared.finish(row, dropped, NAME, allow_lossy)
