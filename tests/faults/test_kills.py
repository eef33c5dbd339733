"""``kill -9`` at random points of ``convert`` and ``prepare``: what is there afterwards is
the previous output or the new one, whole (never a half-written one that looks done), the
workers die with their parent, and the next run succeeds and removes the leftovers.

The kill points are drawn from ``DATAPREP_FAULTS_SEED`` (default 1234) over the duration
of an uninterrupted run, so a failure can be replayed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest
from faultrun import TALLY, TOKENIZER, counted

from dataprep.contract import read_manifest
from dataprep.prepare.output import read_split, split_folders

SEED = int(os.environ.get("DATAPREP_FAULTS_SEED", "1234"))
CONVERT_KILLS = 8
PREPARE_KILLS = 5


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def kill_at(start, args: list, delay: float, test: str):
    started = start(*args)
    born = start_time(started.pid)
    time.sleep(delay)
    workers = children(started.pid)
    if born is not None and start_time(started.pid) == born:  # not a pid used again
        with contextlib.suppress(ProcessLookupError):  # it finished first
            os.kill(started.pid, signal.SIGKILL)
    result = counted(started.wait(), test)
    TALLY.kill_attempts += 1
    TALLY.kills += result.signal == signal.SIGKILL
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result, [w for w in workers if alive(w)]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def spools(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.iterdir() if p.name.startswith("dataprep-"))


# --- convert ------------------------------------------------------------------------------


def rows_file(path: Path, rows: int, tag: str) -> Path:
    with open(path, "w") as f:
        for i in range(rows):
            if i % 97 == 0:
                f.write(json.dumps({"no format": i}) + "\n")  # a reject
            else:
                row = {"instruction": f"{tag} {i} " + "word " * 30, "output": "answer " * 30}
                f.write(json.dumps(row) + "\n")
    return path


def test_convert_killed_at_random_points(run, start, runner, tmp_path):
    rng = random.Random(SEED)
    tmpdir = runner.workdir / "tmp"
    source = rows_file(tmp_path / "new.jsonl", 60_000, "new")  # 17 MB: two processes
    out = tmp_path / "out"
    out.mkdir()
    output, rejects = out / "x.jsonl", out / "x.jsonl.rejects.jsonl"
    command = ["convert", source, "--to", "messages", "--jobs", "2", "-o", output]

    # The previous pair, then the new one (and the time an uninterrupted run takes).
    run("convert", rows_file(tmp_path / "old.jsonl", 500, "old"), "--to", "messages", "-o",
        output).check_clean(1)  # fmt: skip
    old = (output.read_bytes(), rejects.read_bytes())
    reference = run(*command).check_clean(1)
    new = (output.read_bytes(), rejects.read_bytes())
    assert old != new

    for _ in range(CONVERT_KILLS):
        output.write_bytes(old[0])
        rejects.write_bytes(old[1])
        delay = rng.uniform(0.02, 0.98) * reference.seconds
        killed, orphans = kill_at(start, command, delay, "test_convert_killed_at_random_points")
        if os.environ.get("DATAPREP_FAULTS_VERBOSE"):
            print(f"convert killed at {delay:.2f}/{reference.seconds:.2f} s: {killed.signal}")
        assert not orphans, f"workers outlived their parent: {orphans}"
        pair = (output.read_bytes(), rejects.read_bytes())
        journal = [n for n in hidden(out) if ".dataprep-commit." in n]
        if killed.signal == signal.SIGKILL and not journal:
            assert pair in (old, new), f"killed after {delay:.2f} s: a mixed or partial pair"
        again = run(*command).check_clean(1)
        assert (output.read_bytes(), rejects.read_bytes()) == new
        assert hidden(out) == [], "leftovers beside the output"
        assert spools(tmpdir) == [], "spools left in the temporary folder"
        assert "rejected" in again.err
        TALLY.kills_survived += killed.signal == signal.SIGKILL


def test_convert_removes_the_rejects_of_an_earlier_run(run, tmp_path):
    source = rows_file(tmp_path / "in.jsonl", 300, "x")
    output = tmp_path / "x.jsonl"
    run("convert", source, "--to", "messages", "-o", output).check_clean(1)
    assert (tmp_path / "x.jsonl.rejects.jsonl").is_file()
    clean = tmp_path / "clean.jsonl"
    clean.write_text(
        "".join(line for line in source.read_text().splitlines(True) if "instruction" in line)
    )
    run("convert", clean, "--to", "messages", "-o", output).check_clean(0)
    assert not (tmp_path / "x.jsonl.rejects.jsonl").exists()


# --- prepare ------------------------------------------------------------------------------


def chats(path: Path, rows: int) -> Path:
    with open(path, "w") as f:
        for i in range(rows):
            row = {"messages": [{"role": "user", "content": f"Question {i} " + "word " * 40},
                                {"role": "assistant", "content": "answer " * 60}]}  # fmt: skip
            f.write(json.dumps(row) + "\n")
    return path


def whole(folder: Path) -> dict:
    """The manifest of a prepared folder that reads back whole (every split, every row)."""
    manifest = read_manifest(folder)  # raises when there is none
    for name, split in split_folders(folder).items():
        assert read_split(split).num_rows == manifest.splits[name].rows
    return manifest.to_json()


def test_prepare_killed_at_random_points(run, start, tmp_path):
    rng = random.Random(SEED + 1)
    out = tmp_path / "out"
    base = ["prepare", "--tokenizer", TOKENIZER, "--max-length", "512", "--num-proc", "2",
            "--eval-fraction", "0.1", "-o", out]  # fmt: skip
    command = [base[0], chats(tmp_path / "new.jsonl", 4000), *base[1:]]

    run(base[0], chats(tmp_path / "old.jsonl", 50), *base[1:]).check_clean(0)
    old = whole(out)["fingerprint"]
    previous = tmp_path / "previous"
    shutil.copytree(out, previous)
    reference = run(*command).check_clean(0)
    new = whole(out)["fingerprint"]

    for _ in range(PREPARE_KILLS):
        shutil.rmtree(out)
        shutil.copytree(previous, out)
        delay = rng.uniform(0.02, 0.98) * reference.seconds
        killed, orphans = kill_at(start, command, delay, "test_prepare_killed_at_random_points")
        if os.environ.get("DATAPREP_FAULTS_VERBOSE"):
            print(f"prepare killed at {delay:.2f}/{reference.seconds:.2f} s: {killed.signal}")
        assert not orphans, f"workers outlived their parent: {orphans}"
        visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
        assert visible == ["new.jsonl", "old.jsonl", "out", "previous"]
        assert whole(out)["fingerprint"] in (old, new), f"killed after {delay:.2f} s"
        again = run(*command).check_clean(0)
        assert whole(out)["fingerprint"] == new
        assert hidden(tmp_path) == [], "leftovers beside the output"
        assert "up to date" in again.out or "prepared" in again.out
        TALLY.kills_survived += killed.signal == signal.SIGKILL


def test_the_losing_prepare_of_a_race_says_so(run, tmp_path):
    """Another run holds the output (here: this test, holding its lock): prepare stops at
    once, names that process, and leaves the output alone."""
    from dataprep.atomic import OutputLock

    out = tmp_path / "out"
    with OutputLock(out):
        r = run("prepare", chats(tmp_path / "rows.jsonl", 20), "--tokenizer", TOKENIZER,
                "--max-length", "256", "-o", out).check_clean(1)  # fmt: skip
    assert f"{out} is being written by another dataprep run (pid {os.getpid()})" in r.err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["tmp", "stdin", "old"])
def test_leftovers_of_live_runs_are_kept(run, tmp_path, kind):
    """Only the dead are cleaned: a leftover whose process runs (ours: the test's) stays."""
    live = tmp_path / f".out.dataprep-{kind}.{os.getpid()}.{_host()}.0123abcd.tmp"
    live.mkdir()
    run("prepare", chats(tmp_path / "rows.jsonl", 5), "--tokenizer", TOKENIZER, "--max-length",
        "256", "-o", tmp_path / "out").check_clean(0)  # fmt: skip
    assert live.is_dir()


def _host() -> str:
    from dataprep.atomic import _host

    return _host()
