"""What the pages about a prepared folder show, as plain dicts (the JSON endpoints too):
the manifest as a summary with its histograms, one row as tokens with the trained ones
marked, a search by text, and the rejects grouped by reason.

Rows are read one at a time from the memory-mapped Arrow data (``prepare.output``), the
manifest through ``contract.read_manifest``, the numbers through ``stats.folder_stats``
and the tokens through ``token_view`` (what ``dataprep inspect`` shows).
"""

from __future__ import annotations

import os
import threading
import time
from itertools import islice
from typing import Any

import orjson

from dataprep.ui.catalog import BadInput, Catalog, NotFound, PageError

SEARCH_ROWS = 5000  # rows one search request reads at most; the page offers to go on
SEARCH_SECONDS = 3.0
SEARCH_HITS = 50
REJECTS_PAGE = 20
BINS = 30


class Folder:
    """A prepared folder, read lazily and kept: manifest, splits, token text, stats."""

    def __init__(self, path: str):
        from dataprep.contract import ManifestDamaged, ManifestMissing, read_manifest

        self.path = path
        try:
            self.manifest = read_manifest(path)
        except ManifestMissing:
            raise NotFound(
                f"{path} is not a prepared folder (no dataprep.json): run dataprep prepare first"
            ) from None
        except ManifestDamaged as e:
            raise BadInput(
                f"{path}/dataprep.json is damaged ({e.problem}): run dataprep prepare again"
            ) from None
        self._lock = threading.Lock()
        self._tables: dict[str, Any] = {}
        self._sources: dict[str, Any] = {}
        self._text: Any = None
        self._stats: dict[str, Any] | None = None

    def splits(self) -> dict[str, Any]:
        from dataprep.prepare.output import split_folders

        return split_folders(self.path)

    def table(self, split: str) -> Any:
        from dataprep.prepare.output import read_split

        with self._lock:
            if split not in self._tables:
                splits = self.splits()
                if split not in splits:
                    raise NotFound(
                        f"{self.path} has no {split} split (it has: {', '.join(splits)})"
                    )
                self._tables[split] = read_split(splits[split])
            return self._tables[split]

    def document_sources(self, split: str) -> tuple[Any, list[str]]:
        """Each document's source index in ``split`` and the names they index, where
        prepare recorded them (several sources fed it); else (None, [])."""
        from dataprep.contract import read_document_sources

        kind = self.manifest.document_sources
        if kind is None:
            return None, []
        with self._lock:
            if split not in self._sources:
                self._sources[split] = read_document_sources(self.path, split)
            groups = self._sources[split]
        if kind == "sources":
            names = [src.name for src in self.manifest.sources or ()]
        else:
            names = [item.path for item in self.manifest.inputs]
        return groups, names

    def text(self) -> Any:
        """Token ids -> text, with the tokenizer the manifest names."""
        from dataprep.token_view import TokenText

        with self._lock:
            if self._text is None:
                tok = self.manifest.tokenizer
                if not tok.name_or_path and not tok.folder:
                    raise PageError(f"{self.path}/dataprep.json names no tokenizer")
                self._text = TokenText(tok.name_or_path or "", tok.folder, tok.added_tokens)
            return self._text

    def stats(self) -> dict[str, Any]:
        from dataprep.stats import folder_stats

        with self._lock:
            if self._stats is None:
                self._stats = folder_stats(self.path)
            return self._stats


class Folders:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._folders: dict[int, Folder] = {}
        self._lock = threading.Lock()

    def get(self, number: int) -> Folder:
        entry = self.catalog.entry(number, "prepared")
        with self._lock:
            if number not in self._folders:
                self._folders[number] = Folder(entry.path)
            return self._folders[number]


def histogram(values: Any, bins: int = BINS, low: float | None = None,
              high: float | None = None) -> dict[str, Any]:  # fmt: skip
    """``{"edges", "counts"}`` of ``values`` (``bins`` bins, or fewer for few distinct
    whole numbers).

    >>> histogram([1, 2, 2, 3], bins=3)
    {'edges': [1.0, 1.6667, 2.3333, 3.0], 'counts': [1, 2, 1]}
    """
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return {"edges": [], "counts": []}
    lo = float(values.min()) if low is None else low
    hi = float(values.max()) if high is None else high
    if hi <= lo:
        hi = lo + 1
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return {"edges": [round(float(e), 4) for e in edges], "counts": counts.tolist()}


def summary(folders: Folders, number: int) -> dict[str, Any]:
    """The manifest as a summary: sources, rows in/out/rejected by reason, tokens,
    trainable share, packing efficiency, and the histograms of each split."""
    folder = folders.get(number)
    m = folder.manifest
    stats = folder.stats()
    tokens = m.tokens
    splits = {}
    for name, s in stats["splits"].items():
        public = {k: v for k, v in s.items() if not k.startswith("_")}
        public["length_histogram"] = histogram(s["_lengths"])
        public["trainable_share_histogram"] = histogram(
            s.get("_trainable_shares", []), bins=20, low=0.0, high=1.0
        )
        splits[name] = public
    return {
        "page": "prepared",
        "input": folders.catalog.entries[number].to_json(),
        "kind": m.kind,
        "inputs": [i.to_json() for i in m.inputs],
        "sources": [s.to_json() for s in m.sources] if m.sources else None,
        "tokenizer": m.tokenizer.name_or_path,
        "chat_template": m.chat_template.to_json() if m.chat_template else None,
        "mask": m.mask,
        "max_length": m.max_length,
        "length_policy": m.length_policy,
        "packing": m.packing,
        "counts": m.counts.to_json() if m.counts else None,
        "tokens": {"total": tokens.total, "trainable": tokens.trainable} if tokens else None,
        "trainable_share": round(tokens.trainable / tokens.total, 4)
        if tokens and tokens.total
        else None,
        "packing_efficiency": m.packing_efficiency,
        "notes": list(m.notes),
        "splits": splits,
        "has_rejects": os.path.isfile(os.path.join(folder.path, "rejects.jsonl")),
        "manifest": m.to_json(),
    }


def row(folders: Folders, number: int, split: str = "train", n: int = 0) -> dict[str, Any]:
    """Row ``n`` of a split as documents of tokens (``token_view.documents``)."""
    from dataprep.token_view import documents

    folder = folders.get(number)
    table = folder.table(split)
    rows = table.num_rows
    if not 0 <= n < rows:
        raise NotFound(f"row {n} is out of range: the {split} split has {rows} rows")
    values = {name: table.column(name)[n].as_py() for name in table.column_names}
    text = folder.text()
    docs = documents(values, text)
    for d in docs:
        whole_characters(d["tokens"], text)
    _label_sources(folder, split, table, n, docs)
    trained = sum(t["trained"] for d in docs for t in d["tokens"])
    return {
        "page": "row",
        "input": number,
        "split": split,
        "splits": list(folder.splits()),
        "row": n,
        "rows": rows,
        "kind": folder.manifest.kind,
        "tokens": sum(len(d["tokens"]) for d in docs),
        "trained": trained,
        "documents": docs,
    }


def _label_sources(folder: Folder, split: str, table: Any, n: int, docs: list) -> None:
    """Name each document's source in ``docs`` (row ``n``'s), where prepare recorded it: a
    packed row's documents are the ones after those of the rows before it; a pair or an
    unpacked row is one document, all its parts from one source."""
    groups, names = folder.document_sources(split)
    if groups is None:
        return
    if "seq_lengths" in table.column_names:
        import pyarrow.compute as pc

        before = table.column("seq_lengths").slice(0, n)
        first = int(pc.sum(pc.list_value_length(before)).as_py() or 0) if n else 0
        indexes = [first + i for i in range(len(docs))]
    else:
        indexes = [n] * len(docs)
    for doc, index in zip(docs, indexes, strict=True):
        if index < len(groups) and int(groups[index]) < len(names):
            doc["source"] = names[int(groups[index])]


def whole_characters(toks: list[dict[str, Any]], text: Any) -> None:
    """Give a character split across byte-level tokens (each decoding to U+FFFD alone) to
    the first of them, whole, and empty text to the rest: the ids and flags stay.

    >>> class Bytes:
    ...     def decode(self, ids):
    ...         return bytes(ids).decode("utf-8", "replace")
    >>> toks = [{"id": b, "text": Bytes().decode([b])} for b in "é!".encode()]
    >>> whole_characters(toks, Bytes()); [t["text"] for t in toks]
    ['é', '', '!']
    """
    i = 0
    while i < len(toks):
        if "\ufffd" in toks[i]["text"]:
            for j in range(i + 1, min(i + 4, len(toks))):
                joined = text.decode([t["id"] for t in toks[i : j + 1]])
                if "\ufffd" not in joined:
                    toks[i]["text"] = joined
                    for k in range(i + 1, j + 1):
                        toks[k]["text"] = ""
                    i = j
                    break
        i += 1


def search(folders: Folders, number: int, query: str, split: str = "train",
           start: int = 0) -> dict[str, Any]:  # fmt: skip
    """Rows whose decoded text holds ``query`` (case-insensitive), reading from row
    ``start`` at most ``SEARCH_ROWS`` rows or ``SEARCH_SECONDS``: ``next`` says where to
    go on from (None when the split is searched to its end)."""
    folder = folders.get(number)
    table = folder.table(split)
    text = folder.text()
    needle = query.casefold()
    hits: list[dict[str, Any]] = []
    column = table.column(table.column_names[0] if folder.manifest.kind == "sft" else
                          {"dpo": "chosen_ids", "kto": "completion_ids"}.get(
                              folder.manifest.kind or "", table.column_names[0]))  # fmt: skip
    prompts = table.column("prompt_ids") if "prompt_ids" in table.column_names else None
    deadline = time.monotonic() + SEARCH_SECONDS
    n = start
    end = min(table.num_rows, start + SEARCH_ROWS)
    while needle and n < end and len(hits) < SEARCH_HITS and time.monotonic() < deadline:
        ids = column[n].as_py()
        if prompts is not None:
            ids = prompts[n].as_py() + ids
        decoded = text.decode(ids)
        at = decoded.casefold().find(needle)
        if at >= 0:
            hits.append({"row": n, "snippet": decoded[max(0, at - 60) : at + len(query) + 60],
                         "at": min(at, 60)})  # fmt: skip
        n += 1
    return {
        "page": "search",
        "input": number,
        "split": split,
        "query": query,
        "start": start,
        "searched": n - start,
        "rows": table.num_rows,
        "hits": hits,
        "next": n if n < table.num_rows and needle else None,
    }


def rejects(folders: Folders, number: int, reason: str | None = None,
            page: int = 0) -> dict[str, Any]:  # fmt: skip
    """The rejected rows grouped by reason (counts from the manifest), and one page of
    the rows of ``reason``: each with its source, line, message and the row as read."""
    folder = folders.get(number)
    counts = dict((folder.manifest.counts.rejected if folder.manifest.counts else {}) or {})
    path = os.path.join(folder.path, "rejects.jsonl")
    items: list[dict[str, Any]] = []
    if reason is None and counts:
        reason = max(counts, key=lambda c: counts[c])
    if reason is not None and os.path.isfile(path):
        with open(path, "rb") as f:
            chosen = (r for r in _rejects(f) if r.get("code") == reason)
            for r in islice(chosen, page * REJECTS_PAGE, (page + 1) * REJECTS_PAGE):
                r["link"] = _link(folders.catalog, r.get("source"), r.get("line"))
                items.append(r)
    return {
        "page": "rejects",
        "input": number,
        "counts": counts,
        "reason": reason,
        "page_number": page,
        "per_page": REJECTS_PAGE,
        "items": items,
        "pages": -(-counts.get(reason or "", 0) // REJECTS_PAGE) if reason else 0,
    }


def _rejects(f: Any):
    for line in f:
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a damaged line: the counts still come from the manifest
        if isinstance(value, dict):
            yield value


def _link(catalog: Catalog, source: Any, line: Any) -> dict[str, Any] | None:
    """Where a reject's row can be seen in its file, when that file is one the ui was
    given (itself, or inside a given folder)."""
    if not isinstance(source, str) or not isinstance(line, int):
        return None
    real = os.path.realpath(source)
    for e in catalog.entries:
        if e.kind == "file" and e.real == real:
            return {"input": e.number, "line": line}
        if e.kind == "folder" and real.startswith(e.real + os.sep):
            return {"input": e.number, "rel": os.path.relpath(real, e.real), "line": line}
    return None
