"""``report_to`` backends that are not installed are refused by `train check` and
`train sft|dpo` before anything is loaded, with the fix, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dataprep.errors import UsageError
from train import reporting
from train.config import load_run_config
from train.reporting import backends, check_report_to, is_installed, missing_backends

CONFIGS = Path(__file__).resolve().parents[2] / "train" / "configs"
HEAVY = ("torch", "transformers", "trl", "datasets", "peft", "accelerate")


@pytest.fixture
def installed(monkeypatch):
    """Pretend exactly these modules are installed."""

    def pretend(*names: str) -> None:
        monkeypatch.setattr(reporting, "is_installed", lambda module: module in names)

    return pretend


# (report_to, modules installed, backends missing)
CASES = [
    ("none", [], []),
    ("all", [], []),
    (None, [], []),
    ([], [], []),
    ("tensorboard", [], ["tensorboard"]),
    ("tensorboard", ["tensorboard"], []),
    ("tensorboard", ["tensorboardX"], []),  # transformers takes either
    (["wandb", "tensorboard"], ["tensorboard"], ["wandb"]),
    (["wandb", "mlflow", "comet_ml"], [], ["wandb", "mlflow", "comet_ml"]),
    ("dagshub", ["dagshub"], ["dagshub"]),  # it needs mlflow too
    ("dagshub", ["dagshub", "mlflow"], []),
    ("azure_ml", [], ["azure_ml"]),
    ("kubeflow", [], []),  # no package: reports through environment variables
    ("nonsense", [], []),  # transformers words an unknown name itself
]


@pytest.mark.parametrize(("value", "present", "missing"), CASES)
def test_missing_backends(installed, value, present, missing):
    installed(*present)
    assert missing_backends(value) == missing


@pytest.mark.parametrize(
    ("sets", "config", "message"),
    [
        (
            ["report_to=tensorboard"],
            None,
            "--set: report_to: tensorboard is not installed: pip install tensorboard, "
            "or --set report_to=none",
        ),
        (
            ["report_to=[wandb, mlflow]"],
            None,
            "--set: report_to: wandb, mlflow are not installed: pip install wandb mlflow, "
            "or --set report_to=none",
        ),
        (
            [],
            "report_to: [tensorboard]\n",
            "{config}: report_to: tensorboard is not installed: pip install tensorboard, "
            "or --set report_to=none",
        ),
        ([], "report_to: none\n", None),
        (["report_to=none"], "report_to: wandb\n", None),  # the fix works
    ],
)
def test_check_report_to_names_the_fix(tmp_path, installed, sets, config, message):
    installed()
    path = None
    if config is not None:
        path = tmp_path / "run.yaml"
        path.write_text(config)
    run = load_run_config(path, sets)
    if message is None:
        check_report_to(run)
        return
    with pytest.raises(UsageError) as e:
        check_report_to(run)
    assert (str(e.value), e.value.exit_code) == (message.format(config=path), 2)


@pytest.mark.parametrize(
    ("module", "found"),
    [("json", True), ("email.mime", True), ("no_such_module_zz", False), ("no_such_zz.sub", False)],
)
def test_is_installed_asks_find_spec(module, found):
    assert is_installed(module) is found


def test_backends():
    assert backends(["tensorboard", "none", 3]) == ["tensorboard"]


# Run as the user would, where tensorboard is not installed (None in sys.modules is what
# find_spec answers None for); the data folder does not even exist: the refusal comes first.
SCRIPT = """
import sys
sys.modules["tensorboard"] = sys.modules["tensorboardX"] = None
from train.cli import main
try:
    main({argv!r})
except SystemExit as e:
    print("EXIT", e.code)
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["check", str(CONFIGS / "sft_lora.yaml"), "--set", "report_to=tensorboard"],
        ["sft", "no-such-data", "--model", "m", "-o", "run", "--set", "report_to=tensorboard"],
        ["dpo", "no-such-data", "--model", "m", "-o", "run", "--set", "report_to=[tensorboard]"],
    ],
)
def test_commands_refuse_before_loading_anything(tmp_path, argv):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.stderr == (
        "error: --set: report_to: tensorboard is not installed: pip install tensorboard, "
        "or --set report_to=none\n"
    )
    assert done.stdout.splitlines() == ["EXIT 2", "HEAVY="]


def test_doctests():
    import doctest

    assert doctest.testmod(reporting).failed == 0
