"""``dataprep detect``: the format of each file, from every row, with the evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dataprep.cli._inputs import input_files
from dataprep.cli._options import hub_options, mapping_options
from dataprep.cli._output import echo_json, lines_text, plural, table
from dataprep.cli._rows import max_row_bytes_option
from dataprep.detect import Detection, detect_rows
from dataprep.errors import InputError

if TYPE_CHECKING:
    from dataprep.formats.mapping import Mapping

KEYS_SHOWN = 12


def mapping_from(fields: tuple[str, ...], roles: tuple[str, ...]) -> Mapping | None:
    """The ``--field``/``--role`` mapping, or None when neither was given."""
    if not fields and not roles:
        return None
    from dataprep.formats.mapping import Mapping

    return Mapping.from_specs(fields=fields, roles=roles)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON document with every file's evidence."
)
@mapping_options
@hub_options
@max_row_bytes_option
@click.pass_context
def detect(
    ctx: click.Context,
    files: tuple[str, ...],
    as_json: bool,
    fields: tuple[str, ...],
    roles: tuple[str, ...],
    split: str | None,
    subset: str | None,
    revision: str | None,
) -> None:
    """Tell the format of each FILE, decided from every row, with the evidence.

    Every row is shown to every format; the keys seen and the lines of each kind are
    reported. A file whose rows disagree is "mixed" (with the lines of each kind);
    one whose rows fit several formats alike is "ambiguous" (pass --format to
    validate or --from to convert); one that fits none is "unknown", with the
    closest format and, when it can be guessed, the --field that would fix it.

    \b
    Examples:
      dataprep detect data.jsonl
      dataprep detect dialogs.jsonl --field messages=dialog --role bot=assistant
      dataprep detect train.parquet eval.jsonl --json
      dataprep detect HuggingFaceH4/ultrachat_200k --split train_sft

    Exit 0 when every file has one format and every row reads; 1 otherwise; 2 for
    a wrong command line (or a Hub dataset not in the cache while offline).
    Use - for stdin; ORG/NAME or hf://datasets/ORG/NAME for a Hub dataset.
    """
    from dataprep.reading import read_records

    mapping = mapping_from(fields, roles)
    reports = []
    all_single = True
    for path in (f.path for f in input_files(files, split, subset, revision)):
        try:
            records = read_records(path)
            detection = detect_rows(records, source=path, mapping=mapping)
            notes = list(getattr(getattr(records, "info", None), "notes", []) or [])
            error = None
        except InputError as e:
            detection, notes, error = None, [], e
        all_single = all_single and detection is not None and detection.is_single
        reports.append((path, detection, notes, error))

    if as_json:
        docs = []
        for path, detection, notes, error in reports:
            if detection is None:
                docs.append(
                    {
                        "source": path,
                        "status": "unreadable",
                        "error": error.message,
                        "code": error.code,
                    }
                )
            else:
                docs.append({**detection.to_json(), "notes": notes})
        echo_json({"ok": all_single, "files": docs})
    else:
        for i, (path, detection, notes, error) in enumerate(reports):
            if i:
                click.echo()
            if detection is None:
                click.echo(f"{path}: cannot be read: {error.message} [{error.code}]")
                continue
            for line in describe(detection, notes):
                click.echo(line)
    ctx.exit(0 if all_single else 1)


def describe(d: Detection, notes: list[str] | None = None) -> list[str]:
    """The text block for one file."""
    out = [f"{d.source}: {d.message}"]
    for note in notes or ():
        out.append(f"  note: {note}")
    if d.status != "ok" and d.kinds:
        out += table(
            (kind, plural(n, "row"), lines_text(d.lines[kind], n))
            for kind, n in d.kinds.most_common()
        )
    for name, reasons in d.evidence.items():
        said = ", ".join(f"{words} ({plural(n, 'row')})" for words, n in reasons.items())
        out.append(f"  why {name}: {said}")
    if d.keys:
        keys = d.keys.most_common(KEYS_SHOWN)
        shown = ", ".join(f"{k} ({n})" for k, n in keys)
        if len(d.keys) > KEYS_SHOWN:
            shown += f", and {plural(len(d.keys) - KEYS_SHOWN, 'more key')}"
        out.append(f"  keys: {shown}")
    if d.unreadable:
        out.append(
            f"  unreadable: {plural(d.unreadable, 'row')} "
            f"({lines_text(d.unreadable_lines, d.unreadable)}); dataprep validate says why"
        )
    for problem in d.file_problems:
        out.append(f"  problem: {problem}")
    if d.hint:
        reads = f" (reads as {d.proposals[0]['format']})" if d.proposals else ""
        out.append(f"  try: {d.hint}{reads}")
    # The other checked mappings: another format may be what the user meant.
    for proposal in d.proposals[1:]:
        out.append(f"   or: {proposal['args']} (reads as {proposal['format']})")
    return out
