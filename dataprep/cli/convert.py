"""``dataprep convert``: one format to another, streaming, nothing dropped silently."""

from __future__ import annotations

import click

from dataprep.cli._inputs import one_file
from dataprep.cli._options import format_option, hub_options, jobs_option, mapping_options
from dataprep.cli._output import echo_json, plural, table
from dataprep.cli._rows import max_row_bytes_option
from dataprep.cli.detect import mapping_from
from dataprep.convert import Conversion, convert_file
from dataprep.formats import FORMATS


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", metavar="IN")
@click.option(
    "--to", "to", type=click.Choice(list(FORMATS)), required=True, help="The format to write."
)
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    metavar="OUT",
    help="Where to write: .jsonl (default), .json or .parquet by extension, .gz/.zst to "
    "compress; - for stdout.",
)
@click.option(
    "--allow-lossy",
    is_flag=True,
    help="Convert rows even when the target cannot hold everything; the summary says what was dropped.",
)
@click.option(
    "--standard",
    "form",
    flag_value="standard",
    help="With --to preference, kto or prompt-completion: write TRL's standard form "
    "(prompt and answers as strings). Refused per row where that would lose something "
    "(a system message, earlier turns, tool use) unless --allow-lossy.",
)
@click.option(
    "--conversational",
    "form",
    flag_value="conversational",
    help="With --to preference, kto or prompt-completion: write TRL's conversational form "
    "(message lists). Default for both: each row keeps the form it came in.",
)
@click.option(
    "--rejects",
    metavar="PATH",
    help="Where rows that cannot be converted go (default: OUT.rejects.jsonl; for stdout, "
    "IN's name + .rejects.jsonl here). Written only when a row is rejected.",
)
@format_option("--from", "from_format")
@mapping_options
@hub_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (on stderr).")
@jobs_option
@max_row_bytes_option
@click.pass_context
def convert(
    ctx: click.Context,
    source: str,
    to: str,
    output: str,
    allow_lossy: bool,
    form: str | None,
    rejects: str | None,
    from_format: str | None,
    fields: tuple[str, ...],
    roles: tuple[str, ...],
    as_json: bool,
    jobs: int | None,
    split: str | None,
    subset: str | None,
    revision: str | None,
) -> None:
    """Convert IN to another format, streaming, losing nothing silently.

    Each row is read as the format its shape shows (a mixed file converts row by
    row), mapped with --field/--role first. A conversion that would lose something
    (several turns or tool calls into alpaca, a preference pair into SFT, ...) is
    refused for that row unless --allow-lossy, and then the summary counts what
    was dropped (two turns left side by side are merged, a blank line between, so
    every row written validates). --standard/--conversational choose TRL's string or
    message-list form of preference, kto and prompt-completion rows. Rows that cannot
    be converted go to the rejects file with their line and reason. The summary (on stderr) always shows rows in = rows out + rows rejected.
    The output appears only when complete.

    \b
    Examples:
      dataprep convert data.jsonl --to messages -o clean.jsonl
      dataprep convert chat.parquet --to alpaca -o alpaca.json --allow-lossy
      dataprep convert dialogs.jsonl --to sharegpt --field messages=dialog | head
      dataprep convert org/dataset --split test --to messages -o test.jsonl
      dataprep convert pairs.jsonl --to preference --conversational -o chat_pairs.jsonl

    Exit 0 when every row was converted; 1 when some were rejected; 2 for a wrong
    command line (or a Hub dataset not in the cache while offline). Use - for stdin;
    ORG/NAME or hf://datasets/ORG/NAME for a Hub dataset (one file: a split held in
    several is refused with their names).
    """
    mapping = mapping_from(fields, roles)
    conversion = convert_file(
        one_file(source, split, subset, revision),
        output,
        to,
        allow_lossy=allow_lossy,
        rejects=rejects,
        mapping=mapping,
        from_format=from_format,
        jobs=jobs,
        form=form,
    )
    if as_json:
        echo_json(conversion.to_json(), err=True)  # the data may be on stdout; the summary never is
    else:
        for line in summary(conversion):
            click.echo(line, err=True)
    ctx.exit(conversion.exit_code)


def summary(c: Conversion) -> list[str]:
    """The summary block: where from and to, the row equation, what was dropped, why rows
    were rejected."""
    where = "stdout" if c.output == "-" else c.output
    sources = ", ".join(f"{fmt} {n}" for fmt, n in c.formats.most_common())
    out = [f"{c.source} -> {where} ({c.target}): {c.summary_line()}"]
    if len(c.formats) > 1:
        out.append(f"  read as: {sources} (the file mixes formats)")
    for kinds, n in c.ambiguous.most_common():
        first = kinds.split("|")[0]
        out.append(
            f"  {plural(n, 'row')} fit {kinds.replace('|', ' and ')}: read as {first} "
            "(pass --from to choose)"
        )
    if c.dropped:
        out.append("dropped (--allow-lossy):")
        out += table((word, plural(n, "row")) for word, n in c.dropped.most_common())
    if c.notes:
        out.append("notes:")
        out += table((word, plural(n, "row")) for word, n in c.notes.most_common())
    if c.rejected:
        out.append(f"rejected, written to {c.rejects_path}:")
        rows = []
        for code, n in c.reasons.most_common():
            line, message = c.examples[code]
            rows.append((code, n, f"first at line {line}: {message}"))
        out += table(rows)
        if "lossy" in c.reasons:
            out.append(
                "hint: --allow-lossy converts the lossy rows, dropping what the target cannot hold"
            )
    return out
