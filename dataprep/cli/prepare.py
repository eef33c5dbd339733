"""``dataprep prepare``: template, tokenize, mask and pack data for one model."""

from __future__ import annotations

import sys
from typing import Any

import click

from dataprep.cli._rows import max_row_bytes_option
from dataprep.cli._template import template_options
from dataprep.formats import FORMATS

KINDS = ("sft", "dpo", "kto")
MASKS = ("assistant", "last", "all", "completion")
OVERLONG = ("drop", "truncate", "split")


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="IN...")
@click.option(
    "--tokenizer",
    required=True,
    help="Tokenizer folder, or a name in the local Hugging Face cache.",
)
@click.option("--max-length", type=click.IntRange(min=2), required=True, help="Tokens per row.")
@click.option(
    "-o", "--output", required=True, type=click.Path(file_okay=False), help="Output folder."
)
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    help="sft, dpo (preference pairs) or kto (labelled answers) [default: from the input format].",
)
@click.option(
    "--mask",
    type=click.Choice(MASKS),
    help="Which tokens are trained [default: completion for prompt-completion input, else assistant].",
)
@click.option(
    "--pack/--no-pack",
    default=None,
    help="Pack SFT documents into full rows [default: pack; DPO and KTO never].",
)
@click.option(
    "--overlong",
    type=click.Choice(OVERLONG),
    default="drop",
    show_default=True,
    help="What to do with an example longer than --max-length.",
)
@template_options
@click.option("--system", help="System prompt for conversations that have none.")
@click.option(
    "--eval-fraction",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Share of rows for an eval split (deterministic, by content hash and --seed).",
)
@click.option(
    "--dedup", is_flag=True, help="Remove exact duplicate rows (counted, in rejects.jsonl)."
)
@click.option(
    "--num-proc",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes; given, it is used as it is. [default: none (the main process "
    "alone) for inputs under 2 MB, above that one per MB of input, at most one per core, up to 8]",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the eval split.")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="OURS=YOURS",
    help="Read the key YOURS as our field OURS.",
)
@click.option(
    "--role", "roles", multiple=True, metavar="YOURS=OURS", help="Read the role YOURS as OURS."
)
@click.option(
    "--format",
    "format_",
    type=click.Choice(list(FORMATS)),
    help="Input format [default: detected].",
)
@click.option(
    "--accept",
    "accept",
    multiple=True,
    metavar="CODE",
    help="Train rows that `dataprep validate` fails with this error code anyway "
    "(repeatable; counted in the manifest), e.g. --accept consecutive-roles.",
)
@click.option("--force", is_flag=True, help="Rebuild even when the output is up to date.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the manifest as JSON instead of the summary."
)
@max_row_bytes_option
@click.pass_context
def prepare(ctx: click.Context, inputs: tuple[str, ...], tokenizer: str, max_length: int, output: str,
            kind: str | None, mask: str | None, pack: bool | None, overlong: str,
            chat_template: str | None, system: str | None, thinking: str,
            template_kwargs: dict[str, Any], eval_fraction: float, dedup: bool,
            num_proc: int | None, seed: int, fields: tuple[str, ...], roles: tuple[str, ...],
            format_: str | None, accept: tuple[str, ...], force: bool,
            as_json: bool) -> None:  # fmt: skip
    """Template, tokenize, mask and pack IN... for one tokenizer, into an Arrow folder.

    \b
    Every input format `dataprep detect` knows is accepted; rows that cannot be read,
    converted or kept are counted by reason and written to DIR/rejects.jsonl
    (rows in = rows out + rows rejected). A row that `dataprep validate` reports an
    error for is rejected under its code (--accept CODE keeps it); its warnings are
    counted in the summary. The folder opens with
    datasets.load_from_disk and holds dataprep.json, the manifest `train` reads.
    A second run with the same inputs and options reuses the folder (--force rebuilds).

    \b
    Examples:
      dataprep prepare chats.jsonl --tokenizer ./tok --max-length 4096 -o prepared/
      dataprep prepare pairs.jsonl --tokenizer ./tok --max-length 2048 -o dpo/ --kind dpo
      dataprep prepare kto_en_demo.json --tokenizer ./tok --max-length 2048 -o kto/
      dataprep prepare data.jsonl --tokenizer ./tok --max-length 2048 -o out/ \\
          --chat-template chatml --eval-fraction 0.05 --dedup --num-proc 4

    Exit codes: 0 done (rejects are normal), 1 nothing left to write, 2 usage error.
    """
    from dataprep.prepare.pipeline import NothingLeft, PrepareOptions
    from dataprep.prepare.pipeline import prepare as run_prepare

    options = PrepareOptions(
        inputs=list(inputs),
        tokenizer=tokenizer,
        max_length=max_length,
        output=output,
        kind=kind,
        mask=mask,
        pack=pack,
        overlong=overlong,
        chat_template=chat_template,
        system=system,
        eval_fraction=eval_fraction,
        dedup=dedup,
        num_proc=num_proc,
        seed=seed,
        fields=list(fields),
        roles=list(roles),
        format=format_,
        force=force,
        thinking=thinking,
        template_kwargs=template_kwargs,
        accept=list(accept),
    )
    bar: Any = None

    def on_start(total: int | None) -> None:
        nonlocal bar
        from tqdm import tqdm

        # disable=None: a bar only when stderr is a terminal.
        bar = tqdm(
            total=total, unit=" rows", file=sys.stderr, disable=None, mininterval=0.5, leave=False
        )

    def on_rows(n: int) -> None:
        if bar is not None:
            bar.update(n)

    try:
        result = run_prepare(options, on_start=on_start, on_rows=on_rows)
    except NothingLeft as e:
        if bar is not None:
            bar.close()
        click.echo(summary(e.result.manifest, output), err=True)
        for shown in e.result.rejects_shown:
            click.echo(
                f"{shown['source']}:{shown['line']}: {shown['message']} [{shown['code']}]", err=True
            )
        raise
    finally:
        if bar is not None:
            bar.close()
    manifest = result.manifest
    if as_json:
        import orjson

        click.echo(orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode())
    elif result.cached:
        click.echo(
            f"{output}: up to date (fingerprint {manifest['fingerprint'][:12]}); use --force to rebuild"
        )
    else:
        click.echo(summary(manifest, output))
    ctx.exit(0)


def _n(value: int) -> str:
    return f"{value:,}"


def summary(manifest: dict[str, Any], output: str) -> str:
    """The end-of-run table: rows in/out/rejected by reason, tokens, packing, time."""
    counts = manifest["counts"]
    tokens = manifest["tokens"]
    lines = []
    mode = manifest["kind"] + (", packed" if manifest["packing"] else "")
    lines.append(f"prepared {output} ({mode}, max length {manifest['max_length']})")
    rows: list[tuple[str, str]] = [
        ("rows in", _n(counts["rows_in"])),
        ("rows out", _n(counts["rows_out"])),
        ("rows rejected", _n(counts["rows_rejected"])),
    ]
    rows += [(f"  {code}", _n(n)) for code, n in counts["rejected"].items()]
    # .get: a manifest written before the row checks gated prepare has neither.
    if counts.get("rows_accepted"):
        rows.append(("rows kept with --accept", _n(counts["rows_accepted"])))
        rows += [(f"  {code}", _n(n)) for code, n in counts["accepted"].items()]
    if counts.get("rows_warned"):
        rows.append(("rows with warnings", _n(counts["rows_warned"])))
        rows += [(f"  {code}", _n(n)) for code, n in counts["warnings"].items()]
    if counts["truncated"]:
        rows.append(("truncated", _n(counts["truncated"])))
    if counts["split"]:
        rows.append(
            (
                "split",
                f"{_n(counts['split'])} (pieces without a trained token dropped: {counts['pieces_dropped']})",
            )
        )
    for name, split in manifest["splits"].items():
        what = "packed rows" if manifest["packing"] else "rows"
        rows.append((f"{name}", f"{_n(split['rows'])} {what}, {_n(split['documents'])} documents"))
    trainable = tokens["trainable"]
    share = f" ({trainable / tokens['total']:.1%})" if tokens["total"] else ""
    if manifest.get("labels"):
        labels = manifest["labels"]
        rows.append(
            (
                "labels",
                f"{_n(labels['desirable'])} desirable, {_n(labels['undesirable'])} undesirable",
            )
        )
    rows.append(("tokens", _n(tokens["total"])))
    rows.append(("trainable tokens", _n(trainable) + share))
    if manifest["packing"]:
        rows.append(("packing efficiency", f"{manifest['packing_efficiency']:.2%}"))
    rows.append(("time", f"{manifest['seconds']:.1f} s"))
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    lines.append(
        f"rows in = rows out + rows rejected: {counts['rows_in']} = {counts['rows_out']} + {counts['rows_rejected']}"
    )
    for note in manifest.get("notes") or []:
        lines.append(f"note: {note}")
    if counts["rows_rejected"] and counts["rows_out"]:
        lines.append(f"rejects: {output.rstrip('/')}/rejects.jsonl")
    return "\n".join(lines)
