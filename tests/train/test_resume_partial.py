"""`--resume` after a kill: a checkpoint the kill left partial is skipped, with the
reason, for the newest complete one; a finished run is left as it is; a run killed after
its last checkpoint but before its final save gets the save, without training again."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from train.checkpoints import RunFinished, choose_checkpoint, final_save_problem
from train.cli import main
from train.sft import run_sft

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

FINAL = ("adapter_model.safetensors", "adapter_config.json", "train_config.yaml", "dataprep.json")


def killed_before_the_final_save(finished_run, output):
    """A copy of the finished run as a kill before its final save leaves it."""
    shutil.copytree(finished_run, output)
    for name in FINAL:
        (output / name).unlink()
    return output


def cut(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# damage done to checkpoint-4 -> the reason --resume gives for skipping it
DAMAGE = {
    "no-state": (
        lambda c: (c / "trainer_state.json").unlink(),
        "no trainer_state.json",
    ),
    "state-cut": (
        lambda c: cut(c / "trainer_state.json", 0.3),
        "trainer_state.json unreadable (",
    ),
    "weights-cut": (
        lambda c: cut(c / "adapter_model.safetensors", 0.9),
        "adapter_model.safetensors is cut short (",
    ),
    "weights-header-cut": (
        lambda c: cut(c / "adapter_model.safetensors", 0.001),
        "adapter_model.safetensors is cut short (its header is incomplete)",
    ),
    "weights-gone": (
        lambda c: (c / "adapter_model.safetensors").unlink(),
        "no weights (adapter_model.safetensors or model.safetensors)",
    ),
    "optimizer-cut": (
        lambda c: cut(c / "optimizer.pt"),
        "optimizer.pt is cut short or unreadable",
    ),
    "scheduler-gone": (lambda c: (c / "scheduler.pt").unlink(), "no scheduler.pt"),
    "rng-cut": (lambda c: cut(c / "rng_state.pth"), "rng_state.pth is cut short or unreadable"),
    "emptied": (
        lambda c: [p.unlink() for p in c.iterdir()],
        "no trainer_state.json",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_partial_checkpoint_is_skipped_with_its_reason(tmp_path, finished_run, capsys, damage):
    output = killed_before_the_final_save(finished_run, tmp_path / "run")
    spoil, reason = DAMAGE[damage]
    spoil(output / "checkpoint-4")
    chosen = choose_checkpoint(output, resume=True)
    assert chosen == str(output / "checkpoint-2")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"--resume: skipping checkpoint-4, incomplete: {reason}"), lines
    assert lines[1] == "resuming from checkpoint-2 (step 2)"


def test_the_newest_complete_checkpoint_is_taken(tmp_path, finished_run, capsys):
    output = killed_before_the_final_save(finished_run, tmp_path / "run")
    assert choose_checkpoint(output, resume=True) == str(output / "checkpoint-4")
    assert capsys.readouterr().err == "resuming from checkpoint-4 (step 4)\n"


def test_with_no_complete_checkpoint_the_run_starts_over(tmp_path, finished_run, capsys):
    output = killed_before_the_final_save(finished_run, tmp_path / "run")
    for step in (2, 4):
        (output / f"checkpoint-{step}" / "trainer_state.json").unlink()
    assert choose_checkpoint(output, resume=True) is None
    assert capsys.readouterr().err.splitlines() == [
        "--resume: skipping checkpoint-4, incomplete: no trainer_state.json",
        "--resume: skipping checkpoint-2, incomplete: no trainer_state.json",
        f"--resume: no complete checkpoint in {output}; starting from step 0",
    ]


class Steps(TrainerCallback):
    """The optimizer steps this run took (the resumed log also holds the earlier ones)."""

    def __init__(self):
        self.trained = []

    def on_step_end(self, args, state, control, **kwargs):
        self.trained.append(state.global_step)


def test_a_resume_past_a_partial_checkpoint_ends_as_the_uninterrupted_run(
    tmp_path, finished_run, sft_packed, short_run_config
):
    output = killed_before_the_final_save(finished_run, tmp_path / "run")
    cut(output / "checkpoint-4" / "adapter_model.safetensors", 0.9)
    steps = Steps()
    run_sft(sft_packed, short_run_config(), output, resume=True, callbacks=[steps])

    assert steps.trained == [3, 4]  # from checkpoint-2: two steps, not four
    assert final_save_problem(output) is None
    expected = load_file(finished_run / "adapter_model.safetensors")
    actual = load_file(output / "adapter_model.safetensors")
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, atol=1e-5, rtol=1e-4)


def snapshot(folder):
    """Every file under ``folder`` with its modification time and sha256."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).digest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def resume_cli(data, output, model, tokenizer, settings, capsys, *sets):
    argv = ["sft", data, "--model", model, "--tokenizer", tokenizer, "-o", output, "--resume"]
    for key, value in settings.items():
        argv += ["--set", f"{key}={value}"]
    for item in sets:
        argv += ["--set", item]
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("sets", [(), ("max_steps=8",)], ids=["same-steps", "more-steps"])
def test_resuming_a_finished_run_changes_nothing(
    tmp_path, finished_run, sft_packed, tiny_model, tiny_tokenizer, short_run_config, capsys, sets
):
    output = tmp_path / "run"
    shutil.copytree(finished_run, output)
    before = snapshot(output)
    settings = short_run_config().trl
    code, err = resume_cli(sft_packed, output, tiny_model, tiny_tokenizer, settings, capsys, *sets)
    assert code == 0, err
    assert err.strip().splitlines()[-1] == (
        f"{output}: the run is finished (its final save is complete); nothing to do. "
        "For another run choose another -o"
    )
    assert snapshot(output) == before


def test_a_run_killed_before_its_final_save_is_saved_from_its_last_checkpoint(
    tmp_path, finished_run, sft_packed, tiny_model, tiny_tokenizer, short_run_config, capsys
):
    output = killed_before_the_final_save(finished_run, tmp_path / "run")
    checkpoints_before = {k: v for k, v in snapshot(output).items() if "checkpoint-" in k}
    settings = short_run_config().trl
    code, err = resume_cli(sft_packed, output, tiny_model, tiny_tokenizer, settings, capsys)
    assert code == 0, err
    assert "checkpoint-4 is the run's last step (4): saving it" in err
    assert final_save_problem(output) is None
    # No training: no step past max_steps, no checkpoint written again.
    assert {k: v for k, v in snapshot(output).items() if "checkpoint-" in k} == checkpoints_before
    assert (output / "adapter_model.safetensors").read_bytes() == (
        finished_run / "adapter_model.safetensors"
    ).read_bytes()
    for name in FINAL:
        assert (output / name).is_file(), name


def test_the_library_says_finished_with_its_own_type(tmp_path, finished_run):
    with pytest.raises(RunFinished):
        choose_checkpoint(finished_run, resume=True)


def test_merge_refuses_a_run_whose_final_save_is_incomplete(tmp_path, finished_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "adapter_model.safetensors").unlink()  # a kill before the weights moved in
    with pytest.raises(SystemExit) as exited:
        main(["merge", str(run), "-o", str(tmp_path / "merged")])
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {run}: no weights (adapter_model.safetensors or model.safetensors); the run's "
        "final save is incomplete (run it again with --resume to finish it)"
    )
    assert not (tmp_path / "merged").exists()
