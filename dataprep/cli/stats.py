"""``dataprep stats``: what a dataset file or a prepared folder holds, in numbers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click

from dataprep.cli._options import format_option, mapping_options, tokenizer_option
from dataprep.cli._rows import max_row_bytes_option
from dataprep.cli._template import chat_template_option
from dataprep.contract import IGNORE_INDEX as IGNORE

BLOCKS = " ▏▎▍▌▋▊▉█"  # eighths of a character cell


def percentiles(values: list[int] | Any) -> dict[str, Any]:
    import numpy as np

    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return {"count": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "count": len(values),
        "mean": round(float(values.mean()), 1),
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


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() or x >= 100 else f"{x:,.1f}"


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
            }
    return out


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
    from dataprep.prepare.encode.workers import content_key, row_to_canonical
    from dataprep.prepare.pipeline import peek_format
    from dataprep.reading import read_records

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
            example, name = row_to_canonical(
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


# --- output ------------------------------------------------------------------------------


def _pct(p: dict[str, Any]) -> str:
    if not p.get("count"):
        return "-"
    return f"p50 {_num(p['p50'])}  p90 {_num(p['p90'])}  p99 {_num(p['p99'])}  max {p['max']:,}"


def report(stats: dict[str, Any]) -> list[str]:
    lines: list[tuple[str, str]] = []
    if stats["prepared"]:
        head = f"{stats['source']}: prepared {stats['kind']}"
        if stats.get("packing"):
            head += f", packed to {stats['max_length']:,} tokens ({stats['packing_efficiency']:.2%} full)"
        for name, s in stats["splits"].items():
            lines.append(
                (
                    name,
                    f"{s['rows']:,} rows"
                    + (f", {s['documents']:,} documents" if "documents" in s else ""),
                )
            )
            if "document_length" in s:
                lines.append(("  document length", _pct(s["document_length"])))
                lines.append(("  row length", _pct(s["row_length"])))
                lines.append(
                    ("  duplicates", f"{s['duplicate_documents']:,} exact duplicate documents")
                )
            elif "completion_length" in s:
                lines.append(
                    ("  labels", f"{s['desirable']:,} desirable, {s['undesirable']:,} undesirable")
                )
                for part in ("prompt", "completion"):
                    lines.append((f"  {part} length", _pct(s[f"{part}_length"])))
            else:
                for part in ("prompt", "chosen", "rejected"):
                    lines.append((f"  {part} length", _pct(s[f"{part}_length"])))
            lines.append(
                (
                    "  trainable",
                    f"{s['trainable_tokens']:,} of {s['tokens']:,} tokens ({s['trainable_share']:.1%})",
                )
            )
        counts = stats.get("counts") or {}
        if counts:
            rejected = (
                ", ".join(f"{n} {c}" for c, n in counts.get("rejected", {}).items()) or "none"
            )
            lines.append(
                (
                    "input rows",
                    f"{counts['rows_in']:,} in, {counts['rows_out']:,} out; rejected: {rejected}",
                )
            )
    else:
        head = f"{stats['source']}: {stats['format'] or 'unknown format'}"
        problems = ", ".join(f"{n} {c}" for c, n in stats["problems"].items())
        lines.append(("rows", f"{stats['rows']:,}" + (f" ({problems})" if problems else "")))
        if len(stats["formats"]) > 1:
            lines.append(("formats", ", ".join(f"{f} {n:,}" for f, n in stats["formats"].items())))
        lines.append(("messages per row", _pct(stats["turns"])))
        lines.append(("roles", ", ".join(f"{r} {n:,}" for r, n in stats["roles"].items()) or "-"))
        lines.append(("tool calls", f"{stats['tool_calls']:,}"))
        lines.append((f"length ({stats['unit']})", _pct(stats["length"])))
        if stats["trainable_share"] is not None:
            lines.append(("trainable share", f"{stats['trainable_share']:.1%}"))
        else:
            lines.append(("trainable share", "- (give --tokenizer)"))
        lines.append(("duplicates", f"{stats['duplicates']:,} exact duplicate rows"))
    width = max(len(k) for k, _ in lines)
    return [head, *(f"  {k.ljust(width)}  {v}" for k, v in lines)]


def plot(lengths: Any, path: str, title: str, unit: str, max_length: int | None) -> None:
    """A length histogram as a PNG (matplotlib, Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.hist(lengths, bins=50, color="#3b7dd8", edgecolor="white", linewidth=0.5)
    if max_length:
        ax.axvline(max_length, color="#d8573b", linestyle="--", label=f"max length {max_length:,}")
        ax.legend()
    ax.set_xlabel(f"length ({unit})")
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@click.command()
@click.argument("source", type=click.Path(exists=True, allow_dash=False), metavar="FILE|DIR")
@tokenizer_option("Count tokens, and the trainable share, with this tokenizer")
@chat_template_option
@mapping_options
@format_option()
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    help="Also draw the length histogram as a PNG.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@max_row_bytes_option
@click.pass_context
def stats(ctx: click.Context, source: str, tokenizer: str | None, chat_template: str | None,
          fields: tuple[str, ...], roles: tuple[str, ...], format_: str | None,
          plot_path: str | None, as_json: bool) -> None:  # fmt: skip
    """Rows, turns, roles, lengths, trainable share and duplicates of FILE or DIR.

    \b
    FILE is any dataset file `dataprep detect` reads: lengths are in characters, or in
    tokens with --tokenizer (which also gives the trainable share). DIR is a folder
    written by `dataprep prepare`: lengths are in tokens, per split, from the Arrow data.
    A histogram of lengths is drawn in the terminal, and as a PNG with --plot.

    \b
    Examples:
      dataprep stats data.jsonl
      dataprep stats data.jsonl --tokenizer ./tok --plot lengths.png
      dataprep stats prepared/ --json
    """
    from dataprep.errors import UsageError
    from dataprep.formats import FORMATS
    from dataprep.prepare.output import is_prepared_folder

    if format_ is not None and format_ not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    if Path(source).is_dir() and is_prepared_folder(source):
        result = folder_stats(source)
        lengths = result["splits"]["train"]["_lengths"]
        unit = {"sft": "tokens per document", "kto": "tokens per example"}.get(
            result["kind"], "tokens per pair"
        )
        max_length = result["max_length"]
    else:
        result = file_stats(
            source, tokenizer=tokenizer, chat_template=chat_template,
            fields=list(fields), roles=list(roles), format_=format_,
        )  # fmt: skip
        lengths = result["_lengths"]
        unit = f"{result['unit']} per row"
        max_length = None
    if plot_path:
        plot(lengths, plot_path, f"{Path(source).name}: {len(lengths):,} lengths", unit, max_length)
    public = _public(result)
    if as_json:
        import orjson

        click.echo(orjson.dumps(public, option=orjson.OPT_INDENT_2).decode())
        ctx.exit(0)
    for line in report(public):
        click.echo(line)
    bars = histogram(lengths)
    if bars:
        click.echo(f"\n  length histogram ({unit})")
        for line in bars:
            click.echo(f"  {line}")
    if plot_path:
        click.echo(f"\n  plot: {plot_path}")
    ctx.exit(0)


def _public(value: Any) -> Any:
    """The stats without the private arrays (keys starting with _)."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    return value
