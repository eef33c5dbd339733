"""What a dataset file or a prepared folder holds, in numbers: the library under
``dataprep stats`` (which only parses options and prints).

``file_stats`` reads a dataset file row by row through the one row-to-canonical reading
(``dataprep.validate.canonical_row``), so a row it counts as a problem has the code
``validate`` gives it; ``folder_stats`` reads a folder ``prepare`` wrote. Both return
plain dicts (keys starting with ``_`` hold the raw lengths, for histograms and plots).

>>> percentiles([1, 2, 3, 4])["p50"]
2.5
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dataprep.contract import IGNORE_INDEX as IGNORE

BLOCKS = " ▏▎▍▌▋▊▉█"  # eighths of a character cell


def percentiles(values: list[int] | Any, mean_digits: int = 1) -> dict[str, Any]:
    """Count, mean, p50, p90, p99 and max of ``values`` (``{"count": 0}`` when empty);
    the manifest keeps the mean to ``mean_digits=2``."""
    import numpy as np

    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return {"count": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "count": len(values),
        "mean": round(float(values.mean()), mean_digits),
        "p50": round(float(p50), 1),
        "p90": round(float(p90), 1),
        "p99": round(float(p99), 1),
        "max": int(values.max()),
    }


def histogram(values: list[int] | Any, bins: int = 12, width: int = 40) -> list[str]:
    """A length histogram as lines of unicode block bars; bins of whole units.

    >>> print("\\n".join(histogram([1, 2, 2, 3, 3, 3, 3, 3], bins=3, width=5)))
          1 –       1  █ 1
          2 –       2  ██ 2
          3 –       3  █████ 5
    """
    import numpy as np

    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return []
    low, high = int(values.min()), int(values.max())
    step = max(1, -(-(high - low + 1) // bins))  # ceil: every value in a bin
    edges = np.arange(low, high + step + 1, step)
    counts, _ = np.histogram(values, bins=edges)
    top = max(int(counts.max()), 1)
    lines = []
    for count, a in zip(counts.tolist(), edges[:-1].tolist(), strict=True):
        eighths = round(count / top * width * 8)
        bar = "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")
        lines.append(f"{a:>7,} – {a + step - 1:>7,}  {bar} {count:,}")
    return lines


# --- a prepared folder -------------------------------------------------------------------


def folder_stats(folder: str) -> dict[str, Any]:
    """Rows, documents, token lengths, trainable share and duplicates of a prepared folder."""
    import hashlib

    import numpy as np

    from dataprep.contract import ManifestDamaged, ManifestMissing, read_manifest
    from dataprep.prepare.output import read_split, split_folders

    try:
        manifest = read_manifest(folder)
    except (ManifestMissing, ManifestDamaged):
        manifest = None  # the rows are still counted; what the manifest said is unknown
    out: dict[str, Any] = {
        "source": folder,
        "prepared": True,
        "kind": manifest and manifest.kind,
        "max_length": manifest and manifest.max_length,
        "packing": manifest and manifest.packing,
        "counts": manifest and manifest.counts and manifest.counts.to_json(),
        "packing_efficiency": manifest and manifest.packing_efficiency,
        # A recipe's run: what each source gave (the manifest's accounting).
        "sources": [s.to_json() for s in manifest.sources]
        if manifest and manifest.sources
        else None,
        "splits": {},
    }
    for name, path in split_folders(folder).items():
        table = read_split(path)
        if "input_ids" in table.column_names:
            ids = table.column("input_ids").combine_chunks()
            labels = table.column("labels").combine_chunks().values.to_numpy()
            offsets = ids.offsets.to_numpy()
            if "seq_lengths" in table.column_names:
                docs = (
                    table.column("seq_lengths").combine_chunks().values.to_numpy().astype(np.int64)
                )
            else:
                docs = np.diff(offsets)
            # (an empty split has no document, and no start)
            starts = np.concatenate([[0], np.cumsum(docs)[:-1]])[: len(docs)].astype(np.int64)
            trained = labels != IGNORE
            trained[starts] = False  # a document's first label is never a target
            values = ids.values.to_numpy()
            seen: set[bytes] = set()
            duplicates = 0
            for a, n in zip(starts.tolist(), docs.tolist(), strict=True):
                key = hashlib.blake2b(values[a : a + n].tobytes(), digest_size=16).digest()
                duplicates += key in seen
                seen.add(key)
            out["splits"][name] = {
                "rows": table.num_rows,
                "documents": len(docs),
                "tokens": int(docs.sum()),
                "trainable_tokens": int(trained.sum()),
                "trainable_share": round(float(trained.sum()) / max(int(docs.sum()), 1), 4),
                "document_length": percentiles(docs),
                "row_length": percentiles(np.diff(offsets)),
                "duplicate_documents": duplicates,
                "_lengths": docs,
                # Per document: the share of its tokens that are trained (the ui's chart).
                "_trainable_shares": np.add.reduceat(trained, starts) / np.maximum(docs, 1)
                if len(docs)
                else np.zeros(0),
            }
        elif "completion_ids" in table.column_names:
            prompt, completion = (
                np.diff(table.column(c).combine_chunks().offsets.to_numpy())
                for c in ("prompt_ids", "completion_ids")
            )
            desirable = int(np.count_nonzero(table.column("label").to_numpy()))
            out["splits"][name] = {
                "rows": table.num_rows,
                "desirable": desirable,
                "undesirable": table.num_rows - desirable,
                "tokens": int((prompt + completion).sum()),
                "trainable_tokens": int(completion.sum()),
                "trainable_share": round(
                    float(completion.sum()) / max(int((prompt + completion).sum()), 1), 4
                ),
                "prompt_length": percentiles(prompt),
                "completion_length": percentiles(completion),
                "_lengths": prompt + completion,
                "_trainable_shares": completion / np.maximum(prompt + completion, 1),
            }
        else:
            prompt, chosen, rejected = (
                np.diff(table.column(c).combine_chunks().offsets.to_numpy())
                for c in ("prompt_ids", "chosen_ids", "rejected_ids")
            )
            total = prompt * 2 + chosen + rejected
            out["splits"][name] = {
                "rows": table.num_rows,
                "tokens": int(total.sum()),
                "trainable_tokens": int((chosen + rejected).sum()),
                "trainable_share": round(
                    float((chosen + rejected).sum()) / max(int(total.sum()), 1), 4
                ),
                "prompt_length": percentiles(prompt),
                "chosen_length": percentiles(chosen),
                "rejected_length": percentiles(rejected),
                "_lengths": prompt + np.maximum(chosen, rejected),
                "_trainable_shares": (chosen + rejected) / np.maximum(total, 1),
            }
    return out


def _count(value: int) -> str:
    return f"{value:,}"


def source_table(sources: list[dict[str, Any]]) -> list[str]:
    """Per source: rows read, selected by the mix, out, rejected; tokens; share of the
    output (rows and tokens). The prepare summary and ``dataprep stats`` print it."""
    head = ("source", "format", "amount", "read", "selected", "out", "rejected", "tokens",
            "trainable", "share")  # fmt: skip
    table = [head]
    for s in sources:
        name = s["name"] + (" [eval]" if s.get("eval") else "")
        table.append((name, s.get("format") or "-", s.get("amount") or "-", _count(s["rows_read"]),
                      _count(s["rows_selected"]), _count(s["rows_out"]), _count(s["rows_rejected"]),
                      _count(s["tokens"]), _count(s["trainable_tokens"]),
                      f"{s['share']:.1%} rows, {s['token_share']:.1%} tokens"))  # fmt: skip
    widths = [max(len(row[c]) for row in table) for c in range(len(head))]
    lines = ["sources:"]
    for row in table:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2])]
        cells += [row[c].rjust(widths[c]) for c in range(3, len(head) - 1)]
        cells.append(row[-1])
        lines.append("  " + "  ".join(cells))
    for s in sources:
        if s["rejected"]:
            reasons = ", ".join(f"{code} {n}" for code, n in s["rejected"].items())
            lines.append(f"  {s['name']}: rejected {reasons}")
    return lines


# --- a dataset file ----------------------------------------------------------------------


def file_stats(
    path: str,
    *,
    tokenizer: str | None,
    chat_template: str | None,
    fields: list[str],
    roles: list[str],
    format_: str | None,
) -> dict[str, Any]:
    """Rows, turns, roles, lengths (tokens with a tokenizer, else characters), trainable
    share (with a tokenizer) and exact duplicates of one dataset file."""
    from dataprep.canonical import Conversation, Preference, Unpaired
    from dataprep.errors import RowError
    from dataprep.formats.mapping import Mapping
    from dataprep.prepare.encode.workers import content_key
    from dataprep.prepare.pipeline import peek_format
    from dataprep.reading import read_records
    from dataprep.validate.canonical_row import to_canonical

    mapping = Mapping.from_specs(fields, roles)
    file_format = format_ or peek_format(path, mapping)[0]
    encoder = _encoder(tokenizer, chat_template, file_format) if tokenizer else None
    rows = 0
    problems: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    role_counts: Counter[str] = Counter()
    turns: list[int] = []
    lengths: list[int] = []
    trainable = total = tool_calls = duplicates = 0
    seen: set[bytes] = set()
    batch: list[Any] = []

    def flush() -> None:
        nonlocal trainable, total
        if encoder is None or not batch:
            batch.clear()
            return
        for kind, cls, encode in (
            ("sft", Conversation, encoder.encode_sft),
            ("dpo", Preference, encoder.encode_dpo),
            ("kto", Unpaired, encoder.encode_kto),
        ):
            group = [e for e in batch if isinstance(e, cls)]
            if not group:
                continue
            for enc in encode(group):
                if isinstance(enc, RowError):
                    problems[enc.code] += 1
                elif kind == "kto":
                    lengths.append(len(enc.prompt_ids) + len(enc.completion_ids))
                    total += len(enc.prompt_ids) + len(enc.completion_ids)
                    trainable += len(enc.completion_ids)
                elif kind == "sft":
                    lengths.append(len(enc.input_ids))
                    total += len(enc.input_ids)
                    trainable += int((enc.labels[1:] != IGNORE).sum())
                else:
                    n = len(enc.prompt_ids) * 2 + len(enc.chosen_ids) + len(enc.rejected_ids)
                    lengths.append(
                        len(enc.prompt_ids) + max(len(enc.chosen_ids), len(enc.rejected_ids))
                    )
                    total += n
                    trainable += len(enc.chosen_ids) + len(enc.rejected_ids)
        batch.clear()

    for record in read_records(path):
        rows += 1
        if record.problem is not None:
            problems[record.problem.code] += 1
            continue
        try:
            example, name, _, _ = to_canonical(
                record.value, file_format, mapping, forced=format_ is not None
            )
        except RowError as e:
            problems[e.code] += 1
            continue
        formats[name] += 1
        key = content_key(example)
        duplicates += key in seen
        seen.add(key)
        if isinstance(example, Conversation):
            messages = example.messages
        elif isinstance(example, Preference):
            messages = [*example.prompt, *example.chosen]
        else:
            messages = [*example.prompt, *example.completion]
        turns.append(len(messages))
        role_counts.update(m.role for m in messages)
        tool_calls += sum(len(m.tool_calls or ()) for m in messages)
        if encoder is None:
            lengths.append(sum(len(m.content or "") for m in messages))
        else:
            batch.append(example)
            if len(batch) >= 256:
                flush()
    flush()
    return {
        "source": path,
        "prepared": False,
        "format": file_format,
        "formats": dict(formats.most_common()),
        "rows": rows,
        "problems": dict(problems.most_common()),
        "turns": percentiles(turns),
        "roles": dict(role_counts.most_common()),
        "tool_calls": tool_calls,
        "unit": "tokens" if encoder is not None else "characters",
        "length": percentiles(lengths),
        "trainable_share": round(trainable / total, 4) if encoder is not None and total else None,
        "duplicates": duplicates,
        "_lengths": lengths,
    }


def _encoder(tokenizer: str, chat_template: str | None, file_format: str | None) -> Any:
    from dataprep.prepare.encode.encoder import Encoder
    from dataprep.prepare.template.choice import (
        load_tokenizer,
        needs_chat_template,
        resolve_template,
    )
    from dataprep.prepare.template.special_tokens import add_template_tokens

    tok = load_tokenizer(tokenizer)
    mask = "completion" if file_format == "prompt-completion" else "assistant"
    template = resolve_template(tok, chat_template, required=needs_chat_template([file_format]))
    add_template_tokens(tok, template)  # counted as prepare would tokenize them
    return Encoder(tok, template, mask=mask)
