"""The formats' JSON Schemas: loading them, the valid/invalid check, and standard messages.

The plain reference is the real ``jsonschema`` validator (``reference_is_valid``): what it
says a row is, the row is. ``validate`` checks millions of rows, and ``jsonschema`` walks
the schema anew for every one, so ``Validator`` asks a compiled predicate instead
(``fast_is_valid``, the one seam to ``dataprep._fast.schema``), which must answer the
same; rows that fail go to ``jsonschema``, which says what is wrong in its standard words.

>>> v = Validator("alpaca")
>>> v.check({"instruction": "Add 2 and 2", "output": "4"})
[]
>>> v.check({"instruction": "Add 2 and 2", "output": 4})
[('output', "4 is not of type 'string'")]
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from dataprep.errors import UsageError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

Check = Callable[[Any], bool]  # a row in, valid or not out
ErrorList = list[tuple[str, str]]

_SUFFIX = ".schema.json"


# --------------------------------------------------------------------------- loading


def schema_names() -> list[str]:
    """The names of the shipped schemas, sorted (one per format)."""
    files = resources.files("dataprep.schemas").iterdir()
    return sorted(f.name[: -len(_SUFFIX)] for f in files if f.name.endswith(_SUFFIX))


@functools.cache
def _schema_text(name: str) -> str:
    path = resources.files("dataprep.schemas") / f"{name}{_SUFFIX}"
    if not path.is_file():
        known = ", ".join(schema_names())
        raise UsageError(f"no schema for format {name!r} (known: {known})")
    return path.read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of format ``name``, as a fresh dict the caller may change.

    >>> load_schema("text")["required"]
    ['text']
    """
    return json.loads(_schema_text(name))


# ------------------------------------------------------------------ the valid/invalid check


@functools.cache
def _jsonschema_validator(name: str) -> Draft202012Validator:
    # Imported here: jsonschema is slow to import and only rows that fail need it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(_schema_text(name)))


def reference_is_valid(name: str, row: Any) -> bool:
    """Whether ``row`` fits format ``name``'s schema, as ``jsonschema`` says: the plain
    reference that ``fast_is_valid`` must equal.

    >>> reference_is_valid("text", {"text": "hello"}), reference_is_valid("text", {"text": 1})
    (True, False)
    """
    return _jsonschema_validator(name).is_valid(row)


@functools.cache
def fast_is_valid(name: str) -> Check:
    """The seam to the fast check: format ``name``'s schema compiled once
    (``dataprep._fast.schema.compile_schema``) into a predicate that answers what
    ``reference_is_valid(name, row)`` answers, many times faster.

    >>> fast_is_valid("text")({"text": "hello"}), fast_is_valid("text")({"text": 1})
    (True, False)
    """
    from dataprep._fast.schema import compile_schema

    return compile_schema(json.loads(_schema_text(name)))


# -------------------------------------------------------------------------- messages


_REPR_LIMIT = 80


def _message(error: ValidationError) -> str:
    """jsonschema's own message, with a long instance cut short (a 4 KB answer is noise)."""
    message = error.message
    shown = repr(error.instance)
    if len(shown) > _REPR_LIMIT and shown in message:
        message = message.replace(shown, shown[: _REPR_LIMIT - 20] + "...", 1)
    return message


def format_path(path: Any) -> str:
    """A field path as users write it: ``messages[2].content``; ``""`` for the whole row.

    >>> format_path(["messages", 2, "content"]), format_path(["odd key", 0])
    ('messages[2].content', '["odd key"][0]')
    """
    out = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(out)


def _leaf_errors(error: ValidationError) -> list[ValidationError]:
    """Replace an anyOf/oneOf failure by the errors of the branch the row meant.

    "... is not valid under any of the given schemas" says nothing; the branch whose
    type fits the value and that has the fewest errors is the one the user aimed at
    (the first such branch on a tie). Where no branch fits, the error stays as it is.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for e in error.context:
        branches.setdefault(e.relative_schema_path[0], []).append(e)
    fitting = [
        errs
        for _, errs in sorted(branches.items())
        if not any(e.validator == "type" and not e.relative_path for e in errs)
    ]
    if not fitting:
        return [_type_error(error, branches) or error]
    # A branch whose required keys the row lacks is not the one it meant (messages under
    # "messages", not "conversations"), unless every branch lacks some.
    having = [
        errs
        for errs in fitting
        if not any(e.validator == "required" and not e.relative_path for e in errs)
    ]
    best = min(having or fitting, key=len)
    return [leaf for e in best for leaf in _leaf_errors(e)]


def _type_error(
    error: ValidationError, branches: dict[int, list[ValidationError]]
) -> ValidationError | None:
    """Where every branch refused the value's type (a string, a list or one message
    object): one error naming all the types, as a ``type`` list would."""
    types: list[str] = []
    for errs in branches.values():
        found = [e for e in errs if e.validator == "type" and not e.relative_path]
        if not found:
            return None
        for e in found:
            for t in (
                [e.validator_value] if isinstance(e.validator_value, str) else e.validator_value
            ):
                if t not in types:
                    types.append(t)
    from jsonschema.exceptions import ValidationError as Error

    message = f"{error.instance!r} is not of type {', '.join(repr(t) for t in types)}"
    return Error(message, validator="type", validator_value=types, instance=error.instance,
                 path=error.path)  # fmt: skip


def schema_errors(name: str, row: Any) -> ErrorList:
    """Every way ``row`` breaks format ``name``'s schema, as (field path, message) pairs.

    Uses the real ``jsonschema`` validator, so messages are its standard ones; meant for
    rows the fast check rejected.

    >>> schema_errors("sharegpt", {"conversations": [{"from": "human"}]})
    [('conversations[0]', "'value' is a required property")]
    """
    out: ErrorList = []
    for error in _jsonschema_validator(name).iter_errors(row):
        for leaf in _leaf_errors(error):
            out.append((format_path(leaf.absolute_path), _message(leaf)))
    return out


class Validator:
    """Checks rows against one format's schema: the compiled check first, messages after.

    >>> Validator("kto").check({"prompt": "Hi", "completion": "Hello", "label": "yes"})
    [('label', "'yes' is not of type 'boolean'")]
    """

    __slots__ = ("is_valid", "name")

    def __init__(self, name: str):
        self.name = name
        self.is_valid: Check = fast_is_valid(name)

    def check(self, row: Any) -> ErrorList:
        """The row's schema errors as (field path, message) pairs; empty when valid."""
        if self.is_valid(row):
            return []
        return schema_errors(self.name, row)

    def __repr__(self) -> str:
        return f"Validator({self.name!r})"
