"""Proposing the ``--field``/``--role`` mapping that makes rows of an unknown file fit a format.

For each format, its shapes (the row fields it needs and may take, and the kind of value
each holds) are matched against the keys of the first rows: a key whose values have the
right kind, preferring names that say the same thing (``question`` for ``instruction``,
``speaker`` for ``role``). Inside message lists the same is done for the message keys,
and role values no format knows get a ``--role`` (``dataprep.formats.mapping.suggest_role``).
A proposal is kept only when applying it makes every given row detect as that format,
and nothing else: it is checked, not guessed.

>>> rows = [{"question": "2+2?", "answer": "4"}, {"question": "3+3?", "answer": "6"}]
>>> [p.args for p in propose(rows) if p.format == "alpaca"]
['--field instruction=question --field output=answer']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dataprep.errors import RowError
from dataprep.formats import FORMATS, sharegpt
from dataprep.formats.mapping import Mapping, suggest_role

# Names people give each of our fields, best first (our own name is always best).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "instruction": ("question", "query", "prompt", "instruction", "problem", "task", "request", "input"),
    "input": ("input", "context", "passage"),
    "output": ("answer", "response", "output", "completion", "target", "reply", "solution"),
    "system": ("system", "system_prompt", "sys"),
    "text": ("text", "content", "document", "body", "passage", "article"),
    "prompt": ("prompt", "question", "query", "instruction", "input", "context"),
    "completion": ("completion", "answer", "response", "output", "target", "reply"),
    "chosen": ("chosen", "preferred", "accepted", "better", "positive", "good", "winner", "response_chosen"),
    "rejected": ("rejected", "dispreferred", "worse", "negative", "bad", "loser", "response_rejected"),
    "label": ("label", "kto_tag", "desirable", "is_good", "good", "thumbs_up"),
    "messages": ("messages", "conversation", "dialog", "dialogue", "chat", "turns", "conversations", "history"),
    "conversations": ("conversations", "conversation", "dialog", "dialogue", "chat", "turns", "messages"),
    "role": ("role", "speaker", "author", "sender", "from", "who", "user", "type"),
    "content": ("content", "text", "value", "message", "utterance", "body", "msg"),
    "from": ("from", "speaker", "role", "author", "sender", "who", "user"),
    "value": ("value", "text", "content", "message", "utterance", "body", "msg"),
}  # fmt: skip

# Kinds of value: "str" text, "bool", "chat" a list of message objects, "either" text or chat.
Kind = str
# format -> shapes: (required {field: kind}, optional {field: kind}, message dialect or None)
SHAPES: dict[str, list[tuple[dict[str, Kind], dict[str, Kind], str | None]]] = {
    "messages": [({"messages": "chat"}, {}, "messages")],
    "sharegpt": [({"conversations": "chat"}, {"system": "str"}, "sharegpt")],
    "alpaca": [({"instruction": "str", "output": "str"}, {"input": "str", "system": "str"}, None)],
    "chatml": [({"text": "str"}, {}, None)],
    "kto": [({"prompt": "either", "completion": "either", "label": "bool"}, {}, "messages")],
    "preference": [({"chosen": "either", "rejected": "either"}, {"prompt": "either"}, "messages")],
    "prompt-completion": [({"prompt": "either", "completion": "either"}, {}, "messages")],
    "text": [({"text": "str"}, {}, None)],
}
# Message fields per dialect: (role key, content key, the role values it knows)
DIALECTS = {
    "messages": ("role", "content", frozenset({"system", "user", "assistant", "tool", "developer", "function"})),
    "sharegpt": ("from", "value", frozenset(sharegpt.ROLE_ALIASES)),
}  # fmt: skip
# Fields mapped only onto a key whose name says so: which of two texts is the chosen
# one, or which boolean is a KTO label, cannot be told from the values.
NAMED_ONLY = frozenset({"chosen", "rejected", "label"})
# Rows looked at: enough to see the keys and role values, few enough to stay instant.
ROWS_USED = 20


@dataclass
class Proposal:
    """A mapping that makes the rows fit ``format``: ``fields`` as ``--field`` gives
    them (``{our field: your key}``), ``roles`` as ``--role`` does (``{yours: ours}``)."""

    format: str
    fields: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)  # row keys the mapping leaves as extras
    score: float = 0.0

    @property
    def args(self) -> str:
        """The command-line options, as a user types them."""
        parts = [f"--field {ours}={yours}" for ours, yours in self.fields.items()]
        parts += [f"--role {yours}={ours}" for yours, ours in self.roles.items()]
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "fields": self.fields,
            "roles": self.roles,
            "args": self.args,
            "unused_keys": self.unused,
        }


def propose(
    rows: Sequence[Any], detect: Callable[[Any], tuple[str, ...]] | None = None
) -> list[Proposal]:
    """The checked proposals for ``rows`` (best first, at most one per format): each makes
    every row of ``rows`` detect as its format alone once applied, and reads without
    error; of those, only the ones that leave the fewest of the rows' keys unused."""
    if detect is None:
        from dataprep.detect import row_formats as detect
    rows = [r for r in rows[:ROWS_USED] if isinstance(r, dict)]
    if not rows:
        return []
    found = []
    for name, shapes in SHAPES.items():
        for required, optional, dialect in shapes:
            proposal = _fit(rows, name, required, optional, dialect)
            if (
                proposal is not None
                and (proposal.fields or proposal.roles)
                and _fits(proposal, rows, detect)
            ):
                found.append(proposal)
                break
    # Only those that use the most keys: a text proposal that leaves the answer unused
    # fits, but is not what a file of questions and answers means. Then the better names.
    fewest = min((len(p.unused) for p in found), default=0)
    found = [p for p in found if len(p.unused) == fewest]
    found.sort(key=lambda p: -p.score)
    return found


def _fits(proposal: Proposal, rows: list[dict], detect: Callable[[Any], tuple[str, ...]]) -> bool:
    mapping = Mapping(dict(proposal.fields), dict(proposal.roles))
    try:
        mapped = [mapping.apply(r) for r in rows]
    except RowError:
        return False
    if not all(detect(r) == (proposal.format,) for r in mapped):
        return False
    adapter = FORMATS[proposal.format]
    try:
        for r in mapped:
            adapter.to_canonical(r)
    except RowError:
        return False
    return True


def _kind_of(value: Any) -> set[Kind]:
    if isinstance(value, bool):
        return {"bool"}
    if isinstance(value, str):
        return {"str", "either"}
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        return {"chat", "either"}
    return set()


def _name_score(ours: str, yours: str) -> float:
    """How well the key ``yours`` names our field ``ours``: 0 (not a known name) to 1."""
    key = yours.strip().lower()
    names = SYNONYMS.get(ours, (ours,))
    if key == ours:
        return 1.0
    for i, name in enumerate(names):
        if key == name:
            return 0.9 - i * 0.05
    for i, name in enumerate(names):
        if name in key.replace("-", "_").split("_"):
            return 0.5 - i * 0.02
    return 0.0


def _fit(
    rows: list[dict],
    name: str,
    required: dict[str, Kind],
    optional: dict[str, Kind],
    dialect: str | None,
) -> Proposal | None:
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    kinds = {k: set.intersection(*(_kind_of(r[k]) for r in rows)) for k in keys}
    taken: set[str] = set()
    fields: dict[str, str] = {}
    score = 0.0
    for ours, kind in [*required.items(), *optional.items()]:
        candidates = [k for k in keys if k not in taken and kind in kinds[k]]
        if not candidates:
            if ours in required:
                return None
            continue
        best = max(candidates, key=lambda k: (_name_score(ours, k), -keys.index(k)))
        named = _name_score(ours, best)
        if named == 0.0 and (ours in optional or ours in NAMED_ONLY):
            if ours in required:
                return None
            continue  # mapped only onto a key that names it
        if ours in required and named == 0.0 and len(candidates) > 1:
            # Several keys could be it and none says so: the first in the row, as people
            # write instruction before output and prompt before completion.
            best = candidates[0]
        taken.add(best)
        fields[ours] = best
        score += named
    proposal = Proposal(name, {o: y for o, y in fields.items() if o != y}, score=score)
    proposal.unused = [k for k in keys if k not in taken]
    if dialect is not None:
        for yours in fields.values():
            if "chat" in kinds.get(yours, set()):
                _fit_messages(rows, yours, dialect, proposal)
    return proposal


def _fit_messages(rows: list[dict], key: str, dialect: str, proposal: Proposal) -> None:
    """Add the message-key and role renames that make the messages under ``key`` fit."""
    role_field, content_field, known_roles = DIALECTS[dialect]
    messages = [m for r in rows for m in r[key] if isinstance(m, dict)]
    keys = [k for k in dict.fromkeys(k for m in messages for k in m)]
    strings = [k for k in keys if all(isinstance(m.get(k), str) for m in messages if k in m)]
    if not strings:
        return

    # The role key: few distinct values, best named; the content key: the rest, best named.
    def role_rank(k: str) -> tuple[float, int]:
        distinct = len({m[k] for m in messages if k in m})
        return (_name_score(role_field, k) + (0.3 if distinct <= 8 else -1.0), -distinct)

    role_key = max(strings, key=role_rank)
    rest = [k for k in strings if k != role_key]
    if not rest:
        return
    content_key = max(
        rest,
        key=lambda k: (_name_score(content_field, k), sum(len(m.get(k) or "") for m in messages)),
    )
    for ours, yours in ((role_field, role_key), (content_field, content_key)):
        if ours != yours:
            proposal.fields[ours] = yours
    for value in dict.fromkeys(m[role_key] for m in messages if role_key in m):
        if value not in known_roles:
            proposal.roles[value] = suggest_role(value)
