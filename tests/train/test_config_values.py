"""Config values that TRL accepts and a run cannot use (NaN, a zero batch, a rate of 0)
and configs that cannot be read (YAML nested thousands deep, an alias that holds itself)
are refused when the config is read: by `train check`, and by `train sft|dpo` before the
data or a model loads. Each message names the key and where it was set."""

from __future__ import annotations

import pytest

from dataprep.errors import UsageError
from train.cli import main
from train.config import load_run_config, trainer_config


def cli(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exited.value.code, captured.err


@pytest.mark.parametrize(
    ("kind", "setting", "message"),
    [
        ("sft", "learning_rate=.nan", "--set: learning_rate: expected a finite number, got nan"),
        ("sft", "learning_rate=nan", "--set: learning_rate: expected a finite number, got 'nan'"),
        ("sft", "learning_rate=.inf", "--set: learning_rate: expected a finite number, got inf"),
        ("sft", "learning_rate=0", "--set: learning_rate: expected a number > 0, got 0"),
        ("sft", "learning_rate=-1e-4", "--set: learning_rate: expected a number > 0, got '-1e-4'"),
        (
            "sft",
            "per_device_train_batch_size=0",
            "--set: per_device_train_batch_size: expected an integer >= 1, got 0",
        ),
        (
            "sft",
            "per_device_train_batch_size=-2",
            "--set: per_device_train_batch_size: expected an integer >= 1, got -2",
        ),
        (
            "sft",
            "per_device_eval_batch_size=0",
            "--set: per_device_eval_batch_size: expected an integer >= 1, got 0",
        ),
        (
            "sft",
            "gradient_accumulation_steps=0",
            "--set: gradient_accumulation_steps: expected an integer >= 1, got 0",
        ),
        (
            "sft",
            "max_steps=0",
            "--set: max_steps: expected an integer >= 1, or -1 (train num_train_epochs), got 0",
        ),
        ("sft", "num_train_epochs=0", "--set: num_train_epochs: expected a number > 0, got 0"),
        (
            "sft",
            "num_train_epochs=.nan",
            "--set: num_train_epochs: expected a finite number, got nan",
        ),
        ("sft", "warmup_steps=-1", "--set: warmup_steps: expected a number >= 0, got -1"),
        ("sft", "weight_decay=-0.1", "--set: weight_decay: expected a number >= 0, got -0.1"),
        ("sft", "max_grad_norm=.nan", "--set: max_grad_norm: expected a finite number, got nan"),
        ("sft", "adam_beta2=1.0", "--set: adam_beta2: expected a number in [0, 1), got 1.0"),
        ("sft", "adam_epsilon=0", "--set: adam_epsilon: expected a number > 0, got 0"),
        ("sft", "save_steps=0", "--set: save_steps: expected a number > 0, got 0"),
        ("sft", "seed=-1", "--set: seed: expected an integer >= 0, got -1"),
        (
            "sft",
            "lr_scheduler_kwargs={min_lr: .inf}",
            "--set: lr_scheduler_kwargs.min_lr: expected a finite number, got inf",
        ),
        (
            "sft",
            "router_aux_loss_coef=-inf",
            "--set: router_aux_loss_coef: expected a finite number, got '-inf'",
        ),
        ("dpo", "beta=0", "--set: beta: expected a number > 0, got 0"),
        ("kto", "beta=.nan", "--set: beta: expected a finite number, got nan"),
        (
            "kto",
            "undesirable_weight=0",
            "--set: undesirable_weight: expected a number > 0, got 0",
        ),
        (
            "dpo",
            "label_smoothing=0.7",
            "--set: label_smoothing: expected a number in [0, 0.5], got 0.7",
        ),
    ],
)
def test_numbers_a_run_cannot_use_are_refused_by_train_check(
    tmp_path, capsys, kind, setting, message
):
    config = tmp_path / "run.yaml"
    config.write_text("")
    code, err = cli(["check", config, "--kind", kind, "--set", setting], capsys)
    assert (code, err.strip()) == (2, f"error: {message}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("learning_rate: .nan\n", "run.yaml: learning_rate: expected a finite number, got nan"),
        (
            "per_device_train_batch_size: 0\n",
            "run.yaml: per_device_train_batch_size: expected an integer >= 1, got 0",
        ),
        (
            "loss_weights: [1.0, .nan]\n",
            "run.yaml: loss_weights[1]: expected a finite number, got nan",
        ),
    ],
)
def test_numbers_in_a_config_file_name_the_file(tmp_path, text, message):
    config = tmp_path / "run.yaml"
    config.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_run_config(config)
    assert str(caught.value) == f"{config.parent}/{message}"


@pytest.mark.parametrize(
    ("sets", "allowed"),
    [
        # max_steps decides the length: the epochs are not used, so 0 is harmless
        (["num_train_epochs=0", "max_steps=5"], True),
        (["max_steps=-1"], True),
        (["warmup_steps=0.1", "max_grad_norm=0", "eval_steps=0.25"], True),
        (["learning_rate=2e-4"], True),  # a string in YAML: a number to TRL
        (["max_steps=-3"], False),
    ],
)
def test_values_that_mean_something_pass(sets, allowed):
    if allowed:
        run = load_run_config(None, sets)
        trainer_config(run, "sft", output_dir="out", device_type="cpu")
    else:
        with pytest.raises(UsageError):
            load_run_config(None, sets)


def test_train_sft_refuses_a_bad_value_before_opening_the_data(tmp_path, capsys):
    # The data folder does not exist: were the data read first, that would be the error.
    code, err = cli(
        [
            "sft",
            tmp_path / "no-data",
            "--model",
            tmp_path / "no-model",
            "-o",
            tmp_path / "run",
            "--set",
            "learning_rate=.nan",
        ],
        capsys,
    )
    assert (code, err.strip()) == (
        2,
        "error: --set: learning_rate: expected a finite number, got nan",
    )
    assert not (tmp_path / "run").exists()


DEEP = 3000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "lr_scheduler_kwargs: " + "[" * DEEP + "]" * DEEP + "\n",
            "{path}: not valid YAML: nested too deep (a config nests a few levels, not hundreds)",
        ),
        (
            "lr_scheduler_kwargs:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(DEEP)),
            "{path}: not valid YAML: nested too deep (a config nests a few levels, not hundreds)",
        ),
        (
            "lr_scheduler_kwargs: " + "[" * 40 + "]" * 40 + "\n",
            "{path}: lr_scheduler_kwargs: nested more than 32 levels deep",
        ),
        (
            "lr_scheduler_kwargs: &a [*a]\n",  # an alias that holds itself: infinitely deep
            "{path}: lr_scheduler_kwargs: nested more than 32 levels deep",
        ),
        (
            "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
            "{path}: f: holds more than 100,000 values (YAML aliases?)",
        ),
    ],
    ids=["deep-list", "deep-mapping", "40-deep", "self-alias", "alias-bomb"],
)
def test_configs_too_deep_or_too_large_are_refused(tmp_path, capsys, text, message):
    config = tmp_path / "deep.yaml"
    config.write_text("kind: sft\n" + text)
    code, err = cli(["check", config], capsys)
    assert (code, err.strip()) == (2, "error: " + message.format(path=config))


def test_a_deep_set_value_is_refused(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("kind: sft\n")
    code, err = cli(["check", config, "--set", "x=" + "[" * DEEP], capsys)
    assert (code, err.strip()) == (
        2,
        "error: --set x: nested too deep (a config nests a few levels, not hundreds)",
    )
