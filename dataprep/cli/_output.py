"""Printing helpers shared by the light commands: counts, tables, JSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
import orjson


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 row``, ``2 rows``; ``many`` for irregular plurals.

    >>> plural(1, "row"), plural(3, "row"), plural(2, "entry", "entries")
    ('1 row', '3 rows', '2 entries')
    """
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def table(rows: Iterable[tuple[Any, ...]], indent: int = 2) -> list[str]:
    """Rows of cells as aligned text lines: every column but the last padded to its widest.

    >>> table([("empty-content", 12, "x"), ("schema", 3, "y")])
    ['  empty-content  12  x', '  schema          3  y']
    """
    rows = [tuple(str(c) for c in r) for r in rows]
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = []
        for i, cell in enumerate(r):
            last = i == len(r) - 1
            if last:
                cells.append(cell)
            elif cell.isdigit() or (cell[:1] == "-" and cell[1:].isdigit()):
                cells.append(cell.rjust(widths[i]))
            else:
                cells.append(cell.ljust(widths[i]))
        lines.append((" " * indent + "  ".join(cells)).rstrip())
    return lines


def echo_json(value: Any, err: bool = False) -> None:
    """One JSON document on stdout (stderr with ``err``), indented for people, stable for tools."""
    option = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    try:
        text = orjson.dumps(value, option=option).decode()
    except TypeError:  # a file name that is not UTF-8 (lone surrogates): shown as \xNN
        text = orjson.dumps(_printable(value), option=option).decode()
    click.echo(text, err=err)


def _printable(value: Any) -> Any:
    from dataprep.reading.records import shown_path

    if isinstance(value, str):
        return shown_path(value)
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def lines_text(lines: list[int], total: int) -> str:
    """``line 4`` / ``lines 1, 2, 3, ...`` (the dots when only the first few were kept).

    >>> lines_text([4], 1), lines_text([1, 2, 3], 10)
    ('line 4', 'lines 1, 2, 3, ...')
    """
    shown = ", ".join(map(str, lines))
    more = ", ..." if total > len(lines) else ""
    return f"{'line' if total == 1 else 'lines'} {shown}{more}"
