"""The whole ``prepare`` run, top to bottom.

    fingerprint the inputs and options      (cheap: file hashes; a match is a cache hit)
    read every input, row by row            (any format the core reads)
      -> map fields/roles -> to_canonical   (bad rows become rejects, with file:line)
      -> eval split by content hash         (duplicates always land in the same split)
      -> dedup                              (optional)
      -> encode in batches                  (the chat template, masks; in --num-proc workers)
      -> length policy                      (drop / truncate / split)
      -> reject rows with no trained token
    pack (best-fit-decreasing, whole dataset)
    write Arrow shards, dataprep.json, rejects.jsonl into a temporary folder; rename it

Memory does not grow with the input: encoded documents are spilled to flat files inside
the temporary folder until packing has placed them (see ``output.DocumentSpill``).

    from dataprep.prepare.pipeline import PrepareOptions, prepare
    result = prepare(PrepareOptions(inputs=["data.jsonl"], tokenizer="./tok",
                                    max_length=2048, output="prepared"))
    result.manifest["counts"]["rows_out"]
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

import dataprep
from dataprep.canonical import Conversation, Message, Preference, Unpaired
from dataprep.errors import PrepareError, RowError, UsageError
from dataprep.formats import FORMATS
from dataprep.mapping import Mapping
from dataprep.prepare.lengths import OVERLONG_POLICIES, count_trained, fit_dpo, fit_sft
from dataprep.prepare.output import (
    DPO_COLUMNS,
    MANIFEST,
    PACKED_COLUMNS,
    REJECTS,
    SFT_COLUMNS,
    AtomicFolder,
    DocumentSpill,
    RejectsWriter,
    SplitWriter,
    check_replaceable,
    fingerprint_of,
    read_manifest,
    write_dataset_dict,
)
from dataprep.prepare.packing import (
    pack_best_fit_decreasing,
    packing_efficiency,
    row_lengths,
    unpacked_plan,
)

KINDS = ("sft", "dpo")
MASKS = ("assistant", "last", "all", "completion")
# A batch handed to the encoder (and to a worker) holds at most this many rows or bytes:
# the tokenizer's per-token objects for a batch are what bounds memory, so a batch of long
# conversations must not hold hundreds of them.
ROWS_PER_TASK = 256
BYTES_PER_TASK = 1 << 20
PEEK_ROWS = 256  # rows read from each input to decide its format before the real pass

# Files in a tokenizer folder that decide its behaviour (weights are left out: a model
# folder can hold gigabytes of them and they change no token).
_TOKENIZER_FILE_PREFIXES = (
    "tokenizer",
    "special_tokens_map",
    "added_tokens",
    "chat_template",
    "vocab",
    "merges",
    "spiece",
    "config.json",
)
_TOKENIZER_FILE_SUFFIXES = (".tiktoken", ".model", ".jinja")


@dataclass
class PrepareOptions:
    """Everything ``dataprep prepare`` takes. Only ``num_proc`` and ``force`` are left out
    of the fingerprint: they change how fast, not what."""

    inputs: list[str]
    tokenizer: str
    max_length: int
    output: str
    kind: str | None = None  # None: from the detected formats
    mask: str | None = None  # None: completion for prompt-completion input, else assistant
    pack: bool | None = None  # None: pack SFT, never DPO
    overlong: str = "drop"
    chat_template: str | None = None
    system: str | None = None
    eval_fraction: float = 0.0
    dedup: bool = False
    num_proc: int = 1
    seed: int = 0
    fields: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    format: str | None = None  # force the input format instead of detecting it
    force: bool = False


@dataclass
class PrepareResult:
    manifest: dict[str, Any]
    cached: bool  # True when an up-to-date output was found and nothing was done
    output: Path
    rejects_shown: list[dict[str, Any]] = field(default_factory=list)  # first rejects


class NothingLeft(PrepareError):
    """Every row was rejected: there is nothing to write. Carries the run's counts."""

    def __init__(self, message: str, result: PrepareResult):
        super().__init__(message)
        self.result = result


# --- options and fingerprint ------------------------------------------------------------


def check_options(options: PrepareOptions) -> None:
    """Usage errors, found before any work."""
    if not options.inputs:
        raise UsageError("no input files")
    if options.max_length < 2:
        raise UsageError(f"--max-length must be at least 2, not {options.max_length}")
    if options.kind is not None and options.kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}")
    if options.mask is not None and options.mask not in MASKS:
        raise UsageError(f"--mask must be one of {', '.join(MASKS)}")
    if options.overlong not in OVERLONG_POLICIES:
        raise UsageError(f"--overlong must be one of {', '.join(OVERLONG_POLICIES)}")
    if not 0.0 <= options.eval_fraction < 1.0:
        raise UsageError(f"--eval-fraction must be in [0, 1), not {options.eval_fraction}")
    if options.num_proc < 1:
        raise UsageError(f"--num-proc must be at least 1, not {options.num_proc}")
    if options.format is not None and options.format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    if options.kind == "dpo" and options.pack:
        raise UsageError("--pack applies to SFT only: DPO rows are never packed")
    if options.kind == "dpo" and options.overlong == "split":
        raise UsageError("--overlong split applies to SFT only: a preference pair cannot be split")
    for path in options.inputs:
        if path != "-" and not Path(path).exists():
            raise UsageError(f"no such file: {path}")
    Mapping.from_specs(options.fields, options.roles)  # raises UsageError on a bad spec
    check_replaceable(options.output)


@dataclass
class _Input:
    path: str  # as the user gave it (and as rejects name it)
    read_from: str  # where it is read: the path, or a spooled copy of stdin
    sha256: str
    size: int
    lines: int | None  # newline count of a plain .jsonl (for the progress bar)


def _hash_input(path: str, read_from: str) -> _Input:
    digest = hashlib.sha256()
    count_lines = read_from.endswith(".jsonl")
    lines = size = 0
    with open(read_from, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
            if count_lines:
                lines += block.count(b"\n")
    return _Input(path, read_from, digest.hexdigest(), size, lines if count_lines else None)


def _spool_stdin(folder: Path) -> str:
    """stdin, copied to a file so it can be hashed (the cache key) and then read."""
    import sys

    stream = sys.stdin.buffer
    head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
    if head.startswith(b"\x1f\x8b"):
        suffix = ".jsonl.gz"
    elif head.startswith(b"\x28\xb5\x2f\xfd"):
        suffix = ".jsonl.zst"
    elif head.startswith(b"PAR1"):
        suffix = ".parquet"
    elif head.lstrip()[:1] == b"[":
        suffix = ".json"
    else:
        suffix = ".jsonl"
    fd, name = tempfile.mkstemp(prefix="stdin-", suffix=suffix, dir=folder)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(stream, out)
    return name


def _tokenizer_files(name_or_path: str) -> tuple[Path | None, dict[str, str]]:
    """The tokenizer's folder and the sha256 of each file that decides its behaviour."""
    folder = Path(name_or_path)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(name_or_path, local_files_only=True))
        except Exception:  # not in the local cache: load_tokenizer will say so properly
            return None, {}
    from dataprep.prepare.output import sha256_file

    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        name = path.name
        if not path.is_file() or rel.startswith("."):
            continue
        if name.startswith(_TOKENIZER_FILE_PREFIXES) or name.endswith(_TOKENIZER_FILE_SUFFIXES):
            files[rel] = sha256_file(path)
    return folder, files


def tokenizer_identity(name_or_path: str) -> dict[str, Any]:
    """What the manifest says about a tokenizer: where, and the sha256 of its files.

    ``sha256`` is over the (file name, file sha256) pairs, so ``train`` can compare the
    tokenizer it is given with the one the data was prepared with.
    """
    folder, files = _tokenizer_files(name_or_path)
    return {
        "name_or_path": name_or_path,
        "folder": str(folder.resolve()) if folder is not None else None,
        "files": files,
        "sha256": fingerprint_of(files) if files else None,
    }


def _template_identity(chat_template: str | None) -> dict[str, Any]:
    """What decides the template, without loading anything: a file's bytes, or a name."""
    if chat_template is None:
        return {"from": "tokenizer"}  # its files are in the tokenizer's hash
    path = Path(chat_template)
    if path.is_file():
        from dataprep.prepare.output import sha256_file

        return {"file": chat_template, "sha256": sha256_file(path)}
    return {"builtin": chat_template, "trl": _trl_version()}


def _trl_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trl")
    except PackageNotFoundError:
        return None


def _fingerprint_inputs(
    options: PrepareOptions, inputs: list[_Input], tokenizer: dict[str, Any]
) -> dict[str, Any]:
    return {
        "dataprep": dataprep.__version__,
        "inputs": [{"path": i.path, "sha256": i.sha256} for i in inputs],
        "tokenizer": tokenizer["sha256"] or tokenizer["name_or_path"],
        "chat_template": _template_identity(options.chat_template),
        "options": _option_record(options),
    }


def _option_record(options: PrepareOptions) -> dict[str, Any]:
    return {
        "kind": options.kind,
        "mask": options.mask,
        "pack": options.pack,
        "max_length": options.max_length,
        "overlong": options.overlong,
        "system": options.system,
        "eval_fraction": options.eval_fraction,
        "dedup": options.dedup,
        "seed": options.seed,
        "fields": list(options.fields),
        "roles": list(options.roles),
        "format": options.format,
    }


# --- the per-row work (runs in the main process or in workers) ---------------------------


@dataclass
class _InputPlan:
    format: str | None  # the file's format (peeked), tried first on every row
    forced: bool  # --format: no detection at all
    mask: str


@dataclass
class _Job:
    """What every worker needs to know, sent once."""

    tokenizer: str
    chat_template: str | None
    system: str | None
    kind: str
    max_length: int
    overlong: str
    inputs: list[_InputPlan]
    mapping: Mapping
    seed: int
    eval_fraction: float
    want_keys: bool


@dataclass
class _BatchResult:
    """What a batch of rows became. Documents are flat: ``columns[name]`` is (values of all
    documents concatenated, length of each document); ``doc_row`` maps a document to its
    row in the batch (a split row has several)."""

    errors: dict[int, tuple[str, str]]  # row -> (code, message)
    formats: list[str | None]
    keys: list[bytes | None] | None
    is_eval: np.ndarray  # bool per row
    truncated: np.ndarray  # bool per row
    split: np.ndarray  # bool per row
    dropped_pieces: np.ndarray  # int per row
    doc_row: np.ndarray
    trained: np.ndarray  # trainable tokens per document
    columns: dict[str, tuple[np.ndarray, np.ndarray]]
    notes: list[str]


class _Worker:
    """Holds the tokenizer and one Encoder per mask policy; turns rows into documents."""

    def __init__(self, job: _Job, tokenizer: Any = None, template: Any = None):
        from dataprep.prepare.encoding import Encoder
        from dataprep.prepare.templates import load_tokenizer, resolve_template

        self.job = job
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(job.tokenizer)
        self.template = (
            template
            if template is not None
            else resolve_template(self.tokenizer, job.chat_template)
        )
        self._Encoder = Encoder
        self._encoders: dict[str, Any] = {}
        self._seed = job.seed.to_bytes(8, "little", signed=True)

    def encoder(self, mask: str) -> Any:
        encoder = self._encoders.get(mask)
        if encoder is None:
            encoder = self._Encoder(
                self.tokenizer, self.template, mask=mask, system=self.job.system
            )
            self._encoders[mask] = encoder
        return encoder

    def notes(self) -> list[str]:
        seen: dict[str, None] = {}
        for encoder in self._encoders.values():
            seen.update(dict.fromkeys(encoder.notes))
        return list(seen)

    def run(self, input_index: int, rows: list[Any]) -> _BatchResult:
        job = self.job
        plan = job.inputs[input_index]
        errors: dict[int, tuple[str, str]] = {}
        formats: list[str | None] = [None] * len(rows)
        keys: list[bytes | None] | None = [None] * len(rows) if job.want_keys else None
        is_eval = np.zeros(len(rows), dtype=bool)
        examples: list[tuple[int, Any]] = []
        for i, row in enumerate(rows):
            try:
                example, formats[i] = self._to_canonical(row, plan)
            except RowError as e:
                errors[i] = (e.code, str(e))
                continue
            if job.want_keys or job.eval_fraction > 0:
                key = content_key(example)
                if keys is not None:
                    keys[i] = key
                if job.eval_fraction > 0:
                    is_eval[i] = _hash_unit(self._seed, key) < job.eval_fraction
            examples.append((i, example))

        encoder = self.encoder(plan.mask)
        if job.kind == "sft":
            encoded = encoder.encode_sft([e for _, e in examples]) if examples else []
        else:
            encoded = encoder.encode_dpo([e for _, e in examples]) if examples else []

        n = len(rows)
        truncated = np.zeros(n, dtype=bool)
        split = np.zeros(n, dtype=bool)
        dropped = np.zeros(n, dtype=np.int32)
        doc_row: list[int] = []
        trained: list[int] = []
        names = SFT_COLUMNS if job.kind == "sft" else DPO_COLUMNS
        values: dict[str, list[np.ndarray]] = {name: [] for name in names}
        lengths: dict[str, list[int]] = {name: [] for name in names}
        for (i, _), enc in zip(examples, encoded, strict=True):
            if isinstance(enc, RowError):
                errors[i] = (enc.code, str(enc))
                continue
            try:
                if job.kind == "sft":
                    fitted = fit_sft(enc.input_ids, enc.labels, job.max_length, job.overlong)
                    for ids, labels in fitted.pieces:
                        doc_row.append(i)
                        trained.append(count_trained(labels))
                        values["input_ids"].append(ids)
                        values["labels"].append(labels)
                        lengths["input_ids"].append(len(ids))
                        lengths["labels"].append(len(ids))
                    truncated[i], split[i], dropped[i] = (
                        fitted.truncated,
                        fitted.split,
                        fitted.dropped_pieces,
                    )
                else:
                    pair = fit_dpo(
                        enc.prompt_ids,
                        enc.chosen_ids,
                        enc.rejected_ids,
                        job.max_length,
                        job.overlong,
                    )
                    doc_row.append(i)
                    trained.append(len(pair.chosen_ids) + len(pair.rejected_ids))
                    for name, arr in zip(
                        names, (pair.prompt_ids, pair.chosen_ids, pair.rejected_ids), strict=True
                    ):
                        values[name].append(arr)
                        lengths[name].append(len(arr))
                    truncated[i] = pair.truncated
            except RowError as e:
                errors[i] = (e.code, str(e))
        columns = {
            name: (
                np.concatenate(values[name]).astype(np.int32, copy=False)
                if values[name]
                else np.zeros(0, dtype=np.int32),
                np.array(lengths[name], dtype=np.int32),
            )
            for name in names
        }
        return _BatchResult(
            errors=errors,
            formats=formats,
            keys=keys,
            is_eval=is_eval,
            truncated=truncated,
            split=split,
            dropped_pieces=dropped,
            doc_row=np.array(doc_row, dtype=np.int32),
            trained=np.array(trained, dtype=np.int64),
            columns=columns,
            notes=self.notes(),
        )

    def _to_canonical(self, row: Any, plan: _InputPlan) -> tuple[Any, str]:
        job = self.job
        example, name = row_to_canonical(row, plan.format, job.mapping, forced=plan.forced)
        if job.kind == "sft" and not isinstance(example, Conversation):
            what = "a preference pair" if isinstance(example, Preference) else "a KTO example"
            raise RowError(
                "", f"{what} ({name} row) is not SFT data; use --kind dpo for pairs", "wrong-kind"
            )
        if job.kind == "dpo" and not isinstance(example, Preference):
            what = "a KTO example" if isinstance(example, Unpaired) else "a conversation"
            raise RowError("", f"{what} ({name} row) is not a preference pair", "wrong-kind")
        return example, name


def row_to_canonical(
    row: Any, file_format: str | None, mapping: Mapping, *, forced: bool = False
) -> tuple[Conversation | Preference | Unpaired, str]:
    """One row to the canonical model, and the format it was read as.

    The row is mapped (``--field``/``--role``), then read as the file's format when that
    format claims it (or always, when ``forced``), else as the first format that claims it:
    a mixed file still converts row by row. Raises RowError with the reason.
    """
    if not isinstance(row, dict):
        raise RowError("", f"a row must be an object, not {type(row).__name__}", "not-an-object")
    row = mapping.apply(row)
    if forced or (file_format is not None and FORMATS[file_format].detect(row)):
        name = file_format
    else:
        from dataprep.detect import row_formats

        claimed = row_formats(row)
        if not claimed:
            keys = ", ".join(sorted(row)[:8]) or "no keys"
            raise RowError(
                "",
                f"no format fits this row (keys: {keys}); see `dataprep detect`",
                "unknown-format",
            )
        name = claimed[0]
    return FORMATS[name].to_canonical(row), name


def content_key(example: Conversation | Preference | Unpaired) -> bytes:
    """A 16-byte hash of what an example says (not where it came from, not its ids).

    The same conversation read from a ShareGPT file and from a messages file has the same
    key; ``--dedup`` and the eval split both use it.
    """

    def messages(ms: list[Message]) -> list[Any]:
        return [
            [
                m.role,
                m.content,
                [[c.name, c.arguments, c.id] for c in m.tool_calls] if m.tool_calls else None,
                m.tool_call_id,
                m.name,
                m.reasoning,
                m.train,
            ]
            for m in ms
        ]

    if isinstance(example, Conversation):
        body: list[Any] = ["sft", example.plain, example.tools, messages(example.messages)]
    elif isinstance(example, Preference):
        body = [
            "pref",
            example.plain,
            example.tools,
            messages(example.prompt),
            messages(example.chosen),
            messages(example.rejected),
        ]
    else:
        body = [
            "kto",
            example.plain,
            example.tools,
            messages(example.prompt),
            messages(example.completion),
            example.label,
        ]
    data = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=str)
    return hashlib.blake2b(data, digest_size=16).digest()


def _hash_unit(seed: bytes, key: bytes) -> float:
    """A number in [0, 1) from the seed and a content key: the eval split's coin."""
    digest = hashlib.blake2b(key, digest_size=8, key=seed).digest()
    return int.from_bytes(digest, "little") / 2.0**64


# Worker processes: the job is set once per process, then batches flow through. Forked
# workers find the tokenizer the main process loaded in _PRELOADED instead of loading it.
_WORKER: _Worker | None = None
_PRELOADED: tuple[Any, Any] | None = None


def _init_worker(job: _Job) -> None:
    global _WORKER
    # Ctrl-C is the main process's business: it stops the pool and cleans up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tokenizer, template = _PRELOADED or (None, None)
    _WORKER = _Worker(job, tokenizer, template)


def _run_in_worker(input_index: int, rows: list[Any]) -> _BatchResult:
    assert _WORKER is not None
    return _WORKER.run(input_index, rows)


# --- the run -----------------------------------------------------------------------------


def peek_format(path: str, mapping: Mapping) -> tuple[str | None, str]:
    """The format of an input decided from its first rows, and the decision in words.

    Prepare reads each file once; this look ahead picks the format tried first on every
    row (and the default --kind and --mask) before the real pass starts.
    """
    from itertools import islice

    from dataprep.detect import Detector
    from dataprep.reading import read_records

    detector = Detector(path)
    for record in islice(read_records(path), PEEK_ROWS):
        if record.problem is not None:
            detector.add_unreadable(record.line)
            continue
        row = record.value
        try:
            row = mapping.apply(row) if type(row) is dict else row
        except RowError:
            continue
        detector.add(row, record.line)
    detection = detector.result()
    if detection.status == "ok":
        return detection.format, detection.message
    if detection.status == "ambiguous":
        # FORMATS is ordered most specific first; the row-level fallback covers the rest.
        return detection.candidates[0], detection.message
    if detection.status == "mixed":
        singles = [(n, k) for k, n in detection.kinds.items() if k in FORMATS]
        if singles:
            return max(singles)[1], detection.message
    return None, detection.message


def _default_kind(plans: list[tuple[str, str | None]]) -> str:
    kinds = {path: ("dpo" if FORMATS[f].KIND == "preference" else "sft") for path, f in plans if f}
    found = set(kinds.values())
    if len(found) > 1:
        listing = ", ".join(f"{p}: {k}" for p, k in kinds.items())
        raise UsageError(
            f"the inputs mix SFT and preference data ({listing}); pass --kind sft or --kind dpo"
        )
    return found.pop() if found else "sft"


def _batches(inputs: list[_Input]) -> Iterator[tuple[int, list[Any]]]:
    """(input index, records) in order; one file per batch, bounded in rows and bytes."""
    from dataprep.reading import read_records

    for index, item in enumerate(inputs):
        batch: list[Any] = []
        size = 0
        for record in read_records(item.read_from):
            batch.append(record)
            size += len(record.raw) if record.raw is not None else 0
            if len(batch) >= ROWS_PER_TASK or size >= BYTES_PER_TASK:
                yield index, batch
                batch = []
                size = 0
        if batch:
            yield index, batch


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {"count": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "count": len(values),
        "mean": round(float(values.mean()), 2),
        "p50": round(float(p50), 1),
        "p90": round(float(p90), 1),
        "p99": round(float(p99), 1),
        "max": int(values.max()),
    }


def prepare(
    options: PrepareOptions,
    *,
    on_start: Callable[[int | None], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> PrepareResult:
    """Run prepare; a cache hit returns at once with ``cached=True``.

    ``on_start(total_rows_or_None)`` is called when the real work starts (after the cache
    check), ``on_rows(n)`` after each batch: the CLI hangs a progress bar on them.
    Raises ``UsageError`` for bad options, ``PrepareError`` when the tokenizer or template
    cannot be used, ``NothingLeft`` when every row was rejected.
    """
    started = time.perf_counter()
    check_options(options)
    output = Path(options.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{output.name}.stdin-", dir=output.parent) as spool:
        inputs = [
            _hash_input(p, _spool_stdin(Path(spool)) if p == "-" else p) for p in options.inputs
        ]
        tokenizer_id = tokenizer_identity(options.tokenizer)
        fingerprint_input = _fingerprint_inputs(options, inputs, tokenizer_id)
        fingerprint = fingerprint_of(fingerprint_input)
        previous = read_manifest(output)
        if (
            previous is not None
            and previous.get("fingerprint") == fingerprint
            and not options.force
        ):
            return PrepareResult(manifest=previous, cached=True, output=output)
        return _run(options, inputs, tokenizer_id, fingerprint, started, on_start, on_rows)


def _run(
    options: PrepareOptions,
    inputs: list[_Input],
    tokenizer_id: dict[str, Any],
    fingerprint: str,
    started: float,
    on_start: Callable[[int | None], None] | None,
    on_rows: Callable[[int], None] | None,
) -> PrepareResult:
    from dataprep.prepare.templates import load_tokenizer, resolve_template

    mapping = Mapping.from_specs(options.fields, options.roles)
    tokenizer = load_tokenizer(options.tokenizer)
    template = resolve_template(tokenizer, options.chat_template)
    tokenizer_id = {
        **tokenizer_id,
        "vocab_size": len(tokenizer),
        "vocab_sha256": _vocab_sha256(tokenizer),
    }

    peeked = []
    for item in inputs:
        if options.format is not None:
            peeked.append((options.format, f"{options.format} (--format)"))
        else:
            peeked.append(peek_format(item.read_from, mapping))
    kind = options.kind or _default_kind(
        [(i.path, f) for i, (f, _) in zip(inputs, peeked, strict=True)]
    )
    if kind == "dpo" and options.overlong == "split":
        raise UsageError("--overlong split applies to SFT only: a preference pair cannot be split")
    if kind == "dpo" and options.pack:
        raise UsageError("--pack applies to SFT only: DPO rows are never packed")
    pack = kind == "sft" and options.pack is not False
    plans = [
        _InputPlan(
            format=fmt,
            forced=options.format is not None,
            mask=options.mask or ("completion" if fmt == "prompt-completion" else "assistant"),
        )
        for fmt, _ in peeked
    ]
    job = _Job(
        tokenizer=options.tokenizer,
        chat_template=options.chat_template,
        system=options.system,
        kind=kind,
        max_length=options.max_length,
        overlong=options.overlong,
        inputs=plans,
        mapping=mapping,
        seed=options.seed,
        eval_fraction=options.eval_fraction,
        want_keys=options.dedup,
    )
    splits = ["train", "eval"] if options.eval_fraction > 0 else ["train"]
    columns = SFT_COLUMNS if kind == "sft" else DPO_COLUMNS

    total = sum(i.lines for i in inputs) if all(i.lines is not None for i in inputs) else None
    if on_start is not None:
        on_start(total)

    with AtomicFolder(options.output) as tmp:
        spill_dir = tmp / ".spill"
        spills = {s: DocumentSpill(spill_dir, s, columns) for s in splits}
        trained = {s: [] for s in splits}
        rejects = RejectsWriter(tmp / REJECTS)
        counts: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        formats = [Counter() for _ in inputs]
        shown: list[dict[str, Any]] = []
        notes: dict[str, None] = {}
        seen: dict[bytes, tuple[int, int]] = {}

        def reject(item: _Input, line: int, code: str, message: str, row: Any) -> None:
            reasons[code] += 1
            rejects.add(item.path, line, code, message, row)
            if len(shown) < 10:
                shown.append({"source": item.path, "line": line, "code": code, "message": message})

        def collect(index: int, records: list[Any], result: _BatchResult) -> None:
            item = inputs[index]
            counts["rows_in"] += len(records)
            keep = np.zeros(len(records), dtype=bool)
            for pos, record in enumerate(records):
                if record.problem is not None:
                    raw = record.raw.decode("utf-8", "replace") if record.raw is not None else None
                    reject(item, record.line, record.problem.code, record.problem.message, raw)
                    continue
                if result.formats[pos]:
                    formats[index][result.formats[pos]] += 1
                error = result.errors.get(pos)
                if error is not None:
                    reject(item, record.line, error[0], error[1], record.value)
                    continue
                if result.keys is not None:
                    first = seen.setdefault(result.keys[pos], (index, record.line))
                    if first != (index, record.line):
                        where = f"{inputs[first[0]].path}:{first[1]}"
                        reject(
                            item,
                            record.line,
                            "duplicate",
                            f"exact duplicate of {where}",
                            record.value,
                        )
                        counts["deduplicated"] += 1
                        continue
                keep[pos] = True
            counts["rows_out"] += int(keep.sum())
            counts["truncated"] += int((result.truncated & keep).sum())
            counts["split"] += int((result.split & keep).sum())
            counts["pieces_dropped"] += int(result.dropped_pieces[keep].sum())
            notes.update(dict.fromkeys(result.notes))
            doc_keep = keep[result.doc_row]
            doc_eval = result.is_eval[result.doc_row]
            for name in splits:
                chosen = doc_keep & (doc_eval if name == "eval" else ~doc_eval)
                if not chosen.any():
                    continue
                part = {}
                for column, (values, lengths) in result.columns.items():
                    part[column] = (values[np.repeat(chosen, lengths)], lengths[chosen])
                spills[name].add(part)
                trained[name].append(result.trained[chosen])
            if on_rows is not None:
                on_rows(len(records))

        def payload(records: list[Any]) -> list[Any]:
            return [r.value if r.problem is None else None for r in records]

        try:
            if options.num_proc == 1:
                worker = _Worker(job, tokenizer, template)
                for index, records in _batches(inputs):
                    collect(index, records, worker.run(index, payload(records)))
            else:
                _run_pool(job, options.num_proc, inputs, payload, collect, (tokenizer, template))
        finally:
            # On Ctrl-C too: AtomicFolder then removes the folder, files closed first.
            rejects.close()
            for spill in spills.values():
                spill.close()

        result_splits: dict[str, Any] = {}
        all_docs, all_rows, all_trained = [], [], []
        for name in splits:
            lengths_by_column = spills[name].finish()
            doc_lengths = lengths_by_column[columns[0]]
            if kind == "dpo":
                doc_lengths = doc_lengths + np.maximum(
                    lengths_by_column["chosen_ids"], lengths_by_column["rejected_ids"]
                )
            plan = (
                pack_best_fit_decreasing(doc_lengths, options.max_length)
                if pack
                else unpacked_plan(len(doc_lengths))
            )
            folder = tmp / name if len(splits) > 1 else tmp
            writer = SplitWriter(
                folder, PACKED_COLUMNS if pack else columns, fingerprint, split=name
            )
            spills[name].write_rows(plan, writer, seq_lengths_of="input_ids" if pack else None)
            writer.close()
            spills[name].remove()
            split_trained = (
                np.concatenate(trained[name]) if trained[name] else np.zeros(0, np.int64)
            )
            packed_lengths = row_lengths(doc_lengths, plan)
            # Every stored token: for DPO the prompt once, and both answers.
            if kind == "sft":
                stored = int(doc_lengths.sum())
            else:
                stored = sum(int(v.sum()) for v in lengths_by_column.values())
            result_splits[name] = {
                "rows": plan.num_rows,
                "documents": len(doc_lengths),
                "tokens": stored,
                "trainable_tokens": int(split_trained.sum()),
                "packing_efficiency": round(
                    packing_efficiency(doc_lengths, plan, options.max_length), 6
                ),
            }
            all_docs.append(doc_lengths)
            all_rows.append(packed_lengths)
            all_trained.append(split_trained)
        shutil.rmtree(spill_dir, ignore_errors=True)
        if len(splits) > 1:
            write_dataset_dict(tmp, splits)

        docs = np.concatenate(all_docs)
        rows = np.concatenate(all_rows)
        total_tokens = sum(split["tokens"] for split in result_splits.values())
        manifest = {
            "dataprep_version": dataprep.__version__,
            "fingerprint": fingerprint,
            "kind": kind,
            "inputs": [
                {
                    "path": item.path,
                    "sha256": item.sha256,
                    "bytes": item.size,
                    "format": fmt,
                    "detected": message,
                    "formats": dict(formats[i].most_common()),
                    "mask": plans[i].mask if kind == "sft" else None,
                }
                for i, (item, (fmt, message)) in enumerate(zip(inputs, peeked, strict=True))
            ],
            "tokenizer": tokenizer_id,
            "chat_template": {
                "name": template.name,
                "sha256": template.sha256,
                "has_generation": template.has_generation,
            },
            "mask": _mask_summary(plans) if kind == "sft" else None,
            "max_length": options.max_length,
            "length_policy": options.overlong,
            "packing": pack,
            "eval_fraction": options.eval_fraction,
            "seed": options.seed,
            "dedup": options.dedup,
            "system": options.system,
            "columns": list(PACKED_COLUMNS if pack else columns),
            "splits": result_splits,
            "counts": {
                "rows_in": counts["rows_in"],
                "rows_out": counts["rows_out"],
                "rejected": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                "rows_rejected": sum(reasons.values()),
                "truncated": counts["truncated"],
                "split": counts["split"],
                "pieces_dropped": counts["pieces_dropped"],
                "deduplicated": counts["deduplicated"],
            },
            "tokens": {
                "total": total_tokens,
                "trainable": int(sum(int(t.sum()) for t in all_trained)),
                "document_length": _percentiles(docs),
                "row_length": _percentiles(rows),
            },
            # Tokens a row of max_length holds / max_length (for DPO: prompt + longer answer).
            "packing_efficiency": round(int(docs.sum()) / (len(rows) * options.max_length), 6)
            if len(rows)
            else 0.0,
            "notes": list(notes),
            "options": _option_record(options),
            "seconds": round(time.perf_counter() - started, 3),
        }
        assert (
            manifest["counts"]["rows_in"]
            == manifest["counts"]["rows_out"] + manifest["counts"]["rows_rejected"]
        )
        result = PrepareResult(
            manifest=manifest, cached=False, output=Path(options.output), rejects_shown=shown
        )
        if counts["rows_out"] == 0:
            reasons_text = ", ".join(
                f"{n} {code}" for code, n in manifest["counts"]["rejected"].items()
            )
            raise NothingLeft(
                f"nothing left to write: all {counts['rows_in']} rows were rejected ({reasons_text or 'no rows'})",
                result,
            )
        (tmp / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return result


def _mask_summary(plans: list[_InputPlan]) -> str:
    masks = {p.mask for p in plans}
    return masks.pop() if len(masks) == 1 else "mixed"


def _vocab_sha256(tokenizer: Any) -> str:
    """A hash of the vocabulary itself (token -> id, special or not): two tokenizer folders
    saved by different library versions still compare equal when they tokenize alike."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(orjson.dumps(vocab)).hexdigest()


def _run_pool(
    job: _Job,
    num_proc: int,
    inputs: list[_Input],
    payload: Callable[[list[Any]], list[Any]],
    collect: Callable[[int, list[Any], _BatchResult], None],
    preloaded: tuple[Any, Any],
) -> None:
    """Encode batches in ``num_proc`` worker processes, collecting results in input order.

    At most four batches per worker are in flight (enough that a worker never waits for
    the main process to read, few enough that memory stays flat whatever the input size).
    """
    methods = multiprocessing.get_all_start_methods()
    # fork shares the imported modules (fast start); spawn where fork does not exist.
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pending: deque[tuple[int, list[Any], Any]] = deque()
    global _PRELOADED
    _PRELOADED = preloaded
    # Forked workers share the parent's objects copy-on-write; a garbage collection in a
    # worker would touch (and so copy) all of them. Frozen objects are never traversed.
    gc.freeze()
    try:
        with context.Pool(num_proc, initializer=_init_worker, initargs=(job,)) as pool:
            for index, records in _batches(inputs):
                future = pool.apply_async(_run_in_worker, (index, payload(records)))
                pending.append((index, records, future))
                while len(pending) >= 4 * num_proc:
                    index, records, future = pending.popleft()
                    collect(index, records, future.get())
            while pending:
                index, records, future = pending.popleft()
                collect(index, records, future.get())
    finally:
        _PRELOADED = None
        gc.unfreeze()
