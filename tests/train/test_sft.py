"""`train sft` on the tiny model: it learns, it saves what a run needs, every mode runs,
and a run that goes wrong stops with a message instead of a traceback."""

from __future__ import annotations

import json
import math
import statistics

import pytest
import torch
from transformers import TrainerCallback

from dataprep.errors import TrainError
from train.config import RunConfig, load_run_config
from train.sft import run_sft

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def train(data, output, model, tokenizer, *, mode="lora", callbacks=(), **trl):
    settings = {
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "save_strategy": "no",
        "disable_tqdm": True,
        **trl,
    }
    run = RunConfig(model=str(model), tokenizer=str(tokenizer), mode=mode, trl=settings)
    return run_sft(data, run, output, callbacks=callbacks)


def losses(trainer, key="loss"):
    return [entry[key] for entry in trainer.state.log_history if key in entry]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, sft_packed, tiny_model, tiny_tokenizer):
    """30 LoRA steps on packed data, shared by the tests that read its results."""
    output = tmp_path_factory.mktemp("runs") / "lora"
    trainer = train(
        sft_packed, output, tiny_model, tiny_tokenizer, max_steps=30, learning_rate=3e-3
    )
    return trainer, output


def test_lora_loss_decreases_over_30_steps(lora_run):
    trainer, _ = lora_run
    curve = losses(trainer)
    assert len(curve) == 30 and all(math.isfinite(x) for x in curve)
    assert statistics.mean(curve[-5:]) < statistics.mean(curve[:5]) - 0.3, curve


def test_output_holds_adapter_tokenizer_config_and_manifest(lora_run, sft_packed):
    _, output = lora_run
    for name in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer.json",
        "train_config.yaml",
    ):
        assert (output / name).is_file(), name
    assert (output / "dataprep.json").read_bytes() == (sft_packed / "dataprep.json").read_bytes()
    # The adapter finds its base from anywhere: the path is recorded absolute.
    base = json.loads((output / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert base.startswith("/") and base.endswith("tiny-model")


def test_written_config_reads_back_as_the_same_run(lora_run):
    _, output = lora_run
    text = (output / "train_config.yaml").read_text()
    assert text.startswith("# train sft")
    again = load_run_config(output / "train_config.yaml")
    assert (again.kind, again.mode, again.lora.r, again.lora.alpha) == ("sft", "lora", 16, 32)
    assert again.trl["learning_rate"] == 3e-3 and again.trl["max_steps"] == 30
    assert again.trl["lr_scheduler_type"] == "cosine"


def test_unpacked_data_trains_too(tmp_path, sft_data, tiny_model, tiny_tokenizer):
    trainer = train(
        sft_data, tmp_path / "run", tiny_model, tiny_tokenizer, max_steps=12, learning_rate=3e-3
    )
    curve = losses(trainer)
    assert statistics.mean(curve[-3:]) < statistics.mean(curve[:3])
    assert trainer.args.padding_free is False  # rows of one document: plain padding


def test_full_fine_tune_changes_every_weight_and_saves_a_model(
    tmp_path, sft_packed, tiny_model, tiny_tokenizer
):
    from transformers import AutoModelForCausalLM

    trainer = train(
        sft_packed, tmp_path / "run", tiny_model, tiny_tokenizer, mode="full", max_steps=4
    )
    assert all(math.isfinite(x) for x in losses(trainer))
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert not (tmp_path / "run" / "adapter_config.json").exists()
    before = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    after = AutoModelForCausalLM.from_pretrained(str(tmp_path / "run"))
    changed = [
        not torch.equal(a, b)
        for a, b in zip(before.state_dict().values(), after.state_dict().values(), strict=True)
    ]
    assert all(changed)


def test_qlora_loads_4bit_weights_on_cpu_and_trains(
    tmp_path, sft_packed, tiny_model, tiny_tokenizer
):
    import bitsandbytes as bnb

    trainer = train(
        sft_packed,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        mode="qlora",
        max_steps=6,
        learning_rate=3e-3,
    )
    base = trainer.model.get_base_model()
    quantized = [m for m in base.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantized) == 14  # 7 linear layers in each of the 2 blocks
    assert quantized[0].weight.dtype == torch.uint8 and quantized[0].weight.quant_type == "nf4"
    assert all(math.isfinite(x) for x in losses(trainer))
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()


def test_eval_split_is_evaluated_at_the_configured_interval(
    tmp_path, sft_with_eval, tiny_model, tiny_tokenizer
):
    trainer = train(
        sft_with_eval, tmp_path / "run", tiny_model, tiny_tokenizer, max_steps=6, eval_steps=3
    )
    evaluated = [e["step"] for e in trainer.state.log_history if "eval_loss" in e]
    assert evaluated == [3, 6]


class PoisonWeights(TrainerCallback):
    """Make every trainable weight NaN after step ``at``."""

    def __init__(self, at):
        self.at = at

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.at:
            for parameter in model.parameters():
                if parameter.requires_grad:
                    parameter.data.fill_(float("nan"))


class RunOutOfMemory(TrainerCallback):
    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.mark.parametrize(
    ("callback", "expected"),
    [
        (PoisonWeights(at=3), ["the loss became NaN at step 4", "learning rate"]),
        (
            RunOutOfMemory(),
            [
                "out of GPU memory at step 2",
                "--set per_device_train_batch_size=2 --set gradient_accumulation_steps=2",
                "--qlora",
            ],
        ),
    ],
)
def test_a_run_that_goes_wrong_stops_with_advice(
    tmp_path, sft_packed, tiny_model, tiny_tokenizer, callback, expected
):
    with pytest.raises(TrainError) as caught:
        train(
            sft_packed,
            tmp_path / "run",
            tiny_model,
            tiny_tokenizer,
            max_steps=8,
            callbacks=[callback],
        )
    for words in expected:
        assert words in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--lora-target", "nothing_like_it", "-o", "{out}"],
            "error: the trainer refused the run: Target modules",
        ),
        (
            ["-o", "{out}", "--set", "packing=true"],
            "error: --set: packing: packing is done by `dataprep prepare`",
        ),
        ([], "error: where should the run go? pass -o OUT (or `output_dir:` in the config)"),
    ],
)
def test_usage_errors_from_the_command_line(
    tmp_path, sft_packed, tiny_model, capsys, extra, message
):
    from train.cli import main

    argv = ["sft", str(sft_packed), "--model", str(tiny_model), *extra]
    with pytest.raises(SystemExit) as exited:
        main([a.format(out=tmp_path / "run") for a in argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_which_model_is_asked_for(tmp_path, sft_packed, capsys):
    from train.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["sft", str(sft_packed), "-o", str(tmp_path / "run")])
    assert exited.value.code == 2
    assert "which model? pass --model PATH" in capsys.readouterr().err


def test_a_model_that_is_not_there(tmp_path, sft_packed, tiny_tokenizer, capsys):
    from train.cli import main

    argv = [
        "sft",
        str(sft_packed),
        "--model",
        str(tmp_path / "nowhere"),
        "--tokenizer",
        str(tiny_tokenizer),
    ]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "-o", str(tmp_path / "run")])
    assert exited.value.code == 2
    assert (
        f"--model {tmp_path / 'nowhere'}: not a model folder, nor a cached model"
        in capsys.readouterr().err
    )
