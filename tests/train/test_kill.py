"""kill -9 at a random point of `train merge` and of `train sft`: no output folder looks
complete that is not, and running the command again succeeds.

The command runs in a child process that starts with the libraries already imported
(see ``KILLER``) and is killed after a random fraction of the time the same command
takes in this process: the kill lands in the work (loading, training, checkpoints,
saving), not in imports. The fraction is in every failure message.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from train.checkpoints import checkpoint_folders, final_save_problem, weights_problem
from train.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="forks the command"),
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


ROOT = Path(__file__).resolve().parents[2]


def run_in_process(argv, capsys):
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exited.value.code == 0, err
    return time.perf_counter() - start


# A helper process: it imports the libraries once, then for each request forks a child
# that runs one command, and SIGKILLs the child after the given seconds. The children are
# forked from this helper, not from pytest: a child killed while holding a lock shared
# across fork (tqdm's multiprocessing lock is one) can then hang only the idle helper.
KILLER = """
import json, os, signal, sys, time
import peft, transformers, trl, train.merge, train.sft  # the imports, once
from train.cli import main
print("ready", flush=True)
for line in sys.stdin:
    argv, seconds, log = json.loads(line)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            with open(log, "w") as out:
                os.dup2(out.fileno(), 1)
                os.dup2(out.fileno(), 2)
                try:
                    main(argv)
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else 1
        finally:
            os._exit(code)
    finished, status = os.waitpid(pid, os.WNOHANG)
    while not finished and time.perf_counter() - start < seconds:
        time.sleep(0.005)
        finished, status = os.waitpid(pid, os.WNOHANG)
    if not finished:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status) if finished else None
    print(json.dumps([code, time.perf_counter() - start]), flush=True)
"""


@pytest.fixture(scope="module")
def killer():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    with subprocess.Popen(
        [sys.executable, "-c", KILLER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    ) as helper:
        assert helper.stdout.readline().strip() == "ready"

        def kill_midway(argv, seconds, log):
            """Run ``train ARGV`` and SIGKILL it after ``seconds``, unless it ends first;
            (its exit code or None when killed, the seconds it ran). Its output goes to
            ``log``."""
            helper.stdin.write(json.dumps([[str(a) for a in argv], seconds, str(log)]) + "\n")
            helper.stdin.flush()
            return json.loads(helper.stdout.readline())

        yield kill_midway
        helper.stdin.close()
        helper.wait(timeout=60)


def assert_same_weights(actual, expected, note):
    actual, expected = load_file(actual), load_file(expected)
    assert actual.keys() == expected.keys(), note
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, atol=1e-5, rtol=1e-4, msg=note)


def timed_run(killer, argv, log):
    """The seconds ``train ARGV`` takes in a child of the helper, run to the end."""
    code, seconds = killer(argv, 600, log)
    assert code == 0, log.read_text()
    return seconds


def test_merge_killed_at_a_random_point(tmp_path, finished_run, killer, capsys):
    reference = tmp_path / "reference"
    seconds = timed_run(killer, ["merge", finished_run, "-o", reference], tmp_path / "log")
    fraction = random.uniform(0.0, 1.0)
    note = f"killed {fraction:.2f} of {seconds:.2f} s in"
    output = tmp_path / "merged"
    code, _ = killer(["merge", finished_run, "-o", output], fraction * seconds, tmp_path / "log")

    if output.exists():  # only ever whole: renamed from merged.partial when complete
        assert weights_problem(output) is None, note
        for name in ("config.json", "tokenizer.json", "dataprep.json", "train_config.yaml"):
            assert (output / name).is_file(), f"{name}: {note}"
        assert not (tmp_path / "merged.partial").exists(), note
        # The merge was complete when the kill landed (before or after the process
        # ended): a second run refuses the full folder, as it refuses any.
        assert_same_weights(output / "model.safetensors", reference / "model.safetensors", note)
        return
    assert code is None, f"merge ended ({code}) with no output: {note}"  # killed, not failed
    run_in_process(["merge", finished_run, "-o", output], capsys)
    assert not (tmp_path / "merged.partial").exists(), note
    assert_same_weights(output / "model.safetensors", reference / "model.safetensors", note)


def test_sft_killed_at_a_random_point(
    tmp_path, finished_run, sft_packed, tiny_model, tiny_tokenizer, short_run_config, killer, capsys
):
    def sft(output):
        argv = ["sft", sft_packed, "--model", tiny_model, "--tokenizer", tiny_tokenizer]
        argv += ["-o", output]
        for key, value in short_run_config().trl.items():
            argv += ["--set", f"{key}={value}"]
        return argv

    seconds = timed_run(killer, sft(tmp_path / "reference"), tmp_path / "log")
    fraction = random.uniform(0.0, 1.0)
    note = f"killed {fraction:.2f} of {seconds:.2f} s in"
    output = tmp_path / "run"
    killer(sft(output), fraction * seconds, tmp_path / "log")

    if (output / "adapter_model.safetensors").exists():  # moved in last, so all is there
        assert final_save_problem(output) is None, note
    resume = ["--resume"] if checkpoint_folders(output) else []
    run_in_process([*sft(output), *resume], capsys)
    assert final_save_problem(output) is None, note
    assert not (output / "final.partial").exists(), note
    assert_same_weights(
        output / "adapter_model.safetensors", finished_run / "adapter_model.safetensors", note
    )
