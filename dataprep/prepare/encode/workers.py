"""The per-row work of prepare: rows -> canonical examples -> encoded documents, in the
main process or in ``--num-proc`` worker processes.

A ``Worker`` holds the tokenizer and one Encoder per mask policy; ``run`` turns a batch of
rows into a ``BatchResult`` (flat arrays of documents, the rows' errors, their eval coin).
``run_pool`` feeds batches to one Worker in each of ``--num-proc`` processes and hands the
results back in input order; the pool itself is ``dataprep._fast.pool.run_ordered``, and
its reference is the plain loop ``collect(i, records, worker.run(i, payload(records)))``
over ``batches``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from dataprep._fast.parallel import usable_cpus
from dataprep._fast.pool import run_ordered
from dataprep.canonical import Conversation, Message, Preference, Unpaired
from dataprep.errors import RowError
from dataprep.formats.mapping import Mapping
from dataprep.prepare.encode.gate import RowGate, Verdict
from dataprep.prepare.encode.lengths import count_trained, fit_dpo, fit_kto, fit_sft
from dataprep.prepare.identity import Input
from dataprep.prepare.output import COLUMNS
from dataprep.validate.canonical_row import to_canonical

# A batch handed to the encoder (and to a worker) holds at most this many rows or bytes:
# the tokenizer's per-token objects for a batch are what bounds memory, so a batch of long
# conversations must not hold hundreds of them.
ROWS_PER_TASK = 256
BYTES_PER_TASK = 1 << 20


# Without --num-proc, each worker process must have at least this much input to earn its
# start: a pool costs a fork per worker, and every batch then crosses a pipe twice (rows
# out, arrays back), which a small input does not pay back. So a pool starts at two
# workers' worth (2 MiB) and grows by one worker per MiB. Measured on this project's
# 2-core machine (benchmarks/bench_prepare.py --crossover, fresh processes, median of 3,
# short chat rows, a 32k BPE): --num-proc 2 took 1.11x the time of 1 on 0.64 MB, 0.79x
# on 1.8 MB, 0.85x on 5.8 MB (and 1.08x on 11 MB, which the shared machine's load of 9 on
# 2 cores explains better than the pool): the crossover lies between 0.6 and 1.8 MB, and
# the rule stays on the safe side of it.
POOL_MIN_BYTES = 1 << 20
# The main process reads, collects and spills every batch alone: past a few workers it is
# the bottleneck (a guard, not measured here beyond 2 cores).
POOL_MAX_WORKERS = 8


def worker_count(requested: int | None, inputs: list[Input]) -> int:
    """How many processes encode the rows: ``requested`` (``--num-proc``) when given;
    otherwise 1 (the main process alone) for inputs under twice ``POOL_MIN_BYTES`` in all,
    and above it one worker per ``POOL_MIN_BYTES``, at most one per usable core and
    ``POOL_MAX_WORKERS``.

    >>> small = [Input("a.jsonl", "a.jsonl", "", 50_000, 9)]
    >>> worker_count(None, small), worker_count(4, small)
    (1, 4)
    """
    if requested is not None:
        return requested
    total = sum(item.size for item in inputs)
    return max(1, min(usable_cpus(), POOL_MAX_WORKERS, total // POOL_MIN_BYTES))


@dataclass
class InputPlan:
    format: str | None  # the file's format (peeked), tried first on every row
    forced: bool  # --format: no detection at all
    mask: str
    # A recipe's source: its own --field/--role mapping and system prompt (None: the
    # run's), and whether all its rows go to the eval split.
    mapping: Mapping | None = None
    system: str | None = None
    eval: bool = False


@dataclass
class Job:
    """What every worker needs to know, sent once."""

    tokenizer: str
    chat_template: str | None
    template_required: bool  # False: plain text only, the tokenizer's missing template is no error
    system: str | None
    kind: str
    max_length: int
    overlong: str
    inputs: list[InputPlan]
    mapping: Mapping
    seed: int
    eval_fraction: float
    want_keys: bool
    thinking: str = "keep"
    template_kwargs: dict[str, Any] | None = None
    accept: tuple[str, ...] = ()  # row-check error codes kept knowingly (--accept)


@dataclass
class BatchResult:
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
    # row -> the row-check codes it was kept with: accepted errors, warnings
    accepted: dict[int, tuple[str, ...]] = field(default_factory=dict)
    warnings: dict[int, tuple[str, ...]] = field(default_factory=dict)


class Worker:
    """Holds the tokenizer and one Encoder per mask policy; turns rows into documents."""

    def __init__(self, job: Job, tokenizer: Any = None, template: Any = None):
        from dataprep.prepare.encode.encoder import Encoder
        from dataprep.prepare.template.choice import load_tokenizer, resolve_template
        from dataprep.prepare.template.special_tokens import add_template_tokens

        self.job = job
        self.template = template
        if tokenizer is None:
            # Not handed over by the main process: load the tokenizer, resolve the
            # template and add its missing tokens as the main process did.
            tokenizer = load_tokenizer(job.tokenizer)
            self.template = resolve_template(
                tokenizer, job.chat_template, required=job.template_required
            )
            add_template_tokens(tokenizer, self.template)
        self.tokenizer = tokenizer
        self._Encoder = Encoder
        self._encoders: dict[tuple[str, str | None], Any] = {}
        self._seed = job.seed.to_bytes(8, "little", signed=True)
        self.gate = RowGate(job.accept, job.mapping)
        # A source with its own mapping names paths in its own terms.
        self._gates = [
            RowGate(job.accept, p.mapping) if p.mapping is not None else self.gate
            for p in job.inputs
        ]

    def encoder(self, mask: str, system: str | None = None) -> Any:
        """The encoder of a mask policy and a default system prompt (None: the run's)."""
        system = system if system is not None else self.job.system
        encoder = self._encoders.get((mask, system))
        if encoder is None:
            encoder = self._Encoder(
                self.tokenizer,
                self.template,
                mask=mask,
                system=system,
                thinking=self.job.thinking,
                template_kwargs=self.job.template_kwargs,
                drop_longer_than=self.job.max_length if self.job.overlong == "drop" else None,
            )
            self._encoders[(mask, system)] = encoder
        return encoder

    def notes(self) -> list[str]:
        seen: dict[str, None] = {}
        for encoder in self._encoders.values():
            seen.update(dict.fromkeys(encoder.notes))
        return list(seen)

    def run(self, input_index: int, rows: list[Any]) -> BatchResult:
        job = self.job
        plan = job.inputs[input_index]
        errors: dict[int, tuple[str, str]] = {}
        formats: list[str | None] = [None] * len(rows)
        keys: list[bytes | None] | None = [None] * len(rows) if job.want_keys else None
        is_eval = np.zeros(len(rows), dtype=bool)
        examples: list[tuple[int, Any]] = []
        accepted: dict[int, tuple[str, ...]] = {}
        warnings: dict[int, tuple[str, ...]] = {}
        for i, row in enumerate(rows):
            try:
                example, formats[i], verdict = self._to_canonical(row, plan, input_index)
            except RowError as e:
                errors[i] = (e.code, str(e))
                continue
            if verdict[0]:
                accepted[i] = verdict[0]
            if verdict[1]:
                warnings[i] = verdict[1]
            if job.want_keys or job.eval_fraction > 0:
                key = content_key(example)
                if keys is not None:
                    keys[i] = key
                if job.eval_fraction > 0:
                    is_eval[i] = _hash_unit(self._seed, key) < job.eval_fraction
            examples.append((i, example))
        if plan.eval:
            is_eval[:] = True  # an eval source (Axolotl's test_datasets, eval: true)

        encoder = self.encoder(plan.mask, plan.system)
        encode = {"sft": encoder.encode_sft, "dpo": encoder.encode_dpo, "kto": encoder.encode_kto}
        encoded = encode[job.kind]([e for _, e in examples]) if examples else []

        n = len(rows)
        truncated = np.zeros(n, dtype=bool)
        split = np.zeros(n, dtype=bool)
        dropped = np.zeros(n, dtype=np.int32)
        doc_row: list[int] = []
        trained: list[int] = []
        names = COLUMNS[job.kind]
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
                elif job.kind == "kto":
                    one = fit_kto(enc.prompt_ids, enc.completion_ids, job.max_length, job.overlong)
                    doc_row.append(i)
                    trained.append(len(one.completion_ids))
                    label = np.array([enc.label], dtype=np.int32)
                    for name, arr in zip(
                        names, (one.prompt_ids, one.completion_ids, label), strict=True
                    ):
                        values[name].append(arr)
                        lengths[name].append(len(arr))
                    truncated[i] = one.truncated
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
        return BatchResult(
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
            accepted=accepted,
            warnings=warnings,
        )

    def _to_canonical(self, row: Any, plan: InputPlan, index: int) -> tuple[Any, str, Verdict]:
        """The row's example, its format, and the gate's verdict on it (``RowGate.check``)."""
        job = self.job
        mapping = plan.mapping if plan.mapping is not None else job.mapping
        example, name, row, _ = to_canonical(row, plan.format, mapping, forced=plan.forced)
        # A row of another kind is refused, never adapted: a KTO example prepared as SFT
        # would train its undesirable answers as good ones (or, keeping only desirable
        # ones, silently halve the data); a pair as KTO would need two rows. Who wants SFT
        # on the desirable answers converts first (`dataprep convert --to messages
        # --allow-lossy` rejects the undesirable rows, with their lines).
        if not isinstance(example, _EXAMPLE_OF_KIND[job.kind]):
            what, right = _KIND_OF_EXAMPLE[type(example)]
            raise RowError(
                "",
                f"{what} ({name} row) is not {_KIND_WORDS[job.kind]}; "
                f"prepare it with --kind {right}",
                "wrong-kind",
            )
        return example, name, self._gates[index].check(row, name, example)


_EXAMPLE_OF_KIND = {"sft": Conversation, "dpo": Preference, "kto": Unpaired}
_KIND_WORDS = {"sft": "SFT data", "dpo": "a preference pair", "kto": "a KTO example"}
# The example as named in messages, and the --kind it belongs to.
_KIND_OF_EXAMPLE = {
    Conversation: ("a conversation", "sft"),
    Preference: ("a preference pair", "dpo"),
    Unpaired: ("a KTO example", "kto"),
}


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


# Forked workers find the tokenizer the main process loaded in _PRELOADED instead of
# loading it again (a spawned worker finds None, and loads it).
_PRELOADED: tuple[Any, Any] | None = None


def _start_worker(job: Job) -> Callable[[int, list[Any]], BatchResult]:
    """The work of one pool process: a Worker's ``run``, made once when the process starts."""
    tokenizer, template = _PRELOADED or (None, None)
    return Worker(job, tokenizer, template).run


def batches(
    inputs: list[Input], picks: list[np.ndarray | None] | None = None
) -> Iterator[tuple[int, list[Any]]]:
    """(input index, records) in order; one file per batch, bounded in rows and bytes.

    ``picks[i][r]`` (a recipe's mix): how many times row ``r`` of input ``i`` is taken;
    None takes every row once."""
    from dataprep.reading import read_records

    for index, item in enumerate(inputs):
        taken = picks[index] if picks is not None else None
        for batch in batches_of(read_records(item.read_from), taken):
            yield index, batch


def batches_of(records: Iterable[Any], taken: np.ndarray | None = None) -> Iterator[list[Any]]:
    """The batches of one input's records (or of a range of them, as ``prepare --engine
    ray`` reads a file: ``taken`` is then the picks of that range's records)."""
    batch: list[Any] = []
    size = 0
    for position, record in enumerate(records):
        times = 1 if taken is None else int(taken[position])
        if times == 0:
            continue
        batch += [record] * times
        size += times * (len(record.raw) if record.raw is not None else 0)
        if len(batch) >= ROWS_PER_TASK or size >= BYTES_PER_TASK:
            yield batch
            batch = []
            size = 0
    if batch:
        yield batch


def run_pool(
    job: Job,
    num_proc: int,
    inputs: list[Input],
    payload: Callable[[list[Any]], list[Any]],
    collect: Callable[[int, list[Any], BatchResult], None],
    preloaded: tuple[Any, Any],
    picks: list[np.ndarray | None] | None = None,
) -> None:
    """Encode batches in ``num_proc`` worker processes, collecting results in input order
    (``dataprep._fast.pool.run_ordered``: at most four batches per worker in flight)."""
    global _PRELOADED
    _PRELOADED = preloaded
    try:
        run_ordered(
            num_proc, functools.partial(_start_worker, job), batches(inputs, picks), collect,
            payload=payload,
        )  # fmt: skip
    finally:
        _PRELOADED = None
