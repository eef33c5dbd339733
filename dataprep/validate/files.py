"""Validating files: each row through the row checks, in order, with the file's format
gathered in the same pass, duplicates found, problems logged and counted; large plain
JSONL files split into byte ranges checked by worker processes. The stages and every
problem code are in the package's docstring (``dataprep.validate``).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson

from dataprep._fast.parallel import Forked, forked_all, parallel_workers, split_jsonl
from dataprep._fast.seen import SeenRows
from dataprep.detect import UNKNOWN, Detection, Detector
from dataprep.errors import InputError, RowError, UsageError
from dataprep.formats import FORMATS
from dataprep.validate.canonical_row import unknown_format
from dataprep.validate.problems import Problem, ProblemLog, Severity
from dataprep.validate.rows import PATH_TOKEN, check_row

if TYPE_CHECKING:
    from dataprep.formats.mapping import Mapping
    from dataprep.reading import JsonlChunk, Record


WARNING_CODES = frozenset({"duplicate-row"})  # always warnings; others may be, by finding


# ----------------------------------------------------------------------------- results


@dataclass
class FileResult:
    """What validating one file found."""

    source: str
    format: str | None  # the forced format, or the detected one (None: mixed/unknown)
    rows: int = 0  # rows read, readable or not
    unreadable: int = 0
    errors: int = 0
    warnings: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # code -> problems
    warning_counts: Counter[str] = field(default_factory=Counter)  # code -> those that are warnings
    detection: Detection | None = None  # None when the format was forced
    notes: list[str] = field(default_factory=list)  # how the file was read ("read as UTF-16")

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "rows": self.rows,
            "unreadable": self.unreadable,
            "errors": self.errors,
            "warnings": self.warnings,
            "counts": dict(sorted(self.counts.items())),
            "warning_counts": dict(sorted(self.warning_counts.items())),
            "detection": self.detection.to_json() if self.detection else None,
            "notes": self.notes,
        }


@dataclass
class Validation:
    """The result of a run over several files: per-file results and the problems kept."""

    files: list[FileResult]
    log: ProblemLog

    @property
    def errors(self) -> int:
        return self.log.errors

    @property
    def warnings(self) -> int:
        return self.log.warnings

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def exit_code(self) -> int:
        """0 when no errors (warnings alone pass), else 1."""
        return 1 if self.log.errors else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0,
            "rows": self.rows,
            "errors": self.errors,
            "warnings": self.warnings,
            "counts": dict(sorted(self.log.counts.items())),
            "files": [f.to_json() for f in self.files],
            "problems": [p.to_json() for p in self.log.kept],
            "problems_shown": len(self.log.kept),
        }


# ------------------------------------------------------------------ validating a file


def user_path(path: str, mapping: Mapping | None) -> str:
    """A field path in the file's own names: what ``--field`` renamed is named back.

    >>> from dataprep.formats.mapping import Mapping
    >>> user_path("messages[2].content", Mapping(fields={"messages": "dialog", "content": "text"}))
    'dialog[2].text'
    """
    if mapping is None or not path or not mapping.fields:
        return path
    from dataprep.formats.mapping import MESSAGE_FIELDS, ROW_FIELDS

    out = []
    pos = 0
    first = True
    while pos < len(path):
        m = PATH_TOKEN.match(path, pos)
        if m is None:
            out.append(path[pos:])
            break
        name = m.group(1)
        if name is None:
            out.append(m.group(0))
        else:
            level = ROW_FIELDS if first else MESSAGE_FIELDS
            theirs = mapping.fields.get(name, name) if name in level else name
            out.append(theirs if first else f".{theirs}")
        first = False
        pos = m.end()
    return "".join(out)


class FileChecker:
    """Validates the rows of one source, one at a time, into a ``ProblemLog``.

    ``check_records`` is the per-row loop; ``finish`` adds the file-level findings (mixed
    or ambiguous formats) and returns the ``FileResult``. With ``collect_hashes`` the
    checker only records each row's hash and line (a worker of a parallel run: the
    parent finds the duplicates across all parts, in order).
    """

    def __init__(
        self,
        source: str,
        log: ProblemLog,
        *,
        fmt: str | None = None,
        mapping: Mapping | None = None,
        strict: bool = False,
        collect_hashes: bool = False,
    ):
        if fmt is not None and fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r} for --format (known: {', '.join(FORMATS)})")
        self.source = source
        self.log = log
        self.forced = fmt
        self.mapping = mapping if mapping is not None and not mapping.is_identity else None
        self.warning: Severity = "error" if strict else "warning"
        self.result = FileResult(source, fmt)
        self.detector = None if fmt is not None else Detector(source)
        self.seen = SeenRows()
        self.hashes: array[int] | None = array("q") if collect_hashes else None
        self.lines: array[int] | None = array("L") if collect_hashes else None
        self.last_line = 0  # the line of the last record checked
        self._errors0 = log.errors
        self._warnings0 = log.warnings

    def add(
        self, line: int, path: str, message: str, code: str, severity: Severity = "error"
    ) -> None:
        if severity == "warning" or code in WARNING_CODES:
            severity = self.warning
        if self.mapping is not None:
            path = user_path(path, self.mapping)
        self.log.add(Problem(self.source, line, path, message, code, severity))
        self.result.counts[code] += 1
        if severity == "warning":
            self.result.warning_counts[code] += 1

    def check_records(self, records: Iterable[Record]) -> None:
        # Imported here: dataprep._fast.clean is built on dataprep.validate.rows.
        from dataprep._fast.clean import FAST_CLEAN

        # The hot loop: everything it touches per row is a local.
        add = self.add
        mapping = self.mapping
        detector = self.detector
        forced = self.forced
        seen_add = self.seen.add
        hashes, lines = self.hashes, self.lines
        fast = FAST_CLEAN
        dumps = orjson.dumps
        sort_keys = orjson.OPT_SORT_KEYS
        rows = unreadable = 0
        line = self.last_line
        fmt = forced
        for record in records:
            rows += 1
            line = record.line
            if record.problem is not None:
                p = record.problem
                add(line, p.path, p.message, p.code)
                if line == 0:  # the whole file ("no rows"), not a row
                    rows -= 1
                    if detector is not None:
                        detector.add_file_problem(f"{p.message} [{p.code}]")
                    continue
                unreadable += 1
                if detector is not None:
                    detector.add_unreadable(line)
                continue
            row = record.value
            if mapping is not None:
                try:
                    row = mapping.apply(row)
                except RowError as e:
                    unreadable += 1
                    self.log.add(Problem(self.source, line, e.path, e.message, e.code))
                    self.result.counts[e.code] += 1
                    if detector is not None:
                        detector.add_unreadable(line)
                    continue
            raw = record.raw
            if raw is None:
                raw = dumps(row, option=sort_keys)
            if detector is not None:
                names = detector.add(row, line)
                if not names:
                    e = unknown_format(row)
                    add(line, e.path, e.message, e.code)
                    continue
                fmt = names[0]
            if hashes is None:
                earlier = seen_add(hash(raw), line)
                if earlier:
                    add(line, "", f"exact duplicate of line {earlier}", "duplicate-row")
            else:
                hashes.append(hash(raw))
                lines.append(line)
            clean = fast.get(fmt)
            if clean is not None and clean(row):
                continue
            for finding in check_row(row, fmt):
                add(line, *finding)
        self.result.rows += rows
        self.last_line = line
        self.result.unreadable += unreadable

    def finish(self) -> FileResult:
        result = self.result
        if self.detector is not None:
            detection = self.detector.result()
            result.detection = detection
            result.format = detection.format
            if detection.status == "mixed":
                self._report_mixed(detection)
            elif detection.status == "ambiguous":
                result.format = detection.candidates[0]
                self.add(0, "", detection.message, "ambiguous-format")
        result.errors = self.log.errors - self._errors0
        result.warnings = self.log.warnings - self._warnings0
        return result

    def _report_mixed(self, detection: Detection) -> None:
        """One finding per minority kind, at its first line (rows of no format were
        reported as they came)."""
        known = [(kind, n) for kind, n in detection.kinds.most_common() if kind != UNKNOWN]
        if not known:
            return
        main, main_rows = known[0]
        for kind, n in sorted(known[1:], key=lambda kn: detection.lines[kn[0]][0]):
            shown = detection.lines[kind]
            lines = ", ".join(map(str, shown)) + (", ..." if n > len(shown) else "")
            rows = "1 row is" if n == 1 else f"{n} rows are"
            self.add(
                shown[0],
                "",
                f"{rows} {kind} (line{'s' if n > 1 else ''} {lines}) but {main_rows} are {main}: "
                "each row was checked as its own format; pass --format to check all as one",
                "mixed-formats",
            )


def validate_records(
    records: Iterable[Record],
    source: str,
    log: ProblemLog,
    *,
    fmt: str | None = None,
    mapping: Mapping | None = None,
    strict: bool = False,
) -> FileResult:
    """Validate a stream of records (one file) in this process, adding problems to ``log``."""
    checker = FileChecker(source, log, fmt=fmt, mapping=mapping, strict=strict)
    checker.check_records(records)
    return checker.finish()


def validate_files(
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    mapping: Mapping | None = None,
    strict: bool = False,
    max_errors: int = 50,
    jobs: int | None = None,
) -> Validation:
    """Validate files (``-`` is stdin); every problem is counted, the first ``max_errors``
    are kept for display.

    ``jobs``: processes for a large plain JSONL file (None: as the load allows, see
    ``dataprep._fast.parallel.count_workers``, at most 8; 1: this process only). The result is the same either way, except which problems
    are kept when there are more than ``max_errors``.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"instruction": "Hi", "output": ""}\\n')
    >>> v = validate_files([path])
    >>> v.exit_code, [str(p).split(": ", 1)[1] for p in v.log.kept]
    (1, ['output: content is empty [empty-content]'])
    """
    from dataprep.reading import read_records

    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} for --format (known: {', '.join(FORMATS)})")
    log = ProblemLog(max_kept=max_errors)
    files = []
    for path in paths:
        try:
            workers = parallel_workers(path, jobs)
            chunks = split_jsonl(path, workers) if workers > 1 else []
            if len(chunks) > 1:
                files.append(_validate_parallel(path, log, chunks, fmt, mapping, strict))
                continue
            records = read_records(path)
            result = validate_records(records, path, log, fmt=fmt, mapping=mapping, strict=strict)
            info = getattr(records, "info", None)
            result.notes = list(getattr(info, "notes", None) or [])
            files.append(result)
        except InputError as e:
            # A file that is not a dataset at all: one problem for the whole file, and on
            # to the next file.
            log.add(Problem(path, 0, "", e.message, e.code))
            files.append(FileResult(path, fmt, errors=1, counts=Counter({e.code: 1})))
    return Validation(files, log)


# ------------------------------------------------------------------ parallel validation


@dataclass
class _Part:
    """What a worker found in its byte range of the file (lines numbered in the range)."""

    kept: list[Problem]
    counts: Counter[str]
    warning_counts: Counter[str]
    errors: int
    warnings: int
    rows: int
    unreadable: int
    detector: Detector | None
    hashes: array[int]
    lines: array[int]
    last_line: int  # the range's number of lines (see split_jsonl)


def _check_part(
    chunk: Any, fmt: str | None, mapping: Mapping | None, strict: bool, max_kept: int
) -> _Part:
    from dataprep.reading import read_jsonl_chunk

    log = ProblemLog(max_kept=max_kept)
    checker = FileChecker(
        chunk.path, log, fmt=fmt, mapping=mapping, strict=strict, collect_hashes=True
    )
    checker.check_records(read_jsonl_chunk(chunk))
    r = checker.result
    return _Part(
        log.kept, r.counts, r.warning_counts, log.errors, log.warnings, r.rows, r.unreadable,
        checker.detector, checker.hashes, checker.lines, checker.last_line,
    )  # fmt: skip


def _validate_parallel(
    path: str,
    log: ProblemLog,
    chunks: list[JsonlChunk],
    fmt: str | None,
    mapping: Mapping | None,
    strict: bool,
) -> FileResult:
    """Check byte ranges of a plain JSONL file (``split_jsonl``), one process each (this
    one included).

    Workers are forked, so they share this process's imports and its hash seed: row
    hashes agree across them, and the parent finds duplicates across all parts, in
    line order, as a single process would.
    """
    args = (fmt, mapping, strict, log.max_kept)
    with forked_all() as parts:
        # Every chunk but the last goes to a worker; this process checks the last.
        parts += [Forked(_check_part, chunk, *args) for chunk in chunks[:-1]]
        last = _check_part(chunks[-1], *args)
        results = [p.result() for p in parts] + [last]

    checker = FileChecker(path, log, fmt=fmt, mapping=mapping, strict=strict)
    start = len(log.kept)
    seen = checker.seen
    offset = 0  # lines of the parts before this one
    for part in results:
        log.errors += part.errors
        log.warnings += part.warnings
        log.counts.update(part.counts)
        checker.result.counts.update(part.counts)
        checker.result.warning_counts.update(part.warning_counts)
        checker.result.rows += part.rows
        checker.result.unreadable += part.unreadable
        log.kept.extend(
            replace(p, line=p.line + offset)
            for p in part.kept[: max(0, log.max_kept - len(log.kept))]
        )
        if checker.detector is not None and part.detector is not None:
            checker.detector.merge(part.detector, line_offset=offset)
        for h, line in zip(part.hashes, part.lines, strict=True):
            earlier = seen.add(h, line + offset)
            if earlier:
                checker.add(
                    line + offset, "", f"exact duplicate of line {earlier}", "duplicate-row"
                )
        offset += part.last_line
    # Duplicates across parts came after each part's problems: restore the order one
    # process meets them in (by line; on a line, the duplicate before the row's own
    # problems); file-level findings then follow, as there.
    log.kept[start:] = sorted(log.kept[start:], key=lambda p: (p.line, p.code != "duplicate-row"))
    return checker.finish()
