"""`train merge`: the merged model computes what base + adapter compute, and loads alone."""

from __future__ import annotations

import shutil

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from dataprep.errors import UsageError
from train.cli import main
from train.merge import merge_adapter

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def make_adapter(base_dir, tokenizer_dir, folder, targets, dtype=torch.float32):
    """An adapter whose B matrices are random, not zero, so merging changes the weights."""
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tokenizer_dir / name, folder / name)
    return folder


@pytest.mark.parametrize("targets", ["all-linear", ["q_proj", "v_proj"]])
def test_merged_logits_equal_base_plus_adapter(tmp_path, tiny_model, tiny_tokenizer, targets):
    adapter = make_adapter(tiny_model, tiny_tokenizer, tmp_path / "adapter", targets)
    merge_adapter(adapter, tmp_path / "merged")

    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    assert (tmp_path / "merged" / "tokenizer.json").is_file()
    ids = torch.tensor([[1, 87, 85, 290, 201, 42, 75, 291, 262, 2, 201, 1, 919, 201]])
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"))(ids).logits
        base = AutoModelForCausalLM.from_pretrained(str(tiny_model))
        plain = base(ids).logits
        expected = PeftModel.from_pretrained(base, str(adapter))(ids).logits
    assert not torch.allclose(plain, expected, atol=1e-3)  # the adapter does change the model
    torch.testing.assert_close(merged, expected, atol=1e-5, rtol=1e-5)


def test_merge_keeps_the_dtype_the_base_was_stored_in(tmp_path, tiny_model, tiny_tokenizer):
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.bfloat16)
    base.save_pretrained(str(tmp_path / "base-bf16"))
    adapter = make_adapter(
        tmp_path / "base-bf16", tiny_tokenizer, tmp_path / "adapter", "all-linear", torch.bfloat16
    )
    merge_adapter(adapter, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"), dtype="auto")
    assert merged.dtype == torch.bfloat16


def test_cli_merges_a_trained_run(tmp_path, sft_packed, tiny_model, tiny_tokenizer, capsys):
    from train.config import RunConfig
    from train.sft import run_sft

    run = RunConfig(
        model=str(tiny_model),
        tokenizer=str(tiny_tokenizer),
        trl={"max_steps": 2, "save_strategy": "no"},
    )
    run_sft(sft_packed, run, tmp_path / "run")
    with pytest.raises(SystemExit) as exited:
        main(["merge", str(tmp_path / "run"), "-o", str(tmp_path / "merged")])
    assert exited.value.code == 0, capsys.readouterr().err
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "train_config.yaml",
        "dataprep.json",
    ):
        assert (tmp_path / "merged" / name).is_file(), name


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("full-model", "holds a whole model (trained with --full): there is no adapter to merge"),
        ("empty", "no adapter_config.json, so no LoRA adapter to merge"),
        ("no-base", "does not name its base model: pass --base PATH"),
        ("output-taken", "refusing to write into"),
    ],
)
def test_merge_refusals(tmp_path, tiny_model, tiny_tokenizer, setup, message, capsys):
    adapter, output = tmp_path / "adapter", tmp_path / "merged"
    if setup == "full-model":
        shutil.copytree(tiny_model, adapter)
    elif setup == "empty":
        adapter.mkdir()
    else:
        make_adapter(tiny_model, tiny_tokenizer, adapter, "all-linear")
    if setup == "no-base":
        config = adapter / "adapter_config.json"
        config.write_text(config.read_text().replace(str(tiny_model), ""))
    if setup == "output-taken":
        output.mkdir()
        (output / "something").write_text("x")
    with pytest.raises(SystemExit) as exited:
        main(["merge", str(adapter), "-o", str(output)])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_merge_library_error_type(tmp_path):
    with pytest.raises(UsageError):
        merge_adapter(tmp_path, tmp_path / "out")


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("bfloat16", torch.bfloat16),
        ("float16", torch.float16),
        ("float32", torch.float32),
        ("auto", torch.float32),  # the tiny base is stored in float32
    ],
)
def test_merge_saves_the_dtype_asked_for(tmp_path, tiny_model, tiny_tokenizer, dtype, expected):
    import json

    from safetensors import safe_open

    adapter = make_adapter(tiny_model, tiny_tokenizer, tmp_path / "adapter", "all-linear")
    merge_adapter(adapter, tmp_path / "merged", dtype=dtype)
    config = json.loads((tmp_path / "merged" / "config.json").read_text())
    assert config["dtype"] == str(expected).removeprefix("torch.")
    with safe_open(str(tmp_path / "merged" / "model.safetensors"), "pt") as weights:
        tensor = weights.get_tensor(next(iter(weights.keys())))
    assert tensor.dtype == expected
    loaded = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"), dtype="auto")
    assert loaded.dtype == expected


def test_cli_merge_dtype_choices(tmp_path, finished_run, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["merge", str(finished_run), "-o", str(tmp_path / "m"), "--dtype", "int8"])
    assert exited.value.code == 2
    assert (
        "'int8' is not one of 'auto', 'bfloat16', 'float16', 'float32'" in capsys.readouterr().err
    )


def test_the_merged_card_names_the_base_the_method_and_the_data(
    tmp_path, finished_run, sft_packed, tiny_model
):
    from dataprep.contract import read_manifest

    with pytest.raises(SystemExit) as exited:
        main(["merge", str(finished_run), "-o", str(tmp_path / "merged"), "--dtype", "bfloat16"])
    assert exited.value.code == 0
    card = (tmp_path / "merged" / "README.md").read_text()
    manifest = read_manifest(sft_packed)
    train = manifest.splits["train"]
    for words in (
        f"base_model: {tiny_model}\n",
        "library_name: transformers",
        f"# SFT of {tiny_model}",
        "- method: supervised fine-tuning (SFT)",
        "- mode: LoRA adapter, merged into the base and saved in bfloat16",
        "| learning_rate | 0.003 |",
        "| lora.r | 16 |",
        "- mask policy: assistant",
        f"- max length {manifest.max_length}, length policy {manifest.length_policy}, packing on",
        f"| train | {train.rows:,} | {train.tokens:,} | {train.trainable_tokens:,} |",
        f"- tokens: {manifest.tokens.total:,} ({manifest.tokens.trainable:,} trained)",
        f"| {manifest.inputs[0].path} | messages |",
    ):
        assert words in card, words
    assert "None" not in card
    # The run's own card (replacing peft's) says the same base, as an adapter.
    own = (finished_run / "README.md").read_text()
    assert f"base_model: {tiny_model}\n" in own
    assert "library_name: peft" in own
    assert "base_model: None" not in own
