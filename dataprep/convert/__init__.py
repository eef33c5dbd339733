"""Converting a file to another format, streaming, losing nothing silently.

Each row is read, mapped (``--field``/``--role``), recognised by its own shape (so a
mixed file converts row by row; ``from_format`` forces one), turned into the canonical
model by its format's adapter and written by the target's. A row that cannot make it
(unreadable, of no format, refused by an adapter, or lossy without ``allow_lossy``) goes
to the rejects file with its line and reason; nothing is dropped unseen:

    rows in = rows out + rows rejected

What a lossy conversion dropped is counted by kind ("tool calls", "system messages
after the first turn", "turn boundaries (consecutive turns merged)", ...), one count per
row; what changed without loss of text is counted as a note (an alpaca ``input`` joined
to its ``instruction``: no format written back can split them again). ``form`` writes
TRL's standard (string) or conversational (message list) form of the prompt formats
(``dataprep.convert.forms``). The output is written atomically by
``dataprep.convert.writing`` (its format follows its extension; ``-`` is stdout), and the rejects
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
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from dataprep import atomic, failures
from dataprep.canonical import Preference
from dataprep.errors import DataprepError, LossyConversion, RowError, UsageError
from dataprep.formats import FORMATS
from dataprep.validate.canonical_row import to_canonical
from dataprep.validate.rows import check_row

if TYPE_CHECKING:
    from dataprep.canonical import Example
    from dataprep.convert.writing import RowWriter
    from dataprep.formats.mapping import Mapping
    from dataprep.reading import JsonlChunk, Record


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
    notes: Counter[str] = field(default_factory=Counter)  # what changed, losing no text -> rows

    @property
    def exit_code(self) -> int:
        """0 when every row was converted, 1 when some were rejected."""
        return 1 if self.rejected else 0

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
            "notes": dict(self.notes.most_common()),
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


def _raw_text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


# The note for a row whose alpaca ``input`` was joined to its ``instruction``.
NOTE_JOINED_INPUT = (
    "alpaca instruction and input joined into one user turn (a blank line between): "
    "converting back cannot split them"
)


_JOINING = frozenset({"alpaca", "kto"})  # the formats whose rows joins_input may be true of


def joins_input(row: dict[str, Any], fmt: str) -> bool:
    """Whether reading ``row`` as ``fmt`` joined an alpaca ``input`` to its
    ``instruction`` (``dataprep.formats.alpaca``: a non-empty input; KTO rows of the
    alpaca shape are read by the same adapter).

    >>> joins_input({"instruction": "Translate", "input": "cheese", "output": "fromage"}, "alpaca")
    True
    >>> joins_input({"instruction": "Add 2 and 2", "input": "", "output": "4"}, "alpaca")
    False
    """
    if fmt == "kto" and ("messages" in row or "conversations" in row or "completion" in row):
        return False
    return fmt in ("alpaca", "kto") and "instruction" in row and bool(row.get("input"))


def _implicit_string_prompt(example: Example) -> bool:
    """A standard preference pair whose prompt is implicit in its answers (or empty)."""
    return type(example) is Preference and example.plain and not example.prompt


class _Converter:
    """One row at a time: read, map, recognise, to canonical, to the target."""

    def __init__(
        self,
        to: str,
        allow_lossy: bool,
        mapping: Mapping | None,
        from_format: str | None,
        form: str | None = None,
    ):
        self.settings = (to, allow_lossy, mapping, from_format, form)
        self.write_as = FORMATS[to].from_canonical
        self.target = to
        # Imported here: dataprep._fast.clean is built on dataprep.validate.rows.
        from dataprep._fast.clean import FAST_CLEAN

        self.clean = FAST_CLEAN.get(to)  # rows it vouches for skip the full check
        self.allow_lossy = allow_lossy
        self.mapping = mapping if mapping is not None and not mapping.is_identity else None
        self.from_format = from_format
        self.form = form
        self.to_preference = to == "preference"
        self.formats: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.ambiguous: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()

    def convert(self, record: Record) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the converted row, None), or (None, the reject line)."""
        if record.problem is not None:
            p = record.problem
            return None, _reject(record, p.code, p.message, _raw_text(record.raw))
        try:
            example, fmt, row, claimed = to_canonical(
                record.value, self.from_format, self.mapping, forced=self.from_format is not None
            )
            if len(claimed) > 1:
                self.ambiguous["|".join(claimed)] += 1
            form = self.form
            if form is None and self.to_preference and _implicit_string_prompt(example):
                # Written back with "prompt": "", TRL would no longer extract the prompt
                # (it does only where none is given): the row keeps its standard form, with
                # the prompt TRL would find made explicit.
                form = "standard"
            if form is None:
                out_row, dropped = self.write_as(example, allow_lossy=self.allow_lossy)
            else:
                out_row, dropped = self.write_in_form(example, form)
        except LossyConversion as e:
            return None, _reject(record, e.code, e.message, record.value)
        except RowError as e:
            message = f"{e.path}: {e.message}" if e.path else e.message
            return None, _reject(record, e.code, message, record.value)
        clean = self.clean
        if clean is None or not clean(out_row):
            failed = self.check_output(out_row)
            if failed is not None:
                return None, _reject(record, failed[0], failed[1], record.value)
        self.formats[fmt] += 1
        for word in dropped:
            self.dropped[word] += 1
        if fmt in _JOINING and joins_input(row, fmt):
            self.notes[NOTE_JOINED_INPUT] += 1
        return out_row, None

    def write_in_form(self, example: Example, form: str) -> tuple[dict[str, Any], list[str]]:
        """The target's row in the form asked for; what that and the adapter drop, one
        refusal naming all of it unless lossy conversion is allowed."""
        from dataprep.convert.forms import to_form

        example, dropped, notes = to_form(example, form, self.target)
        out_row, more = self.write_as(example, allow_lossy=True)
        dropped += [word for word in more if word not in dropped]
        if dropped and not self.allow_lossy:
            raise LossyConversion(dropped, self.target)
        for note in notes:
            self.notes[note] += 1
        return out_row, dropped

    def check_output(self, out_row: dict[str, Any]) -> tuple[str, str] | None:
        """(code, message) of the first error ``validate`` would find in a converted
        row (read as the target format), or None: no row validate rejects is written."""
        for finding in check_row(out_row, self.target):
            if finding.severity == "error":
                where = f"{finding.path}: " if finding.path else ""
                return finding.code, (
                    f"the converted {self.target} row would fail validation: "
                    f"{where}{finding.message}"
                )
        return None


def _reject(record: Record, code: str, message: str, row: Any) -> dict[str, Any]:
    from dataprep.reading.records import shown_path

    return {
        "source": shown_path(record.source),
        "line": record.line,
        "code": code,
        "message": message,
        "row": row,
    }


class _Outputs:
    """The output writer and the rejects file, committed together.

    The rejects file is opened at the first reject, so none appears when nothing is
    rejected. ``commit`` finishes both under their temporary names, then moves them into
    place as one change (``dataprep.atomic.commit``), removing a rejects file an earlier
    run left there when this one rejected nothing: an output never sits beside rejects
    that are not its own. On any exception neither appears.
    """

    def __init__(self, conversion: Conversion):
        from dataprep.convert.writing import open_writer

        self.conversion = conversion
        # What runs killed here left behind (half outputs; spools in the temporary folder).
        atomic.clean(tempfile.gettempdir())
        atomic.clean(os.path.dirname(os.path.abspath(conversion.rejects_path)))
        if conversion.output != "-":
            atomic.clean(os.path.dirname(os.path.abspath(conversion.output)))
        self.writer: RowWriter = open_writer(conversion.output)
        self.rejects: RowWriter | None = None

    def row(self, row: dict[str, Any]) -> None:
        self.writer.write(row)

    def reject(self, reject: dict[str, Any]) -> None:
        from dataprep.convert.writing import open_writer

        c = self.conversion
        c.rejected += 1
        c.reasons[reject["code"]] += 1
        c.examples.setdefault(reject["code"], (reject["line"], reject["message"]))
        if self.rejects is None:
            self.rejects = open_writer(c.rejects_path, "jsonl")
        self.rejects.write(reject)

    def __enter__(self) -> _Outputs:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
            if isinstance(exc, OSError):
                # A full disk while writing: say where (most likely the output).
                output = self.conversion.output
                with failures.naming("stdout" if output == "-" else output):
                    raise exc
            return
        try:
            self.commit()
        except BaseException:
            self.abort()
            raise

    def commit(self) -> None:
        output, rejects_path = self.conversion.output, self.conversion.rejects_path
        renames: list[tuple[Path, Path]] = []
        removes: list[Path] = []
        with failures.naming("stdout" if output == "-" else output):
            sealed = self.writer.seal()
        if sealed is not None:
            renames.append((Path(sealed), Path(output)))
        if self.rejects is not None:
            with failures.naming(rejects_path):
                renames.append((Path(self.rejects.seal()), Path(rejects_path)))  # type: ignore[arg-type]
        elif _is_rejects_file(rejects_path):
            removes.append(Path(rejects_path))
        if not renames and not removes:
            return
        beside = output if output != "-" else rejects_path
        # One commit at a time per output: two runs writing it end with one run's pair.
        with failures.naming(beside), atomic.OutputLock(beside, wait=True):
            atomic.commit(renames, removes, beside=beside)

    def abort(self) -> None:
        self.writer.abort()
        if self.rejects is not None:
            self.rejects.abort()


def _is_rejects_file(path: str) -> bool:
    """Whether ``path`` is a rejects file dataprep wrote (its first line a reject record),
    and not some other file that happens to have the name."""
    try:
        with open(path, "rb") as f:
            first = orjson.loads(f.readline(1 << 20))
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and {"source", "line", "code", "row"} <= first.keys()


def convert_file(
    source: str,
    output: str,
    to: str,
    *,
    allow_lossy: bool = False,
    rejects: str | None = None,
    mapping: Mapping | None = None,
    from_format: str | None = None,
    jobs: int | None = None,
    form: str | None = None,
) -> Conversion:
    """Convert ``source`` to format ``to``, writing ``output`` (``-``: stdout).

    ``form``: ``"standard"`` or ``"conversational"``, TRL's string or message-list form
    of a preference, kto or prompt-completion target (None: each row keeps its own).

    ``jobs``: processes for a large plain JSONL input (None: as the load allows, see
    ``dataprep._fast.parallel.count_workers``; 1: this process only); the output is the same, in
    the same order, either way. Raises UsageError for an unknown format name; every
    row-level failure is a reject.
    """
    from dataprep._fast.parallel import parallel_workers, split_jsonl

    if to not in FORMATS:
        raise UsageError(f"unknown format {to!r} for --to (known: {', '.join(FORMATS)})")
    if from_format is not None and from_format not in FORMATS:
        raise UsageError(f"unknown format {from_format!r} for --from (known: {', '.join(FORMATS)})")
    if form is not None:
        from dataprep.convert.forms import FORMS, TARGETS

        if form not in FORMS:
            raise UsageError(f"unknown form {form!r} (known: {', '.join(FORMS)})")
        if to not in TARGETS:
            raise UsageError(
                f"--{form} applies to --to {', '.join(TARGETS)} (TRL writes those both as "
                f"strings and as message lists); {to} has one form"
            )
    rejects_path = rejects or default_rejects_path(source, output)
    if output != "-" and os.path.abspath(rejects_path) == os.path.abspath(output):
        raise UsageError(f"--rejects {rejects_path} is the output file: choose another path")
    conversion = Conversion(source, output, to, rejects_path)
    converter = _Converter(to, allow_lossy, mapping, from_format, form)
    workers = parallel_workers(source, jobs, share_busy=False)
    chunks = split_jsonl(source, workers) if workers > 1 else []
    if len(chunks) > 1:
        _convert_parallel(chunks, output, converter, conversion)
    else:
        from dataprep.reading import read_records

        records = read_records(source)
        with _Outputs(conversion) as outputs:
            _convert_records(records, converter, outputs, conversion)
    conversion.formats = converter.formats
    conversion.dropped = converter.dropped
    conversion.ambiguous = converter.ambiguous
    conversion.notes = converter.notes
    return conversion


def _convert_records(
    records: Iterable[Record], converter: _Converter, outputs: _Outputs, conversion: Conversion
) -> int:
    """Convert and write ``records``; the line of the last one."""
    convert = converter.convert
    write = outputs.writer.write
    rows_in = rows_out = line = 0
    for record in records:
        rows_in += 1
        line = record.line
        row, reject = convert(record)
        if row is not None:
            try:
                write(row)
            except DataprepError as e:  # a value the output format cannot hold
                outputs.reject(_reject(record, "unwritable-value", str(e), _raw_text(record.raw)))
                continue
            rows_out += 1
        else:
            outputs.reject(reject)
    conversion.rows_in += rows_in
    conversion.rows_out += rows_out
    return line


# ------------------------------------------------------------------- parallel conversion


def _convert_part(chunk: Any, settings: tuple, spool: str) -> tuple[int, int, int, _Converter]:
    """A worker: convert one byte range, in order, into two spool files: ``spool.out``,
    the output rows as JSON lines, and ``spool.rej``, the rejects (their lines numbered
    within the range). Returns rows in, rows out, the range's lines, and the counts."""
    from dataprep.reading import read_jsonl_chunk

    converter = _Converter(*settings)
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    convert = converter.convert
    rows_in = rows_out = line = 0
    with (
        failures.naming(os.path.dirname(spool)),
        open(spool + ".out", "wb", buffering=1 << 20) as out,
        open(spool + ".rej", "wb") as rejects,
    ):
        write = out.write
        for record in read_jsonl_chunk(chunk):
            rows_in += 1
            line = record.line
            row, reject = convert(record)
            if row is not None:
                try:
                    data = dumps(row, option=newline)
                except TypeError as e:  # a value JSON cannot hold (an integer past 64 bits)
                    message = f"cannot write a row as JSON: {e}"
                    reject = _reject(record, "unwritable-value", message, _raw_text(record.raw))
                else:
                    write(data)
                    rows_out += 1
                    continue
            rejects.write(dumps(reject, option=newline))
    return rows_in, rows_out, line, converter


def _convert_parallel(
    chunks: list[JsonlChunk], output: str, converter: _Converter, conversion: Conversion
) -> None:
    """Byte ranges of a plain JSONL file (``split_jsonl``) converted in one process each.

    This process converts the first range straight into the output while forked workers
    convert the others into spool files; the spooled rows are then copied after it, in
    order, as the JSON text the workers wrote (not parsed again), so the output is row
    for row what one process writes. Workers are started before the output is opened,
    so no writer state (or Parquet thread) is forked.
    """
    from dataprep._fast.parallel import Forked, forked_all
    from dataprep.reading import read_jsonl_chunk

    # In the temporary folder, named with our pid: a run killed here leaves the next run
    # to remove it.
    with atomic.scratch_folder(None, "spool") as spool_dir, forked_all() as parts:
        parts += [
            Forked(_convert_part, chunk, converter.settings, os.path.join(spool_dir, str(i)))
            for i, chunk in enumerate(chunks[1:])
        ]
        with _Outputs(conversion) as outputs:
            offset = _convert_records(read_jsonl_chunk(chunks[0]), converter, outputs, conversion)
            write_line = outputs.writer.write_json_line
            loads = orjson.loads
            for i, part in enumerate(parts):
                rows_in, rows_out, lines, done = part.result()
                conversion.rows_in += rows_in
                conversion.rows_out += rows_out
                converter.formats.update(done.formats)
                converter.dropped.update(done.dropped)
                converter.ambiguous.update(done.ambiguous)
                converter.notes.update(done.notes)
                spool = os.path.join(spool_dir, str(i))
                with open(spool + ".out", "rb", buffering=1 << 20) as f:
                    for line in f:
                        write_line(line)
                with open(spool + ".rej", "rb") as f:
                    for line in f:
                        reject = loads(line)
                        reject["line"] += offset
                        outputs.reject(reject)
                offset += lines


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"
