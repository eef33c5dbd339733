"""The error boundary of both command lines (``dataprep`` and ``train``): every error
becomes a message on stderr and an exit code here, and nowhere else.

    0 all good, 1 the data has problems, 2 the command was used wrongly,
    3 an internal error (one line; the traceback in a log file it names), 130 Ctrl-C.

Library errors (``dataprep.errors``) carry their exit code; errors of disks, paths and
pipes are put in words by ``dataprep.failures``.
"""

from __future__ import annotations

import errno
import os
import pickle
import sys
from typing import Any, NoReturn

import click

from dataprep.errors import DataprepError

# What the ``train`` extra installs (and what those bring): a command that imports one of
# them in the light install (``pip install dataprep``) is told how to get it.
TRAIN_EXTRA_MODULES = frozenset(
    {"torch", "transformers", "tokenizers", "datasets", "trl", "peft", "accelerate",
     "bitsandbytes", "jinja2", "matplotlib", "numpy", "safetensors", "huggingface_hub"}
)  # fmt: skip
TRAIN_EXTRA_INSTALL = 'pip install "dataprep[train]"'


def missing_train_extra(error: ModuleNotFoundError) -> str | None:
    """The message for an import of the train extra that failed, or None when the missing
    module is not one of it (a bug, reported as such).

    >>> missing_train_extra(ModuleNotFoundError("No module named 'torch'", name="torch.nn"))
    'torch is not installed: this command needs the train extra: pip install "dataprep[train]"'
    """
    root = (error.name or "").partition(".")[0]
    if root not in TRAIN_EXTRA_MODULES:
        return None
    return f"{root} is not installed: this command needs the train extra: {TRAIN_EXTRA_INSTALL}"


def run_group(
    group: click.Group,
    prog_name: str,
    argv: list[str] | None = None,
    *,
    obj: Any = None,
    interrupted: str = "Interrupted.",
) -> NoReturn:
    """Run ``group`` on ``argv`` and exit: the one place where errors become a message on
    stderr and an exit code (``dataprep`` and ``train`` both end here). No traceback
    reaches the user: library errors carry their exit code, errors of disks, paths and
    pipes are put in words (``dataprep.failures``), and anything else is an internal
    error: one line, the traceback in a log file it names, exit 3.

    ``obj`` is the click context's ``obj``; ``interrupted`` is said on Ctrl-C (exit 130).
    """
    from dataprep import failures

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        rc = _invoke(group, prog_name, args, obj)
        sys.stdout.flush()  # here, where a full disk or a closed pipe is still ours to report
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except DataprepError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except ModuleNotFoundError as e:
        # The light install has no torch, transformers, ...: prepare and train say so.
        message = missing_train_extra(e)
        if message is None:
            _internal_error(e, prog_name, args)
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo(interrupted, err=True)
        sys.exit(130)
    except OSError as e:
        if e.errno == errno.EPIPE and failures.is_stdout_closed():
            # `dataprep convert ... -o - | head` closes our stdout early: not an error.
            failures.settle_stdout()
            sys.exit(0)
        failures.settle_stdout()
        message, code = failures.describe_os_error(e)
        click.echo(f"error: {message}", err=True)
        sys.exit(code)
    except MemoryError:
        failures.settle_stdout()
        click.echo("error: out of memory; use a machine with more memory, or less data", err=True)
        sys.exit(1)
    except pickle.UnpicklingError as e:
        # transformers and torch refuse pickled weights they cannot load safely.
        click.echo(f"error: refusing to load pickled data: {e}", err=True)
        sys.exit(1)
    except Exception as e:
        _internal_error(e, prog_name, args)
    sys.exit(rc if isinstance(rc, int) else 0)


def _internal_error(e: BaseException, prog_name: str, args: list[str]) -> NoReturn:
    """An error that is ours, not the user's: one line, the traceback in a log file."""
    from dataprep import failures

    failures.settle_stdout()
    log = failures.log_internal_error(e, [prog_name, *args])
    where = f"the traceback is in {log}" if log else "no log file could be written"
    click.echo(
        f"internal error (a bug in {prog_name}): {type(e).__name__}: {e}; {where}; "
        "please report it",
        err=True,
    )
    sys.exit(3)


def _invoke(group: click.Group, prog_name: str, args: list[str], obj: Any) -> Any:
    """``group.main`` without its handling of errors: click turns a closed stdout into
    exit 1 by itself, and run_group decides every exit here."""
    if os.environ.get(f"_{prog_name.upper().replace('-', '_')}_COMPLETE"):
        group.main(args, prog_name=prog_name)  # click's shell completion, which exits
    try:
        with group.make_context(prog_name, args, obj=obj) as ctx:
            # Commands end with ctx.exit(code): an Exit carrying the code.
            return group.invoke(ctx)
    except click.exceptions.Exit as e:
        return e.exit_code
    except EOFError as e:  # as click does: a prompt that got no answer
        raise click.exceptions.Abort() from e
