"""The end of every run: a summary said and kept (run_summary.json), a model card, and
with --plot the loss curves; the token counts equal the data's own."""

from __future__ import annotations

import json

import datasets
import pytest

from train.cli import main
from train.config import RunConfig
from train.summary import losses, plot_losses

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def split_of(folder):
    loaded = datasets.load_from_disk(str(folder))
    return loaded["train"] if isinstance(loaded, datasets.DatasetDict) else loaded


def tokens_in(kind, split):
    """(tokens in the rows, tokens trained) of one pass over ``split``, counted here."""
    if kind == "sft":
        seen = sum(len(ids) for ids in split["input_ids"])
        trained = sum(sum(1 for x in labels if x != -100) for labels in split["labels"])
        return seen, trained
    answers = [
        len(c) + len(r) for c, r in zip(split["chosen_ids"], split["rejected_ids"], strict=True)
    ]
    prompts = [2 * len(p) for p in split["prompt_ids"]]
    return sum(answers) + sum(prompts), sum(answers)


@pytest.mark.parametrize(
    ("kind", "data", "batch", "mode"),
    [
        ("sft", "sft_data", 8, "lora"),  # 64 rows, one per conversation
        ("sft", "sft_packed", 2, "full"),  # packed rows: padding-free batches
        ("dpo", "dpo_data", 8, "lora"),  # 32 pairs
        ("orpo", "dpo_data", 8, "lora"),  # the same pairs, through train.pair_batches
    ],
)
def test_one_epoch_counts_every_token_of_the_data(
    request, tmp_path, tiny_model, tiny_tokenizer, kind, data, batch, mode
):
    from train.dpo import run_dpo
    from train.sft import run_sft

    folder = request.getfixturevalue(data)
    split = split_of(folder)
    steps = len(split) // batch
    assert steps * batch == len(split)  # exactly one epoch: every row once
    run = RunConfig(
        model=str(tiny_model),
        tokenizer=str(tiny_tokenizer),
        mode=mode,
        trl={
            "max_steps": steps,
            "per_device_train_batch_size": batch,
            "save_strategy": "no",
            "logging_steps": 1,
            "disable_tqdm": True,
        },
    )
    from train.orpo import run_orpo

    recipe = {"sft": run_sft, "dpo": run_dpo, "orpo": run_orpo}[kind]
    trainer = recipe(folder, run, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "run_summary.json").read_text())
    seen, trained = tokens_in(kind, split)
    assert (summary["tokens_seen"], summary["tokens_trained"]) == (seen, trained)
    assert summary["steps"] == steps
    logged = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert (summary["loss_first"], summary["loss_last"]) == (logged[0], logged[-1])
    assert summary["peak_memory_gib"] > 0
    assert summary["tokens_per_second"] == pytest.approx(seen / summary["seconds"], rel=1e-3)
    merge = [c for c in summary["next_commands"] if c.startswith("train merge")]
    assert bool(merge) == (mode == "lora")
    assert f"train eval {tmp_path / 'run'} --data {folder}" in summary["next_commands"]
    card = (tmp_path / "run" / "README.md").read_text()
    assert f"base_model: {tiny_model}" in card
    assert "None" not in card


def test_the_cli_says_the_summary_and_plots_the_losses(
    tmp_path, sft_with_eval, tiny_model, tiny_tokenizer, capsys
):
    plot = tmp_path / "curves" / "loss.png"
    argv = ["sft", str(sft_with_eval), "--model", str(tiny_model), "--tokenizer"]
    argv += [str(tiny_tokenizer), "-o", str(tmp_path / "run"), "--plot", str(plot)]
    argv += ["--set", "max_steps=4", "--set", "eval_steps=2", "--set", "logging_steps=1"]
    argv += ["--set", "save_strategy=no", "--set", "disable_tqdm=true"]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 0, err
    summary = json.loads((tmp_path / "run" / "run_summary.json").read_text())
    for line in (
        "done: sft lora, 4 steps",
        f"  tokens: {summary['tokens_seen']:,} in batches, {summary['tokens_trained']:,} trained",
        "  peak memory: ",
        f"  loss: {summary['loss_first']:.4f} -> {summary['loss_last']:.4f}",
        f"  eval loss: {summary['eval_loss_first']:.4f} -> {summary['eval_loss_last']:.4f}",
        f"  adapter: {tmp_path / 'run'}",
        f"    train merge {tmp_path / 'run'} -o {tmp_path / 'run-merged'}",
        f"    train eval {tmp_path / 'run'} --data {sft_with_eval}",
        f"loss curve: {plot}",
    ):
        assert line in err, line
    assert summary["eval_loss_first"] != summary["eval_loss_last"]  # two evals, steps 2 and 4
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("plot", "message"),
    [
        ("loss.txt", "--plot {tmp}/loss.txt: the plot is a PNG; name the file *.png"),
        ("a-folder.png", "'--plot': File '{tmp}/a-folder.png' is a directory"),  # click's
    ],
)
def test_a_plot_that_cannot_be_written_is_refused_before_training(
    tmp_path, sft_packed, tiny_model, tiny_tokenizer, capsys, plot, message
):
    (tmp_path / "a-folder.png").mkdir()
    argv = ["sft", str(sft_packed), "--model", str(tiny_model), "--tokenizer"]
    argv += [str(tiny_tokenizer), "-o", str(tmp_path / "run"), "--plot", str(tmp_path / plot)]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("history", "train", "evals"),
    [
        ([], [], []),
        ([{"loss": 2.0, "step": 1}, {"loss": 1.5, "step": 2}], [(1, 2.0), (2, 1.5)], []),
        (
            [
                {"loss": 2.0, "step": 5},
                {"eval_loss": 1.9, "step": 5},
                {"train_loss": 1.0, "step": 5},
            ],
            [(5, 2.0)],
            [(5, 1.9)],
        ),
    ],
)
def test_losses_of_a_log_history(history, train, evals, tmp_path):
    assert losses(history) == (train, evals)
    path = plot_losses(history, tmp_path / "plot.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("history", "line"),
    [
        ([{"loss": 2.5, "step": 1}, {"loss": 2.0, "step": 2}], "  loss: 2.5000 -> 2.0000"),
        (
            [{"train_loss": 2.25, "step": 2}],
            "  loss: mean 2.2500 (no step logged: fewer steps than logging_steps)",
        ),
        ([], "  loss: none logged"),
    ],
)
def test_the_loss_line_of_the_summary(tmp_path, history, line):
    from train.summary import format_summary, summarize

    summary = summarize(
        history,
        command="train sft d",
        kind="sft",
        mode="full",
        steps=2,
        seconds=1.0,
        tokens=(10, 4),
        output=tmp_path / "run",
        data=tmp_path / "d",
    )
    text = format_summary(summary).splitlines()
    assert line in text
    assert "  model: " + str(tmp_path / "run") in text
    assert not any("train merge" in t for t in text)  # a full model has nothing to merge


def test_padding_free_counts_stay_on_the_batch_device():
    """A padding-free batch has no attention mask: its token count is made on the batch's
    device, so it adds up with the trained count (on CUDA, a CPU count beside a CUDA sum
    broke the summary at the end of a run). The meta device stands in for CUDA here."""
    import torch

    from train.metrics import batch_tokens

    ids = torch.ones(1, 6, dtype=torch.long, device="meta")
    labels = torch.full((1, 6), 5, dtype=torch.long, device="meta")
    seen, trained = batch_tokens({"input_ids": ids, "labels": labels})
    assert seen.device == trained.device == ids.device
