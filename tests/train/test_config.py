"""Configs: YAML -> our fields -> TRL's config, with errors that name the key and its
source; every shipped config parses and opens with the command that runs it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dataprep.errors import UsageError
from train.check import check_config
from train.cli import main
from train.config import (
    RunConfig,
    load_run_config,
    parse_run_config,
    parse_set,
    read_config_file,
    trainer_config,
)

CONFIGS = Path(__file__).resolve().parents[2] / "train" / "configs"
TRAIN_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("accelerate_"))
ACCELERATE_CONFIGS = sorted(CONFIGS.glob("accelerate_*.yaml"))


@pytest.mark.parametrize(
    ("raw", "mode", "lora", "trl"),
    [
        ({}, "lora", (16, 32, 0.0, "all-linear"), {}),
        (
            {"mode": "qlora", "lora": {"r": 64, "alpha": 16}},
            "qlora",
            (64, 16, 0.0, "all-linear"),
            {},
        ),
        (
            {"mode": "full", "learning_rate": 1e-5},
            "full",
            (16, 32, 0.0, "all-linear"),
            {"learning_rate": 1e-5},
        ),
        (
            {"lora": {"dropout": 0.1, "target_modules": ["q_proj", "v_proj"]}},
            "lora",
            (16, 32, 0.1, ["q_proj", "v_proj"]),
            {},
        ),
        (
            {"model": "m", "tokenizer": "t", "kind": "dpo", "beta": 0.2},
            "lora",
            (16, 32, 0.0, "all-linear"),
            {"beta": 0.2},
        ),
    ],
)
def test_our_fields_and_the_rest_for_trl(raw, mode, lora, trl):
    run = parse_run_config(raw, {})
    assert run.mode == mode
    assert (run.lora.r, run.lora.alpha, run.lora.dropout, run.lora.target_modules) == lora
    assert run.trl == trl


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"mode": "qlor"}, "config: mode: expected one of lora, qlora, full, got 'qlor'"),
        (
            {"kind": "ppo"},
            "config: kind: expected one of sft, dpo, kto, orpo, simpo, reward, got 'ppo'",
        ),
        ({"model": 3}, "config: model: expected a string, got 3"),
        ({"lora": {"r": 0}}, "config: lora.r: expected a positive integer, got 0"),
        ({"lora": {"alpha": True}}, "config: lora.alpha: expected a positive integer, got True"),
        ({"lora": {"dropout": 1.5}}, "config: lora.dropout: expected a number in [0, 1), got 1.5"),
        (
            {"lora": {"target_modules": []}},
            "config: lora.target_modules: expected all-linear or a list of module names, got []",
        ),
        (
            {"lora": {"alhpa": 8}},
            "config: lora.alhpa: not a LoRA setting (known: alpha, dropout, r, target_modules) (did you mean alpha?)",
        ),
        (
            {"lora": "big"},
            "config: lora: expected a mapping (r, alpha, dropout, target_modules), got 'big'",
        ),
    ],
)
def test_our_fields_errors_name_the_key(raw, message):
    with pytest.raises(UsageError) as caught:
        parse_run_config(raw, {})
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("raw", "sets", "expected"),
    [
        ({}, [], "auto"),
        ({"mode": "full"}, ["model_dtype=bfloat16"], "bfloat16"),
        ({"model_dtype": "float32"}, [], "float32"),
        ({"mode": "lora", "model_dtype": "float16"}, [], "float16"),
        ({"model_dtype": "bfloat16"}, ["model_dtype=auto"], "auto"),
    ],
)
def test_model_dtype_from_file_and_set(tmp_path, raw, sets, expected):
    import yaml

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    run = load_run_config(path, sets)
    assert run.model_dtype == expected and "model_dtype" not in run.trl
    # written only when chosen, and read back the same
    written = run.to_yaml_dict()
    assert written.get("model_dtype", "auto") == expected
    assert parse_run_config(written, {}).model_dtype == expected


@pytest.mark.parametrize(
    ("text", "sets", "message"),
    [
        (
            "mode: full\n",
            ["model_dtype=bf16"],
            "--set: model_dtype: expected one of auto, bfloat16, float16, float32, got 'bf16'",
        ),
        ("model_dtype: 16\n", [], "{file}: model_dtype: expected a string, got 16"),
        (
            "mode: full\nmodel_dtype: float16\n",
            [],
            "{file}: model_dtype: float16 weights cannot be fully fine-tuned",
        ),
        (
            "model_init_kwargs: {dtype: float32}\n",
            ["model_dtype=bfloat16"],
            "--set: model_dtype: model_init_kwargs.dtype ('float32') says it too; set only one",
        ),
    ],
)
def test_model_dtype_errors_name_the_key(tmp_path, text, sets, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_run_config(path, sets)
    assert str(caught.value).startswith(message.format(file=path))


@pytest.mark.parametrize(
    ("text", "sets", "message"),
    [
        ("lora:\n  r: -1\n", [], "{file}: lora.r: expected a positive integer, got -1"),
        ("mode: lora\n", ["lora.r=zero"], "--set: lora.r: expected a positive integer, got 'zero'"),
        (
            "mode: lora\n",
            ["mode=half"],
            "--set: mode: expected one of lora, qlora, full, got 'half'",
        ),
        (
            "mode: lora\n\tr: 8\n",
            [],
            "{file}:2: not valid YAML: found character '\\t' that cannot start any token",
        ),
        ("- mode\n", [], "{file}: a config is a mapping of keys to values, not list"),
        ("mode: lora\n", ["nonsense"], "--set expects key=value, got 'nonsense'"),
        ("mode: lora\n", ["mode.inner=1"], "--set mode.inner: mode is not a mapping"),
    ],
)
def test_errors_say_where_the_key_came_from(tmp_path, text, sets, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_run_config(path, sets)
    assert str(caught.value).startswith(message.format(file=path))


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("learning_rate=1.0e-4", ("learning_rate", 1e-4)),
        ("max_steps=30", ("max_steps", 30)),
        ("bf16=false", ("bf16", False)),
        ("report_to=[tensorboard, wandb]", ("report_to", ["tensorboard", "wandb"])),
        ("lora.target_modules=[q_proj]", ("lora.target_modules", ["q_proj"])),
        ("model_init_kwargs={dtype: bfloat16}", ("model_init_kwargs", {"dtype": "bfloat16"})),
        ("run_name=a: b: c", ("run_name", "a: b: c")),  # not YAML: kept as text
        ("eval_strategy=", ("eval_strategy", None)),
        # YAML 1.2 booleans: TRL's "no" strategy stays a string, only true/false are booleans
        ("save_strategy=no", ("save_strategy", "no")),
        ("model_dtype=off", ("model_dtype", "off")),
        ("bf16=True", ("bf16", True)),
    ],
)
def test_set_values_are_yaml(item, expected):
    assert parse_set(item) == expected


def test_precedence_defaults_file_flags_set(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: from-file\nmode: full\nlora:\n  r: 4\nmax_steps: 5\n")
    run = load_run_config(
        path,
        ["lora.r=32", "max_steps=7"],
        {
            "model": ("from-flag", "--model"),
            "mode": ("qlora", "--qlora"),
            "lora.r": (8, "--lora-r"),
        },
    )
    assert (run.model, run.mode, run.lora.r, run.lora.alpha, run.trl) == (
        "from-flag",
        "qlora",
        32,
        32,
        {"max_steps": 7},
    )
    assert run.sources["mode"] == "--qlora" and run.sources["lora.r"] == "--set"


def sft(trl=None, mode="lora", **options):
    options.setdefault("output_dir", "out")
    options.setdefault("device_type", "cpu")
    return trainer_config(
        RunConfig(mode=mode, trl=trl or {}, sources=dict.fromkeys(trl or {}, "run.yaml")),
        "sft",
        **options,
    )


@pytest.mark.parametrize(
    ("kind", "mode", "rate"),
    [
        ("sft", "lora", 2e-4),
        ("sft", "qlora", 2e-4),
        ("sft", "full", 2e-5),
        ("dpo", "lora", 5e-5),
        ("dpo", "full", 5e-7),
        ("kto", "lora", 5e-5),
        ("kto", "full", 5e-7),
    ],
)
def test_defaults_per_mode(kind, mode, rate):
    args = trainer_config(RunConfig(mode=mode), kind, output_dir="out", device_type="cpu")
    assert args.learning_rate == rate
    assert args.lr_scheduler_type.value == "cosine" and args.warmup_steps == 0.03
    # fp32 on the CPU, which is used without being asked for
    assert (args.use_cpu, args.bf16, args.fp16) == (True, False, False)
    assert args.max_length is None and args.logging_nan_inf_filter is False


@pytest.mark.parametrize("packed", [True, False])
def test_sft_uses_the_data_as_prepared(packed):
    args = sft(packed=packed)
    assert args.dataset_kwargs == {"skip_prepare_dataset": True}
    assert args.packing is False and args.padding_free is packed


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("save_strategy: no\n", "save_strategy", "no"),
        ("logging_strategy: no\n", "logging_strategy", "no"),
        ("bf16: false\n", "bf16", False),
    ],
)
def test_a_file_says_no_and_trl_reads_no(tmp_path, text, key, expected):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    args = trainer_config(load_run_config(path), "sft", output_dir="out", device_type="cpu")
    value = getattr(args, key)
    assert getattr(value, "value", value) == expected


def test_user_keys_win_and_typed_strings_become_numbers():
    args = sft({"learning_rate": "2e-4", "max_steps": "12", "gradient_checkpointing": True})
    assert args.learning_rate == 2e-4 and args.max_steps == 12
    # the transformers 5 name for it; the old name is taken as an alias
    assert args.activation_checkpointing is True


@pytest.mark.parametrize("kind", ["sft", "dpo", "kto"])
@pytest.mark.parametrize(
    ("device", "sets", "expected"),
    [
        ("cuda", [], True),  # on by default on a GPU, as in TRL
        ("cuda", ["activation_checkpointing=false"], False),
        ("cuda", ["gradient_checkpointing=false"], False),  # TRL's older name
        ("cpu", [], False),
        ("cpu", ["activation_checkpointing=true"], True),
    ],
)
def test_activation_checkpointing_reaches_trl(kind, device, sets, expected):
    run = load_run_config(None, sets)
    # bf16_ok=False: TrainingArguments refuses bf16 on a machine without a GPU.
    args = trainer_config(run, kind, output_dir="out", device_type=device, packed=True)
    # transformers 5 reads the new name; TRL's own code still reads the old one
    assert args.activation_checkpointing is expected
    assert args.gradient_checkpointing is expected


@pytest.mark.parametrize(
    ("trl", "options", "message"),
    [
        (
            {"learnig_rate": 1e-4},
            {},
            "run.yaml: learnig_rate: not one of our keys (kind, model, tokenizer, mode, model_dtype, lora) and not a field of TRL's SFTConfig (did you mean learning_rate?)",
        ),
        ({"learning_rate": "fast"}, {}, "run.yaml: learning_rate: expected a number, got 'fast'"),
        ({"max_steps": 1.5}, {}, "run.yaml: max_steps: expected an integer, got 1.5"),
        ({"bf16": "yes"}, {}, "run.yaml: bf16: expected true or false or null, got 'yes'"),
        (
            {"max_length": 512},
            {},
            "run.yaml: max_length: the length policy was applied by `dataprep prepare --max-length`",
        ),
        ({"packing": True}, {}, "run.yaml: packing: packing is done by `dataprep prepare`"),
        (
            {"padding_free": False},
            {"packed": True},
            "run.yaml: padding_free: this data is packed; without padding-free collation its documents would attend to each other",
        ),
        (
            {"eval_strategy": "steps"},
            {},
            "run.yaml: eval_strategy: the data has no eval split (prepare it with `dataprep prepare --eval-fraction`)",
        ),
        (
            {"logging_nan_inf_filter": True},
            {},
            "run.yaml: logging_nan_inf_filter: a non-finite loss stops the run",
        ),
        ({"lr_scheduler_type": "sideways"}, {}, "SFTConfig refused the config: "),
    ],
)
def test_trl_keys_are_checked(trl, options, message):
    with pytest.raises(UsageError) as caught:
        sft(trl, **options)
    assert str(caught.value).startswith(message)


def test_a_config_for_the_other_trainer_is_refused():
    run = RunConfig(kind="dpo", sources={"kind": "dpo.yaml"})
    with pytest.raises(
        UsageError,
        match=re.escape("dpo.yaml: kind: the config is for `train dpo`, not `train sft`"),
    ):
        trainer_config(run, "sft", output_dir="out", device_type="cpu")


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: p.name)
def test_every_shipped_train_config_checks(path):
    summary = check_config(path)
    assert summary.startswith(f"{path}: ok: train ")
    command = path.read_text().splitlines()[0]
    kind = read_config_file(path)["kind"]
    assert (
        command.startswith(f"# train {kind} ") and f"--config train/configs/{path.name}" in command
    )


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_every_shipped_accelerate_config_loads(path):
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(path))
    assert config.distributed_type.value in ("MULTI_GPU", "FSDP")
    command = path.read_text().splitlines()[0]
    assert command.startswith(
        f"# accelerate launch --config_file train/configs/{path.name} -m train "
    )


def test_there_are_configs_for_every_mode():
    modes = {(read_config_file(p)["kind"], read_config_file(p)["mode"]) for p in TRAIN_CONFIGS}
    assert {
        ("sft", "lora"),
        ("sft", "qlora"),
        ("sft", "full"),
        ("dpo", "lora"),
        ("dpo", "full"),
        ("kto", "lora"),
        ("kto", "full"),
    } <= modes


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["check", "missing.yaml", "--kind", "sft"], 2, "error: missing.yaml: no such config file"),
        (
            ["check", "{empty}"],
            2,
            "which trainer? add `kind: sft` (or dpo, kto, orpo, simpo, reward) to the file, or pass --kind",
        ),
        (
            ["check", "{empty}", "--kind", "dpo", "--set", "beta=strong"],
            2,
            "error: --set: beta: expected a number, got 'strong'",
        ),
    ],
)
def test_check_command_exit_codes(tmp_path, capsys, argv, code, message):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(SystemExit) as exited:
        main([a.format(empty=empty) for a in argv])
    assert exited.value.code == code
    assert message in capsys.readouterr().err


def test_check_command_prints_a_summary(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["check", str(CONFIGS / "sft_qlora.yaml")])
    assert exited.value.code == 0
    assert "ok: train sft, qlora, learning_rate 0.0002" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "data", "message"),
    [
        ("padding_free: false\n", "sft_packed", "padding_free: this data is packed"),
        ("kind: sft\n", "dpo_data", "kind: the config is for `train sft`, not `train dpo`"),
        ("eval_strategy: steps\n", "sft_data", "eval_strategy: the data has no eval split"),
    ],
)
def test_check_against_a_prepared_folder(request, tmp_path, text, data, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=re.escape(message)):
        check_config(path, data=request.getfixturevalue(data))


def test_check_against_a_prepared_folder_with_eval(tmp_path, sft_with_eval):
    path = tmp_path / "run.yaml"
    path.write_text("eval_steps: 5\n")
    assert "ok: train sft" in check_config(path, data=sft_with_eval)
