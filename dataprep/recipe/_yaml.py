"""YAML (and JSON) read with the line of every mapping key, for ``file:line`` messages.

PyYAML's loaders drop the marks once a document is built; this one keeps them: every
mapping comes back as a ``Located`` dict that knows its own line and each key's line.
JSON is read the same way (a JSON document is YAML), so a ``dataset_info.json`` gets line
numbers too.

>>> doc = load_located("a: 1\\nb:\\n  c: 2\\n", "x.yaml")
>>> doc, doc.line_of("b"), doc["b"].line_of("c")
({'a': 1, 'b': {'c': 2}}, 2, 3)
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from dataprep.errors import UsageError


class Located(dict):
    """A mapping read from a file, with the line (1-based) of itself and of each key."""

    line: int = 0
    lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    out = Located()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            where = f"{loader.name}:{key_node.start_mark.line + 1}"
            raise UsageError(f"{where}: {key}: the key is given twice [duplicate-key]")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def load_located(text: str, name: str) -> Any:
    """The document in ``text`` (YAML or JSON), mappings as ``Located``; ``name`` is the
    file named in messages. A document that does not parse is a UsageError naming the
    line where the parser stopped."""
    loader = _Loader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        # A JSON file YAML cannot take (tabs, odd escapes) still reads, without lines.
        if name.endswith(".json"):
            try:
                return json.loads(text)
            except json.JSONDecodeError as je:
                raise UsageError(
                    f"{name}:{je.lineno}: not valid JSON: {je.msg} [bad-config]"
                ) from je
        raise UsageError(f"{name}{line}: not valid YAML: {e.problem} [bad-config]") from e
    except yaml.YAMLError as e:
        raise UsageError(f"{name}: not valid YAML: {e} [bad-config]") from e
    finally:
        loader.dispose()


def read_located(path: str) -> Any:
    """``load_located`` on the file at ``path``; UsageError when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError as e:
        raise UsageError(f"{path}: no such file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot be read: {e}") from e
    return load_located(text, path)


def line_of(doc: Any, key: Any) -> int:
    """The line of ``key`` in ``doc`` when ``doc`` is ``Located``, else 0 (unknown)."""
    return doc.line_of(key) if isinstance(doc, Located) else 0
