"""`train --help` is light (imports nothing heavy); every command explains itself.

How long it takes is measured by ``benchmarks/bench_timings.py``, not here."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from train.cli import cli

HEAVY = ("torch", "transformers", "trl", "datasets", "peft", "accelerate", "bitsandbytes")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["sft", "--help"],
        ["dpo", "--help"],
        ["kto", "--help"],
        ["orpo", "--help"],
        ["simpo", "--help"],
        ["reward", "--help"],
        ["eval", "--help"],
        ["merge", "--help"],
        ["check", "--help"],
    ],
)
def test_help_imports_nothing_heavy(argv):
    code = (
        "import sys\n"
        "from train.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "HEAVY=", out.stdout


def test_python_dash_m_train_runs_the_same_cli():
    out = subprocess.run(
        [sys.executable, "-m", "train", "--help"], capture_output=True, text=True, check=True
    )
    assert "Usage: train" in out.stdout


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "sft",
            [
                "--model",
                "--qlora",
                "--full",
                "--lora-r",
                "--config",
                "--set",
                "--resume",
                "--tokenizer",
                "--plot",
            ],
        ),
        ("dpo", ["--model", "--qlora", "--full", "precompute_ref_log_probs", "--resume"]),
        ("kto", ["--model", "--qlora", "--full", "desirable_weight", "--resume", "--set"]),
        ("orpo", ["--model", "--qlora", "--full", "odds-ratio", "--resume", "--set"]),
        ("simpo", ["--model", "--qlora", "--full", "simpo_gamma 1.0", "cpo_alpha 0", "--resume"]),
        ("reward", ["--model", "--qlora", "--full", "center_rewards_coefficient", "--resume"]),
        ("merge", ["--base", "-o, --output", "--dtype", "model card"]),
        ("eval", ["--data", "--split", "--generate", "--reference", "rewards/margins", "-o"]),
        ("check", ["--kind", "--data", "--set"]),
    ],
)
def test_every_command_has_help(command, expected):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    for words in expected:
        assert words in result.output


def test_group_help_lists_the_commands_and_exit_codes():
    result = CliRunner().invoke(cli, ["--help"])
    for words in (
        "sft ",
        "dpo ",
        "kto ",
        "orpo ",
        "simpo ",
        "reward ",
        "eval ",
        "merge ",
        "check ",
        "Exit codes: 0 all good, 1",
        "accelerate launch",
    ):
        assert words in result.output
