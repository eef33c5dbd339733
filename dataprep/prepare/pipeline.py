"""The whole ``prepare`` run, top to bottom: ``prepare()`` calls one function a stage.

    fingerprint the inputs and options      (cheap: file hashes; a match is a cache hit)
    plan_inputs                             tokenizer, template, each input's format,
                                            the kind, packing, masks (verified)
    encode: read every input, row by row    (any format the core reads)
      -> map fields/roles -> to_canonical   (bad rows become rejects, with file:line)
      -> validate's row checks              (errors reject, unless --accept; warnings counted)
      -> eval split by content hash         (duplicates always land in the same split)
      -> dedup                              (optional)
      -> encode in batches                  (the chat template, masks; in --num-proc workers)
      -> length policy                      (drop / truncate / split)
      -> reject rows with no trained token
    pack_and_write                          best-fit-decreasing packing, Arrow shards
    build_manifest, check_counts            dataprep.json (``dataprep.contract.Manifest``)
    all of it into a temporary folder, renamed when complete

Memory does not grow with the input: encoded documents are spilled to flat files inside
the temporary folder until packing has placed them (see ``output.DocumentSpill``).

Beside this module: ``options`` (what a run takes), ``identity`` (the hashes behind the
fingerprint), ``workers`` (the per-row work, in-process or in worker processes),
``encode/`` (template, tokens, masks, lengths), ``packing`` and ``output``; ``ray_engine``
(the encode stage's loop on a Ray cluster, ``--engine ray``: the same workers, collected
here in the same order).

    from dataprep.prepare.pipeline import PrepareOptions, prepare
    result = prepare(PrepareOptions(inputs=["data.jsonl"], tokenizer="./tok",
                                    max_length=2048, output="prepared"))
    result.manifest["counts"]["rows_out"]
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

import dataprep
from dataprep import atomic
from dataprep.contract import (
    COLUMNS,
    MANIFEST,
    PACKED_COLUMNS,
    REJECTS,
    ChatTemplateRecord,
    Counts,
    HubInput,
    InputRecord,
    LabelCounts,
    LengthStats,
    Manifest,
    ManifestDamaged,
    ManifestMissing,
    MaskCheck,
    SourceRecord,
    SplitRecord,
    TokenCounts,
    TokenizerRecord,
    read_manifest,
    vocab_sha256,
)
from dataprep.errors import InternalError, RowError, UsageError
from dataprep.formats import FORMATS
from dataprep.formats.mapping import Mapping
from dataprep.prepare.encode.workers import (
    BatchResult,
    InputPlan,
    Job,
    Worker,
    batches,
    run_pool,
    worker_count,
)
from dataprep.prepare.identity import (
    Input,
    fingerprint_inputs,
    gather_inputs,
    tokenizer_identity,
)
from dataprep.prepare.options import (
    UNSPLIT,
    NothingLeft,
    PrepareOptions,
    PrepareResult,
    check_options,
    option_record,
)
from dataprep.prepare.output import (
    AtomicFolder,
    DocumentSpill,
    RejectsWriter,
    SplitWriter,
    fingerprint_of,
    write_dataset_dict,
    write_document_sources,
)
from dataprep.prepare.packing import (
    pack_best_fit_decreasing,
    packing_efficiency,
    row_lengths,
    unpacked_plan,
)
from dataprep.stats import percentiles

PEEK_ROWS = 256  # rows read from each input to decide its format before the real pass


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


# The --kind each format's examples are prepared as (a format's KIND is what its
# to_canonical returns), and how a kind's data is named in messages.
KIND_OF_FORMAT = {"sft": "sft", "preference": "dpo", "kto": "kto"}
KIND_WORDS = {"sft": "SFT", "dpo": "preference", "kto": "KTO"}


def _default_kind(plans: list[tuple[str, str | None]]) -> str:
    kinds = {path: KIND_OF_FORMAT[FORMATS[f].KIND] for path, f in plans if f}
    found = set(kinds.values())
    if len(found) > 1:
        listing = ", ".join(f"{p}: {k}" for p, k in kinds.items())
        words = " and ".join(KIND_WORDS[k] for k in KIND_WORDS if k in found)
        raise UsageError(
            f"the inputs mix {words} data ({listing}); pass --kind "
            + " or --kind ".join(k for k in KIND_WORDS if k in found)
        )
    return found.pop() if found else "sft"


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
    with atomic.scratch_folder(output, "stdin") as spool:
        inputs = gather_inputs(options, Path(spool))
        tokenizer_id = tokenizer_identity(options.tokenizer)
        fingerprint = fingerprint_of(fingerprint_inputs(options, inputs, tokenizer_id))
        previous = _previous_manifest(output)
        if previous is not None and previous.fingerprint == fingerprint and not options.force:
            return PrepareResult(manifest=previous.to_json(), cached=True, output=output)

        plan = plan_inputs(options, inputs, tokenizer_id)
        if on_start is not None:
            selection = plan.selection
            on_start(sum(selection.rows_selected) if selection else _total_lines(inputs))
        with AtomicFolder(options.output) as tmp:
            encoded = encode(options, inputs, plan, tmp, on_rows)
            written = pack_and_write(options, plan, encoded, tmp, fingerprint)
            manifest = build_manifest(options, inputs, plan, encoded, written, fingerprint, started)
            check_counts(manifest.counts)
            result = PrepareResult(
                manifest=manifest.to_json(),
                cached=False,
                output=Path(options.output),
                rejects_shown=encoded.shown,
            )
            if manifest.counts.rows_out == 0:
                raise NothingLeft(_nothing_left(manifest.counts), result)
            (tmp / MANIFEST).write_bytes(
                orjson.dumps(result.manifest, option=orjson.OPT_INDENT_2) + b"\n"
            )
        return result


def _previous_manifest(output: Path) -> Manifest | None:
    """The manifest a previous run left in ``output``; None when there is none or it is
    damaged (the run then rebuilds the folder)."""
    try:
        return read_manifest(output)
    except (ManifestMissing, ManifestDamaged):
        return None


def _total_lines(inputs: list[Input]) -> int | None:
    return sum(i.lines for i in inputs) if all(i.lines is not None for i in inputs) else None


# --- 1. plan the inputs ------------------------------------------------------------------


@dataclass
class Plan:
    """What the run was decided to be before any row is encoded: the tokenizer and
    template, each input's format and mask, the kind, packing, and the workers' job."""

    tokenizer: Any
    template: Any  # ChatTemplate or None (plain text needs none)
    tokenizer_id: dict[str, Any]  # the manifest's tokenizer record
    added: list[dict[str, Any]]  # special tokens added for the template
    peeked: list[tuple[str | None, str]]  # per input: format, the decision in words
    kind: str
    pack: bool
    inputs: list[InputPlan]
    job: Job
    splits: list[str]
    columns: tuple[str, ...]
    worker: Worker  # in this process; its masks verified for the tokenizer and template
    span_checks: list[Any]
    selection: Any = None  # a recipe's mix (``sources.Selection``); None: every row once

    @property
    def document_sources(self) -> str | None:
        """What each document's recorded source indexes (``DOCUMENT_SOURCES``): a
        recipe's ``sources``, or the ``inputs``; None when only one fed the run."""
        if self.selection is not None:
            return "sources" if len(self.selection.rows_read) > 1 else None
        return "inputs" if len(self.inputs) > 1 else None


def plan_inputs(options: PrepareOptions, inputs: list[Input], tokenizer_id: dict[str, Any]) -> Plan:
    """Load the tokenizer and template, peek at each input's format, decide the kind,
    packing and masks, and verify the masks; no row is encoded yet."""
    from dataprep.prepare.template.choice import (
        load_tokenizer,
        needs_chat_template,
        resolve_template,
    )
    from dataprep.prepare.template.special_tokens import add_template_tokens

    mapping = Mapping.from_specs(options.fields, options.roles)
    tokenizer = load_tokenizer(options.tokenizer)
    sources = _input_sources(options, len(inputs))

    peeked = []
    for item, source in zip(inputs, sources, strict=True):
        if options.format is not None:
            peeked.append((options.format, f"{options.format} (--format)"))
        elif source is not None and source.format is not None:
            peeked.append((source.format, f"{source.format} (the recipe's format)"))
        else:
            own = source.mapping if source is not None else None
            peeked.append(peek_format(item.read_from, own or mapping))
    # Plain text documents need no chat template; anything else does.
    template_required = needs_chat_template(fmt for fmt, _ in peeked)
    template = resolve_template(tokenizer, options.chat_template, required=template_required)
    # Markers the template writes that the tokenizer lacks become special tokens (never
    # ordinary text); the manifest records them so that train adds the same.
    added = add_template_tokens(tokenizer, template)
    tokenizer_id = {
        **tokenizer_id,
        "vocab_size": len(tokenizer),
        "vocab_sha256": vocab_sha256(tokenizer),
        "added_tokens": added,
    }
    recipe_kind = options.recipe.kind if options.recipe is not None else None
    kind = (
        options.kind
        or recipe_kind
        or _default_kind([(i.path, f) for i, (f, _) in zip(inputs, peeked, strict=True)])
    )
    if kind != "sft" and options.overlong == "split":
        raise UsageError(f"--overlong split applies to SFT only: {UNSPLIT[kind]} cannot be split")
    if kind != "sft" and options.pack:
        raise UsageError(f"--pack applies to SFT only: {kind.upper()} rows are never packed")
    pack = kind == "sft" and options.pack is not False
    plans = [
        InputPlan(
            format=fmt,
            forced=options.format is not None or (source is not None and source.format is not None),
            mask=options.mask
            or _source_default(options, source, "mask")
            or ("completion" if fmt == "prompt-completion" else "assistant"),
            mapping=source.mapping if source is not None else None,
            system=options.system or _source_default(options, source, "system"),
            eval=source is not None and source.eval,
        )
        for (fmt, _), source in zip(peeked, sources, strict=True)
    ]
    selection = None
    if options.recipe is not None:
        from dataprep.prepare.sources import plan_selection

        selection = plan_selection(options.recipe, [i.read_from for i in inputs], options.seed)
    job = Job(
        tokenizer=options.tokenizer,
        chat_template=options.chat_template,
        template_required=template_required,
        system=options.system,
        kind=kind,
        max_length=options.max_length,
        overlong=options.overlong,
        inputs=plans,
        mapping=mapping,
        seed=options.seed,
        eval_fraction=options.eval_fraction,
        want_keys=options.dedup,
        thinking=options.thinking,
        template_kwargs=options.template_kwargs,
        accept=tuple(sorted(set(options.accept))),
    )
    # The masks are verified for this tokenizer and template here, before any output and
    # before workers fork (they inherit the result): a template whose masks cannot be
    # trusted is refused up front.
    worker = Worker(job, tokenizer, template)
    span_checks = [worker.encoder(plan.mask, plan.system).span_check for plan in plans]
    return Plan(
        tokenizer=tokenizer,
        template=template,
        tokenizer_id=tokenizer_id,
        added=added,
        peeked=peeked,
        kind=kind,
        pack=pack,
        inputs=plans,
        job=job,
        splits=["train", "eval"]
        if options.eval_fraction > 0 or any(p.eval for p in plans)
        else ["train"],
        columns=COLUMNS[kind],
        worker=worker,
        span_checks=span_checks,
        selection=selection,
    )


def _input_sources(options: PrepareOptions, n: int) -> list[Any]:
    """The recipe source of each input (None for each without a recipe)."""
    if options.recipe is None:
        return [None] * n
    from dataprep.prepare.sources import input_sources

    return [options.recipe.sources[i] for i in input_sources(options.recipe)]


def _source_default(options: PrepareOptions, source: Any, key: str) -> str | None:
    """A source's own mask or system prompt, else its recipe's (None without a recipe)."""
    if source is None:
        return None
    return getattr(source, key) or getattr(options.recipe, key)


# --- 2. encode ---------------------------------------------------------------------------


@dataclass
class Encoded:
    """What the encode stage leaves: the documents of each split spilled to disk (closed),
    the trained-token count of each, the rejects written, and the counts."""

    spills: dict[str, DocumentSpill]
    trained: dict[str, list[np.ndarray]]
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)  # code -> rows rejected
    accepted: Counter[str] = field(default_factory=Counter)  # code -> rows kept (--accept)
    warned: Counter[str] = field(default_factory=Counter)  # code -> rows kept with a warning
    formats: list[Counter[str]] = field(default_factory=list)  # per input
    desirable: Counter[str] = field(default_factory=Counter)  # KTO: rows labelled true
    shown: list[dict[str, Any]] = field(default_factory=list)  # the first rejects
    notes: dict[str, None] = field(default_factory=dict)  # ordered, without repeats
    sources: list[SourceTally] = field(default_factory=list)  # a recipe's, per source
    # Per split, each document's source (a recipe's source, else the input) in spill order.
    doc_sources: dict[str, list[np.ndarray]] = field(default_factory=dict)


@dataclass
class SourceTally:
    """What one source of a recipe gave: rows selected, written, rejected; tokens."""

    rows_selected: int = 0
    rows_out: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    trainable: int = 0


def encode(
    options: PrepareOptions,
    inputs: list[Input],
    plan: Plan,
    folder: Path,
    on_rows: Callable[[int], None] | None = None,
) -> Encoded:
    """Read every row of every input, turn it canonical, check, split, dedup, encode and
    apply the length policy (in ``worker_count`` workers); the rows are rejected into
    ``folder/rejects.jsonl``, the documents spilled into ``folder/.spill``."""
    from dataprep.prepare.template.special_tokens import added_note

    kind, splits = plan.kind, plan.splits
    out = Encoded(
        spills={s: DocumentSpill(folder / ".spill", s, plan.columns) for s in splits},
        trained={s: [] for s in splits},
        formats=[Counter() for _ in inputs],
        doc_sources={s: [] for s in splits},
    )
    counts, formats = out.counts, out.formats
    selection = plan.selection
    if selection is not None:
        out.sources = [SourceTally() for _ in selection.rows_read]
    rejects = RejectsWriter(folder / REJECTS)
    if plan.added:
        out.notes[added_note(plan.added, plan.template, options.tokenizer)] = None
    seen: dict[bytes, tuple[int, int]] = {}

    def reject(item: Input, line: int, code: str, message: str, row: Any) -> None:
        if tally is not None:
            tally.rejected[code] += 1
        out.reasons[code] += 1
        rejects.add(item.path, line, code, message, row)
        if len(out.shown) < 10:
            out.shown.append({"source": item.path, "line": line, "code": code, "message": message})

    tally: SourceTally | None = None

    def collect(index: int, records: list[Any], result: BatchResult) -> None:
        nonlocal tally
        item = inputs[index]
        tally = out.sources[selection.owner[index]] if selection is not None else None
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
            # Counted only for rows that are kept: what the prepared data holds.
            codes = result.accepted.get(pos)
            if codes:
                out.accepted.update(codes)
                counts["rows_accepted"] += 1
            codes = result.warnings.get(pos)
            if codes:
                out.warned.update(codes)
                counts["rows_warned"] += 1
        counts["rows_out"] += int(keep.sum())
        counts["truncated"] += int((result.truncated & keep).sum())
        counts["split"] += int((result.split & keep).sum())
        counts["pieces_dropped"] += int(result.dropped_pieces[keep].sum())
        out.notes.update(dict.fromkeys(result.notes))
        doc_keep = keep[result.doc_row]
        doc_eval = result.is_eval[result.doc_row]
        if tally is not None:
            tally.rows_selected += len(records)
            tally.rows_out += int(keep.sum())
            tally.tokens += int(_document_tokens(kind, result.columns)[doc_keep].sum())
            tally.trainable += int(result.trained[doc_keep].sum())
        for name in splits:
            chosen = doc_keep & (doc_eval if name == "eval" else ~doc_eval)
            if not chosen.any():
                continue
            part = {}
            for column, (values, lengths) in result.columns.items():
                part[column] = (values[np.repeat(chosen, lengths)], lengths[chosen])
            out.spills[name].add(part)
            out.trained[name].append(result.trained[chosen])
            source = selection.owner[index] if selection is not None else index
            out.doc_sources[name].append(np.full(int(chosen.sum()), source, dtype=np.int32))
            if kind == "kto":
                out.desirable[name] += int(part["label"][0].sum())
        if on_rows is not None:
            on_rows(len(records))

    def payload(records: list[Any]) -> list[Any]:
        return [r.value if r.problem is None else None for r in records]

    # Worker processes only where the input pays for them (or --num-proc says so).
    num_proc = worker_count(options.num_proc, inputs)
    try:
        if options.engine == "ray":
            from dataprep.prepare.ray_engine import encode_on_ray

            encode_on_ray(options, plan, inputs, collect)
        elif num_proc == 1:
            worker = plan.worker
            picks = selection.picks if selection is not None else None
            for index, records in batches(inputs, picks):
                collect(index, records, worker.run(index, payload(records)))
        else:
            run_pool(
                plan.job,
                num_proc,
                inputs,
                payload,
                collect,
                (plan.tokenizer, plan.template),
                selection.picks if selection is not None else None,
            )
    finally:
        # On Ctrl-C too: AtomicFolder then removes the folder, files closed first.
        rejects.close()
        for spill in out.spills.values():
            spill.close()
    return out


def _document_tokens(kind: str, columns: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each document's stored tokens, as ``pack_and_write`` counts a split's: SFT its
    ``input_ids``, KTO prompt and completion, DPO the prompt and both answers."""
    if kind == "sft":
        return columns["input_ids"][1].astype(np.int64)
    if kind == "kto":
        return columns["prompt_ids"][1].astype(np.int64) + columns["completion_ids"][1]
    return sum(lengths.astype(np.int64) for _, lengths in columns.values())


# --- 3. pack and write -------------------------------------------------------------------


@dataclass
class Written:
    """What was written for each split, and the lengths the manifest summarises."""

    splits: dict[str, SplitRecord]
    documents: np.ndarray  # every document's length, all splits
    rows: np.ndarray  # every written row's length
    trainable: int  # trained tokens, all splits


def pack_and_write(
    options: PrepareOptions, plan: Plan, encoded: Encoded, folder: Path, fingerprint: str
) -> Written:
    """Plan the rows of each split (best-fit-decreasing packing, or one document a row),
    write them as Arrow shards into ``folder`` (``folder/train``, ``folder/eval`` with an
    eval split) and remove the spilled documents."""
    kind, splits, pack, columns = plan.kind, plan.splits, plan.pack, plan.columns
    records: dict[str, SplitRecord] = {}
    all_docs, all_rows, all_trained = [], [], []
    for name in splits:
        spill = encoded.spills[name]
        lengths_by_column = spill.finish()
        doc_lengths = lengths_by_column[columns[0]]
        if kind == "dpo":
            doc_lengths = doc_lengths + np.maximum(
                lengths_by_column["chosen_ids"], lengths_by_column["rejected_ids"]
            )
        elif kind == "kto":
            doc_lengths = doc_lengths + lengths_by_column["completion_ids"]
        rows_plan = (
            pack_best_fit_decreasing(doc_lengths, options.max_length)
            if pack
            else unpacked_plan(len(doc_lengths))
        )
        split_folder = folder / name if len(splits) > 1 else folder
        writer = SplitWriter(
            split_folder, PACKED_COLUMNS if pack else columns, fingerprint, split=name
        )
        spill.write_rows(rows_plan, writer, seq_lengths_of="input_ids" if pack else None)
        writer.close()
        if plan.document_sources is not None:
            sources = encoded.doc_sources[name]
            in_spill = np.concatenate(sources) if sources else np.zeros(0, np.int32)
            write_document_sources(split_folder, in_spill[rows_plan.doc_order])
        spill.remove()
        trained = encoded.trained[name]
        split_trained = np.concatenate(trained) if trained else np.zeros(0, np.int64)
        # Every stored token: for DPO the prompt once, and both answers.
        if kind in ("sft", "kto"):
            stored = int(doc_lengths.sum())
        else:
            stored = sum(int(v.sum()) for v in lengths_by_column.values())
        desirable = encoded.desirable[name]
        records[name] = SplitRecord(
            rows=rows_plan.num_rows,
            documents=len(doc_lengths),
            tokens=stored,
            trainable_tokens=int(split_trained.sum()),
            packing_efficiency=round(
                packing_efficiency(doc_lengths, rows_plan, options.max_length), 6
            ),
            desirable=desirable if kind == "kto" else None,
            undesirable=len(doc_lengths) - desirable if kind == "kto" else None,
        )
        all_docs.append(doc_lengths)
        all_rows.append(row_lengths(doc_lengths, rows_plan))
        all_trained.append(split_trained)
    shutil.rmtree(folder / ".spill", ignore_errors=True)
    if len(splits) > 1:
        write_dataset_dict(folder, splits)
    return Written(
        splits=records,
        documents=np.concatenate(all_docs),
        rows=np.concatenate(all_rows),
        trainable=int(sum(int(t.sum()) for t in all_trained)),
    )


# --- 4. the manifest ---------------------------------------------------------------------


def build_manifest(
    options: PrepareOptions,
    inputs: list[Input],
    plan: Plan,
    encoded: Encoded,
    written: Written,
    fingerprint: str,
    started: float,
) -> Manifest:
    """The manifest of the run (``dataprep.json``): what was done, to what, with what."""
    kind, template, splits = plan.kind, plan.template, written.splits
    docs, rows = written.documents, written.rows
    counts, reasons = encoded.counts, encoded.reasons
    return Manifest(
        dataprep_version=dataprep.__version__,
        fingerprint=fingerprint,
        kind=kind,
        inputs=tuple(
            InputRecord(
                path=item.path,
                sha256=item.sha256,
                bytes=item.size,
                format=fmt,
                detected=message,
                formats=dict(encoded.formats[i].most_common()),
                mask=plan.inputs[i].mask if kind == "sft" else None,
                hub=HubInput.from_json(item.hub) if item.hub else None,
            )
            for i, (item, (fmt, message)) in enumerate(zip(inputs, plan.peeked, strict=True))
        ),
        sources=_source_records(options, plan, encoded),
        tokenizer=TokenizerRecord.from_json(plan.tokenizer_id),
        chat_template=ChatTemplateRecord(
            name=template.name,
            sha256=template.sha256,
            has_generation=template.has_generation,
            masks=_span_summary(plan.span_checks[0]),
            thinking=options.thinking,
            template_kwargs=options.template_kwargs,
        )
        if template is not None
        else None,
        mask=_mask_summary(plan.inputs) if kind == "sft" else None,
        max_length=options.max_length,
        length_policy=options.overlong,
        packing=plan.pack,
        eval_fraction=options.eval_fraction,
        seed=options.seed,
        dedup=options.dedup,
        accept=tuple(sorted(set(options.accept))),
        system=options.system,
        columns=PACKED_COLUMNS if plan.pack else plan.columns,
        splits=splits,
        document_sources=plan.document_sources,
        labels=LabelCounts(
            desirable=sum(s.desirable or 0 for s in splits.values()),
            undesirable=sum(s.undesirable or 0 for s in splits.values()),
        )
        if kind == "kto"
        else None,
        counts=Counts(
            rows_in=counts["rows_in"],
            rows_out=counts["rows_out"],
            rejected=_by_count(reasons),
            rows_rejected=sum(reasons.values()),
            truncated=counts["truncated"],
            split=counts["split"],
            pieces_dropped=counts["pieces_dropped"],
            deduplicated=counts["deduplicated"],
            # Kept rows that a row check flagged: with an --accept code, or with
            # warnings; per code, the rows that have it (a row may have several).
            rows_accepted=counts["rows_accepted"],
            accepted=_by_count(encoded.accepted),
            rows_warned=counts["rows_warned"],
            warnings=_by_count(encoded.warned),
        ),
        tokens=TokenCounts(
            total=sum(split.tokens or 0 for split in splits.values()),
            trainable=written.trainable,
            document_length=LengthStats(**percentiles(docs, mean_digits=2)),
            row_length=LengthStats(**percentiles(rows, mean_digits=2)),
        ),
        packing_efficiency=round(int(docs.sum()) / (len(rows) * options.max_length), 6)
        if len(rows)
        else 0.0,
        notes=tuple(encoded.notes),
        options=option_record(options),
        seconds=round(time.perf_counter() - started, 3),
        engine=options.engine,
    )


def _source_records(
    options: PrepareOptions, plan: Plan, encoded: Encoded
) -> tuple[SourceRecord, ...] | None:
    """The manifest's per-source accounting (None for a run without a recipe)."""
    selection = plan.selection
    if selection is None:
        return None
    sources = options.recipe.sources
    rows = sum(t.rows_out for t in encoded.sources) or 1
    tokens = sum(t.tokens for t in encoded.sources) or 1
    records = []
    for i, (source, tally) in enumerate(zip(sources, encoded.sources, strict=True)):
        first = selection.owner.index(i)
        records.append(
            SourceRecord(
                name=source.label,
                path=source.path,
                format=plan.peeked[first][0],
                amount=source.amount,
                eval=source.eval,
                mask=plan.inputs[first].mask if plan.kind == "sft" else None,
                rows_read=selection.rows_read[i],
                rows_selected=tally.rows_selected,
                rows_out=tally.rows_out,
                rows_rejected=sum(tally.rejected.values()),
                rejected=_by_count(tally.rejected),
                tokens=tally.tokens,
                trainable_tokens=tally.trainable,
                share=round(tally.rows_out / rows, 6),
                token_share=round(tally.tokens / tokens, 6),
            )
        )
    return tuple(records)


def check_counts(counts: Counts) -> None:
    """Every row read is either written or rejected: a run that lost or invented rows is
    a bug, never a data problem, and must not leave a folder behind."""
    if counts.rows_in != counts.rows_out + counts.rows_rejected:
        raise InternalError(
            f"rows do not add up: {counts.rows_in} read, {counts.rows_out} written, "
            f"{counts.rows_rejected} rejected"
        )


def _nothing_left(counts: Counts) -> str:
    reasons = ", ".join(f"{n} {code}" for code, n in counts.rejected.items())
    return (
        f"nothing left to write: all {counts.rows_in} rows were rejected ({reasons or 'no rows'})"
    )


def _span_summary(check: Any) -> MaskCheck | None:
    """How the trained spans are found, and how they were verified (``verify``)."""
    if check is None:
        return None
    return MaskCheck(
        method=check.method,
        verified_against="render-diff",
        probes=check.probes,
        agreeing=dict(check.agreeing),
    )


def _by_count(counter: Counter[str]) -> dict[str, int]:
    """Most frequent first; ties by name (the manifest is deterministic), as "rejected"."""
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _mask_summary(plans: list[InputPlan]) -> str:
    masks = {p.mask for p in plans}
    return masks.pop() if len(masks) == 1 else "mixed"
