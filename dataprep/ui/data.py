"""What the pages about data files show, as plain dicts: the same dicts are the JSON
endpoints (``/api/...`` or ``?format=json``) and what ``pages`` renders.

A raw file is read page by page: a plain JSON Lines file by byte offset through its
``RowIndex`` (built in one streaming pass, in a thread), any other input by streaming its
rows up to the page (``dataprep.reading``). Its detection and its problems come from
``validate`` run once in a child process (``dataprep.ui.scan``); each row is shown as it
was read and in the canonical form (``validate.canonical_row``).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from dataprep.errors import DataprepError, RowError
from dataprep.ui.catalog import Catalog, Target

if TYPE_CHECKING:
    from dataprep.reading import Record
    from dataprep.ui.index import RowIndex

PAGE_ROWS = 20
MAX_PAGE_ROWS = 200
# How long a page waits for the index to reach its rows before saying it is still indexing.
INDEX_WAIT = 10.0
# Problems listed at once on a page (every one is counted; the child keeps scan.KEEP).
PROBLEMS_LISTED = 200


class FileScan:
    """The work done once per file: its row index (a thread) and validate (a child)."""

    def __init__(self, target: Target):
        from dataprep.ui.index import RowIndex, is_indexable

        self.target = target
        self.index: RowIndex | None = None
        try:
            if is_indexable(target.path):
                self.index = RowIndex(target.path)
        except DataprepError:
            self.index = None  # not a readable file: its page says why
        if self.index is not None:
            threading.Thread(target=self.index.build, daemon=True, name="ui-index").start()
        self.validation: dict[str, Any] | None = None
        self.error: str | None = None
        self.done = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        threading.Thread(target=self._validate, daemon=True, name="ui-validate").start()

    def _validate(self) -> None:
        t = self.target
        argv = [sys.executable, "-m", "dataprep.ui.scan", t.path]
        if t.format:
            argv += ["--format", t.format]
        argv += [f"--field={ours}={yours}" for ours, yours in t.fields]
        argv += [f"--role={yours}={ours}" for yours, ours in t.roles]
        try:
            self._proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
            out, err = self._proc.communicate()
            if self._proc.returncode != 0:
                lines = err.decode(errors="replace").strip().splitlines()
                self.error = f"validate stopped (exit {self._proc.returncode})" + (
                    f": {lines[-1]}" if lines else ""
                )
            else:
                doc = orjson.loads(out)
                self.error = doc.get("error")
                self.validation = doc.get("validation")
        except (OSError, ValueError) as e:
            self.error = f"validate could not run: {e}"
        finally:
            self.done.set()

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def status(self) -> dict[str, Any]:
        index = self.index
        return {
            "index": None
            if index is None
            else {
                "done": index.done,
                "rows": index.rows,
                "bytes": index.scanned,
                "size": index.size,
                "error": index.error,
            },
            "validation": "done"
            if self.done.is_set() and not self.error
            else "failed"
            if self.error
            else "running",
            "error": self.error,
        }


class Scans:
    """One ``FileScan`` per file shown, started on its first page, ended with the server."""

    def __init__(self) -> None:
        self._scans: dict[tuple[Any, ...], FileScan] = {}
        self._lock = threading.Lock()

    def get(self, target: Target) -> FileScan:
        with self._lock:
            scan = self._scans.get(target.key)
            if scan is None:
                scan = self._scans[target.key] = FileScan(target)
            return scan

    def close(self) -> None:
        with self._lock:
            for scan in self._scans.values():
                scan.close()


# --- pages -------------------------------------------------------------------------------


def home(catalog: Catalog) -> dict[str, Any]:
    """The inputs given, each with the pages it has."""
    return {"page": "home", "inputs": [e.to_json() for e in catalog.entries]}


def folder_listing(catalog: Catalog, number: int) -> dict[str, Any]:
    entry = catalog.entry(number, "folder")
    files = catalog.listing(number)
    return {"page": "folder", "input": entry.to_json(), "files": files}


def recipe_page(catalog: Catalog, number: int) -> dict[str, Any]:
    """A recipe's (or a peer's config's) sources, each browsable as a raw file."""
    from dataprep.recipe.reading import read_config

    entry = catalog.entry(number, "recipe")
    recipe, report, what = read_config(entry.path, None)
    sources = []
    for i, s in enumerate(recipe.sources):
        sources.append({
            "source": i, "name": s.label, "path": s.path, "hub": s.is_hub, "format": s.format,
            "amount": s.amount, "eval": s.eval, "where": s.where,
            "fields": dict(s.fields), "roles": dict(s.roles),
        })  # fmt: skip
    return {
        "page": "recipe",
        "input": entry.to_json(),
        "what": what,
        "sources": sources,
        "report": report.lines() if report is not None else [],
    }


def raw_file(
    catalog: Catalog,
    scans: Scans,
    target: Target,
    *,
    page: int = 0,
    size: int = PAGE_ROWS,
    line: int | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """One page of rows of a data file, with its detection and its problems."""
    from dataprep.reading import sniff_input

    size = min(max(size, 1), MAX_PAGE_ROWS)
    info = sniff_input(target.path)  # InputError: the page says the file cannot be read
    scan = scans.get(target)
    validation = scan.validation
    file_result = (validation or {}).get("files", [{}])[0] if validation else None
    total = _total(scan, file_result)
    if line is not None:
        first = _locate(scan, target, line)
        page = first // size
    first = page * size
    records = list(_rows(scan, target, first, size))
    problems = (validation or {}).get("problems", [])
    at_line: dict[int, list[dict[str, Any]]] = {}
    for p in problems:
        at_line.setdefault(p["line"], []).append(p)
    fmt = target.format or (file_result or {}).get("format")
    rows = [_row(r, fmt, target, at_line.get(r.line, [])) for r in records]
    shown = [p for p in problems if code is None or p["code"] == code]
    return {
        "page": "file",
        "input": target.number,
        "query": target.query,
        "file": target.name,
        "read_as": {
            "kind": info.kind,
            "compression": info.compression,
            "encoding": info.encoding,
            "notes": info.notes,
        },
        "format": fmt,
        "forced_format": target.format,
        "mapping": {"fields": dict(target.fields), "roles": dict(target.roles)},
        "scan": scan.status(),
        "paging": {
            "page": page,
            "size": size,
            "first": first,
            "shown": len(rows),
            "total": total,
            "pages": None if total is None else max(1, -(-total // size)),
            "line": line,
        },
        "rows": rows,
        "detection": (file_result or {}).get("detection"),
        "file_notes": (file_result or {}).get("notes", []),
        "problems": {
            "counts": (validation or {}).get("counts", {}),
            "errors": (validation or {}).get("errors"),
            "warnings": (validation or {}).get("warnings"),
            "kept": len(problems),
            "code": code,
            "listed": shown[:PROBLEMS_LISTED],
            "matching": len(shown),
        },
    }


def _total(scan: FileScan, file_result: dict[str, Any] | None) -> int | None:
    """The file's rows, once known (None while it is still counted)."""
    if scan.index is not None:
        return scan.index.rows if scan.index.done else None
    if file_result:
        return int(file_result.get("rows", 0))
    return None


def _rows(scan: FileScan, target: Target, first: int, count: int) -> Iterator[Record]:
    index = scan.index
    if index is not None:
        if not index.wait_for(first + count, INDEX_WAIT) and index.rows <= first:
            from dataprep.ui.catalog import PageError

            raise PageError(
                f"still indexing {target.name} ({index.scanned / max(index.size, 1):.0%}): "
                "this page's rows are not reached yet; try again in a moment"
            )
        return index.read(first, count)
    from dataprep.reading import read_records

    # Streamed to the page: a row's place in a CSV, a JSON array or a compressed file is
    # known only by reading what comes before it.
    return islice(_readable(read_records(target.path)), first, first + count)


def _readable(records: Iterator[Record]) -> Iterator[Record]:
    """Rows (readable or not), without the record for a whole-file problem (line 0)."""
    return (r for r in records if r.line != 0)


def _locate(scan: FileScan, target: Target, line: int) -> int:
    """The row number (0-based) of the row at ``line`` (or the first after it)."""
    if scan.index is not None:
        scan.index.wait_for(line, INDEX_WAIT)
        return scan.index.locate(line)
    from dataprep.reading import read_records

    row = 0
    for record in _readable(read_records(target.path)):
        if record.line >= line:
            return row
        row += 1
    return max(row - 1, 0)


def _row(record: Record, fmt: str | None, target: Target, problems: list[dict[str, Any]]):
    """One row as shown: its text as read, the format it reads as, its canonical form (or
    why it has none) and validate's problems at its line."""
    from dataprep.validate.canonical_row import to_canonical

    out: dict[str, Any] = {"line": record.line, "problems": problems}
    if record.problem is not None:
        out["raw"] = (record.raw or b"").decode("utf-8", "replace")
        out["error"] = {"code": record.problem.code, "message": record.problem.message}
        return out
    out["value"] = record.value
    mapping = None
    if target.fields or target.roles:
        from dataprep.formats.mapping import Mapping

        mapping = Mapping(dict(target.fields), dict(target.roles))
    try:
        read = to_canonical(record.value, fmt, mapping, forced=target.format is not None)
        out["format"] = read.format
        out["canonical"] = canonical_json(read.example)
    except RowError as e:
        out["error"] = {"code": e.code, "message": e.message, "path": e.path}
    return out


def canonical_json(example: Any) -> dict[str, Any]:
    """A canonical example as JSON: its type, and the fields that are set.

    >>> from dataprep.canonical import Conversation, Message
    >>> canonical_json(Conversation([Message("user", "Hi")]))
    {'type': 'Conversation', 'messages': [{'role': 'user', 'content': 'Hi'}]}
    """
    return {"type": type(example).__name__, **_set_fields(example)}


def _set_fields(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            if f.name in ("origin", "tools_as_text", "_"):
                continue
            v = getattr(value, f.name)
            if v is None or (f.name == "plain" and v is False):
                continue
            out[f.name] = _set_fields(v)
        return out
    if isinstance(value, list | tuple):
        return [_set_fields(v) for v in value]
    if isinstance(value, dict):
        return {k: _set_fields(v) for k, v in value.items()}
    return value


def file_size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None
