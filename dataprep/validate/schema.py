"""The formats' JSON Schemas: loading them, a fast compiled check, and standard messages.

``validate`` checks millions of rows. ``jsonschema`` is complete but walks the schema
anew for every row, so each schema is also compiled, once, into nested closures that
only answer "valid or not" and do it many times faster. Rows that fail go to the real
``jsonschema`` validator, which says what is wrong in its standard words. The compiler
knows exactly the subset of draft 2020-12 that the shipped schemas use and refuses any
other keyword, so an edit to a schema can never silently weaken validation.

>>> v = Validator("alpaca")
>>> v.check({"instruction": "Add 2 and 2", "output": "4"})
[]
>>> v.check({"instruction": "Add 2 and 2", "output": 4})
[('output', "4 is not of type 'string'")]
>>> is_even_length = compile_schema({"type": "array", "maxItems": 2})
>>> is_even_length([1, 2]), is_even_length([1, 2, 3]), is_even_length("abc")
(True, False, False)
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from dataprep.errors import UsageError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

Check = Callable[[Any], bool]
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


# ------------------------------------------------------------------------- compiling

# Keywords that never change whether an instance is valid.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
_ASSERTIONS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "$ref",
    }
)
_KNOWN = _ANNOTATIONS | _ASSERTIONS

# JSON types that one isinstance answers exactly. Numbers are apart because bool is an
# int in Python but not a number in JSON Schema, and 1.0 is an integer there.
_PLAIN_TYPES: dict[str, type] = {
    "string": str,
    "boolean": bool,
    "null": type(None),
    "object": dict,
    "array": list,
}
_NUMBER_TYPES = frozenset({"integer", "number"})


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema's ``enum`` and ``const`` mean it.

    Unlike ``==`` in Python, ``true`` is not ``1`` and ``false`` is not ``0``;
    ``1`` and ``1.0`` are the same number.

    >>> json_equal(True, 1), json_equal(1, 1.0), json_equal([0], [False])
    (False, True, False)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, dict, str, int, float)) or isinstance(b, (list, dict, str, int, float)):
        return type(a) is type(b) and a == b
    return a == b


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    frozen = tuple(checks)

    def check(v: Any) -> bool:
        for c in frozen:  # noqa: SIM110  (a loop: all() over a generator is slower)
            if not c(v):
                return False
        return True

    return check


def _plain_type_check(plain: tuple[type, ...]) -> Check:
    if len(plain) == 1:
        only = plain[0]

        def check(v: Any) -> bool:
            return isinstance(v, only)

    else:

        def check(v: Any) -> bool:
            return isinstance(v, plain)

    # Read by the object check, which then tests such a property inline.
    check.plain_types = plain  # type: ignore[attr-defined]
    return check


def _single_required(subschemas: list[Any]) -> tuple[str, ...] | None:
    """The keys, when each subschema is exactly ``{"required": [key]}``; else None."""
    keys = []
    for s in subschemas:
        if not (isinstance(s, dict) and s.keys() == {"required"} and len(s["required"]) == 1):
            return None
        keys.append(s["required"][0])
    return tuple(keys)


def _dispatch(plain: tuple[type, ...], groups: list[tuple[type, Check]]) -> Check:
    """One check for a list of plain types, some with their own keywords (content: str | [parts])."""

    def check(v: Any) -> bool:
        if not isinstance(v, plain):
            return False
        for kind, group in groups:
            if isinstance(v, kind):
                return group(v)
        return True

    return check


class _Compiler:
    """Compiles one root schema; ``$ref`` targets are compiled once and shared."""

    def __init__(self, root: dict[str, Any] | bool):
        self.root = root
        self.done: dict[str, Check] = {}
        # A $ref met again while its target is still compiling (recursion) gets a
        # trampoline that reads the finished check from this cell.
        self.pending: dict[str, list[Check]] = {}

    def compile(self, schema: Any, where: str = "#") -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise ValueError(f"{where}: a schema is an object or a boolean, not {schema!r}")
        unknown = sorted(schema.keys() - _KNOWN)
        if unknown:
            raise NotImplementedError(
                f"{where}: the compiled check does not know the keyword(s) {', '.join(unknown)};"
                " teach dataprep.validate.schema about them before using them in a schema"
            )

        types = schema.get("type")
        if isinstance(types, str):
            types = [types]
        single = types[0] if types is not None and len(types) == 1 else None
        checks: list[Check] = []

        # Keywords that apply to one JSON type: with a single type of the same kind the
        # group check also checks the type (False on any other), saving a call per value.
        groups: list[tuple[type, Check]] = []
        for kind, build in ((dict, self._object), (list, self._array), (str, self._string)):
            fused = single is not None and _PLAIN_TYPES.get(single) is kind
            group = build(schema, where, fused)
            if group is not None:
                groups.append((kind, group))

        if types is None:
            checks.extend(group for _, group in groups)
        elif all(t in _PLAIN_TYPES for t in types):
            plain = tuple(_PLAIN_TYPES[t] for t in types)
            # A group for a type the instance cannot have never applies.
            groups = [(kind, group) for kind, group in groups if kind in plain]
            if not groups:
                checks.append(self._type(types, where))
            elif single is not None:
                checks.append(groups[0][1])
            else:
                checks.append(_dispatch(plain, groups))
        else:
            checks.append(self._type(types, where))
            checks.extend(group for _, group in groups)

        number = self._number(schema)
        if number is not None:
            checks.append(number)
        for kw in ("enum", "const"):
            if kw in schema:
                checks.append(self._equality(kw, schema[kw]))
        for kw in ("allOf", "anyOf", "oneOf"):
            if kw in schema:
                checks.append(self._combinator(kw, schema[kw], where))
        if "not" in schema:
            inner = self.compile(schema["not"], f"{where}/not")
            checks.append(lambda v: not inner(v))
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"], where))
        return _all_of(checks)

    # -- keywords, grouped by the JSON type they apply to

    def _type(self, types: list[str], where: str) -> Check:
        for t in types:
            if t not in _PLAIN_TYPES and t not in _NUMBER_TYPES:
                raise NotImplementedError(f"{where}/type: unknown JSON type {t!r}")
        plain = tuple(_PLAIN_TYPES[t] for t in types if t in _PLAIN_TYPES)
        if "number" in types:

            def check(v: Any) -> bool:
                return isinstance(v, plain) or _is_number(v)

            return check
        if "integer" in types:

            def check(v: Any) -> bool:
                if isinstance(v, plain):
                    return True
                if isinstance(v, bool):
                    return False
                return isinstance(v, int) or (isinstance(v, float) and v.is_integer())

            return check
        return _plain_type_check(plain)

    def _equality(self, kw: str, expected: Any) -> Check:
        values = expected if kw == "enum" else [expected]
        if all(isinstance(e, str) for e in values):
            allowed = frozenset(values)
            return lambda v: isinstance(v, str) and v in allowed
        return lambda v: any(json_equal(v, e) for e in values)

    def _object(self, schema: dict[str, Any], where: str, fused_type: bool) -> Check | None:
        if not any(k in schema for k in ("properties", "required", "additionalProperties")):
            return None
        props: dict[str, Check | tuple[type, ...]] = {}
        for k, s in schema.get("properties", {}).items():
            c = self.compile(s, f"{where}/properties/{k}")
            # A property that only checks a plain type is checked inline, without a call.
            props[k] = getattr(c, "plain_types", c)
        required = tuple(schema.get("required", ()))
        extra: Check | None = None
        if "additionalProperties" in schema:
            extra = self.compile(schema["additionalProperties"], f"{where}/additionalProperties")
            if extra is _always:
                extra = None
        on_other_type = not fused_type
        get = props.get

        if not props and extra is None:

            def check_required(v: Any) -> bool:
                if not isinstance(v, dict):
                    return on_other_type
                for k in required:  # noqa: SIM110  (a loop: all() over a generator is slower)
                    if k not in v:
                        return False
                return True

            return check_required

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return on_other_type
            for k in required:
                if k not in v:
                    return False
            for k, x in v.items():
                c = get(k)
                if c is None:
                    if extra is not None and not extra(x):
                        return False
                elif type(c) is tuple:
                    if not isinstance(x, c):
                        return False
                elif not c(x):
                    return False
            return True

        return check

    def _array(self, schema: dict[str, Any], where: str, fused_type: bool) -> Check | None:
        if not any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
            return None
        if "items" in schema and isinstance(schema["items"], list):
            raise NotImplementedError(f"{where}/items: a list of schemas is prefixItems in 2020-12")
        items = self.compile(schema["items"], f"{where}/items") if "items" in schema else None
        if items is _always:
            items = None
        prefix = tuple(
            self.compile(s, f"{where}/prefixItems/{i}")
            for i, s in enumerate(schema.get("prefixItems", ()))
        )
        n_prefix = len(prefix)
        lo = schema.get("minItems", 0)
        hi = schema.get("maxItems")
        on_other_type = not fused_type

        def check(v: Any) -> bool:
            if not isinstance(v, list):
                return on_other_type
            n = len(v)
            if n < lo or (hi is not None and n > hi):
                return False
            if n_prefix:
                for c, x in zip(prefix, v, strict=False):  # v may be shorter
                    if not c(x):
                        return False
                if items is not None:
                    for x in v[n_prefix:]:
                        if not items(x):
                            return False
            elif items is not None:
                for x in v:
                    if not items(x):
                        return False
            return True

        return check

    def _string(self, schema: dict[str, Any], where: str, fused_type: bool) -> Check | None:
        if not any(k in schema for k in ("minLength", "maxLength", "pattern")):
            return None
        lo = schema.get("minLength", 0)
        hi = schema.get("maxLength")
        # JSON Schema patterns are not anchored: search, not match.
        search = re.compile(schema["pattern"]).search if "pattern" in schema else None
        on_other_type = not fused_type

        def check(v: Any) -> bool:
            if not isinstance(v, str):
                return on_other_type
            # len() counts code points, as JSON Schema does.
            if lo and len(v) < lo:
                return False
            if hi is not None and len(v) > hi:
                return False
            return search is None or search(v) is not None

        return check

    def _number(self, schema: dict[str, Any]) -> Check | None:
        bounds = [
            (schema[k], op)
            for k, op in (
                ("minimum", lambda v, b: v >= b),
                ("maximum", lambda v, b: v <= b),
                ("exclusiveMinimum", lambda v, b: v > b),
                ("exclusiveMaximum", lambda v, b: v < b),
            )
            if k in schema
        ]
        if not bounds:
            return None

        def check(v: Any) -> bool:
            if not _is_number(v):
                return True
            return all(op(v, b) for b, op in bounds)

        return check

    def _combinator(self, kw: str, subschemas: list[Any], where: str) -> Check:
        subs = tuple(self.compile(s, f"{where}/{kw}/{i}") for i, s in enumerate(subschemas))
        if kw == "allOf":
            return _all_of(list(subs))
        if kw == "anyOf":
            keys = _single_required(subschemas)
            if keys is not None:
                # anyOf: [{required: [a]}, {required: [b]}] ("content, or tool_calls"):
                # one membership test per key instead of one check per branch.
                def has_any(v: Any) -> bool:
                    if not isinstance(v, dict):
                        return True
                    for k in keys:  # noqa: SIM110  (a loop: any() over a generator is slower)
                        if k in v:
                            return True
                    return False

                return has_any

            def any_of(v: Any) -> bool:
                for c in subs:  # noqa: SIM110  (a loop: any() over a generator is slower)
                    if c(v):
                        return True
                return False

            return any_of

        def one_of(v: Any) -> bool:
            passed = 0
            for c in subs:
                if c(v):
                    passed += 1
                    if passed > 1:
                        return False
            return passed == 1

        return one_of

    def _ref(self, ref: str, where: str) -> Check:
        if ref in self.done:
            return self.done[ref]
        if ref in self.pending:
            cell = self.pending[ref]
            return lambda v: cell[0](v)
        if not ref.startswith("#"):
            raise NotImplementedError(f"{where}/$ref: only local references (#/...) are known")
        target: Any = self.root
        for token in ref[1:].split("/")[1:]:
            token = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                raise ValueError(f"{where}/$ref: {ref!r} points at nothing")
        cell: list[Check] = []
        self.pending[ref] = cell
        compiled = self.compile(target, ref)
        cell.append(compiled)
        del self.pending[ref]
        self.done[ref] = compiled
        return compiled


def compile_schema(schema: dict[str, Any] | bool) -> Check:
    """Compile a JSON Schema (the subset of 2020-12 the shipped schemas use) to a predicate.

    The predicate answers exactly what ``Draft202012Validator(schema).is_valid`` answers,
    much faster. Raises ``NotImplementedError`` naming any keyword it does not know.

    >>> check = compile_schema({"type": "integer", "minimum": 0})
    >>> check(3), check(3.0), check(True), check(-1)
    (True, True, False, False)
    >>> compile_schema({"type": "string", "format": "email"})
    Traceback (most recent call last):
    ...
    NotImplementedError: #: the compiled check does not know the keyword(s) format; teach dataprep.validate.schema about them before using them in a schema
    """
    return _Compiler(schema).compile(schema)


@functools.cache
def _compiled(name: str) -> Check:
    return compile_schema(json.loads(_schema_text(name)))


# -------------------------------------------------------------------------- messages


@functools.cache
def _jsonschema_validator(name: str) -> Draft202012Validator:
    # Imported here: jsonschema is slow to import and only rows that fail need it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(_schema_text(name)))


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
        self.is_valid: Check = _compiled(name)

    def check(self, row: Any) -> ErrorList:
        """The row's schema errors as (field path, message) pairs; empty when valid."""
        if self.is_valid(row):
            return []
        return schema_errors(self.name, row)

    def __repr__(self) -> str:
        return f"Validator({self.name!r})"
