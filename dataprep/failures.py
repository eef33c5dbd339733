"""What goes wrong around the data, in words: full disks, read-only folders, closed pipes,
files that cannot be loaded, and our own bugs.

``dataprep.boundary.run_group`` turns every exception into a message and an exit code; the
library's own errors carry theirs, and this module says what the others mean:

    OSError on a path the user named     exit 2  (permissions, read-only, missing, ...)
    OSError of a resource                exit 1  (disk full, quota, file size limit, ...)
    MemoryError, a blocked pickle        exit 1
    anything else                        exit 3  one line; the traceback goes to a log file

``naming(path)`` puts a path on the write errors that come without one (a full disk
says ``No space left on device``, not where):

>>> try:
...     with naming("out.jsonl"):
...         raise OSError(28, "No space left on device")
... except OSError as e:
...     describe_os_error(e)
('out.jsonl: no space left on the device; free some space or write elsewhere', 1)
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

# Errors that only writing raises: one of them without a path happened on the output.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})

# errno -> (what it means, what to do, exit code). Exit 2: the command named a path that
# cannot be used as asked; exit 1: the machine ran out of something.
_MEANINGS: dict[int, tuple[str, str, int]] = {
    errno.ENOSPC: ("no space left on the device", "free some space or write elsewhere", 1),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere", 1),
    errno.EFBIG: (
        "file too large for this process's file size limit",
        "see `ulimit -f`, or write elsewhere",
        1,
    ),
    errno.EROFS: ("read-only file system", "choose a writable place", 2),
    errno.EACCES: ("permission denied", "choose a place you may write to", 2),
    errno.EPERM: ("operation not permitted", "choose a place you may write to", 2),
    errno.ENOENT: ("no such file or folder", "check the path", 2),
    errno.ENOTDIR: ("a part of this path is a file, not a folder", "check the path", 2),
    errno.EISDIR: ("is a folder", "name a file", 2),
    errno.EEXIST: ("already exists", "choose another name or remove it", 2),
    errno.ENOTEMPTY: ("folder not empty", "choose another name or remove it", 2),
    errno.ENAMETOOLONG: ("name too long", "choose a shorter path", 2),
    errno.ELOOP: ("too many symbolic links", "check the path", 2),
    errno.EIO: ("input/output error", "the disk or network mount may be failing", 1),
    errno.EMFILE: ("too many open files", "raise `ulimit -n`", 1),
    errno.ENFILE: ("too many open files on this system", "try again later", 1),
    errno.ENOMEM: ("out of memory", "use a machine with more memory, or less data at once", 1),
    errno.EPIPE: ("the reading end of a pipe closed", "", 1),
}


@contextlib.contextmanager
def naming(path: str | os.PathLike[str], *temporaries: str | os.PathLike[str]) -> Iterator[None]:
    """Inside the block, a write error with no path (or on one of ``temporaries``, the
    hidden names an output is built under) names ``path`` instead."""
    hidden = {os.fspath(t) for t in temporaries}
    try:
        yield
    except OSError as e:
        if e.errno in WRITE_ERRNOS and (e.filename is None or os.fspath(e.filename) in hidden):
            raise OSError(e.errno, e.strerror, os.fspath(path)) from e
        raise


def _where(e: OSError) -> str | None:
    if e.filename is None:
        return None
    where = os.fsdecode(e.filename) if not isinstance(e.filename, int) else f"fd {e.filename}"
    if e.filename2 is not None:
        where += f" -> {os.fsdecode(e.filename2)}"
    return "stdout" if where == "-" else where


def describe_os_error(e: OSError) -> tuple[str, int]:
    """The message for an OSError (its path first, when it has one) and the exit code."""
    what, hint, code = _MEANINGS.get(e.errno or -1, ((e.strerror or str(e)).lower(), "", 1))
    where = _where(e)
    message = f"{where}: {what}" if where else f"{what} (while reading or writing)"
    return (f"{message}; {hint}" if hint else message), code


def is_stdout_closed() -> bool:
    """True when stdout is a pipe or socket whose reader has gone (``... | head``)."""
    import select

    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(revents & (select.POLLERR | select.POLLHUP) for _, revents in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def settle_stdout() -> None:
    """Flush stdout; where that fails (a full disk, a closed pipe), point it at /dev/null,
    so that the flush at exit cannot fail again (Python would print "Exception ignored"
    and exit 120)."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def log_folder() -> Path:
    """Where internal errors are logged: ``$XDG_CACHE_HOME/dataprep/logs`` (else
    ``~/.cache/dataprep/logs``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "dataprep" / "logs"


def log_internal_error(exc: BaseException, argv: list[str] | None = None) -> Path | None:
    """Write ``exc``'s traceback, the command line and versions to a new log file; its
    path (the cache folder, else the temporary folder), or None when neither takes it."""
    import platform

    from dataprep import __version__

    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = "".join(
        [
            f"dataprep {__version__}, Python {platform.python_version()}, {platform.platform()}\n",
            f"command: {' '.join(argv if argv is not None else sys.argv)}\n\n",
            *traceback.format_exception(exc),
        ]
    )
    for folder in (log_folder(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"dataprep-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None
