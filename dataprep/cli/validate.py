"""``dataprep validate``: schema and meaning checks, every problem with file:line and a code."""

from __future__ import annotations

import click

from dataprep.cli._inputs import input_files
from dataprep.cli._options import format_option, hub_options, jobs_option, mapping_options
from dataprep.cli._output import echo_json, plural, table
from dataprep.cli._rows import max_row_bytes_option
from dataprep.cli.detect import mapping_from
from dataprep.validate.files import FileResult, Validation, validate_files


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@format_option("--format", "fmt")
@click.option(
    "--strict",
    is_flag=True,
    help="Treat warnings (duplicate rows, repeated roles where the format allows them, no user turn) as errors.",
)
@click.option(
    "--max-errors",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Show at most this many problems (all are counted).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON document: problems, counts, rows, formats."
)
@mapping_options
@hub_options
@jobs_option
@max_row_bytes_option
@click.pass_context
def validate(
    ctx: click.Context,
    files: tuple[str, ...],
    fmt: str | None,
    strict: bool,
    max_errors: int,
    as_json: bool,
    fields: tuple[str, ...],
    roles: tuple[str, ...],
    jobs: int | None,
    split: str | None,
    subset: str | None,
    revision: str | None,
) -> None:
    """Check each FILE against its format's schema and meaning.

    Every problem is reported as FILE:LINE: FIELD.PATH: MESSAGE [REASON-CODE], the
    first --max-errors of them shown and all counted, then a summary of counts by
    reason. Meaning checks: unknown roles, empty, null or non-string content, turns
    that repeat a role, conversations not ending with the assistant, a system message
    not first, tool results without their call, tool arguments that are not JSON
    (bad-tool-arguments) or are JSON-encoded twice (tool-args-double-encoded), chosen
    equal to rejected, chosen and rejected with different prompts, chat template tokens
    leaked into text, and two warnings: assistant turns with no user turn
    (no-user-turn), duplicate rows. `dataprep prepare` rejects the rows this reports
    errors for.

    \b
    Examples:
      dataprep validate data.jsonl
      dataprep validate train.parquet --format preference --strict
      dataprep validate dialogs.jsonl --field messages=dialog --role bot=assistant
      dataprep validate data.jsonl --json | jq .counts
      dataprep validate org/dataset --subset en --split test

    Exit 0 when no errors were found (warnings alone pass, unless --strict); 1 when
    there were; 2 for a wrong command line (or a Hub dataset not in the cache while
    offline). Use - for stdin; ORG/NAME or hf://datasets/ORG/NAME for a Hub dataset.
    """
    mapping = mapping_from(fields, roles)
    paths = [f.path for f in input_files(files, split, subset, revision)]
    validation = validate_files(
        paths, fmt=fmt, mapping=mapping, strict=strict, max_errors=max_errors, jobs=jobs
    )
    if as_json:
        echo_json(validation.to_json())
    else:
        for line in report(validation):
            click.echo(line)
    ctx.exit(validation.exit_code)


def report(validation: Validation) -> list[str]:
    """The text report: problems shown, how many more, then a summary per file."""
    log = validation.log
    out = [str(p) for p in log.kept]
    hidden = len(log) - len(log.kept)
    if hidden:
        out.append(
            f"... and {plural(hidden, 'more problem')} not shown "
            f"(--max-errors {log.max_kept} shown; raise it to see more)"
        )
    if out:
        out.append("")
    for f in validation.files:
        head = f"{f.source}: {f.format or _status(f)}, {plural(f.rows, 'row')}"
        if not f.errors and not f.warnings:
            out.append(f"{head}: no problems")
        else:
            counts = [plural(f.errors, "error")]
            if f.warnings:
                counts.append(plural(f.warnings, "warning"))
            out.append(f"{head}: {', '.join(counts)}")
        out += [f"  note: {note}" for note in f.notes]
        if not f.errors and not f.warnings:
            continue
        out += table(
            (code, n, _warning_note(n, f.warning_counts[code]))
            for code, n in sorted(f.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )
    if len(validation.files) > 1:
        out.append(
            f"total: {plural(len(validation.files), 'file')}, {plural(validation.rows, 'row')}: "
            f"{plural(validation.errors, 'error')}, {plural(validation.warnings, 'warning')}"
        )
    return out


def _warning_note(n: int, warnings: int) -> str:
    if not warnings:
        return ""
    return "(warning)" if warnings == n else f"({plural(warnings, 'warning')})"


def _status(f: FileResult) -> str:
    if f.detection is None:
        return "unreadable"
    return f.detection.status
