"""Checking a recipe's sources without preparing: can each be read, and mapped?

A local source is read up to ``HEAD_ROWS`` rows with our own readers, its
``--field``/``--role`` mapping applied, its format detected (or the declared one taken)
and each row turned into the canonical model, as ``prepare`` would. A Hub source is
resolved first (``dataprep.reading.hub.resolve_hub``: its split's files fetched into the
Hugging Face cache, or offline found there) and its first rows checked the same way; one
that cannot be resolved (offline and not cached, no such split) fails with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain, islice

from dataprep.detect import detect_rows
from dataprep.errors import DataprepError, RowError
from dataprep.recipe.model import Source
from dataprep.validate.canonical_row import to_canonical

HEAD_ROWS = 200
PROBLEMS_SHOWN = 3


@dataclass
class SourceCheck:
    """What reading the first rows of one source showed."""

    source: Source
    status: str  # "ok" or "failed"
    format: str | None = None
    rows: int = 0  # rows read
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def check_source(source: Source, head: int = HEAD_ROWS) -> SourceCheck:
    """Read the first ``head`` rows of a source and map them; see the module doc."""
    if not source.path:
        return SourceCheck(source, "failed", problems=["no path"])
    from dataprep.reading import read_records

    try:
        files = _files(source)
        # Lazily: a split of many files is read only as far as its first rows.
        records = list(islice(chain.from_iterable(read_records(f) for f in files), head))
    except DataprepError as e:
        return SourceCheck(source, "failed", problems=[str(e)])
    mapping = source.mapping
    detection = detect_rows(iter(records), source=source.path, mapping=mapping)
    fmt = source.format
    problems: list[str] = []
    if fmt is None:
        if detection.status != "ok":
            hint = f" (try: {detection.hint})" if detection.hint else ""
            return SourceCheck(source, "failed", None, len(records),
                               [f"{detection.message}{hint}"])  # fmt: skip
        fmt = detection.format
    bad = 0
    for record in records:
        if record.problem is not None:
            bad += 1
            if len(problems) < PROBLEMS_SHOWN:
                problems.append(str(record.problem))
            continue
        try:
            # As prepare reads it: the source's format forced when it names one, else
            # each row as the format its shape shows, the file's own first.
            to_canonical(record.value, fmt, mapping, forced=source.format is not None)
        except RowError as e:
            bad += 1
            if len(problems) < PROBLEMS_SHOWN:
                problems.append(f"{record.source}:{record.line}: {e} [{e.code}]")
    if not records:
        return SourceCheck(source, "failed", fmt, 0, ["no rows"])
    if bad:
        problems.append(f"{bad} of the first {len(records)} rows cannot be read as {fmt}")
    return SourceCheck(source, "failed" if bad else "ok", fmt, len(records), problems)


def _files(source: Source) -> list[str]:
    """The files a source is read from: its path, or a Hub source's cached files."""
    if not source.is_hub:
        return [source.path]
    from dataprep.reading.hub import resolve_hub

    hub = resolve_hub(
        source.path, split=source.split, subset=source.subset, revision=source.revision
    )
    return list(hub.files)
