"""The one boundary (``run_group``): each kind of failure becomes its message and exit
code; an internal error is one line and a log file. And the pieces under it: what an
``OSError`` says, journaled commits finished after a crash, leftovers of the dead only."""

from __future__ import annotations

import errno
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import click
import pytest

from dataprep import atomic, failures
from dataprep.cli import run_group
from dataprep.errors import InputError, InternalError, UsageError


def group_raising(error: BaseException) -> click.Group:
    @click.group()
    def cli() -> None:
        pass

    @cli.command()
    @click.argument("rest", nargs=-1)
    def go(rest: tuple[str, ...]) -> None:
        raise error

    return cli


@pytest.mark.parametrize(
    ("error", "code", "says"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "out.jsonl"),
            1,
            "out.jsonl: no space left",
        ),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "o"), 1, "o: disk quota exceeded"),
        (OSError(errno.EFBIG, "File too large", "o"), 1, "ulimit -f"),
        (OSError(errno.EROFS, "Read-only file system", "/ro/o"), 2, "/ro/o: read-only file system"),
        (PermissionError(errno.EACCES, "Permission denied", "/x"), 2, "/x: permission denied"),
        (FileNotFoundError(errno.ENOENT, "No such file", "/nope"), 2, "/nope: no such file"),
        (
            NotADirectoryError(errno.ENOTDIR, "Not a directory", "f/x"),
            2,
            "f/x: a part of this path",
        ),
        (OSError(errno.EIO, "Input/output error"), 1, "input/output error"),
        (OSError(errno.ENOSPC, "No space left on device"), 1, "no space left on the device"),
        (OSError("a message, no errno"), 1, "a message, no errno"),
        (MemoryError(), 1, "out of memory"),
        (pickle.UnpicklingError("Weights only load failed"), 1, "refusing to load pickled data"),
        (InputError("f.jsonl:3", "bad"), 1, "f.jsonl:3: bad"),
        (UsageError("wrong"), 2, "wrong"),
        (KeyboardInterrupt(), 130, "Interrupted."),
        (RecursionError("deep"), 3, "internal error"),
        (RuntimeError("a bug"), 3, "internal error (a bug in prog): RuntimeError: a bug"),
        (
            InternalError("rows in 3 != 1 + 1"),
            3,
            "(a bug in prog): InternalError: rows in 3 != 1 + 1",
        ),
    ],
)
def test_each_failure_has_its_message_and_exit_code(
    capfd, tmp_path, monkeypatch, error, code, says
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        run_group(group_raising(error), "prog", ["go"])
    err = capfd.readouterr().err
    assert exited.value.code == code
    assert says in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_internal_error_leaves_its_traceback_in_the_log_it_names(capfd, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(SystemExit):
        run_group(group_raising(ZeroDivisionError("oops")), "prog", ["go", "some", "args"])
    err = capfd.readouterr().err
    log = Path(err.split("the traceback is in ")[1].split(";")[0])
    assert log.parent == tmp_path / "dataprep" / "logs"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError: oops" in text
    assert "command: prog go some args" in text


def test_the_log_falls_back_to_the_temporary_folder(capfd, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache folder cannot be made here")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(SystemExit):
        run_group(group_raising(RuntimeError("x")), "prog", ["go"])
    assert f"the traceback is in {tmp_path}/dataprep-" in capfd.readouterr().err


def test_train_shares_the_boundary(tmp_path):
    """``train`` ends in the same run_group: a missing config is a message, exit 2."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]), XDG_CACHE_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "train", "check", str(tmp_path / "nope.yaml")],
                       capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert r.returncode in (1, 2), r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("temporaries", "filename", "named"),
    [
        ((), None, "out.jsonl"),
        (("/x/.out.tmp",), "/x/.out.tmp", "out.jsonl"),
        ((), "/elsewhere", "/elsewhere"),
    ],
)
def test_naming_puts_the_output_on_write_errors(temporaries, filename, named):
    with pytest.raises(OSError) as raised, failures.naming("out.jsonl", *temporaries):
        raise OSError(errno.ENOSPC, "No space left on device", filename)
    assert raised.value.filename == named


# --- commits and leftovers ----------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leftover(folder: Path, base: str | None, kind: str, pid: int) -> Path:
    tag = f"dataprep-{kind}.{pid}.{atomic._host()}.0badc0de.tmp"
    return folder / (f".{base}.{tag}" if base else tag)


def test_a_journal_left_by_a_dead_run_is_finished(tmp_path):
    """A run died after deciding its commit, with only the output moved: the next clean
    moves the rejects too, and the pair is whole."""
    pid = dead_pid()
    out, rejects = tmp_path / "x.jsonl", tmp_path / "x.jsonl.rejects.jsonl"
    out.write_text("new output")  # moved before the crash
    rejects.write_text("old rejects")
    new_rejects = leftover(tmp_path, "x.jsonl.rejects.jsonl", "tmp", pid)
    new_rejects.write_text("new rejects")
    journal = leftover(tmp_path, "x.jsonl", "commit", pid)
    plan = {"renames": [[str(tmp_path / "gone"), str(out)], [str(new_rejects), str(rejects)]],
            "removes": []}  # fmt: skip
    journal.write_text(json.dumps(plan))
    atomic.clean(tmp_path)
    assert (out.read_text(), rejects.read_text()) == ("new output", "new rejects")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jsonl", "x.jsonl.rejects.jsonl"]


@pytest.mark.parametrize("target_exists", [False, True])
def test_a_replaced_output_comes_back_when_its_successor_never_arrived(tmp_path, target_exists):
    old = leftover(tmp_path, "out", atomic.PREVIOUS, dead_pid())
    (old / "previous").mkdir(parents=True)
    (old / "previous" / "dataprep.json").write_text("previous")
    if target_exists:
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "dataprep.json").write_text("new")
    atomic.clean(tmp_path)
    expected = "new" if target_exists else "previous"
    assert (tmp_path / "out" / "dataprep.json").read_text() == expected
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_only_the_leftovers_of_dead_runs_of_this_host_are_removed(tmp_path):
    dead = leftover(tmp_path, "a", "tmp", dead_pid())
    live = leftover(tmp_path, "b", "tmp", os.getpid())
    other_host = tmp_path / f".c.dataprep-tmp.{dead_pid()}.ffffffff.0badc0de.tmp"
    mine = tmp_path / ".d.tmp"  # not ours: never touched
    for path in (dead, live, other_host, mine):
        path.write_text("x")
    assert atomic.clean(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, other_host, mine)
    )


def test_a_second_writer_of_an_output_is_refused(tmp_path):
    with atomic.OutputLock(tmp_path / "out"), pytest.raises(atomic.Busy) as busy:
        atomic.OutputLock(tmp_path / "out").__enter__()
    assert busy.value.pid == os.getpid()
    assert list(tmp_path.iterdir()) == []  # the lock file goes with the lock


def test_a_lock_dies_with_its_holder_not_with_its_workers(tmp_path):
    """A run killed with -9 while its forked worker still runs: the next run gets the lock
    at once (the worker closed its copy of the lock when it was forked)."""
    script = f"""
import os, signal, sys, time
from dataprep import atomic
with atomic.OutputLock({str(tmp_path / "out")!r}):
    child = os.fork()
    if child == 0:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 1)  # let go of the pipes the test reads to their end
        os.dup2(null, 2)
        time.sleep(30)
        os._exit(0)
    print(child, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    worker = int(proc.stdout)
    try:
        assert Path(f"/proc/{worker}").exists()  # the worker outlives its parent here
        with atomic.OutputLock(tmp_path / "out"):
            pass
    finally:
        os.kill(worker, 9)
