"""dataprep._fast.schema against its reference, jsonschema: the same valid/invalid verdict
on rows generated from every shipped schema, as they are and mutated."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from dataprep._fast.schema import compile_schema
from dataprep.validate.schema import fast_is_valid, load_schema, reference_is_valid, schema_names

NAMES = schema_names()
EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=5)
)
# Values of every JSON type, to put where the schema wants another.
OTHER = st.one_of(SCALARS, st.just([]), st.just([1, "a"]), st.just({}), st.just({"k": None}))


def _resolve(root: dict[str, Any], ref: str) -> Any:
    target: Any = root
    for token in ref[2:].split("/"):
        target = target[token]
    return target


def _instance(draw: st.DrawFn, schema: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """A value the schema accepts, for the keywords the shipped schemas use (type,
    properties, required, items, prefixItems, min/maxItems, anyOf, $ref, pattern); an
    unknown keyword fails the test rather than being ignored."""
    if schema is True or schema == {}:
        return draw(OTHER)
    known = {"type", "properties", "required", "items", "prefixItems", "minItems",
             "maxItems", "anyOf", "$ref", "pattern", "description", "title", "$schema",
             "$id", "$defs"}  # fmt: skip
    assert set(schema) <= known, f"teach the generator {set(schema) - known}"
    if "$ref" in schema:
        return _instance(draw, _resolve(root, schema["$ref"]), root, depth)
    if "anyOf" in schema:
        branch = draw(st.sampled_from(schema["anyOf"]))
        merged = {k: v for k, v in schema.items() if k != "anyOf"}
        for k, v in branch.items():
            if k == "properties":
                merged[k] = {**merged.get(k, {}), **v}
            elif k == "required":
                merged[k] = [*merged.get(k, []), *v]
            else:
                merged[k] = v
        return _instance(draw, merged, root, depth)
    types = schema.get("type")
    if types is None:
        types = ["object"] if "properties" in schema or "required" in schema else ["string"]
    kind = draw(st.sampled_from(types if isinstance(types, list) else [types]))
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        out = {}
        for key, sub in props.items():
            if key in required or (depth < 4 and draw(st.booleans())):
                out[key] = _instance(draw, sub, root, depth + 1)
        for key in required - out.keys():
            out[key] = draw(OTHER)
        extra = draw(st.sampled_from(["id", "extra", "x-y"]))
        if extra not in props and draw(st.booleans()):
            out[extra] = draw(SCALARS)  # other keys are allowed everywhere
        return out
    if kind == "array":
        prefix = schema.get("prefixItems", [])
        lo = max(schema.get("minItems", 0), len(prefix))
        hi = schema.get("maxItems", lo + (3 if depth < 4 else 0))
        n = draw(st.integers(lo, max(lo, hi)))
        items = schema.get("items", True)
        return [
            _instance(draw, prefix[i] if i < len(prefix) else items, root, depth + 1)
            for i in range(n)
        ]
    if kind == "string":
        if "pattern" in schema:
            return draw(st.from_regex(schema["pattern"]))
        return draw(st.text(max_size=8))
    return draw(PLAIN[kind])


PLAIN = {
    "boolean": st.booleans(),
    "null": st.none(),
    "integer": st.integers(-5, 5),
    "number": st.floats(allow_nan=False),
}


def _places(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path inside a value (the value itself is ``()``)."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _places(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _places(v, (*path, i))
    return out


def _mutate(draw: st.DrawFn, value: Any) -> Any:
    """The value with one change at one place: another type, a key gone, an item gone or
    added, an empty string."""
    value = copy.deepcopy(value)
    path = draw(st.sampled_from(_places(value)))
    parent, key = None, None
    target = value
    for part in path:
        parent, key, target = target, part, target[part]
    how = draw(st.sampled_from(["replace", "drop", "grow", "empty"]))
    if how == "drop" and isinstance(target, dict) and target:
        del target[draw(st.sampled_from(sorted(target)))]
    elif how == "drop" and isinstance(target, list) and target:
        del target[draw(st.integers(0, len(target) - 1))]
    elif how == "grow" and isinstance(target, list):
        target.append(draw(OTHER) if draw(st.booleans()) or not target else target[0])
    elif how == "empty" and isinstance(target, str):
        if parent is None:
            return ""
        parent[key] = ""
    else:
        new = draw(OTHER)
        if parent is None:
            return new
        parent[key] = new
    return value


@st.composite
def rows(draw: st.DrawFn, name: str, mutated: bool) -> Any:
    schema = load_schema(name)
    row = _instance(draw, schema, schema)
    return _mutate(draw, row) if mutated else row


@pytest.mark.parametrize("name", NAMES)
@EXAMPLES
@given(data=st.data())
def test_generated_rows_are_valid_for_both(name, data):
    """The generator's rows fit the schema (else the mutated ones would test little)."""
    row = data.draw(rows(name, mutated=False))
    assert reference_is_valid(name, row), row
    assert fast_is_valid(name)(row) is True, row


@pytest.mark.parametrize("name", NAMES)
@EXAMPLES
@given(data=st.data())
def test_mutated_rows_get_the_reference_verdict(name, data):
    row = data.draw(rows(name, mutated=True))
    assert fast_is_valid(name)(row) is reference_is_valid(name, row), row


@pytest.mark.parametrize("name", NAMES)
def test_the_mutations_reach_invalid_rows(name):
    """Control: the mutated rows are not all valid, so the test above compares verdicts
    of both kinds."""
    row = find(
        rows(name, mutated=True),
        lambda r: not reference_is_valid(name, r),
        settings=settings(max_examples=500, database=None),
    )
    assert fast_is_valid(name)(row) is False


@pytest.mark.parametrize("name", NAMES)
def test_the_seam_is_the_compiled_schema(name):
    """``fast_is_valid`` is the compiled schema: what the tests here hold is what runs."""
    reference = Draft202012Validator(load_schema(name))
    check = compile_schema(load_schema(name))
    for row in ({}, [], None, {"text": "x"}, {"messages": []}):
        assert fast_is_valid(name)(row) == check(row) == reference.is_valid(row)
