"""Field and role mapping: reading files that almost fit a format, without code.

What Axolotl's ``message_property_mappings``/``roles`` and LLaMA-Factory's
``columns``/``tags`` do, from the command line:

- ``--field OURS=YOURS`` reads the key ``YOURS`` of the file as our field ``OURS``.
  Row fields (``messages``, ``conversations``, ``instruction``, ``chosen``, ...) are
  renamed at the top of the row; message fields (``role``, ``content``, ``from``,
  ``value``, ``tool_calls``, ...) are renamed inside every message of the row's message
  lists (``messages``, ``conversations``, ``prompt``, ``completion``, ``chosen``,
  ``rejected``, ...), and inside a single turn (``chosen`` in LLaMA-Factory's
  preference shape).
- ``--role YOURS=OURS`` rewrites the role value ``YOURS`` (under ``role`` or ``from``,
  after renaming) to ``OURS``.

Keys and roles that no mapping names stay as they are. A row that does not have a
mapped key is left alone (files often mix spellings). A row that has both the mapped key
and ours is a ``mapping-conflict`` error: one of the two would be lost.

>>> m = Mapping.from_specs(
...     fields=["messages=dialog", "role=speaker", "content=text"],
...     roles=["bot=assistant", "human=user"],
... )
>>> m.apply({"id": 7, "dialog": [{"speaker": "human", "text": "Hi"}, {"speaker": "bot", "text": "Hello!"}]})
{'id': 7, 'messages': [{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello!'}]}
>>> row = {"messages": []}
>>> Mapping().apply(row) is row
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dataprep.canonical import ROLES
from dataprep.errors import RowError, UsageError

# Our fields at the top of a row, in any format (the top-level properties of schemas/).
ROW_FIELDS = frozenset(
    {
        "messages",
        "conversations",
        "system",
        "tools",
        "instruction",
        "input",
        "output",
        "history",
        "text",
        "prompt",
        "completion",
        "label",
        "kto_tag",
        "chosen",
        "rejected",
        "chosen_messages",
        "rejected_messages",
    }
)
# Our fields inside one message: the messages dialect and the ShareGPT one.
MESSAGE_FIELDS = frozenset(
    {
        "role",
        "content",
        "tool_calls",
        "tool_call_id",
        "name",
        "reasoning_content",
        "train",
        "from",
        "value",
    }
)
# Row fields that hold messages: a list of them, or (LLaMA-Factory's chosen/rejected)
# a single ShareGPT turn.
MESSAGE_LIST_FIELDS = frozenset(
    {
        "messages",
        "conversations",
        "prompt",
        "completion",
        "chosen",
        "rejected",
        "chosen_messages",
        "rejected_messages",
    }
)
ROLE_KEYS = ("role", "from")
# Role values a --role may produce: ours, and ShareGPT's own names (a ShareGPT file may
# want "bot=gpt" as much as "bot=assistant").
TARGET_ROLES = (*ROLES, "human", "gpt", "function_call", "observation")


def _split(spec: str, option: str, form: str, example: str) -> tuple[str, str]:
    left, eq, right = spec.partition("=")
    left, right = left.strip(), right.strip()
    if not eq or not left or not right or "=" in right:
        raise UsageError(f"bad {option} {spec!r}: expected {form} (e.g. {option} {example})")
    return left, right


def parse_field_maps(specs: Sequence[str]) -> dict[str, str]:
    """``--field`` values to ``{our field: your key}``.

    >>> parse_field_maps(["messages=dialog", "role=speaker"])
    {'messages': 'dialog', 'role': 'speaker'}
    >>> parse_field_maps(["mesages=dialog"])
    Traceback (most recent call last):
    ...
    dataprep.errors.UsageError: bad --field 'mesages=dialog': 'mesages' is not a field of any format (row fields: chosen, chosen_messages, completion, conversations, history, input, instruction, kto_tag, label, messages, output, prompt, rejected, rejected_messages, system, text, tools; message fields: content, from, name, reasoning_content, role, tool_call_id, tool_calls, train, value)
    """
    out: dict[str, str] = {}
    for spec in specs:
        ours, yours = _split(spec, "--field", "OUR_FIELD=YOUR_KEY", "messages=dialog")
        if ours not in ROW_FIELDS and ours not in MESSAGE_FIELDS:
            raise UsageError(
                f"bad --field {spec!r}: {ours!r} is not a field of any format"
                f" (row fields: {', '.join(sorted(ROW_FIELDS))};"
                f" message fields: {', '.join(sorted(MESSAGE_FIELDS))})"
            )
        if ours in out:
            raise UsageError(f"bad --field {spec!r}: {ours!r} is already mapped to {out[ours]!r}")
        level = ROW_FIELDS if ours in ROW_FIELDS else MESSAGE_FIELDS
        for other, key in out.items():
            if key == yours and other in level:
                raise UsageError(f"bad --field {spec!r}: {yours!r} is already mapped to {other!r}")
        out[ours] = yours
    return out


def parse_role_maps(specs: Sequence[str]) -> dict[str, str]:
    """``--role`` values to ``{your role: our role}``.

    >>> parse_role_maps(["bot=assistant", "human=user"])
    {'bot': 'assistant', 'human': 'user'}
    """
    out: dict[str, str] = {}
    for spec in specs:
        yours, ours = _split(spec, "--role", "YOUR_ROLE=OUR_ROLE", "bot=assistant")
        if ours not in TARGET_ROLES:
            raise UsageError(
                f"bad --role {spec!r}: {ours!r} is not a role (known: {', '.join(TARGET_ROLES)})"
            )
        if yours in out:
            raise UsageError(f"bad --role {spec!r}: {yours!r} is already mapped to {out[yours]!r}")
        out[yours] = ours
    return out


# Role names seen in real files, by the role they play. A name not listed is read by its
# words (``assistant_1``, ``ai-bot``); failing that it is taken for a user.
_ROLE_WORDS = {
    "assistant": frozenset(
        {"assistant", "bot", "chatbot", "gpt", "chatgpt", "model", "ai", "llm", "agent",
         "response", "answer", "output", "gemini", "claude", "bard", "copilot", "machine"}
    ),
    "system": frozenset({"system", "sys", "developer", "instructions", "context"}),
    "tool": frozenset(
        {"tool", "function", "observation", "ipython", "tool_result", "tool_response",
         "function_response", "function_result", "environment", "env"}
    ),
}  # fmt: skip


def suggest_role(name: str) -> str:
    """The canonical role an unknown role name most likely means, for the ``--role`` hint.

    >>> [suggest_role(n) for n in ("bot", "gpt", "assistant_1", "AI", "Narrator", "sys")]
    ['assistant', 'assistant', 'assistant', 'assistant', 'user', 'system']
    """
    key = name.strip().lower()
    for role, names in _ROLE_WORDS.items():
        if key in names:
            return role
    # "assistant_1", "ai-bot", "Model 2": the name's words, digits left out.
    words = [w for w in key.replace("-", " ").replace("_", " ").split() if not w.isdigit()]
    for role, names in _ROLE_WORDS.items():
        if any(w in names or w.rstrip("0123456789") in names for w in words):
            return role
    return "user"


@dataclass(frozen=True)
class Mapping:
    """Renames for one file's rows: ``fields`` is ``{our field: your key}`` (as
    ``parse_field_maps`` gives), ``roles`` is ``{your role: our role}``.

    >>> m = Mapping(fields={"chosen": "chosen_msgs", "rejected": "rejected_msgs"})
    >>> m.apply({"chosen_msgs": ["a"], "rejected_msgs": ["b"], "score": 1})
    {'chosen': ['a'], 'rejected': ['b'], 'score': 1}
    """

    fields: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    # Derived in __post_init__: your key -> our field, per level.
    _row_renames: dict[str, str] = field(init=False, repr=False, compare=False)
    _message_renames: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        row = {yours: ours for ours, yours in self.fields.items() if ours in ROW_FIELDS}
        message = {yours: ours for ours, yours in self.fields.items() if ours in MESSAGE_FIELDS}
        unknown = self.fields.keys() - ROW_FIELDS - MESSAGE_FIELDS
        if unknown:
            raise UsageError(f"unknown field(s) in a mapping: {', '.join(sorted(unknown))}")
        # Renaming a key to itself changes nothing: leave it out so the identity stays cheap.
        object.__setattr__(self, "_row_renames", {k: v for k, v in row.items() if k != v})
        object.__setattr__(self, "_message_renames", {k: v for k, v in message.items() if k != v})

    @classmethod
    def from_specs(cls, fields: Sequence[str] = (), roles: Sequence[str] = ()) -> Mapping:
        """A mapping from ``--field`` and ``--role`` values; ``UsageError`` on a bad one."""
        return cls(parse_field_maps(list(fields)), parse_role_maps(list(roles)))

    @property
    def is_identity(self) -> bool:
        return not self._row_renames and not self._message_renames and not self.roles

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with keys renamed and roles rewritten: a new dict (``row`` is not
        changed), or ``row`` itself when the mapping changes nothing.

        Raises ``RowError`` (``mapping-conflict``) where a renamed key would overwrite a
        key the row already has; its path is in the file's own terms.
        """
        if self.is_identity or not isinstance(row, dict):
            return row
        renames = self._row_renames
        if renames:
            out: dict[str, Any] = {}
            for key, value in row.items():
                ours = renames.get(key)
                if ours is None:
                    out[key] = value
                    continue
                if ours in row and ours not in renames:
                    raise _conflict(key, ours, key)
                out[ours] = value
        else:
            out = dict(row)
        if self._message_renames or self.roles:
            originals = {ours: yours for yours, ours in renames.items()}
            for name in [k for k in out if k in MESSAGE_LIST_FIELDS]:
                value = out[name]
                where = originals.get(name, name)
                if isinstance(value, list):
                    out[name] = [
                        self._message(m, f"{where}[{i}]") if isinstance(m, dict) else m
                        for i, m in enumerate(value)
                    ]
                elif isinstance(value, dict):
                    out[name] = self._message(value, where)
        return out

    def _message(self, message: dict[str, Any], where: str) -> dict[str, Any]:
        renames = self._message_renames
        out: dict[str, Any] = {}
        for key, value in message.items():
            ours = renames.get(key, key)
            if ours != key and ours in message and ours not in renames:
                raise _conflict(key, ours, f"{where}.{key}")
            out[ours] = value
        roles = self.roles
        if roles:
            for key in ROLE_KEYS:
                value = out.get(key)
                if isinstance(value, str) and value in roles:
                    out[key] = roles[value]
        return out


def _conflict(yours: str, ours: str, path: str) -> RowError:
    return RowError(
        path,
        f"cannot read {yours!r} as {ours!r}: the row already has {ours!r}"
        f" (remove one, or drop the --field {ours}={yours} mapping)",
        "mapping-conflict",
    )
