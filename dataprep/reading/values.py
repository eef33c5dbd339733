"""Values kept exactly or refused: the JSON row parser and the rule for values that JSON
cannot hold.

JSON text. ``orjson`` keeps the last value of a key that an object repeats and says
nothing, so a row ``{"role": "user", "role": "assistant"}`` would lose a value unseen.
Rows are parsed by ``jiter`` with duplicate keys caught (``parse``): a repeated key is a
``duplicate-key`` problem at the row's line, a row nested deeper than ``MAX_DEPTH`` is
``too-deep``. jiter is as fast as orjson on rows; catching duplicates costs a hash per
key. When jiter refuses a row, orjson parses it again for the reason and the column
that the messages have always given (``invalid-json``), so both parsers have to agree
that a row is good.

Values from Parquet, Arrow and CSV (``to_json_value``): rows are JSON-like everywhere
after reading, so a value that JSON cannot hold is converted by one rule, or the row is
refused with its line (never a whole file, never a silent null):

    =========================================  ========================================
    timestamp (``datetime``)                   ISO 8601 string, ``2024-05-01T12:30:00``
                                               (``+00:00`` and the like with a zone)
    date, time                                 ISO 8601 string, ``2024-05-01``, ``12:30:00``
    decimal                                    its exact digits as a string, ``"12.50"``
    binary holding UTF-8 text                  that text (writers that store strings as
                                               binary without the UTF-8 annotation)
    other binary                               refused: ``unsupported-value``
    NaN, Infinity, -Infinity                   refused: ``non-finite-number``
    duration, interval, other types            refused: ``unsupported-value``
    map                                        an object when its keys are strings, else
                                               a list of ``[key, value]`` pairs
    nesting deeper than ``MAX_DEPTH``          refused: ``too-deep``
    =========================================  ========================================

>>> parse(b'{"a": 1, "b": [2]}')
{'a': 1, 'b': [2]}
>>> try:
...     parse(b'{"role": "user", "role": "assistant"}')
... except ValueProblem as e:
...     print(e.code, e.message)
duplicate-key the key "role" appears twice in one object, near column 25: JSON keeps only the last value; rename or remove one
"""

from __future__ import annotations

import base64
import datetime
import decimal
import math
from typing import Any

import jiter
import orjson

from dataprep.reading.limits import MAX_DEPTH


class ValueProblem(Exception):
    """A row that parses, but not into values kept exactly; becomes a problem Record."""

    def __init__(self, code: str, message: str, path: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path


# The row parser. Callers pass the options in the call itself, as ``parse`` does:
# keywords in a call cost nothing, where a functools.partial holding them builds a dict
# per call (a tenth of the parse, measured).
from_json = jiter.from_json


def parse(raw: bytes) -> Any:
    """The JSON value of ``raw`` (one row), exactly as written.

    Raises ``orjson.JSONDecodeError`` for text that is not JSON (orjson's message and
    column, as elsewhere) and ``ValueProblem`` for JSON that cannot be kept exactly.
    The hot readers inline the first line of this (``from_json`` with these options) and
    call ``reparse`` on the error path.
    """
    try:
        return from_json(raw, catch_duplicate_keys=True, allow_inf_nan=False)
    except ValueError as e:
        return reparse(raw, e)


def parse_writable(raw: bytes) -> Any:
    """``parse``, and refuse a value that orjson cannot write back (an integer past 64
    bits, which jiter keeps exactly): for rows read without their raw bytes, which later
    stages serialise."""
    value = parse(raw)
    try:
        orjson.dumps(value)
    except TypeError as e:
        raise ValueProblem("unsupported-value", f"cannot be written as JSON: {e}") from None
    return value


def reparse(raw: bytes, error: ValueError) -> Any:
    """The error path of ``parse``: why jiter refused ``raw``."""
    value = orjson.loads(raw)  # raises JSONDecodeError when it is not JSON at all
    reason = str(error)
    if reason.startswith("Detected duplicate key"):
        # 'Detected duplicate key "role" at line 1 column 25' (the column after its ':')
        key = reason[len("Detected duplicate key ") : reason.rfind(" at line ")]
        column = reason.rsplit(" ", 1)[-1]
        raise ValueProblem(
            "duplicate-key",
            f"the key {key} appears twice in one object, near column {column}: JSON keeps "
            "only the last value; rename or remove one",
        )
    if "recursion limit" in reason:
        raise ValueProblem("too-deep", f"nested deeper than {MAX_DEPTH} levels of [ and {{")
    # jiter and orjson differ on an edge of the grammar: orjson's reading stands.
    return value


_PLAIN = (str, int, bool, type(None))


def to_json_value(value: Any, path: str = "", depth: int = 0) -> Any:
    """``value`` (as pyarrow's ``to_pylist`` gives it) as JSON-like values, by the rule in
    the module docstring; raises ValueProblem with the field path for a value refused.

    >>> import datetime, decimal
    >>> to_json_value({"at": datetime.datetime(2024, 5, 1, 12, 30), "price": decimal.Decimal("12.50")})
    {'at': '2024-05-01T12:30:00', 'price': '12.50'}
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if depth >= MAX_DEPTH:
        raise ValueProblem("too-deep", f"nested deeper than {MAX_DEPTH} levels", path)
    if kind is dict:
        return {
            k: to_json_value(v, f"{path}.{k}" if path else str(k), depth + 1)
            for k, v in value.items()
        }
    if kind is list or kind is tuple:
        if kind is list and value and all(type(p) is tuple and len(p) == 2 for p in value):
            return _map(value, path, depth)
        return [to_json_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if kind is float:
        if math.isfinite(value):
            return value
        raise ValueProblem(
            "non-finite-number",
            f"{value} cannot be written as JSON (it would become null): "
            "replace it, or drop the row",
            path,
        )
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueProblem("non-finite-number", f"decimal {value} is not a number", path)
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            shown = base64.b64encode(data[:12]).decode()
            raise ValueProblem(
                "unsupported-value",
                f"binary data ({len(data)} bytes, base64 {shown}...) that is not UTF-8 "
                "text: JSON cannot hold it; decode it to text before preparing",
                path,
            ) from None
    if isinstance(value, int):  # numpy and the like
        return int(value)
    raise ValueProblem(
        "unsupported-value",
        f"a {kind.__name__} value ({str(value)[:40]}) has no JSON form: convert the column "
        "to a string or a number first",
        path,
    )


def _map(pairs: list[tuple[Any, Any]], path: str, depth: int) -> Any:
    """A Parquet/Arrow map: an object when its keys are distinct strings."""
    keys = [k for k, _ in pairs]
    if all(type(k) is str for k in keys) and len(set(keys)) == len(keys):
        return {k: to_json_value(v, f"{path}.{k}", depth + 1) for k, v in pairs}
    return [
        [
            to_json_value(k, f"{path}[{i}][0]", depth + 1),
            to_json_value(v, f"{path}[{i}][1]", depth + 1),
        ]
        for i, (k, v) in enumerate(pairs)
    ]


def arrow_needs_conversion(schema: Any) -> bool:
    """Whether rows of this Arrow schema can hold a value ``to_json_value`` must convert
    or refuse (else its rows are JSON-like as pyarrow gives them, and are not walked).

    Strings, integers, booleans and nulls, in lists and structs, are JSON already;
    floats are walked for NaN and infinities.
    """
    import pyarrow as pa

    types = pa.types

    def plain(t: Any, depth: int) -> bool:
        if depth >= MAX_DEPTH:
            return False
        if types.is_dictionary(t):
            return plain(t.value_type, depth)
        if (
            types.is_string(t)
            or types.is_large_string(t)
            or types.is_integer(t)
            or types.is_boolean(t)
            or types.is_null(t)
        ):
            return True
        if types.is_list(t) or types.is_large_list(t) or types.is_fixed_size_list(t):
            return plain(t.value_type, depth + 1)
        if types.is_struct(t):
            return all(plain(t.field(i).type, depth + 1) for i in range(t.num_fields))
        return False

    return not all(plain(field.type, 1) for field in schema)
