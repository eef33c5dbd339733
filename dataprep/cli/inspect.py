"""``dataprep inspect``: one prepared row, with the tokens that are trained highlighted."""

from __future__ import annotations

import sys
from typing import Any

import click

from dataprep.cli._options import tokenizer_option
from dataprep.contract import Manifest
from dataprep.errors import UsageError

# The token view is the library's (dataprep.token_view), shared with `dataprep ui`.
from dataprep.token_view import TokenText, documents

# Colours in a terminal; markers that survive a pipe, a log file or a bug report otherwise.
TRAINED_OPEN, TRAINED_CLOSE = "«", "»"


def load_row(folder: str, split: str, index: int) -> tuple[Manifest, dict[str, list[int]], int]:
    """The manifest, row ``index`` of ``split`` as lists, and the split's row count."""
    from dataprep.contract import ManifestDamaged, ManifestMissing, read_manifest
    from dataprep.prepare.output import read_split, split_folders

    try:
        manifest = read_manifest(folder)
    except ManifestMissing:
        raise UsageError(
            f"{folder} is not a prepared folder (no dataprep.json); run dataprep prepare first"
        ) from None
    except ManifestDamaged as e:
        raise UsageError(
            f"{folder}/dataprep.json is damaged ({e.problem}); run dataprep prepare again"
        ) from None
    splits = split_folders(folder)
    if split not in splits:
        raise UsageError(f"{folder} has no {split} split (it has: {', '.join(splits)})")
    table = read_split(splits[split])
    if not -table.num_rows <= index < table.num_rows:
        raise UsageError(
            f"--row {index} is out of range: the {split} split has {table.num_rows} rows"
        )
    index %= table.num_rows
    row = {name: table.column(name)[index].as_py() for name in table.column_names}
    return manifest, row, table.num_rows


def highlighted(tokens: list[dict[str, Any]], text: TokenText, color: bool) -> str:
    """Decoded text with trained runs highlighted. Runs are decoded whole, so characters
    spanning several byte-level tokens come out right."""
    out: list[str] = []
    run: list[int] = []
    trained = None
    for token in [*tokens, None]:
        flag = None if token is None else token["trained"]
        if flag != trained and run:
            chunk = text.decode(run)
            if trained:
                chunk = (
                    click.style(chunk, fg="green", bold=True)
                    if color
                    else f"{TRAINED_OPEN}{chunk}{TRAINED_CLOSE}"
                )
            elif color:
                chunk = click.style(chunk, dim=True)
            out.append(chunk)
            run = []
        if token is not None:
            run.append(token["id"])
            trained = flag
    return "".join(out)


@click.command()
@click.argument("folder", type=click.Path(exists=True), metavar="DIR")
@click.option(
    "--row",
    "index",
    type=int,
    default=0,
    show_default=True,
    help="Row to show (negative counts from the end).",
)
@click.option("--split", type=click.Choice(["train", "eval"]), default="train", show_default=True)
@tokenizer_option("Decode with this tokenizer", default="the one in dataprep.json")
@click.option(
    "--tokens",
    "per_token",
    is_flag=True,
    help="Also list every token: position, id, text, trained.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print [{"doc", "tokens": [{"id", "text", "trained"}]}].',
)
@click.pass_context
def inspect(ctx: click.Context, folder: str, index: int, split: str, tokenizer: str | None,
            per_token: bool, as_json: bool) -> None:  # fmt: skip
    """Show row N of a prepared folder with its trained tokens highlighted.

    \b
    Trained text is green in a terminal and «between markers» when piped. In packed
    rows each document starts with a separator line giving its index and length, so
    you can see that documents stay apart and that every assistant turn ends with its
    end-of-turn token trained, and no role header is.

    \b
    Examples:
      dataprep inspect prepared/ --row 0
      dataprep inspect prepared/ --row -1 --split eval --tokens
      dataprep inspect prepared/ --row 3 --json | jq '.[0].tokens[:5]'
    """
    manifest, row, count = load_row(folder, split, index)
    tok = manifest.tokenizer
    if not (tokenizer or tok.name_or_path):
        raise UsageError(f"{folder}/dataprep.json names no tokenizer: pass --tokenizer")
    text = TokenText(
        tokenizer or tok.name_or_path or "",
        None if tokenizer else tok.folder,
        tok.added_tokens,
    )
    docs = documents(row, text)
    if as_json:
        import orjson

        click.echo(orjson.dumps(docs).decode())
        ctx.exit(0)
    color = sys.stdout.isatty()
    n_tokens = sum(len(d["tokens"]) for d in docs)
    n_trained = sum(t["trained"] for d in docs for t in d["tokens"])
    plural = "" if len(docs) == 1 else "s"
    what = (
        f"{len(docs)} document{plural}"
        if "part" not in docs[0]
        else " / ".join(d["part"] for d in docs)
    )
    click.echo(
        f"row {index % count} of {count} ({split}) · {n_tokens:,} tokens · {n_trained:,} trained · {what}"
    )
    if not color:
        click.echo(f"(trained text is {TRAINED_OPEN}between markers{TRAINED_CLOSE})")
    for doc in docs:
        trained = sum(t["trained"] for t in doc["tokens"])
        label = doc.get("part") or f"document {doc['doc']}"
        line = f"── {label} · {len(doc['tokens'])} tokens · {trained} trained "
        click.echo(click.style(line.ljust(72, "─"), fg="cyan") if color else line.ljust(72, "─"))
        click.echo(highlighted(doc["tokens"], text, color))
        if per_token:
            for pos, t in enumerate(doc["tokens"]):
                mark = "T" if t["trained"] else "·"
                click.echo(f"  {pos:>6}  {t['id']:>7}  {mark}  {t['text']!r}")
    ctx.exit(0)
