"""Tool calls checked against the tools the row declares.

A row that declares ``tools`` (JSON Schemas of functions, OpenAI's
``{"type": "function", "function": {...}}`` or the flat ``{"name", "parameters"}`` that
Hugging Face templates and LLaMA-Factory use) teaches the model to call them. A call to a
tool it does not declare, without an argument the tool requires, or with an argument of
the wrong type teaches the model to make that mistake at inference, where the call fails.
Each is found here, with the path of the call, as every other row problem:

====================================  ================================================
``undeclared-tool``                   the call names a tool the row does not declare
``missing-tool-argument``             a required argument is absent
``wrong-tool-argument-type``          an argument's JSON type is not the schema's, or
                                      its value is not one of the schema's ``enum``;
                                      also an argument the schema forbids
                                      (``additionalProperties: false``)
====================================  ================================================

Only what a schema says for sure is checked: a declaration without a name makes the
row's names unknowable (no ``undeclared-tool``), a schema keyword other than ``type``,
``enum``, ``required``, ``properties``, ``additionalProperties`` and ``items`` is not
interpreted, and a type name that is not JSON Schema's is read by its common spelling
(``int``, ``str``, ``float``, ``bool``, ``list``, ``dict``) or else not checked.

>>> tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
...     "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
...     "required": ["city"]}}}]
>>> [p.code for p in call_problems("get_weather", {"days": "3"}, declared_tools(tools))]
['missing-tool-argument', 'wrong-tool-argument-type']
>>> [p.message for p in call_problems("get_wether", {}, declared_tools(tools))]
["calls 'get_wether', which the row's tools do not declare (declared: get_weather)"]
"""

from __future__ import annotations

from typing import Any, NamedTuple

TOOL_CALL_CODES = ("undeclared-tool", "missing-tool-argument", "wrong-tool-argument-type")

# JSON Schema's type names, and the Python spellings real tool lists use for them.
_TYPE_NAMES = {
    "string": "string",
    "str": "string",
    "number": "number",
    "float": "number",
    "integer": "integer",
    "int": "integer",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "object": "object",
    "dict": "object",
    "null": "null",
}
# Nested argument schemas deeper than this are not followed: rows are already bounded in
# depth when read, this keeps a self-similar schema from costing more than its row.
_MAX_DEPTH = 16


class CallProblem(NamedTuple):
    """A problem of one tool call: ``where`` is relative to the call's arguments
    (``""`` the call itself, ``"city"`` or ``"stops[2]"`` an argument)."""

    where: str
    message: str
    code: str


class Declared(NamedTuple):
    """The tools a row declares: ``schemas`` by name; ``complete`` False when some
    declaration has no readable name (then no call can be called undeclared)."""

    schemas: dict[str, Any]
    complete: bool


def declared_tools(tools: list[Any] | None) -> Declared | None:
    """The row's tool declarations by name, or None when it declares none.

    >>> declared_tools([{"name": "f", "parameters": {"type": "object"}}]).schemas
    {'f': {'type': 'object'}}
    """
    if not tools:
        return None
    schemas: dict[str, Any] = {}
    complete = True
    for tool in tools:
        spec = tool.get("function", tool) if isinstance(tool, dict) else None
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str):
            complete = False
            continue
        params = spec.get("parameters")
        schemas[name] = params if isinstance(params, dict) else None
    return Declared(schemas, complete)


def call_problems(name: Any, arguments: Any, declared: Declared) -> list[CallProblem]:
    """The problems of one call to ``name`` with parsed ``arguments`` (a dict; anything
    else is reported elsewhere, as ``bad-tool-arguments``)."""
    if name not in declared.schemas:
        if not declared.complete:
            return []
        names = ", ".join(sorted(declared.schemas)) or "none"
        return [
            CallProblem(
                "",
                f"calls {name!r}, which the row's tools do not declare (declared: {names})",
                "undeclared-tool",
            )
        ]
    schema = declared.schemas[name]
    if schema is None or not isinstance(arguments, dict):
        return []
    out: list[CallProblem] = []
    _check_object(arguments, schema, "", f"{name!r}", out, 0)
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _allowed_types(schema: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema allows, or None when it does not say (or says in words we
    do not know: then nothing is checked, rather than guessed)."""
    declared = schema.get("type")
    names = declared if isinstance(declared, list) else [declared] if declared else []
    allowed = set()
    for n in names:
        if not isinstance(n, str) or n.lower() not in _TYPE_NAMES:
            return None
        allowed.add(_TYPE_NAMES[n.lower()])
    return allowed or None


def _fits(value: Any, allowed: set[str]) -> bool:
    kind = _json_type(value)
    # An integer is a number; a float with no fraction (3.0) is an integer to JSON Schema.
    return (
        kind in allowed
        or (kind == "integer" and "number" in allowed)
        or (kind == "number" and "integer" in allowed and float(value).is_integer())
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _check_value(
    value: Any, schema: Any, where: str, tool: str, out: list[CallProblem], depth: int
) -> None:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return
    allowed = _allowed_types(schema)
    if allowed is not None and not _fits(value, allowed):
        want = " or ".join(sorted(allowed))
        out.append(
            CallProblem(
                where,
                f"argument {where!r} of {tool} must be {want}, got {_json_type(value)} "
                f"({_show(value)})",
                "wrong-tool-argument-type",
            )
        )
        return
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and not any(_same(value, e) for e in enum):
        choices = ", ".join(_show(e) for e in enum[:8]) + (", ..." if len(enum) > 8 else "")
        out.append(
            CallProblem(
                where,
                f"argument {where!r} of {tool} is {_show(value)}, not one of its enum ({choices})",
                "wrong-tool-argument-type",
            )
        )
    if isinstance(value, dict):
        _check_object(value, schema, where, tool, out, depth + 1)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _check_value(item, schema["items"], f"{where}[{i}]", tool, out, depth + 1)


def _same(a: Any, b: Any) -> bool:
    # JSON equality: True is not 1, though Python says it is.
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _check_object(
    value: dict[str, Any],
    schema: dict[str, Any],
    where: str,
    tool: str,
    out: list[CallProblem],
    depth: int,
) -> None:
    required = schema.get("required")
    if isinstance(required, list):
        for key in required:
            if isinstance(key, str) and key not in value:
                at = _join(where, key)
                out.append(
                    CallProblem(
                        at, f"{tool} requires argument {at!r}, absent", "missing-tool-argument"
                    )
                )
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    closed = schema.get("additionalProperties") is False
    for key, item in value.items():
        at = _join(where, key)
        if key in properties:
            _check_value(item, properties[key], at, tool, out, depth)
        elif closed:
            known = ", ".join(sorted(properties)) or "none"
            out.append(
                CallProblem(
                    at,
                    f"{tool} takes no argument {at!r} (its schema allows only: {known})",
                    "wrong-tool-argument-type",
                )
            )
