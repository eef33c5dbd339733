"""``dataprep stats``: what a dataset file or a prepared folder holds, in numbers.

The numbers come from ``dataprep.stats``; this module parses options, prints and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dataprep.cli._inputs import one_file
from dataprep.cli._options import format_option, hub_options, mapping_options, tokenizer_option
from dataprep.cli._rows import max_row_bytes_option
from dataprep.cli._template import chat_template_option
from dataprep.stats import file_stats, folder_stats, histogram


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() or x >= 100 else f"{x:,.1f}"


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
    out = [head, *(f"  {k.ljust(width)}  {v}" for k, v in lines)]
    if stats.get("sources"):
        from dataprep.stats import source_table

        out += source_table(stats["sources"])
    return out


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
# Not click.Path(exists=True): SOURCE may be a Hub id (see one_file).
@click.argument("source", metavar="FILE|DIR")
@tokenizer_option("Count tokens, and the trainable share, with this tokenizer")
@chat_template_option
@mapping_options
@hub_options
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
          plot_path: str | None, as_json: bool, split: str | None, subset: str | None,
          revision: str | None) -> None:  # fmt: skip
    """Rows, turns, roles, lengths, trainable share and duplicates of FILE or DIR.

    \b
    FILE is any dataset file `dataprep detect` reads: lengths are in characters, or in
    tokens with --tokenizer (which also gives the trainable share). DIR is a folder
    written by `dataprep prepare`: lengths are in tokens, per split, from the Arrow data.
    FILE may be a Hub dataset (ORG/NAME, hf://datasets/ORG/NAME[@REV][/PATH]) whose
    split is one file (see --split; offline it is read from the Hugging Face cache).
    A histogram of lengths is drawn in the terminal, and as a PNG with --plot.

    \b
    Examples:
      dataprep stats data.jsonl
      dataprep stats data.jsonl --tokenizer ./tok --plot lengths.png
      dataprep stats prepared/ --json
      dataprep stats hf://datasets/org/dataset/data/train.jsonl
    """
    from dataprep.errors import UsageError
    from dataprep.formats import FORMATS
    from dataprep.prepare.output import is_prepared_folder

    if format_ is not None and format_ not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    if Path(source).is_dir() and is_prepared_folder(source):
        if split or subset or revision:
            raise UsageError(
                "--split, --subset and --revision apply to a data file, not a prepared folder"
            )
        result = folder_stats(source)
        lengths = result["splits"]["train"]["_lengths"]
        unit = {"sft": "tokens per document", "kto": "tokens per example"}.get(
            result["kind"], "tokens per pair"
        )
        max_length = result["max_length"]
    else:
        if source == "-":
            raise UsageError("stats reads a file or folder, not stdin (-)")
        result = file_stats(
            one_file(source, split, subset, revision), tokenizer=tokenizer, chat_template=chat_template,
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
