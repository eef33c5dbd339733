"""``dataprep ui``: a local web app that shows the data: files, prepared folders, rejects,
template checks (``dataprep.ui``)."""

from __future__ import annotations

import importlib.util

import click

from dataprep.errors import UsageError

UI_EXTRA_INSTALL = 'pip install "dataprep[ui]"'
# What the ui extra installs; checked before anything is imported.
UI_EXTRA_MODULES = ("starlette", "uvicorn", "numpy", "tokenizers")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True),
                metavar="FILE|DIR...")  # fmt: skip
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port; the address is printed).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback shows your data to the network.")  # fmt: skip
def ui(paths: tuple[str, ...], port: int, host: str) -> None:
    """See your data in a browser: files, prepared folders, rejects, template checks.

    \b
    Each FILE|DIR given is shown, and nothing else:
      a data file (any input format)   its rows page by page, as read and in canonical
                                       form, the detected format with its evidence and
                                       validate's problems in place (filter by code)
      a prepared folder                the manifest as a summary with histograms, any
                                       row as tokens with the trained ones highlighted,
                                       search by text, rejects by reason, template check
      a recipe or a peer's config      its sources, each browsable as a data file
      a tokenizer folder               check-template's report, the probe highlighted
      any other folder                 its files, each browsable as a data file

    Read-only, local (127.0.0.1) by default, offline. Every page is also JSON: put
    /api in front of its path, or add ?format=json. Ctrl-C stops it.

    \b
    Examples:
      dataprep ui data.jsonl
      dataprep ui prepared/ raw/ --port 8000
      dataprep ui mix.yaml ./my-tokenizer
    """
    missing = [m for m in UI_EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"{missing[0]} is not installed: this command needs the ui extra: {UI_EXTRA_INSTALL}"
        )
    from dataprep.ui.catalog import Catalog
    from dataprep.ui.server import is_loopback, serve

    if not is_loopback(host):
        click.echo(f"warning: --host {host} is not loopback: anyone who can reach this machine "
                   "can read the data shown", err=True)  # fmt: skip
    try:
        serve(Catalog(list(paths)), host, port, lambda line: click.echo(line))
    except OSError as e:
        if e.errno in (98, 48):  # EADDRINUSE (Linux, macOS)
            raise UsageError(
                f"port {port} is in use on {host}: pass --port N (0: any free port)"
            ) from None
        raise
