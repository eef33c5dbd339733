"""Outputs: an `-o` that cannot be written is a message (exit 2; a full disk exit 1),
never a traceback; `train merge` and `train`'s final save never leave a folder that looks
complete and is not.

The tests run as root, whom permissions do not stop: the unwritable places are a path
under a regular file (ENOTDIR), /proc, and /dev/full (a file, and a disk that is always
full)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from dataprep.errors import TrainError, UsageError
from train import outputs
from train.checkpoints import final_save_problem
from train.cli import main

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

PROC = Path("/proc/train-test/run")


def unwritable(case, tmp_path):
    """(the -o to pass, the message after "error: ") for each unwritable kind."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    return {
        "a-file": (a_file, f"-o {a_file}: a file, not a folder; choose another -o"),
        "under-a-file": (
            a_file / "run",
            f"-o {a_file / 'run'}: {a_file} is a file, so no folder can be made there; "
            "choose another -o",
        ),
        "dev-full": (Path("/dev/full"), "-o /dev/full: a file, not a folder; choose another -o"),
        "proc": (PROC, f"-o {PROC}: nothing can be written in /proc ("),
    }[case]


CASES = ["a-file", "under-a-file", "dev-full", "proc"]


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    return exited.value.code, capsys.readouterr().err.strip().splitlines()[-1]


def check_message(line, message):
    if message.endswith("("):  # the OS's own words follow, which vary between kernels
        assert line.startswith(f"error: {message}"), line
        assert line.endswith("); choose another -o"), line
    else:
        assert line == f"error: {message}"


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("case", CASES)
def test_train_refuses_an_unwritable_output(
    case, tmp_path, sft_packed, tiny_model, tiny_tokenizer, capsys
):
    output, message = unwritable(case, tmp_path)
    argv = ["sft", sft_packed, "--model", tiny_model, "--tokenizer", tiny_tokenizer, "-o", output]
    code, line = run_cli([*argv, "--set", "max_steps=1"], capsys)
    assert code == 2
    check_message(line, message)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("case", [c for c in CASES if c != "dev-full"])  # no merged.partial in /dev
def test_merge_refuses_an_unwritable_output(case, tmp_path, finished_run, capsys):
    output, message = unwritable(case, tmp_path)
    code, line = run_cli(["merge", finished_run, "-o", output], capsys)
    assert code == 2
    check_message(line, message)


def write_dev_full():
    # open() writes in place: the device stays a device.
    with open("/dev/full", "wb") as f:
        f.write(b"x" * 65536)


def torch_save_full():
    # What torch.save raised on a full tmpfs. (Not torch.save to /dev/full: a library
    # that saves by rename would put a regular file in place of the device.)
    raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 15552 vs 15444")


def safetensors_full():
    from safetensors import SafetensorError

    # What safetensors raised on a full tmpfs (its Rust I/O error, as text).
    raise SafetensorError(
        "Error while serializing: I/O error: No space left on device (os error 28)"
    )


@pytest.mark.parametrize(
    ("write", "error", "message"),
    [
        (
            write_dev_full,
            TrainError,
            "{out}: No space left on device; free space on that disk and run again (with "
            "--resume where there are checkpoints)",
        ),
        (
            torch_save_full,
            TrainError,
            "{out}: writing a checkpoint failed ([enforce fail at inline_container.cc:",
        ),
        (
            safetensors_full,
            TrainError,
            "{out}: writing the weights failed (Error while serializing: I/O error: No space "
            "left on device (os error 28)); free space and run again",
        ),
        (
            lambda: (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only file system", "/x")),
            UsageError,
            "/x: cannot write there (Read-only file system); choose another -o",
        ),
    ],
    ids=["disk-full", "torch-save-disk-full", "safetensors-disk-full", "read-only"],
)
def test_write_failures_become_messages(tmp_path, write, error, message):
    with pytest.raises(error) as caught, outputs.writing_errors(tmp_path):
        write()
    assert str(caught.value).startswith(message.format(out=tmp_path)), str(caught.value)


def test_other_errors_pass_unchanged(tmp_path):
    with pytest.raises(FileNotFoundError), outputs.writing_errors(tmp_path):
        open(tmp_path / "missing")  # noqa: SIM115


# --- the final save: moved in with the weights last ------------------------------------

FINAL = [
    "README.md",
    "adapter_config.json",
    "adapter_model.safetensors",
    "chat_template.jinja",
    "dataprep.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "train_config.yaml",
    "training_args.bin",
]


class Killed(BaseException):
    """Stands for the kill: nothing after it runs, not even ``except Exception``."""


def looks_loadable(folder):
    return (folder / "adapter_model.safetensors").exists()


@pytest.mark.parametrize("crash_at", range(len(FINAL)))
def test_a_publish_cut_at_any_move_leaves_no_loadable_incomplete_folder(
    tmp_path, finished_run, monkeypatch, crash_at
):
    output = tmp_path / "run"
    output.mkdir()
    staging = outputs.new_partial(outputs.staging_folder(output))
    for name in FINAL:
        shutil.copy(finished_run / name, staging / name)
    moves = []
    real_replace = os.replace

    def replace(src, dst):
        if len(moves) == crash_at:
            raise Killed()
        moves.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", replace)
    with pytest.raises(Killed):
        outputs.publish(staging, output)
    present = {p.name for p in output.iterdir()} - {outputs.STAGING}
    assert present == set(moves)
    assert not looks_loadable(output)  # the weights move last, so never before the rest
    assert final_save_problem(output) is not None
    # The rerun's first step: the leftover still has its marker, so it goes.
    outputs.remove_leftover(staging)
    assert not staging.exists()


def test_a_complete_publish(tmp_path, finished_run):
    output = tmp_path / "run"
    output.mkdir()
    staging = outputs.new_partial(outputs.staging_folder(output))
    for name in FINAL:
        shutil.copy(finished_run / name, staging / name)
    outputs.publish(staging, output)
    assert sorted(p.name for p in output.iterdir()) == FINAL
    assert final_save_problem(output) is None


def test_a_folder_in_the_way_is_not_removed(tmp_path):
    mine = tmp_path / "merged.partial"
    mine.mkdir()
    (mine / "keep.txt").write_text("a user's file\n")
    with pytest.raises(UsageError, match="is in the way"):
        outputs.remove_leftover(mine)
    assert (mine / "keep.txt").is_file()


@pytest.mark.parametrize("target_exists", [False, True])
def test_an_atomic_folder_appears_whole_or_not_at_all(tmp_path, target_exists):
    target = tmp_path / "merged"
    if target_exists:
        target.mkdir()  # empty: allowed, and replaced
    with pytest.raises(RuntimeError), outputs.atomic_folder(target) as partial:
        (partial / "config.json").write_text("{}")
        raise RuntimeError("the save failed")
    assert not (tmp_path / "merged.partial").exists()
    assert not (target / "config.json").exists()
    with outputs.atomic_folder(target) as partial:
        (partial / "config.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]
    assert not (tmp_path / "merged.partial").exists()
