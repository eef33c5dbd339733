"""``dataprep prepare``: template, tokenize, mask and pack data for one model."""

from __future__ import annotations

import sys
from typing import Any

import click

from dataprep.cli._options import (
    format_option,
    hub_options,
    mapping_options,
    system_option,
    tokenizer_option,
)
from dataprep.cli._rows import max_row_bytes_option
from dataprep.cli._template import template_options
from dataprep.contract import KINDS
from dataprep.contract import MASK_POLICIES as MASKS
from dataprep.contract import OVERLONG_POLICIES as OVERLONG


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="IN...")
@tokenizer_option()
@click.option("--max-length", type=click.IntRange(min=2), help="Tokens per row.")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output folder.")
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
@system_option
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
@click.option(
    "--engine",
    type=click.Choice(("local", "ray")),
    default="local",
    show_default=True,
    help="Where the rows are encoded: this machine (--num-proc processes) or a Ray cluster "
    '(one worker per CPU, or --num-proc; needs pip install "dataprep[ray]"). The output '
    "is the same bytes either way.",
)
@click.option(
    "--address",
    metavar="ADDR",
    help="--engine ray: the cluster's address (HOST:PORT of `ray start --head`) "
    "[default: RAY_ADDRESS, else a Ray started on this machine for the run].",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the eval split.")
@mapping_options
@hub_options
@format_option()
@click.option(
    "--accept",
    "accept",
    multiple=True,
    metavar="CODE",
    help="Train rows that `dataprep validate` fails with this error code anyway "
    "(repeatable; counted in the manifest), e.g. --accept consecutive-roles.",
)
@click.option("--dataset", "datasets", metavar="NAMES",
              help="LLaMA-Factory: the datasets of IN (a dataset_info.json) to prepare, NAME[,NAME...].")  # fmt: skip
@click.option("--dataset-dir", metavar="DIR",
              help="LLaMA-Factory: where file_name is looked for [default: IN's folder].")  # fmt: skip
@click.option("--force", is_flag=True, help="Rebuild even when the output is up to date.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the manifest as JSON instead of the summary."
)
@max_row_bytes_option
@click.pass_context
def prepare(ctx: click.Context, inputs: tuple[str, ...], tokenizer: str | None,
            max_length: int | None, output: str | None,
            kind: str | None, mask: str | None, pack: bool | None, overlong: str,
            chat_template: str | None, system: str | None, thinking: str,
            template_kwargs: dict[str, Any], eval_fraction: float, dedup: bool,
            num_proc: int | None, engine: str, address: str | None, seed: int, fields: tuple[str, ...], roles: tuple[str, ...],
            format_: str | None, accept: tuple[str, ...], datasets: str | None,
            dataset_dir: str | None, force: bool, as_json: bool, split: str | None,
            subset: str | None, revision: str | None) -> None:  # fmt: skip
    """Template, tokenize, mask and pack IN... for one tokenizer, into an Arrow folder.

    \b
    Every input format `dataprep detect` knows is accepted; rows that cannot be read,
    converted or kept are counted by reason and written to DIR/rejects.jsonl
    (rows in = rows out + rows rejected). A row that `dataprep validate` reports an
    error for is rejected under its code (--accept CODE keeps it); its warnings are
    counted in the summary. The folder opens with
    datasets.load_from_disk and holds dataprep.json, the manifest `train` reads.
    A second run with the same inputs and options reuses the folder (--force rebuilds).
    IN may be a Hub dataset (ORG/NAME or hf://datasets/ORG/NAME[@REV][/PATH], with
    --split/--subset/--revision): the manifest records its repo, commit, subset, split
    and files; a new commit rebuilds, the same commit offline is a cache hit.

    \b
    Examples:
      dataprep prepare chats.jsonl --tokenizer ./tok --max-length 4096 -o prepared/
      dataprep prepare pairs.jsonl --tokenizer ./tok --max-length 2048 -o dpo/ --kind dpo
      dataprep prepare kto_en_demo.json --tokenizer ./tok --max-length 2048 -o kto/
      dataprep prepare data.jsonl --tokenizer ./tok --max-length 2048 -o out/ \\
          --chat-template chatml --eval-fraction 0.05 --dedup --num-proc 4
      dataprep prepare HuggingFaceH4/ultrachat_200k --split train_sft \\
          --tokenizer ./tok --max-length 2048 -o ultrachat/
      dataprep prepare 'shards/*.jsonl' --tokenizer ./tok --max-length 4096 -o out/ \\
          --engine ray --address 10.0.0.1:6379

    \b
    --engine ray reads and encodes on a Ray cluster (`ray start --head` on one node,
    `ray start --address HEAD:6379` on the others; every node with dataprep[ray,train]
    installed and the inputs at the same paths); this machine plans the packing and
    writes the folder. The output is byte-identical to --engine local. A recipe may say
    `engine: ray` and `address: HOST:PORT`.

    \b
    A single IN that is a recipe YAML, a LLaMA-Factory dataset_info.json (with
    --dataset) or an Axolotl config prepares its sources in one run, each with its own
    format, mapping, system prompt, mask and amount (mixed with --seed); the options
    the config sets apply unless given here (the command line wins):
      dataprep prepare mix.yaml --tokenizer ./tok --max-length 2048 -o prepared/
      dataprep prepare data/dataset_info.json --dataset identity,alpaca_en_demo \\
          --tokenizer ./tok --max-length 2048 -o prepared/
      dataprep prepare axolotl.yaml --tokenizer ./tok

    Exit codes: 0 done (rejects are normal), 1 nothing left to write or a config key that
    changes training cannot be honoured, 2 usage error.
    """
    from dataprep.prepare.pipeline import NothingLeft, PrepareOptions
    from dataprep.prepare.pipeline import prepare as run_prepare

    base: dict[str, Any] = dict(
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
        split=split,
        subset=subset,
        revision=revision,
        engine=engine,
        address=address,
    )
    options = PrepareOptions(**_with_config(ctx, base, datasets, dataset_dir))
    if address is not None and options.engine != "ray":
        raise click.UsageError("--address goes with --engine ray")
    output = options.output
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


# The command's parameters a config may also set, as PrepareOptions fields.
_CONFIGURABLE = {
    "tokenizer": "tokenizer", "max_length": "max_length", "output": "output", "kind": "kind",
    "chat_template": "chat_template", "pack": "pack", "eval_fraction": "eval_fraction",
    "dedup": "dedup", "seed": "seed", "mask": "mask", "system": "system",
    "fields": "fields", "roles": "roles", "format_": "format",
    "engine": "engine", "address": "address",
}  # fmt: skip


def _with_config(
    ctx: click.Context, base: dict[str, Any], datasets: str | None, dataset_dir: str | None
) -> dict[str, Any]:
    """The run's options: the command line's, or for a single IN that is a recipe or a
    peer's config, the config's under the command line's (which wins, said on stderr)."""
    from click.core import ParameterSource

    from dataprep.recipe.reading import is_config

    inputs = base["inputs"]
    if not (len(inputs) == 1 and is_config(inputs[0], datasets)):
        if datasets is not None or dataset_dir is not None:
            raise click.UsageError("--dataset and --dataset-dir go with a dataset_info.json")
        for name, flag in (("tokenizer", "--tokenizer"), ("max_length", "--max-length"),
                           ("output", "-o")):  # fmt: skip
            if base[name] is None:
                raise click.UsageError(f"Missing option '{flag}'.")
        return base
    from dataprep.prepare.sources import options_from_recipe
    from dataprep.recipe.reading import read_config
    from dataprep.recipe.report import NotHonoured

    if dataset_dir is not None and datasets is None:
        raise click.UsageError(
            "--dataset-dir goes with --dataset (a LLaMA-Factory dataset_info.json)"
        )
    recipe, report, what = read_config(inputs[0], datasets, dataset_dir)
    if report is not None and report.fails:
        click.echo(f"{inputs[0]}: {what}: mapping report:", err=True)
        for line in report.lines():
            click.echo(f"  {line}", err=True)
        raise NotHonoured(inputs[0], report)
    given = {
        field: base[field]
        for param, field in _CONFIGURABLE.items()
        if ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE
    }
    kw, notes = options_from_recipe(recipe, given, base)
    count = len(recipe.sources)
    click.echo(f"{inputs[0]}: {what}, {count} source{'s' if count != 1 else ''}", err=True)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    return kw


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
    for line in hub_lines(manifest):
        lines.append(f"from the Hub: {line}")
    if manifest.get("sources"):
        from dataprep.stats import source_table

        lines += source_table(manifest["sources"])
    for note in manifest.get("notes") or []:
        lines.append(f"note: {note}")
    if counts["rows_rejected"] and counts["rows_out"]:
        lines.append(f"rejects: {output.rstrip('/')}/rejects.jsonl")
    return "\n".join(lines)


def hub_lines(manifest: dict[str, Any]) -> list[str]:
    """One line per Hub dataset among the inputs: repo, commit, subset, split, files."""
    found: dict[tuple, int] = {}
    for item in manifest.get("inputs") or []:
        hub = item.get("hub")
        if hub:
            key = (hub["repo_id"], hub["revision"], hub.get("subset"), hub.get("split"))
            found[key] = found.get(key, 0) + 1
    out = []
    for (repo, sha, subset, split), n in found.items():
        what = ", ".join(
            p for p in (subset and f"subset {subset}", split and f"split {split}") if p
        )
        out.append(
            f"{repo}@{sha[:7]}{f' ({what})' if what else ''}, {n} file{'s' if n != 1 else ''}"
        )
    return out
