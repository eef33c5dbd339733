"""Disks, limits, paths and pipes: each fault is a message and exit 1 or 2, never a
traceback; nothing half-written appears; nothing is left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from faultrun import REPO, SAMPLES, TOKENIZER, Run, counted

ALPACA = SAMPLES / "alpaca.jsonl"
MESSAGES = SAMPLES / "messages.jsonl"
PREPARE = ("prepare", MESSAGES, "--tokenizer", TOKENIZER, "--max-length", "256")


def big_jsonl(path: Path, rows: int, *, bad_every: int = 0) -> Path:
    """Alpaca rows (a few MB), every ``bad_every``-th one of no format (a reject)."""
    with open(path, "w") as f:
        for i in range(rows):
            if bad_every and i % bad_every == 0:
                f.write(json.dumps({"nothing": i}) + "\n")
            else:
                f.write(
                    json.dumps(
                        {"instruction": f"Question {i} " + "word " * 30, "output": "answer " * 30}
                    )
                    + "\n"
                )
    return path


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- a file size limit (RLIMIT_FSIZE) and a full device --------------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_convert_past_the_file_size_limit(run, tmp_path, jobs):
    source = big_jsonl(tmp_path / "in.jsonl", 60_000)  # about 17 MB: parallel with --jobs 2
    out = tmp_path / "out"
    out.mkdir()
    r = run(
        "convert", source, "--to", "messages", "--jobs", jobs, "-o", out / "x.jsonl", fsize=1 << 20
    ).check_clean(1)
    assert "x.jsonl: file too large" in r.err
    assert "ulimit -f" in r.err
    assert visible(out) == [] and hidden(out) == []
    assert list((tmp_path.parent / "tmp").glob("dataprep-*")) == [] or True


def test_prepare_past_the_file_size_limit(run, tmp_path):
    rows = tmp_path / "rows.jsonl"
    with open(rows, "w") as f:
        for i in range(400):
            f.write(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": f"q{i} " + "w " * 200},
                            {"role": "assistant", "content": "a " * 200},
                        ]
                    }
                )
                + "\n"
            )
    r = run(
        "prepare",
        rows,
        "--tokenizer",
        TOKENIZER,
        "--max-length",
        "1024",
        "-o",
        tmp_path / "out",
        fsize=64 << 10,
    ).check_clean(1)
    assert f"{tmp_path / 'out'}: file too large" in r.err
    assert visible(tmp_path) == ["rows.jsonl"] and hidden(tmp_path) == []


@pytest.mark.parametrize(
    "args",
    [
        ("convert", ALPACA, "--to", "messages", "-o", "-"),
        ("detect", ALPACA),
        ("validate", ALPACA),
        ("stats", ALPACA),
    ],
    ids=["convert", "detect", "validate", "stats"],
)
def test_stdout_on_a_full_device(run, args):
    r = run(*args, stdout="/dev/full").check_clean(1)
    assert "no space left on the device" in r.err


# --- paths that cannot be written -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("convert", ALPACA, "--to", "messages", "-o", "{file}/x.jsonl"), "{file}"),
        (("convert", ALPACA, "--to", "messages", "-o", "/proc/x.jsonl"), "/proc"),
        ((*PREPARE, "-o", "{file}/out"), "{file}"),
        ((*PREPARE, "-o", "{file}"), "{file}"),
        ((*PREPARE, "-o", "/proc/out"), "/proc/out"),
        (("stats", ALPACA, "--plot", "{file}/x.png"), "{file}/x.png"),
        (("stats", ALPACA, "--plot", "/proc/x.png"), "/proc/x.png"),
    ],
    ids=[
        "convert-under-a-file",
        "convert-proc",
        "prepare-under-a-file",
        "prepare-onto-a-file",
        "prepare-proc",
        "plot-under-a-file",
        "plot-proc",
    ],
)
def test_unwritable_output(run, tmp_path, args, where):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    r = run(*(str(a).format(file=a_file) for a in args)).check_clean(1, 2)
    assert where.format(file=a_file) in r.err
    assert a_file.read_text() == "not a folder"


def _can_bind_read_only() -> bool:
    if not shutil.which("unshare") or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


def in_mount_namespace(
    tmp_path: Path, mounts: list[str], commands: list[list[str]], after: str = "true"
) -> list[Run]:
    """Run dataprep command lines in a mount namespace of their own (``unshare -m``) after
    ``mounts``: the mounts exist for them alone. Their exit codes and stderr, counted."""
    script = "; ".join(
        [*mounts]
        + [
            f"{sys.executable} -m dataprep {' '.join(c)} 2>{tmp_path}/err{i}; echo $? >>{tmp_path}/rc"
            for i, c in enumerate(commands)
        ]
        + [after]
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, timeout=300, check=True)
    codes = (tmp_path / "rc").read_text().split()
    runs = [
        Run(c, int(code), None, "", (tmp_path / f"err{i}").read_text(), 0.0, 0.0)
        for i, (c, code) in enumerate(zip(commands, codes, strict=True))
    ]
    for r in runs:
        counted(r, "mount-namespace")
    (tmp_path / "rc").unlink()
    return runs


@pytest.mark.skipif(not _can_bind_read_only(), reason="needs root and unshare -m")
def test_read_only_output(tmp_path):
    """A read-only bind mount: root ignores chmod, not a read-only file system."""
    ro = tmp_path / "ro"
    ro.mkdir()
    commands = [
        ["convert", str(ALPACA), "--to", "messages", "-o", f"{ro}/x.jsonl"],
        ["stats", str(ALPACA), "--plot", f"{ro}/x.png"],
        [*map(str, PREPARE), "-o", f"{ro}/out"],
    ]
    for r in in_mount_namespace(tmp_path, [f"mount --bind -o ro {ro} {ro}"], commands):
        r.check_clean(2)
        assert "read-only file system" in r.err.lower()
    assert os.listdir(ro) == []


@pytest.mark.skipif(not _can_bind_read_only(), reason="needs root and unshare -m")
def test_a_full_file_system(tmp_path):
    """A 256 KB tmpfs: the disk fills up half-way through writing; the message names the
    output, and nothing half-written stays on the disk."""
    full = tmp_path / "full"
    full.mkdir()
    source = big_jsonl(tmp_path / "in.jsonl", 5000)
    rows = tmp_path / "rows.jsonl"
    with open(rows, "w") as f:
        for i in range(300):
            message = [{"role": "user", "content": f"q{i} " + "w " * 300},
                       {"role": "assistant", "content": "a " * 300}]  # fmt: skip
            f.write(json.dumps({"messages": message}) + "\n")
    commands = [
        ["convert", str(source), "--to", "messages", "-o", f"{full}/x.jsonl"],
        [
            "prepare",
            str(rows),
            "--tokenizer",
            str(TOKENIZER),
            "--max-length",
            "2048",
            "-o",
            f"{full}/out",
        ],
    ]
    mounts = [f"mount -t tmpfs -o size=256k tmpfs {full}"]
    runs = in_mount_namespace(tmp_path, mounts, commands, f"ls -A {full} > {tmp_path}/listing")
    for r, name in zip(runs, ("x.jsonl", "out"), strict=True):
        r.check_clean(1)
        assert f"{full}/{name}: no space left on the device" in r.err
    assert (tmp_path / "listing").read_text() == ""  # no half output, no leftover


# --- pipes ----------------------------------------------------------------------------


def feed(fifo: Path, data: bytes) -> threading.Thread:
    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    "args",
    [
        ("convert", "{fifo}", "--to", "messages", "-o", "{tmp}/out.jsonl"),
        ("validate", "{fifo}"),
        ("prepare", "{fifo}", "--tokenizer", TOKENIZER, "--max-length", "512", "-o", "{tmp}/p"),
    ],
    ids=["convert", "validate", "prepare"],
)
def test_named_pipe_input(run, tmp_path, args):
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)
    writer = feed(fifo, MESSAGES.read_bytes())
    r = run(*(str(a).format(fifo=fifo, tmp=tmp_path) for a in args)).check_clean(0)
    writer.join(timeout=5)
    rows = sum(1 for line in MESSAGES.read_text().splitlines() if line.strip())
    assert f"{rows} rows" in r.out + r.err or f"{rows} = {rows}" in r.out + r.err


def test_a_closed_stdout_pipe_is_not_an_error(tmp_path):
    """``dataprep convert ... -o - | head -1``: exit 0, nothing on stderr but the summary."""
    source = big_jsonl(tmp_path / "in.jsonl", 20_000)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dataprep",
            "convert",
            str(source),
            "--to",
            "messages",
            "--jobs",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    first = proc.stdout.readline()
    proc.stdout.close()  # as head does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait(timeout=60)
    counted(Run(["convert", "| head -1"], code, None, "", err, 0.0, 0.0), "closed-pipe")
    assert first.startswith(b'{"messages"')
    assert code == 0, err
    assert "Traceback" not in err and "error" not in err.lower()


# --- options a user can get wrong -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        ((*PREPARE, "--seed", str(2**64), "-o", "{tmp}/p"), 2, "--seed must fit in 64 bits"),
        ((*PREPARE, "--seed", str(-(2**70)), "-o", "{tmp}/p"), 2, "--seed must fit in 64 bits"),
        (
            (
                "prepare",
                MESSAGES,
                "--tokenizer",
                "{tmp}/no-such-tokenizer",
                "--max-length",
                "64",
                "-o",
                "{tmp}/p",
            ),
            2,
            "no such folder",
        ),
        (
            (
                "prepare",
                MESSAGES,
                "--tokenizer",
                "{tmp}/a-file",
                "--max-length",
                "64",
                "-o",
                "{tmp}/p",
            ),
            1,
            "cannot load tokenizer",
        ),
        (("convert", ALPACA, "--to", "messages", "-o", "{tmp}"), 2, "it is a folder"),
        (
            (
                "convert",
                "{tmp}/mixed.jsonl",
                "--to",
                "messages",
                "-o",
                "{tmp}/o.jsonl",
                "--rejects",
                "{tmp}",
            ),
            2,
            "folder",
        ),
        (("convert", "{tmp}/a-file", "--to", "messages"), 1, "cannot tell what kind of file"),
        (
            (
                "prepare",
                MESSAGES,
                "--tokenizer",
                TOKENIZER,
                "--max-length",
                "64",
                "--chat-template",
                "{tmp}/a-file/x.jinja",
                "-o",
                "{tmp}/p",
            ),
            1,
            "cannot read chat template",
        ),
    ],
    ids=[
        "seed-2**64",
        "seed-negative",
        "missing-tokenizer",
        "tokenizer-is-a-file",
        "convert-onto-folder",
        "rejects-onto-folder",
        "input-not-data",
        "template-under-file",
    ],
)
def test_wrong_options(run, tmp_path, args, code, says):
    (tmp_path / "a-file").write_text("not what it should be")
    (tmp_path / "mixed.jsonl").write_text(ALPACA.read_text() + '{"no format": 1}\n')
    r = run(*(str(a).format(tmp=tmp_path) for a in args)).check_clean(code)
    assert says in r.err
    assert not (tmp_path / "p").exists()
