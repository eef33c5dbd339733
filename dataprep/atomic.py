"""Outputs that appear whole or not at all, and what killed runs leave behind.

Every temporary thing a run makes (an output being written, a prepared folder being
built, a spooled stdin, a worker's spool) has a name that says whose it is::

    .OUT.dataprep-KIND.PID.HOST.RANDOM.tmp     beside the output it becomes
    dataprep-KIND.PID.HOST.RANDOM.tmp          in the temporary folder

A run killed with ``kill -9`` cannot remove them; the next run in the same place does
(``clean``), but only those whose process is gone on this machine (HOST is a hash of the
host name: a folder shared with another machine keeps that machine's runs' files).

Several files that must change together (an output and its rejects) are committed with
a journal (``commit``): once the journal is written the change is decided, and a run
killed half-way through the renames is finished by the next one in that folder.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> tmp = temporary_path(folder / "out.jsonl", "tmp")
>>> tmp.name.startswith(".out.jsonl.dataprep-tmp.")
True
>>> _ = tmp.write_text("done")
>>> commit([(tmp, folder / "out.jsonl")], beside=folder / "out.jsonl")
>>> sorted(p.name for p in folder.iterdir())
['out.jsonl']
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

_LEFTOVER = re.compile(
    r"^(?:\.(?P<base>.+)\.)?dataprep-(?P<kind>[a-z]+)\.(?P<pid>\d+)\.(?P<host>[0-9a-f]{8})\.[0-9a-f]+\.tmp$"
)
JOURNAL = "commit"  # the kind of a commit's journal
PREVIOUS = "old"  # the kind of a folder holding a replaced output, until it is removed


@lru_cache(maxsize=1)
def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _tag(kind: str) -> str:
    return f"dataprep-{kind}.{os.getpid()}.{_host()}.{secrets.token_hex(4)}.tmp"


def temporary_path(target: str | os.PathLike[str], kind: str) -> Path:
    """A new name beside ``target`` for something that will become it (not created)."""
    target = Path(target)
    return target.parent / f".{target.name}.{_tag(kind)}"


def temporary_folder(
    target: str | os.PathLike[str] | None, kind: str, *, mode: int = 0o700
) -> Path:
    """Create a folder beside ``target`` (or, for None, in the temporary folder), after
    cleaning what dead runs left there."""
    if target is None:
        parent = Path(tempfile.gettempdir())
        path = parent / _tag(kind)
    else:
        path = temporary_path(target, kind)
        parent = path.parent
    clean(parent)
    try:
        os.mkdir(path, mode)
    except OSError as e:  # say where the user asked to write, not our hidden name
        raise OSError(e.errno, e.strerror, os.fspath(target or parent)) from e
    return path


@contextlib.contextmanager
def scratch_folder(target: str | os.PathLike[str] | None, kind: str) -> Iterator[Path]:
    """A ``temporary_folder`` removed when the block ends, however it ends."""
    path = temporary_folder(target, kind)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- commits -----------------------------------------------------------------------------


def commit(
    renames: list[tuple[Path, Path]],
    removes: Sequence[Path] = (),
    *,
    beside: str | os.PathLike[str],
) -> None:
    """Move every ``(temporary, final)`` into place and remove ``removes``, as one change.

    The plan is written to a journal beside ``beside`` first (written whole, then renamed
    into place, then synced): a run killed after that is completed by ``clean`` in the
    next run there; one killed before it changed nothing.
    """
    plan = {
        "renames": [
            [os.fspath(Path(a).absolute()), os.fspath(Path(b).absolute())] for a, b in renames
        ],
        "removes": [os.fspath(Path(p).absolute()) for p in removes],
    }
    journal = temporary_path(beside, JOURNAL)
    if len(renames) + len(removes) > 1:
        draft = temporary_path(beside, "tmp")
        with open(draft, "w", encoding="utf-8") as f:
            json.dump(plan, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(draft, journal)
        sync_folder(journal.parent)
        _apply(plan)
        journal.unlink()
    else:
        _apply(plan)


def _apply(plan: dict[str, list]) -> None:
    """Carry out a commit's plan; what is already done is skipped (a plan may be applied
    again, by ``clean``, after a run died in the middle of it)."""
    folders = set()
    for source, target in plan["renames"]:
        with contextlib.suppress(FileNotFoundError):  # moved already
            os.replace(source, target)
        folders.add(os.path.dirname(target))
    for path in plan["removes"]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        folders.add(os.path.dirname(path))
    for folder in folders:
        sync_folder(folder)


def sync_folder(folder: str | os.PathLike[str]) -> None:
    """Flush ``folder``'s entries: a rename into it is durable only once they are on disk
    (best effort: a file system that cannot sync a folder is left as it is)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system cannot."""
    libc = _libc()
    if libc is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    import ctypes

    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), os.fspath(b))


@lru_cache(maxsize=1)
def _libc() -> Any:  # a ctypes library, or None
    if not hasattr(os, "fork") or os.uname().sysname != "Linux":
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.renameat2.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_uint,
        ]
        return libc
    except (OSError, AttributeError):
        return None


# --- leftovers ---------------------------------------------------------------------------


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (ours counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def leftovers(folder: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """What dead runs of this machine left in ``folder``: (path, kind), journals first."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        match = _LEFTOVER.match(name)
        if match is None or match["host"] != _host() or is_running(int(match["pid"])):
            continue
        found.append((Path(folder) / name, match["kind"]))
    # Journals first (they may still need the files below), then replaced outputs.
    order = {JOURNAL: 0, PREVIOUS: 1}
    return sorted(found, key=lambda item: (order.get(item[1], 2), item[0].name))


def clean(folder: str | os.PathLike[str]) -> list[Path]:
    """Finish or remove what dead runs left in ``folder``; what was removed or finished.

    A journal is applied (its commit was decided); a replaced output whose new version
    never arrived is put back; everything else (half-written outputs, spools) is removed.
    Errors are ignored: cleaning up after others never fails a run.
    """
    done = []
    for path, kind in leftovers(folder):
        try:
            if kind == JOURNAL:
                _apply(json.loads(path.read_text(encoding="utf-8")))
                path.unlink()
            elif kind == PREVIOUS:
                _restore(path)
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        done.append(path)
    return done


def _restore(old: Path) -> None:
    """A folder that held the previous output while a new one was moved in: when the run
    died between the two moves, the previous output goes back."""
    match = _LEFTOVER.match(old.name)
    previous = old / "previous"
    if match is not None and match["base"] and previous.exists():
        target = old.parent / match["base"]
        if not target.exists():
            os.replace(previous, target)
    shutil.rmtree(old)


# --- one writer per output ---------------------------------------------------------------


class Busy(Exception):
    """Another process holds the output's lock; ``pid`` is its process id, when known."""

    def __init__(self, target: Path, pid: int | None):
        super().__init__(f"{target} is being written by another process (pid {pid})")
        self.target = target
        self.pid = pid


# Lock files this process holds: a forked child (a worker) closes its copies at once, so
# that the lock is released exactly when its holder dies, not when the last worker does.
_HELD: set[int] = set()


def _forget_held_locks() -> None:
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_held_locks)


class OutputLock:
    """An exclusive lock on ``target`` while it is written: ``.NAME.dataprep-lock`` beside
    it, held with ``flock`` (the system drops it when the process dies, so a killed run
    never leaves a stale lock). ``wait``: wait for the holder, else raise ``Busy``.

    The lock file is removed on release; a process that opened it before then sees, once
    it holds the lock, that the name now points elsewhere, and starts again.
    """

    def __init__(self, target: str | os.PathLike[str], *, wait: bool = False):
        self.target = Path(target)
        self.path = self.target.parent / f".{self.target.name}.dataprep-lock"
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                raise Busy(self.target, int(holder) if holder.isdigit() else None) from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # released and removed while we waited: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        _HELD.add(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            _HELD.discard(self._fd)
            os.close(self._fd)
            self._fd = None
