"""The library's error types, in one tree. The CLI turns them into messages and exit codes
in one place (``dataprep.boundary``, for both CLIs); nothing else prints or exits.

    DataprepError            exit 1: the data has problems
    ├── InputError           a whole file cannot be read (encoding, not a dataset, ...)
    ├── RowError             one row cannot be read or converted; carries path and code
    │   └── LossyConversion  converting the row would drop something
    ├── PrepareError         prepare cannot proceed (template, tokenizer, ...)
    ├── TrainError           train cannot proceed (mismatched tokenizer, NaN loss, ...)
    └── UsageError           exit 2: the command was used wrongly
    InternalError            exit 3: a check of our own work failed (a bug, not the data)

``InternalError`` is not a ``DataprepError``: the CLI reports it as an internal error (one
line, the traceback in a log file). It replaces ``assert`` for invariants that guard data
or an output's correctness, which ``python -O`` would strip.
"""

from __future__ import annotations


class DataprepError(Exception):
    exit_code = 1


class InputError(DataprepError):
    """A file that cannot be read at all. ``location`` is ``file`` or ``file:line``."""

    def __init__(self, location: str, message: str, code: str = "unreadable"):
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message
        self.code = code


class RowError(DataprepError):
    """One row that cannot be taken as its format says.

    ``path`` is the field path inside the row (``conversations[2].from``; empty for the
    whole row); ``code`` is a short stable reason code used in summaries and rejects.
    """

    def __init__(self, path: str, message: str, code: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.code = code


class LossyConversion(RowError):
    """Converting this row to the target format would drop ``dropped`` (human words)."""

    def __init__(self, dropped: list[str], target: str):
        what = ", ".join(dropped)
        them = "it" if len(dropped) == 1 else "them"
        message = f"converting to {target} would drop {what} (pass --allow-lossy to drop {them})"
        super().__init__("", message, "lossy")
        self.dropped = dropped


class PrepareError(DataprepError):
    pass


class TrainError(DataprepError):
    pass


class UsageError(DataprepError):
    exit_code = 2


class InternalError(Exception):
    """A check of our own invariants failed: a bug, whatever the data. Deliberately not a
    DataprepError, so the boundary reports it as an internal error (exit 3, the traceback
    in a log file). Unlike ``assert``, ``python -O`` does not remove the check."""
