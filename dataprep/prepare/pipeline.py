"""The whole ``prepare`` run, top to bottom.

    fingerprint the inputs and options      (cheap: file hashes; a match is a cache hit)
    read every input, row by row            (any format the core reads)
      -> map fields/roles -> to_canonical   (bad rows become rejects, with file:line)
      -> validate's row checks              (errors reject, unless --accept; warnings counted)
      -> eval split by content hash         (duplicates always land in the same split)
      -> dedup                              (optional)
      -> encode in batches                  (the chat template, masks; in --num-proc workers)
      -> length policy                      (drop / truncate / split)
      -> reject rows with no trained token
    pack (best-fit-decreasing, whole dataset)
    write Arrow shards, dataprep.json, rejects.jsonl into a temporary folder; rename it

Memory does not grow with the input: encoded documents are spilled to flat files inside
the temporary folder until packing has placed them (see ``output.DocumentSpill``).

Beside this module: ``options`` (what a run takes), ``identity`` (the hashes behind the
fingerprint), ``workers`` (the per-row work, in-process or in worker processes),
``encoding`` (template, tokens, masks), ``lengths``, ``packing`` and ``output``.

    from dataprep.prepare.pipeline import PrepareOptions, prepare
    result = prepare(PrepareOptions(inputs=["data.jsonl"], tokenizer="./tok",
                                    max_length=2048, output="prepared"))
    result.manifest["counts"]["rows_out"]
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

import dataprep
from dataprep import atomic
from dataprep.errors import RowError, UsageError
from dataprep.formats import FORMATS
from dataprep.formats.mapping import Mapping
from dataprep.prepare.encode.workers import BatchResult, InputPlan, Job, Worker, batches, run_pool
from dataprep.prepare.identity import (
    Input,
    fingerprint_inputs,
    hash_input,
    spool_input,
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
    COLUMNS,
    MANIFEST,
    PACKED_COLUMNS,
    REJECTS,
    AtomicFolder,
    DocumentSpill,
    RejectsWriter,
    SplitWriter,
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
    with atomic.scratch_folder(output, "stdin") as spool:
        inputs = [hash_input(p, spool_input(p, Path(spool))) for p in options.inputs]
        tokenizer_id = tokenizer_identity(options.tokenizer)
        fingerprint_input = fingerprint_inputs(options, inputs, tokenizer_id)
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
    inputs: list[Input],
    tokenizer_id: dict[str, Any],
    fingerprint: str,
    started: float,
    on_start: Callable[[int | None], None] | None,
    on_rows: Callable[[int], None] | None,
) -> PrepareResult:
    from dataprep.prepare.template.choice import (
        load_tokenizer,
        needs_chat_template,
        resolve_template,
    )
    from dataprep.prepare.template.special_tokens import add_template_tokens, added_note

    mapping = Mapping.from_specs(options.fields, options.roles)
    tokenizer = load_tokenizer(options.tokenizer)

    peeked = []
    for item in inputs:
        if options.format is not None:
            peeked.append((options.format, f"{options.format} (--format)"))
        else:
            peeked.append(peek_format(item.read_from, mapping))
    # Plain text documents need no chat template; anything else does.
    template_required = needs_chat_template(fmt for fmt, _ in peeked)
    template = resolve_template(tokenizer, options.chat_template, required=template_required)
    # Markers the template writes that the tokenizer lacks become special tokens (never
    # ordinary text); the manifest records them so that train adds the same.
    added = add_template_tokens(tokenizer, template)
    tokenizer_id = {
        **tokenizer_id,
        "vocab_size": len(tokenizer),
        "vocab_sha256": _vocab_sha256(tokenizer),
        "added_tokens": added,
    }
    kind = options.kind or _default_kind(
        [(i.path, f) for i, (f, _) in zip(inputs, peeked, strict=True)]
    )
    if kind != "sft" and options.overlong == "split":
        raise UsageError(f"--overlong split applies to SFT only: {UNSPLIT[kind]} cannot be split")
    if kind != "sft" and options.pack:
        raise UsageError(f"--pack applies to SFT only: {kind.upper()} rows are never packed")
    pack = kind == "sft" and options.pack is not False
    plans = [
        InputPlan(
            format=fmt,
            forced=options.format is not None,
            mask=options.mask or ("completion" if fmt == "prompt-completion" else "assistant"),
        )
        for fmt, _ in peeked
    ]
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
    splits = ["train", "eval"] if options.eval_fraction > 0 else ["train"]
    columns = COLUMNS[kind]

    # The masks are verified for this tokenizer and template here, before any output and
    # before workers fork (they inherit the result): a template whose masks cannot be
    # trusted is refused up front.
    main_worker = Worker(job, tokenizer, template)
    span_checks = [main_worker.encoder(plan.mask).span_check for plan in plans]
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
        accepted: Counter[str] = Counter()  # code -> rows kept with that error (--accept)
        warned: Counter[str] = Counter()  # code -> rows kept with that warning
        formats = [Counter() for _ in inputs]
        desirable: Counter[str] = Counter()  # KTO: rows labelled true, per split
        shown: list[dict[str, Any]] = []
        notes: dict[str, None] = {}
        if added:
            notes[added_note(added, template, options.tokenizer)] = None
        seen: dict[bytes, tuple[int, int]] = {}

        def reject(item: Input, line: int, code: str, message: str, row: Any) -> None:
            reasons[code] += 1
            rejects.add(item.path, line, code, message, row)
            if len(shown) < 10:
                shown.append({"source": item.path, "line": line, "code": code, "message": message})

        def collect(index: int, records: list[Any], result: BatchResult) -> None:
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
                # Counted only for rows that are kept: what the prepared data holds.
                codes = result.accepted.get(pos)
                if codes:
                    accepted.update(codes)
                    counts["rows_accepted"] += 1
                codes = result.warnings.get(pos)
                if codes:
                    warned.update(codes)
                    counts["rows_warned"] += 1
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
                if kind == "kto":
                    desirable[name] += int(part["label"][0].sum())
            if on_rows is not None:
                on_rows(len(records))

        def payload(records: list[Any]) -> list[Any]:
            return [r.value if r.problem is None else None for r in records]

        try:
            from dataprep.prepare.encode.workers import worker_count

            num_proc = worker_count(options.num_proc, inputs)
            if num_proc == 1:
                worker = main_worker
                for index, records in batches(inputs):
                    collect(index, records, worker.run(index, payload(records)))
            else:
                run_pool(job, num_proc, inputs, payload, collect, (tokenizer, template))
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
            elif kind == "kto":
                doc_lengths = doc_lengths + lengths_by_column["completion_ids"]
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
            if kind in ("sft", "kto"):
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
            if kind == "kto":
                result_splits[name]["desirable"] = desirable[name]
                result_splits[name]["undesirable"] = len(doc_lengths) - desirable[name]
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
                "masks": _span_summary(span_checks[0]),
                "thinking": options.thinking,
                "template_kwargs": options.template_kwargs,
            }
            if template is not None
            else None,
            "mask": _mask_summary(plans) if kind == "sft" else None,
            "max_length": options.max_length,
            "length_policy": options.overlong,
            "packing": pack,
            "eval_fraction": options.eval_fraction,
            "seed": options.seed,
            "dedup": options.dedup,
            "accept": sorted(set(options.accept)),
            "system": options.system,
            "columns": list(PACKED_COLUMNS if pack else columns),
            "splits": result_splits,
            # KTO: how many answers are labelled desirable and undesirable (TRL weighs the
            # two losses by desirable_weight / undesirable_weight to balance them).
            "labels": {
                "desirable": sum(s["desirable"] for s in result_splits.values()),
                "undesirable": sum(s["undesirable"] for s in result_splits.values()),
            }
            if kind == "kto"
            else None,
            "counts": {
                "rows_in": counts["rows_in"],
                "rows_out": counts["rows_out"],
                "rejected": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                "rows_rejected": sum(reasons.values()),
                "truncated": counts["truncated"],
                "split": counts["split"],
                "pieces_dropped": counts["pieces_dropped"],
                "deduplicated": counts["deduplicated"],
                # Kept rows that a row check flagged: with an --accept code, or with
                # warnings; per code, the rows that have it (a row may have several).
                "rows_accepted": counts["rows_accepted"],
                "accepted": _by_count(accepted),
                "rows_warned": counts["rows_warned"],
                "warnings": _by_count(warned),
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
            "options": option_record(options),
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


def _span_summary(check: Any) -> dict[str, Any] | None:
    """How the trained spans are found, and how they were verified (``verify``)."""
    if check is None:
        return None
    return {
        "method": check.method,
        "verified_against": "render-diff",
        "probes": check.probes,
        "agreeing": dict(check.agreeing),
    }


def _by_count(counter: Counter[str]) -> dict[str, int]:
    """Most frequent first; ties by name (the manifest is deterministic), as "rejected"."""
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _mask_summary(plans: list[InputPlan]) -> str:
    masks = {p.mask for p in plans}
    return masks.pop() if len(masks) == 1 else "mixed"


def _vocab_sha256(tokenizer: Any) -> str:
    """A hash of the vocabulary itself (token -> id, special or not): two tokenizer folders
    saved by different library versions still compare equal when they tokenize alike."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(orjson.dumps(vocab)).hexdigest()
