"""``--max-row-bytes``: declared once here, put on every command that reads data.

The option sets the process-wide limit of ``dataprep.reading.limits`` as the command
line is parsed, so a command's body and the library it calls need not pass it along.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from dataprep.reading.limits import DEFAULT_MAX_ROW_BYTES, set_max_row_bytes

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class ByteSize(click.ParamType):
    """A size in bytes: ``1000000``, or with a binary unit ``64M``, ``64MiB``, ``1G``.

    >>> ByteSize().convert("64M", None, None), ByteSize().convert("512kib", None, None)
    (67108864, 524288)
    """

    name = "SIZE"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().removesuffix("ib").removesuffix("b")
        unit = text[-1:] if text[-1:] in _UNITS else ""
        number = text[: len(text) - len(unit)]
        try:
            size = int(number) * _UNITS[unit]
        except ValueError:
            self.fail(f"{value!r} is not a size (say 67108864, 64M or 1G)", param, ctx)
        if size < 1:
            self.fail("must be at least 1 byte", param, ctx)
        return size


def _set(ctx: click.Context, param: click.Parameter, value: int | None) -> None:
    set_max_row_bytes(value)


def max_row_bytes_option(command: F) -> F:
    """The ``--max-row-bytes`` option (it sets the limit; the command gets no argument)."""
    return click.option(
        "--max-row-bytes",
        type=ByteSize(),
        default=None,
        expose_value=False,
        callback=_set,
        help="A row (a line, a JSON array element) larger than this is rejected as "
        "row-too-large without being read into memory. Units K, M, G "
        f"[default: {DEFAULT_MAX_ROW_BYTES >> 20}M].",
    )(command)
