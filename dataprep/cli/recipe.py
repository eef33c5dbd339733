"""``dataprep recipe``: what a recipe, a LLaMA-Factory ``dataset_info.json`` or an
Axolotl config amounts to, checked without preparing."""

from __future__ import annotations

import click

from dataprep.cli._rows import max_row_bytes_option
from dataprep.errors import UsageError


def read_any(path: str, datasets: str | None, dataset_dir: str | None):
    """(recipe, report or None, what the file is) for ``path``, by its shape."""
    from dataprep.recipe.reading import read_config

    return read_config(path, datasets, dataset_dir)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", metavar="FILE")
@click.option("--dataset", "datasets", metavar="NAMES",
              help="LLaMA-Factory: the datasets of FILE (a dataset_info.json) to read, NAME[,NAME...].")  # fmt: skip
@click.option("--dataset-dir", metavar="DIR",
              help="LLaMA-Factory: where file_name is looked for [default: FILE's folder].")  # fmt: skip
@click.option("--head", default=200, show_default=True, type=click.IntRange(min=1),
              help="Rows of each local source read to check it.")  # fmt: skip
@max_row_bytes_option
@click.pass_context
def recipe(
    ctx: click.Context, file: str, datasets: str | None, dataset_dir: str | None, head: int
) -> None:
    """Print the recipe FILE amounts to, and check each source without preparing.

    FILE is our recipe YAML, a LLaMA-Factory dataset_info.json (with --dataset), or an
    Axolotl config (its datasets: and test_datasets:). For a peer's config every key is
    reported: mapped (to what), ignored (why), or not honoured.

    \b
    Examples:
      dataprep recipe mix.yaml
      dataprep recipe data/dataset_info.json --dataset alpaca_en_demo,dpo_en_demo
      dataprep recipe axolotl.yaml

    Exit 0 when every local source reads and maps and every key that changes training
    is honoured; 1 otherwise; 2 for a wrong command line or a recipe file in error.
    Hub sources are resolved and checked like local ones (offline: from the Hugging
    Face cache; one not cached fails, exit 1).
    """
    from dataprep.recipe.check import check_source

    if dataset_dir is not None and datasets is None:
        raise UsageError("--dataset-dir goes with --dataset (a LLaMA-Factory dataset_info.json)")
    rec, report, what = read_any(file, datasets, dataset_dir)
    click.echo(f"{file}: {what}, {len(rec.sources)} source{'s' if len(rec.sources) != 1 else ''}")
    options = [
        (name, getattr(rec, name))
        for name in ("kind", "seed", "rows", "eval_fraction", "dedup", "max_length", "chat_template",
                     "pack", "mask", "system", "tokenizer", "output")
    ]  # fmt: skip
    shown = ", ".join(
        f"{k}={v}" for k, v in options if v is not None and not (k == "seed" and v == 0)
    )
    if shown:
        click.echo(f"  options: {shown}")
    failed = False
    for i, s in enumerate(rec.sources):
        where = f"Hub {s.path}" if s.is_hub else s.path
        extra = [
            f"{k} {v}"
            for k, v in (("split", s.split), ("subset", s.subset), ("revision", s.revision))
            if v
        ]
        click.echo(f"source {i}: {where}{' (' + ', '.join(extra) + ')' if extra else ''}"
                   f"{' [eval]' if s.eval else ''}")  # fmt: skip
        click.echo(f"  format: {s.format or 'detected'}; amount: {s.amount}")
        maps = [f"--field {o}={y}" for o, y in s.fields] + [f"--role {y}={o}" for y, o in s.roles]
        if maps:
            click.echo(f"  mapping: {' '.join(maps)}")
        for key in ("system", "mask"):
            if getattr(s, key):
                click.echo(f"  {key}: {getattr(s, key)}")
        result = check_source(s, head)
        if result.status == "ok":
            click.echo(f"  check: ok, the first {result.rows} rows read as {result.format}")
        else:
            failed = True
            click.echo("  check: FAILED")
            for problem in result.problems:
                click.echo(f"    {problem}")
    if report is not None:
        click.echo("mapping report:")
        for line in report.lines():
            click.echo(f"  {line}")
        if report.fails:
            failed = True
            click.echo("something that changes training is not honoured (see above)")
    ctx.exit(1 if failed else 0)
