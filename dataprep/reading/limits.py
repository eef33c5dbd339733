"""How large a row may be before reading refuses it, for the whole process.

A row is held in memory whole (and several times over, once parsed and converted), so a
file with one enormous line, a JSON array with one enormous element or a tiny compressed
file holding gigabytes of text must not be read into memory whole. A row over the limit is
a ``row-too-large`` problem at its line, skipped without being held.

The limit is a process-wide setting because every command that reads data honours it,
through layers that should not each pass it on (validate, detect, stats, convert and
prepare, and the worker processes they fork, which inherit it): the command line sets it
once (``--max-row-bytes``, see ``dataprep.cli._rows``), ``read_records`` reads it.

>>> set_max_row_bytes(1 << 20); max_row_bytes()
1048576
>>> set_max_row_bytes(None); max_row_bytes() == DEFAULT_MAX_ROW_BYTES
True
"""

from __future__ import annotations

# Far above any real training row (a 64 MiB conversation is tens of millions of tokens),
# far below what would exhaust a machine's memory.
DEFAULT_MAX_ROW_BYTES = 64 << 20

# orjson writes at most 254 nested arrays/objects; prepare's content hash and the
# writers wrap a row's values in a few more levels. Deeper rows are refused (``too-deep``)
# as they are read, so no later stage meets a row it cannot write. jiter, the row parser,
# stops at this depth by itself (its recursion limit).
MAX_DEPTH = 200

_max_row_bytes = DEFAULT_MAX_ROW_BYTES


def max_row_bytes() -> int:
    """The largest row (its bytes as read) that reading accepts."""
    return _max_row_bytes


def set_max_row_bytes(limit: int | None) -> None:
    """Set the limit for this process (and the processes it forks); None: the default."""
    global _max_row_bytes
    _max_row_bytes = DEFAULT_MAX_ROW_BYTES if limit is None else int(limit)


def too_large_message(size: int, limit: int, exact: bool = True) -> str:
    """The message of a ``row-too-large`` problem.

    >>> too_large_message(70_000_000, 1 << 26)
    'the row is 70000000 bytes, over the limit of 67108864 (--max-row-bytes): skipped without reading it'
    """
    what = f"{size} bytes" if exact else f"over {size} bytes"
    return (
        f"the row is {what}, over the limit of {limit} (--max-row-bytes): "
        "skipped without reading it"
    )
