"""Writing a run's results so that a kill never leaves a folder that looks complete and
is not, and so that an unwritable place is a message, not a traceback.

- ``check_output_folder``: before anything loads, refuse ``-o`` naming a file, a path
  under a file, or a place where nothing can be written.
- ``atomic_folder``: ``train merge`` builds its result under ``NAME.partial`` beside
  ``NAME`` and renames it when complete.
- ``staging_folder`` + ``publish``: ``train``'s final save is written in
  ``OUT/final.partial``, then moved into ``OUT`` file by file (each move is a rename),
  the weights last: anything that loads ``OUT`` finds the weights only once the
  tokenizer, the config and the manifest are beside them.
- ``writing_errors``: a full disk (exit 1) or a read-only place (exit 2) met while
  writing becomes a message naming the file.

A ``.partial`` folder holds a marker file; only a folder with the marker (or an empty
one) is ever removed as a killed run's leftover, never a user's folder of that name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dataprep.errors import DataprepError, TrainError, UsageError
from train import _upstream

MARKER = ".written-by-train"
STAGING = "final.partial"
# Moved last, in this order: until they are in place nothing loads the folder as a model.
KEYSTONES = (
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
    "model.safetensors",
    "pytorch_model.bin",
    "adapter_model.safetensors",
    "adapter_model.bin",
)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR)


def os_error_message(e: OSError, place: Path) -> DataprepError:
    """The error to raise for ``e``, met while writing in ``place``."""
    where = e.filename or place
    if e.errno in DISK_FULL:
        return TrainError(
            f"{where}: {e.strerror or 'no space left'}; free space on that disk and run "
            "again (with --resume where there are checkpoints)"
        )
    return UsageError(f"{where}: cannot write there ({e.strerror or e}); choose another -o")


def check_output_folder(path: str | Path, flag: str = "-o") -> None:
    """Refuse an output folder that cannot be written, before anything loads; creates
    nothing (a test folder made and removed in the nearest existing parent)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: a file, not a folder; choose another {flag}")
    existing = next((p for p in [path, *path.absolute().parents] if p.exists()), Path("/"))
    if not existing.is_dir():
        raise UsageError(
            f"{flag} {path}: {existing} is a file, so no folder can be made there; "
            f"choose another {flag}"
        )
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-test-", dir=existing))
    except OSError as e:
        if e.errno in DISK_FULL:
            raise os_error_message(e, path) from None
        raise UsageError(
            f"{flag} {path}: nothing can be written in {existing} ({e.strerror or e}); "
            f"choose another {flag}"
        ) from None


@contextlib.contextmanager
def writing_errors(place: Path) -> Iterator[None]:
    """Turn a write that fails in ``place`` (a full disk, a read-only file system) into
    a message; other errors pass unchanged."""
    try:
        yield
    except OSError as e:
        if e.errno in DISK_FULL or e.errno in NOT_WRITABLE:
            raise os_error_message(e, place) from None
        raise
    except RuntimeError as e:
        # torch.save's zip writer reports a failed write without its errno (torch 2.13):
        # "[enforce fail at inline_container.cc:672] . unexpected pos ..." on a full disk.
        if any(sign in str(e) for sign in ("inline_container.cc", "PytorchStreamWriter")):
            raise TrainError(
                f"{place}: writing a checkpoint failed ({str(e).strip()}); is the disk full? "
                "Free space and run again with --resume"
            ) from None
        raise
    except Exception as e:
        # safetensors raises its own type for I/O failures, with the OS error in the text:
        # "Error while serializing: I/O error: No space left on device (os error 28)".
        if (text := _upstream.safetensors_io_error(e)) is not None:
            full = any(f"os error {code})" in text for code in DISK_FULL)
            kind = TrainError if full else UsageError
            advice = "free space and run again" if full else "choose another -o"
            raise kind(f"{place}: writing the weights failed ({e}); {advice}") from None
        raise


def remove_leftover(folder: Path) -> None:
    """Remove ``folder`` if a killed run of ours left it: it holds the marker, or it is
    empty (a kill between making it and marking it, or after emptying it)."""
    if (folder / MARKER).is_file():
        shutil.rmtree(folder, ignore_errors=True)
    elif folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    elif folder.exists():
        raise UsageError(
            f"{folder} is in the way (train writes a temporary folder by that name); "
            "move it away and run again"
        )


def new_partial(folder: Path) -> Path:
    """``folder`` made (other processes of the run may have made it already), with the
    marker that lets a later run remove it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch()
    return folder


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Build ``target`` (absent or empty) under ``NAME.partial`` beside it; rename it to
    ``target`` when the block ends, remove it when the block fails."""
    partial = target.with_name(f"{target.name}.partial")
    remove_leftover(partial)
    new_partial(partial)
    try:
        yield partial
        os.replace(partial, target)  # replaces an empty target folder too
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    (target / MARKER).unlink()  # after the rename: a kill before it leaves a removable leftover


def staging_folder(output_dir: Path) -> Path:
    """Where the final save is written before ``publish`` moves it into ``output_dir``."""
    return output_dir / STAGING


def publish(staging: Path, output_dir: Path) -> None:
    """Move everything in ``staging`` into ``output_dir``, the weights last, and remove
    ``staging``. Each move is a rename within one folder, so each file appears whole."""

    def order(entry: Path) -> tuple[int, int]:
        name = entry.name
        return (1, KEYSTONES.index(name)) if name in KEYSTONES else (0, 0)

    for entry in sorted(staging.iterdir(), key=order):
        if entry.name == MARKER:
            continue  # removed last: until then a kill leaves a leftover a rerun removes
        target = output_dir / entry.name
        if entry.is_dir() and target.is_dir():
            shutil.rmtree(target)
        os.replace(entry, target)
    (staging / MARKER).unlink(missing_ok=True)
    staging.rmdir()
