"""Converting a file to another format, streaming, losing nothing silently.

Each row is read, mapped (``--field``/``--role``), recognised by its own shape (so a
mixed file converts row by row; ``from_format`` forces one), turned into the canonical
model by its format's adapter and written by the target's. A row that cannot make it
(unreadable, of no format, refused by an adapter, or lossy without ``allow_lossy``) goes
to the rejects file with its line and reason; nothing is dropped unseen:

    rows in = rows out + rows rejected

What a lossy conversion dropped is counted by kind ("tool calls", "system messages
after the first turn", ...), one count per row. The output is written atomically by
``dataprep.writing`` (its format follows its extension; ``-`` is stdout), and the rejects
file only exists when a row was rejected.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> src = os.path.join(folder, "in.jsonl")
>>> with open(src, "w") as f:
...     _ = f.write('{"instruction": "Add 2 and 2", "output": "4"}\\n')
>>> c = convert_file(src, os.path.join(folder, "out.jsonl"), "messages")
>>> c.summary_line()
'1 row in = 1 row out + 0 rejected'
>>> with open(os.path.join(folder, "out.jsonl")) as f:
...     f.read()
'{"messages":[{"role":"user","content":"Add 2 and 2"},{"role":"assistant","content":"4"}]}\\n'
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataprep.detect import row_formats
from dataprep.errors import LossyConversion, RowError, UsageError
from dataprep.formats import FORMATS

if TYPE_CHECKING:
    from dataprep.mapping import Mapping
    from dataprep.writing import RowWriter


@dataclass
class Conversion:
    """What a conversion did: counts, what was dropped, why rows were rejected."""

    source: str
    output: str
    target: str
    rejects_path: str
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    formats: Counter[str] = field(default_factory=Counter)  # source format -> rows
    dropped: Counter[str] = field(default_factory=Counter)  # what was dropped -> rows
    reasons: Counter[str] = field(default_factory=Counter)  # reject code -> rows
    examples: dict[str, tuple[int, str]] = field(default_factory=dict)  # code -> (line, message)
    ambiguous: Counter[str] = field(default_factory=Counter)  # "a|b" -> rows read as a

    @property
    def exit_code(self) -> int:
        """0 when every row was converted, 1 when some were rejected."""
        return 1 if self.rejected else 0

    @property
    def rejects_written(self) -> bool:
        return self.rejected > 0

    def summary_line(self) -> str:
        """``rows in = rows out + rows rejected``, with the numbers."""
        return f"{_rows(self.rows_in)} in = {_rows(self.rows_out)} out + {self.rejected} rejected"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "output": self.output,
            "target": self.target,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rejected": self.rejected,
            "rejects": self.rejects_path if self.rejected else None,
            "formats": dict(self.formats.most_common()),
            "dropped": dict(self.dropped.most_common()),
            "reasons": dict(self.reasons.most_common()),
            "ambiguous": dict(self.ambiguous.most_common()),
        }


def default_rejects_path(source: str, output: str) -> str:
    """``<out>.rejects.jsonl``; for output to stdout, ``<input name>.rejects.jsonl`` here.

    >>> default_rejects_path("data/in.jsonl", "out/clean.parquet")
    'out/clean.parquet.rejects.jsonl'
    >>> default_rejects_path("data/in.jsonl", "-"), default_rejects_path("-", "-")
    ('in.jsonl.rejects.jsonl', 'stdin.rejects.jsonl')
    """
    if output != "-":
        return f"{output}.rejects.jsonl"
    name = "stdin" if source == "-" else os.path.basename(source.rstrip("/"))
    return f"{name}.rejects.jsonl"


class _Rejects:
    """The rejects file, opened at the first reject (so none appears when nothing is)."""

    def __init__(self, path: str, stack: ExitStack, conversion: Conversion):
        self.path = path
        self.stack = stack
        self.conversion = conversion
        self.writer: RowWriter | None = None

    def add(self, source: str, line: int, code: str, message: str, row: Any) -> None:
        from dataprep.writing import open_writer

        c = self.conversion
        c.rejected += 1
        c.reasons[code] += 1
        c.examples.setdefault(code, (line, message))
        if self.writer is None:
            self.writer = self.stack.enter_context(open_writer(self.path, "jsonl"))
        self.writer.write(
            {"source": source, "line": line, "code": code, "message": message, "row": row}
        )


def _raw_text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def convert_file(
    source: str,
    output: str,
    to: str,
    *,
    allow_lossy: bool = False,
    rejects: str | None = None,
    mapping: Mapping | None = None,
    from_format: str | None = None,
) -> Conversion:
    """Convert ``source`` to format ``to``, writing ``output`` (``-``: stdout).

    Raises UsageError for an unknown format name; every row-level failure is a reject.
    """
    from dataprep.reading import read_records
    from dataprep.writing import open_writer

    if to not in FORMATS:
        raise UsageError(f"unknown format {to!r} for --to (known: {', '.join(FORMATS)})")
    if from_format is not None and from_format not in FORMATS:
        raise UsageError(f"unknown format {from_format!r} for --from (known: {', '.join(FORMATS)})")
    rejects_path = rejects or default_rejects_path(source, output)
    if output != "-" and os.path.abspath(rejects_path) == os.path.abspath(output):
        raise UsageError(f"--rejects {rejects_path} is the output file: choose another path")
    conversion = Conversion(source, output, to, rejects_path)
    write_as = FORMATS[to].from_canonical
    apply = mapping.apply if mapping is not None and not mapping.is_identity else None
    records = read_records(source)
    with ExitStack() as stack:
        writer = stack.enter_context(open_writer(output))
        rejected = _Rejects(rejects_path, stack, conversion)
        formats = conversion.formats
        dropped_counts = conversion.dropped
        write = writer.write
        rows_in = 0
        for record in records:
            rows_in += 1
            line = record.line
            if record.problem is not None:
                p = record.problem
                rejected.add(record.source, line, p.code, p.message, _raw_text(record.raw))
                continue
            row = record.value
            try:
                if apply is not None:
                    row = apply(row)
                if from_format is None:
                    names = row_formats(row)
                    if not names:
                        raise RowError(
                            "",
                            f"row fits no format (keys: {', '.join(list(row)[:8]) or 'none'}); "
                            "map its fields with --field, or pass --from",
                            "unknown-format",
                        )
                    fmt = names[0]
                    if len(names) > 1:
                        conversion.ambiguous["|".join(names)] += 1
                else:
                    fmt = from_format
                example = FORMATS[fmt].to_canonical(row)
                out_row, dropped = write_as(example, allow_lossy=allow_lossy)
            except LossyConversion as e:
                rejected.add(record.source, line, e.code, e.message, record.value)
                continue
            except RowError as e:
                message = f"{e.path}: {e.message}" if e.path else e.message
                rejected.add(record.source, line, e.code, message, record.value)
                continue
            formats[fmt] += 1
            write(out_row)
            for word in dropped:
                dropped_counts[word] += 1
        conversion.rows_in = rows_in
        conversion.rows_out = writer.rows
    return conversion


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"
