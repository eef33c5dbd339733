"""Writing a prepared folder: Arrow shards in the ``datasets.save_to_disk`` layout, the
manifest, the rejects, atomically; and the fingerprint that makes a second run a no-op.

The layout ``datasets.load_from_disk`` opens, written without ``datasets`` (it is slow to
import and writes timestamps nowhere we need)::

    DIR/data-00000-of-00001.arrow    Arrow IPC *stream* files, as datasets writes them
    DIR/dataset_info.json            the features (list<int32> columns; KTO's label: bool)
    DIR/state.json                   shard list and a fingerprint derived from ours
    DIR/dataprep.json                the manifest (what was done, to what, with what)
    DIR/rejects.jsonl                one line per rejected row

With an eval split the data goes to ``DIR/train/`` and ``DIR/eval/`` beside a
``dataset_dict.json``, the ``DatasetDict`` layout. Nothing in a data file depends on the
time or the machine: the same inputs and options give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from dataprep import atomic, failures

# The file names, the columns and the hashes are the contract's (train reads them too).
from dataprep.contract import (  # noqa: F401  (re-exported for the writer's callers)
    COLUMNS,
    DATASET_DICT,
    DATASET_INFO,
    DOCUMENT_SOURCES,
    DPO_COLUMNS,
    KTO_COLUMNS,
    MANIFEST,
    PACKED_COLUMNS,
    REJECTS,
    SFT_COLUMNS,
    fingerprint_of,
    sha256_file,
)
from dataprep.errors import InputError, InternalError, PrepareError, UsageError
from dataprep.prepare.packing import PackPlan

# Columns of one boolean per row rather than a list of ids. Spilled and handed to the
# writer like the others, as documents of one value (0 or 1).
BOOL_COLUMNS = frozenset({"label"})
# datasets' own defaults: record batches of 1000 rows, shards of about 500 MB.
ROWS_PER_BATCH = 1000
VALUES_PER_BATCH = 1 << 18
MAX_SHARD_BYTES = 500 * 1024 * 1024


# --- the folder --------------------------------------------------------------------------


def is_prepared_folder(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


def check_replaceable(target: str | os.PathLike) -> None:
    """Refuse an output folder that exists and is not a previous prepare output.

    Checked before any work so that a typo in ``-o`` costs nothing. An empty folder is
    fine (people ``mkdir`` their output folder first).
    """
    target = Path(target)
    for parent in target.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot write {target}: {parent} is a file, not a folder")
            break
    if not target.exists():
        return
    if not target.is_dir():
        raise UsageError(f"refusing to overwrite {target}: it is a file, not a prepared folder")
    if is_prepared_folder(target) or not any(target.iterdir()):
        return
    raise UsageError(
        f"refusing to overwrite {target}: it exists and is not a prepared folder "
        "(it has no dataprep.json); choose another -o or remove it"
    )


class AtomicFolder:
    """Build a folder under a temporary name beside ``target``; rename it when complete.

    Any exception, KeyboardInterrupt included, removes the temporary folder: there is never
    a half-written ``target``. A previous prepared ``target`` is replaced as a whole, in
    one step where the system can swap two folders (Linux), else in two renames that the
    next run puts right when this one dies between them (``dataprep.atomic``). One
    process at a time writes ``target``: a second fails at once with a PrepareError.
    What runs killed with ``kill -9`` left beside it is cleaned first.

        with AtomicFolder("out/sft") as tmp:
            ...write into tmp...
    """

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        self.tmp: Path | None = None
        self._lock: atomic.OutputLock | None = None

    def __enter__(self) -> Path:
        check_replaceable(self.target)
        with failures.naming(self.target):
            self.target.parent.mkdir(parents=True, exist_ok=True)
            lock = atomic.OutputLock(self.target)
            try:
                lock.__enter__()
            except atomic.Busy as e:
                raise PrepareError(
                    f"{self.target} is being written by another dataprep run (pid {e.pid}); "
                    "wait for it to finish, or choose another -o"
                ) from None
            self._lock = lock
            try:
                self.tmp = atomic.temporary_folder(self.target, "tmp")
            except BaseException:
                self._release()
                raise
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self.tmp is not None  # for the type checker: __enter__ set it or raised
        try:
            if exc_type is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                if isinstance(exc, OSError):
                    # A full disk while writing the folder: say which folder.
                    with failures.naming(self.target, self.tmp):
                        raise exc
                return False
            try:
                with failures.naming(self.target, self.tmp):
                    self._commit()
            except BaseException:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise
        finally:
            self._release()
        return False

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def _commit(self) -> None:
        assert self.tmp is not None  # for the type checker: only __exit__ calls this
        os.chmod(self.tmp, 0o755)  # made 0o700; a dataset folder is shared
        check_replaceable(self.target)
        if not (self.target.exists() and any(self.target.iterdir())):
            os.replace(self.tmp, self.target)  # replaces an empty folder too
        elif atomic.exchange(self.tmp, self.target):
            shutil.rmtree(self.tmp, ignore_errors=True)  # now the previous output
        else:
            old = atomic.temporary_folder(self.target, atomic.PREVIOUS)
            os.replace(self.target, old / "previous")
            os.replace(self.tmp, self.target)
            shutil.rmtree(old, ignore_errors=True)


# --- Arrow -------------------------------------------------------------------------------


def _features(columns: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: {"dtype": "bool", "_type": "Value"}
        if name in BOOL_COLUMNS
        else {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "List"}
        for name in columns
    }


def arrow_schema(columns: tuple[str, ...]) -> pa.Schema:
    """list<int32> columns (bool for ``BOOL_COLUMNS``), with the features metadata
    datasets reads back."""
    meta = json.dumps({"info": {"features": _features(columns)}})
    return pa.schema(
        [
            pa.field(name, pa.bool_() if name in BOOL_COLUMNS else pa.list_(pa.int32()))
            for name in columns
        ],
        metadata={"huggingface": meta},
    )


def bool_array(values: np.ndarray, offsets: np.ndarray) -> pa.BooleanArray:
    """A bool column from documents of one value each (the writer's input shape)."""
    if not np.all(np.diff(offsets) == 1):
        raise ValueError("a boolean column holds exactly one value per row")
    return pa.array(np.asarray(values) != 0, type=pa.bool_())


def list_array(values: np.ndarray, offsets: np.ndarray) -> pa.ListArray:
    """A list<int32> column from one flat buffer and its offsets: no per-row Python objects."""
    return pa.ListArray.from_arrays(_int32_array(offsets), _int32_array(values))


def _int32_array(values: np.ndarray) -> pa.Int32Array:
    """An int32 Arrow array over the numpy buffer. Not ``pa.array``: on a numpy array it
    imports pandas to ask whether it is a pandas object (0.2 s, a fifth of a small run)."""
    flat = np.ascontiguousarray(values, dtype=np.int32)
    return pa.Array.from_buffers(pa.int32(), len(flat), [None, pa.py_buffer(flat)])


class SplitWriter:
    """Writes one split (a ``Dataset`` folder) shard by shard.

    ``write`` takes a batch of rows as, for each column, the concatenated values and the
    offsets (len(rows) + 1). Shards are named ``data-XXXXX-of-NNNNN.arrow`` when the count
    is known, on ``close``.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        columns: tuple[str, ...],
        fingerprint: str,
        *,
        split: str = "train",
        max_shard_bytes: int = MAX_SHARD_BYTES,
    ):
        self.folder = Path(folder)
        self.split = split
        self.folder.mkdir(parents=True, exist_ok=True)
        self.columns = columns
        self.schema = arrow_schema(columns)
        self.fingerprint = fingerprint
        self.max_shard_bytes = max_shard_bytes
        self.rows = 0
        self._shards: list[Path] = []
        self._sink: pa.NativeFile | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._shard_bytes = 0

    def _open_shard(self) -> None:
        path = self.folder / f"shard-{len(self._shards):05d}.part"
        self._shards.append(path)
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, self.schema)
        self._shard_bytes = 0

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = self._sink = None

    def write(self, batch: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Write rows: ``{column: (values, offsets)}`` for every column of the split."""
        arrays = [
            bool_array(*batch[name]) if name in BOOL_COLUMNS else list_array(*batch[name])
            for name in self.columns
        ]
        record_batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        if record_batch.num_rows == 0:
            return
        if self._writer is None or self._shard_bytes >= self.max_shard_bytes:
            self._close_shard()
            self._open_shard()
        self._writer.write_batch(record_batch)
        self._shard_bytes += record_batch.nbytes
        self.rows += record_batch.num_rows

    def close(self) -> int:
        """Finish the shards, name them, write state.json and dataset_info.json; the row count."""
        if not self._shards:
            self._open_shard()  # an empty split is still a loadable dataset
        self._close_shard()
        total = len(self._shards)
        names = [f"data-{i:05d}-of-{total:05d}.arrow" for i in range(total)]
        for part, name in zip(self._shards, names, strict=True):
            os.replace(part, self.folder / name)
        state = {
            "_data_files": [{"filename": name} for name in names],
            # datasets uses 16 hex digits; derived from ours so it is stable across runs.
            "_fingerprint": hashlib.sha256(f"{self.fingerprint}:{self.split}".encode()).hexdigest()[
                :16
            ],
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": None,
        }
        info = {
            "citation": "",
            "description": "",
            "features": _features(self.columns),
            "homepage": "",
            "license": "",
        }
        (self.folder / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
        (self.folder / DATASET_INFO).write_text(json.dumps(info, indent=2))
        return self.rows


def write_document_sources(folder: str | os.PathLike, sources: np.ndarray) -> None:
    """Each document's source index, in the order the split's rows hold the documents
    (``contract.DOCUMENT_SOURCES``): what lets ``train eval`` score each source apart."""
    with open(Path(folder) / DOCUMENT_SOURCES, "wb") as f:
        np.save(f, np.ascontiguousarray(sources, dtype=np.int32), allow_pickle=False)


def write_dataset_dict(folder: str | os.PathLike, splits: list[str]) -> None:
    (Path(folder) / DATASET_DICT).write_text(json.dumps({"splits": splits}))


def split_folders(folder: str | os.PathLike) -> dict[str, Path]:
    """The splits of a prepared folder: ``{"train": DIR}`` or ``{"train": DIR/train, ...}``.

    A damaged ``dataset_dict.json`` (not JSON, no ``splits`` list, a split that is not a
    plain folder name here, no ``train``) is an InputError naming it.
    """
    folder = Path(folder)
    dd = folder / DATASET_DICT
    if not dd.exists():
        return {"train": folder}
    try:
        splits = orjson.loads(dd.read_bytes()).get("splits")
    except (OSError, orjson.JSONDecodeError, AttributeError) as e:
        raise InputError(str(dd), f"not a readable dataset_dict.json ({e})") from None
    if not isinstance(splits, list) or not all(
        isinstance(name, str) and name and "/" not in name and name not in (".", "..")
        for name in splits
    ):
        raise InputError(str(dd), 'damaged: "splits" must be a list of folder names')
    if "train" not in splits:
        raise InputError(str(dd), 'damaged: the splits have no "train"')
    missing = [name for name in splits if not (folder / name).is_dir()]
    if missing:
        raise InputError(str(dd), f"damaged: no folder for the split {missing[0]!r}")
    return {name: folder / name for name in splits}


def read_split(folder: str | os.PathLike) -> pa.Table:
    """A split's rows as one Arrow table, memory-mapped (nothing is copied)."""
    folder = Path(folder)
    try:
        state = json.loads((folder / "state.json").read_text())
        names = [f["filename"] for f in state["_data_files"]]
        if not names or not all(isinstance(n, str) and "/" not in n for n in names):
            raise ValueError("state.json does not list data files of this folder")
        tables = [pa.ipc.open_stream(pa.memory_map(str(folder / n))).read_all() for n in names]
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as e:
        raise InputError(str(folder), f"not a readable prepared split ({e})") from None
    _check_split(folder, table)
    return table


def _check_split(folder: Path, table: pa.Table) -> None:
    """Refuse a split whose columns are not those prepare writes, or whose rows disagree
    with themselves (labels as long as the ids, document lengths that add up)."""
    import pyarrow.compute as pc

    names = tuple(table.column_names)
    if names not in (SFT_COLUMNS, PACKED_COLUMNS, DPO_COLUMNS, KTO_COLUMNS):
        raise InputError(str(folder), f"damaged: unexpected columns {', '.join(names) or 'none'}")
    for name in names:
        kind = table.schema.field(name).type
        if name == "label" and names == KTO_COLUMNS:
            if not pa.types.is_boolean(kind):
                raise InputError(str(folder), f"damaged: column label holds {kind}, not booleans")
            continue
        if not (pa.types.is_list(kind) and pa.types.is_integer(kind.value_type)):
            raise InputError(str(folder), f"damaged: column {name} holds {kind}, not token ids")
        if name != "labels" and (pc.min(pc.list_flatten(table.column(name))).as_py() or 0) < 0:
            raise InputError(str(folder), f"damaged: column {name} holds negative numbers")
    if names[0] == "input_ids":
        lengths = pc.list_value_length(table.column("input_ids"))
        same = pc.all(pc.equal(lengths, pc.list_value_length(table.column("labels")))).as_py()
        if same is False:
            raise InputError(str(folder), "damaged: labels and input_ids differ in length")
        if "seq_lengths" in names:
            seq = table.column("seq_lengths").combine_chunks()
            sums = (
                np.add.reduceat(
                    np.append(seq.values.to_numpy(zero_copy_only=False).astype(np.int64), 0),
                    seq.offsets.to_numpy()[:-1],
                )
                if len(seq)
                else np.zeros(0, np.int64)
            )
            empty = pc.list_value_length(seq).to_numpy(zero_copy_only=False) == 0
            sums[empty] = 0
            if not np.array_equal(sums, lengths.to_numpy(zero_copy_only=False)):
                raise InputError(str(folder), "damaged: seq_lengths do not add up to the rows")


# --- rejects -----------------------------------------------------------------------------


class RejectsWriter:
    """rejects.jsonl: ``{source, line, code, message, row}`` per rejected row, in input order."""

    def __init__(self, path: str | os.PathLike):
        self._f = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.count = 0

    def add(self, source: str, line: int, code: str, message: str, row: Any) -> None:
        record = {"source": source, "line": line, "code": code, "message": message, "row": row}
        try:
            data = orjson.dumps(record)
        except TypeError:
            # A row read from Parquet/Arrow can hold values JSON has no word for.
            record["row"] = repr(row)
            data = orjson.dumps(record)
        self._f.write(data + b"\n")
        self.count += 1

    def close(self) -> None:
        self._f.close()


# --- documents between encoding and packing ----------------------------------------------


class DocumentSpill:
    """Encoded documents on disk, until packing knows where each goes.

    Packing needs every length before it places the first document, so each column's
    values are appended to a flat int32 file; only the lengths stay in memory. The rows are
    then read back document by document, a bounded batch at a time, so the peak memory
    does not grow with the input. Columns may have their own lengths (DPO's
    prompt, chosen and rejected) or share them (SFT's input_ids and labels).
    """

    def __init__(self, folder: str | os.PathLike, name: str, columns: tuple[str, ...]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.columns = columns
        self._paths = {c: self.folder / f"{name}.{c}.bin" for c in columns}
        self._files = {c: open(p, "wb") for c, p in self._paths.items()}  # noqa: SIM115
        self._lengths: dict[str, list[np.ndarray]] = {c: [] for c in columns}
        self.lengths: dict[str, np.ndarray] | None = None

    def add(self, columns: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Append documents: per column, their values concatenated and the length of each."""
        for name in self.columns:
            values, lengths = columns[name]
            # file.write, not ndarray.tofile: a full disk then raises an OSError with its
            # errno (tofile's has none).
            self._files[name].write(memoryview(np.ascontiguousarray(values, dtype=np.int32)))
            self._lengths[name].append(np.asarray(lengths, dtype=np.int32))

    def close(self) -> None:
        """Close the files (idempotent); ``finish`` does it on the normal path."""
        for f in self._files.values():
            f.close()

    def finish(self) -> dict[str, np.ndarray]:
        """Stop appending; per column, the length of every document, in order."""
        self.close()
        self.lengths = {
            c: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
            for c, parts in self._lengths.items()
        }
        self._lengths = {}
        return self.lengths

    def write_rows(
        self,
        plan: PackPlan,
        writer: SplitWriter,
        *,
        seq_lengths_of: str | None = None,
        rows_per_batch: int = ROWS_PER_BATCH,
        values_per_batch: int = VALUES_PER_BATCH,
    ) -> None:
        """Write the rows of ``plan`` (documents concatenated in plan order) to ``writer``;
        with ``seq_lengths_of``, a ``seq_lengths`` column from that column's lengths.

        A record batch holds at most ``rows_per_batch`` rows and, past its first row,
        ``values_per_batch`` values of the first column: packed rows of 32k tokens must not
        make a batch of 32 million.
        """
        if self.lengths is None:
            raise InternalError("write_rows() before finish(): the documents' lengths are unknown")
        lengths = {c: v.astype(np.int64) for c, v in self.lengths.items()}
        starts = {}
        for c, v in lengths.items():
            starts[c] = np.zeros(len(v) + 1, dtype=np.int64)
            np.cumsum(v, out=starts[c][1:])
        # Values of the first column before each row, to cut batches by size.
        in_order = np.zeros(len(plan.doc_order) + 1, dtype=np.int64)
        np.cumsum(lengths[self.columns[0]][plan.doc_order], out=in_order[1:])
        row_ends = in_order[plan.row_starts]
        files = {c: os.open(p, os.O_RDONLY) for c, p in self._paths.items()}
        try:
            r0 = 0
            while r0 < plan.num_rows:
                by_size = (
                    int(np.searchsorted(row_ends, row_ends[r0] + values_per_batch, "right")) - 1
                )
                r1 = max(r0 + 1, min(r0 + rows_per_batch, by_size, plan.num_rows))
                d0, d1 = int(plan.row_starts[r0]), int(plan.row_starts[r1])
                docs = plan.doc_order[d0:d1]
                row_doc_starts = plan.row_starts[r0 : r1 + 1] - d0
                batch = {}
                for c in self.columns:
                    doc_lengths = lengths[c][docs]
                    doc_offsets = np.zeros(len(docs) + 1, dtype=np.int64)
                    np.cumsum(doc_lengths, out=doc_offsets[1:])
                    values = np.empty(int(doc_offsets[-1]), dtype=np.int32)
                    _read_documents(files[c], starts[c][docs], doc_lengths, doc_offsets, values)
                    batch[c] = (values, doc_offsets[row_doc_starts])
                    if c == seq_lengths_of:
                        batch["seq_lengths"] = (doc_lengths, row_doc_starts)
                writer.write(batch)
                r0 = r1
        finally:
            for fd in files.values():
                os.close(fd)

    def remove(self) -> None:
        for path in self._paths.values():
            path.unlink(missing_ok=True)


def _read_documents(
    fd: int, starts: np.ndarray, lengths: np.ndarray, offsets: np.ndarray, out: np.ndarray
) -> None:
    """Read documents (start and length in int32 values) from a flat file into ``out``.

    pread, not a memory map: packing reads documents out of order, and a page fault on a
    mapped file maps whole folios around it, so a few thousand scattered documents would
    bring the whole file into our resident memory. Reads go through the page cache only.
    """
    view = memoryview(out).cast("B")
    for start, n, at in zip(starts.tolist(), lengths.tolist(), offsets[:-1].tolist(), strict=True):
        want, pos, got = n * 4, at * 4, 0
        while got < want:
            read = os.preadv(fd, [view[pos + got : pos + want]], start * 4 + got)
            if read <= 0:
                raise OSError(f"spill file ends early (wanted {want - got} more bytes)")
            got += read
