"""Deciding a file's format from every row, and saying why.

Each row is shown to every format's ``detect``; the set of formats that claim it is the
row's *kind*. The file's format follows from the kinds seen:

- one format claims every row: that format;
- several formats claim every row alike: ``ambiguous`` (``--format`` or ``--from`` chooses);
- no format claims any row: ``unknown``, with the keys seen and the closest format;
- otherwise (rows disagree, or some rows fit nothing): ``mixed``, with the lines of
  each kind.

Streaming: rows are counted, never kept, so a file of any size is detected in constant
memory.

>>> from dataprep.reading import Record
>>> rows = [{"instruction": "Add 2 and 2", "output": "4"}, {"instruction": "Hi", "output": "Hello"}]
>>> d = detect_rows(Record("a.jsonl", i + 1, r, None, None) for i, r in enumerate(rows))
>>> d.status, d.format, d.rows
('ok', 'alpaca', 2)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dataprep.formats import FORMATS

if TYPE_CHECKING:
    from dataprep.formats.mapping import Mapping
    from dataprep.reading import Record

Status = Literal["ok", "mixed", "ambiguous", "unknown"]

# How many line numbers to keep per kind: enough to find the rows, constant memory.
LINES_KEPT = 5
# How many first rows to keep for proposing a mapping when no format fits.
SAMPLE_KEPT = 20
UNKNOWN = "unknown"

# (name, detect, the keys one of which a row needs for detect to claim it; None: unknown)
_DETECTORS = tuple(
    (name, module.detect, getattr(module, "DETECT_KEYS", None)) for name, module in FORMATS.items()
)
# Formats that say in words why they claimed a row (``evidence(row) -> str``, from a small
# fixed set of phrases): kto, whose rows look like another format's plus a label.
_EVIDENCE = {
    name: module.evidence for name, module in FORMATS.items() if hasattr(module, "evidence")
}
# Rows of a file share a few key sets: the detectors worth asking for each key set are
# found once. Bounded, so that rows with ever new keys cannot grow it without end.
_CANDIDATES: dict[tuple[str, ...], tuple[tuple[str, Any], ...]] = {}
_CANDIDATES_KEPT = 1024


def _candidates(keys: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """The (name, detect) of the formats that may claim a row with these keys."""
    found = _CANDIDATES.get(keys)
    if found is None:
        if len(_CANDIDATES) >= _CANDIDATES_KEPT:
            _CANDIDATES.clear()
        found = _CANDIDATES[keys] = tuple(
            (name, detect)
            for name, detect, needs in _DETECTORS
            if needs is None or not needs.isdisjoint(keys)
        )
    return found


def row_formats(row: Any) -> tuple[str, ...]:
    """The formats whose ``detect`` claims ``row``, in the order of ``FORMATS``.

    >>> row_formats({"messages": [{"role": "user", "content": "Hi"}]})
    ('messages',)
    >>> row_formats({"question": "Hi"})
    ()
    """
    if type(row) is not dict:
        return ()
    return tuple([name for name, detect in _candidates(tuple(row)) if detect(row)])


def kind_name(names: tuple[str, ...]) -> str:
    """How a kind is named in reports: the format, ``a|b`` for several, ``unknown`` for none."""
    return "|".join(names) if names else UNKNOWN


@dataclass
class Detection:
    """What a file is, decided from every row, with the evidence."""

    source: str
    status: Status
    format: str | None  # set when status is "ok"
    rows: int  # readable rows
    unreadable: int
    keys: Counter[str]  # top-level key -> rows that have it
    kinds: Counter[str]  # kind name -> rows of that kind
    lines: dict[str, list[int]]  # kind name -> its first lines
    unreadable_lines: list[int] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)  # for "ambiguous"
    closest: str | None = None  # for "unknown": the format the keys come nearest to
    missing: list[str] = field(default_factory=list)  # the keys the closest format lacks
    hint: str | None = None  # a command-line fix, when one can be guessed
    file_problems: list[str] = field(default_factory=list)  # about the whole file ("no rows")
    # format -> why its rows were claimed, in words -> rows (formats with ``evidence``)
    evidence: dict[str, dict[str, int]] = field(default_factory=dict)
    # For "unknown": the --field/--role mappings that make the first rows fit a format,
    # each checked by applying it (``dataprep.formats.propose``), best first.
    proposals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_single(self) -> bool:
        """True when the file has one format and every row could be read."""
        return self.status == "ok" and not self.unreadable and not self.file_problems

    @property
    def message(self) -> str:
        """The decision in words, for humans."""
        if self.status == "ok":
            return f"{self.format} ({_count(self.rows, 'row')})"
        if self.status == "ambiguous":
            names = " and ".join(self.candidates)
            return (
                f"ambiguous: every row fits {names}; say which with --format "
                "(validate) or --from (convert)"
            )
        if self.status == "mixed":
            parts = ", ".join(
                f"{kind} ({_count(n, 'row')})" for kind, n in self.kinds.most_common()
            )
            return f"mixed: rows disagree: {parts}"
        if not self.rows:
            return "unknown: no readable rows" if self.unreadable else "unknown: no rows"
        text = "unknown: no format fits these rows"
        if self.closest:
            text += f"; closest is {self.closest}"
            if self.missing:
                text += f", which needs {', '.join(self.missing)}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status,
            "format": self.format,
            "rows": self.rows,
            "unreadable": self.unreadable,
            "unreadable_lines": self.unreadable_lines,
            "keys": dict(self.keys.most_common()),
            "kinds": dict(self.kinds.most_common()),
            "lines": self.lines,
            "candidates": self.candidates,
            "closest": self.closest,
            "missing": self.missing,
            "hint": self.hint,
            "file_problems": self.file_problems,
            "evidence": self.evidence,
            "proposals": self.proposals,
            "message": self.message,
        }


class Detector:
    """Accumulates the evidence row by row; ``result()`` decides.

    ``validate`` and ``convert`` feed it while they work, so detection costs no second
    pass over the file.
    """

    def __init__(self, source: str):
        self.source = source
        self.rows = 0
        self.unreadable = 0
        self.unreadable_lines: list[int] = []
        self.file_problems: list[str] = []
        self._kinds: dict[tuple[str, ...], int] = {}
        self._lines: dict[tuple[str, ...], list[int]] = {}
        # Rows counted by key set (cheaper per row than counting each key); folded into
        # _keys when there are many key sets, so memory stays bounded.
        self._key_sets: dict[tuple[str, ...], int] = {}
        self._keys: Counter[str] = Counter()
        self._evidence: dict[str, Counter[str]] = {}
        # The first rows, kept to propose a mapping if no format claims them.
        self._sample: list[Any] = []

    @property
    def keys(self) -> Counter[str]:
        """Top-level key -> rows that have it."""
        self._fold_key_sets()
        return self._keys

    def _fold_key_sets(self) -> None:
        for keys, n in self._key_sets.items():
            for key in keys:
                self._keys[key] += n
        self._key_sets.clear()

    def add(self, row: Any, line: int) -> tuple[str, ...]:
        """Count one readable row; return the formats that claim it."""
        self.rows += 1
        if len(self._sample) < SAMPLE_KEPT:
            self._sample.append(row)
        if type(row) is dict:
            keys = tuple(row)
            names = tuple([name for name, detect in _candidates(keys) if detect(row)])
            key_sets = self._key_sets
            n = key_sets.get(keys)
            if n is not None:
                key_sets[keys] = n + 1
            else:
                if len(key_sets) >= _CANDIDATES_KEPT:
                    self._fold_key_sets()
                key_sets[keys] = 1
        else:
            names = ()
        for name in names:
            describe = _EVIDENCE.get(name)
            if describe is not None:
                self._evidence.setdefault(name, Counter())[describe(row)] += 1
        seen = self._kinds.get(names)
        if seen is None:
            self._kinds[names] = 1
            self._lines[names] = [line]
        else:
            self._kinds[names] = seen + 1
            lines = self._lines[names]
            if len(lines) < LINES_KEPT:
                lines.append(line)
        return names

    def add_unreadable(self, line: int) -> None:
        self.unreadable += 1
        if len(self.unreadable_lines) < LINES_KEPT:
            self.unreadable_lines.append(line)

    def add_file_problem(self, message: str) -> None:
        """A problem of the whole file (line 0: no rows at all), not of a row."""
        self.file_problems.append(message)

    def merge(self, other: Detector, line_offset: int = 0) -> None:
        """Fold in the evidence of a later part of the same file (parallel validation),
        whose lines are numbered from ``line_offset + 1``."""
        self.file_problems += other.file_problems
        self._sample = (self._sample + other._sample)[:SAMPLE_KEPT]
        self.rows += other.rows
        self.unreadable += other.unreadable
        self.unreadable_lines = (
            self.unreadable_lines + [n + line_offset for n in other.unreadable_lines]
        )[:LINES_KEPT]
        self.keys.update(other.keys)  # folds both
        for name, words in other._evidence.items():
            self._evidence.setdefault(name, Counter()).update(words)
        for names, n in other._kinds.items():
            self._kinds[names] = self._kinds.get(names, 0) + n
            lines = [line + line_offset for line in other._lines[names]]
            self._lines[names] = (self._lines.get(names, []) + lines)[:LINES_KEPT]

    def result(self) -> Detection:
        kinds = Counter({kind_name(k): n for k, n in self._kinds.items()})
        lines = {kind_name(k): v for k, v in self._lines.items()}
        detection = Detection(
            source=self.source,
            status="unknown",
            format=None,
            rows=self.rows,
            unreadable=self.unreadable,
            keys=self.keys,
            kinds=kinds,
            lines=lines,
            unreadable_lines=self.unreadable_lines,
            file_problems=self.file_problems,
            evidence={name: dict(c.most_common()) for name, c in self._evidence.items()},
        )
        if not self._kinds:
            return detection
        if () in self._kinds:
            if len(self._kinds) == 1:
                _explain_unknown(detection, self._sample)
            else:
                detection.status = "mixed"
            return detection
        common = set.intersection(*(set(k) for k in self._kinds))
        if len(common) == 1:
            detection.status = "ok"
            detection.format = common.pop()
        elif common:
            detection.status = "ambiguous"
            detection.candidates = [name for name in FORMATS if name in common]
        else:
            detection.status = "mixed"
        return detection


def detect_rows(
    records: Iterable[Record], source: str = "", mapping: Mapping | None = None
) -> Detection:
    """Decide the format of a stream of records from every row.

    ``mapping`` (from ``--field``/``--role``) is applied to each row before detection.
    Unreadable rows are counted, and their lines kept, but decide nothing.
    """
    detector: Detector | None = None
    apply = mapping.apply if mapping is not None else None
    for record in records:
        if detector is None:
            detector = Detector(source or record.source)
        if record.problem is not None:
            if record.line == 0:
                detector.add_file_problem(f"{record.problem.message} [{record.problem.code}]")
            else:
                detector.add_unreadable(record.line)
            continue
        row = record.value
        if apply is not None and type(row) is dict:
            row = apply(row)
        detector.add(row, record.line)
    if detector is None:
        detector = Detector(source)
    return detector.result()


def detect_file(path: str, mapping: Mapping | None = None) -> Detection:
    """``detect_rows`` over a file (any input ``read_records`` takes; ``-`` is stdin)."""
    from dataprep.reading import read_records

    return detect_rows(read_records(path), source=path, mapping=mapping)


def _schema_variants(name: str) -> list[tuple[set[str], set[str]]]:
    """(required keys, known keys) of each top-level shape a format's schema allows."""
    from dataprep.validate.schema import load_schema

    schema = load_schema(name)
    variants = []
    branches = [schema]
    for key in ("anyOf", "oneOf"):
        branches += schema.get(key, [])
    base_props = set(schema.get("properties", {}))
    base_req = set(schema.get("required", []))
    for branch in branches:
        required = base_req | set(branch.get("required", []))
        # A branch needing one of several keys (kto: label or kto_tag) needs the first.
        for alternative in branch.get("anyOf", [])[:1]:
            required |= set(alternative.get("required", []))
        known = base_props | set(branch.get("properties", {}))
        if required or known:
            variants.append((required, known))
    return variants


def _explain_unknown(detection: Detection, sample: list[Any] | None = None) -> None:
    """Name the format the keys come closest to, what it lacks, and the --field/--role
    that make the first rows fit (checked proposals), or a --field that may fix it."""
    seen = set(detection.keys)
    best: tuple[float, int] = (0.0, 0)
    for name in FORMATS:
        try:
            variants = _schema_variants(name)
        except Exception:  # a missing schema must not break detection of the others
            continue
        for required, known in variants:
            score = (len(required & seen) / len(required) if required else 0.0, len(known & seen))
            if score > best:
                best = score
                detection.closest = name
                detection.missing = sorted(required - seen)
                unexplained = sorted(seen - known)
    from dataprep.formats.propose import propose

    proposals = propose(sample or [], row_formats)
    detection.proposals = [p.to_json() for p in proposals]
    if proposals:
        detection.hint = proposals[0].args
    elif detection.closest and len(detection.missing) == 1 and len(unexplained) == 1:
        detection.hint = f"--field {detection.missing[0]}={unexplained[0]}"
    elif detection.closest is None and seen:
        detection.hint = "--field NAME=KEY to map your keys onto a format's fields"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
