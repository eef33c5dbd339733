"""In the light install (``pip install dataprep``: no torch, transformers, datasets, trl,
numpy, ...) the commands that need the train extra say how to get it, exit 2, and show no
traceback; the light commands still work.

The light install is imitated in a subprocess by a ``sitecustomize`` that puts None in
``sys.modules`` for every module of the train extra: ``import torch`` then raises
ModuleNotFoundError and ``importlib.util.find_spec("torch")`` answers None, as they do
where torch is not installed. ``.ci/run`` checks the same in a real venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

import dataprep
from dataprep.cli import TRAIN_EXTRA_MODULES, missing_train_extra, run_group

ROOT = Path(dataprep.__file__).resolve().parents[1]
SAMPLES = Path(__file__).resolve().parents[3] / "samples"
SHIM = "import sys\nfor name in {modules!r}:\n    sys.modules[name] = None\n"


def message(module: str) -> str:
    return (
        f"error: {module} is not installed: this command needs the train extra: "
        'pip install "dataprep[train]"\n'
    )


@pytest.fixture(scope="module")
def light_env(tmp_path_factory) -> dict[str, str]:
    shim = tmp_path_factory.mktemp("light-shim")
    (shim / "sitecustomize.py").write_text(SHIM.format(modules=sorted(TRAIN_EXTRA_MODULES)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(shim), str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tok_dir) -> Path:
    """A real prepared folder, made here where the train extra is installed."""
    from dataprep.prepare.pipeline import PrepareOptions, prepare

    out = tmp_path_factory.mktemp("light") / "prepared"
    prepare(
        PrepareOptions(
            inputs=[str(SAMPLES / "messages.jsonl")],
            tokenizer=tok_dir,
            max_length=256,
            output=str(out),
        )
    )
    return out


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("adapter")
    config = {"base_model_name_or_path": str(SAMPLES / "tiny-model"), "peft_type": "LORA"}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


# (program, arguments, exit code, the missing module named on stderr; None: a light command)
COMMANDS = [
    ("dataprep", ["prepare", "{samples}/messages.jsonl", "--tokenizer", "{tok}", "--max-length", "64", "-o", "{tmp}/p"], 2, "numpy"),
    ("dataprep", ["check-template", "--tokenizer", "{tok}"], 2, "transformers"),
    ("dataprep", ["stats", "{samples}/messages.jsonl"], 2, "numpy"),
    ("dataprep", ["stats", "{samples}/messages.jsonl", "--tokenizer", "{tok}"], 2, "numpy"),
    ("dataprep", ["stats", "{prepared}"], 2, "numpy"),
    ("dataprep", ["inspect", "{prepared}", "--row", "0"], 2, "numpy"),
    ("train", ["sft", "{prepared}", "--model", "{samples}/tiny-model", "-o", "{tmp}/run"], 2, "trl"),
    ("train", ["dpo", "{prepared}", "--model", "{samples}/tiny-model", "-o", "{tmp}/run"], 2, "trl"),
    ("train", ["merge", "{adapter}", "-o", "{tmp}/merged"], 2, "torch"),
    ("train", ["check", "{root}/train/configs/sft_lora.yaml"], 2, "torch"),
    # Controls: the light commands need none of it.
    ("dataprep", ["validate", "{samples}/alpaca.jsonl"], 0, None),
    ("dataprep", ["detect", "{samples}/messages.jsonl"], 0, None),
    ("dataprep", ["convert", "{samples}/alpaca.jsonl", "--to", "messages", "-o", "{tmp}/c.jsonl"], 0, None),
    ("dataprep", ["--help"], 0, None),
    ("train", ["--help"], 0, None),
]  # fmt: skip


@pytest.mark.parametrize(("program", "args", "code", "missing"), COMMANDS)
def test_light_install_says_how_to_get_the_train_extra(
    tmp_path, light_env, prepared, adapter, tok_dir, program, args, code, missing
):
    values = {
        "samples": str(SAMPLES),
        "tok": tok_dir,
        "tmp": str(tmp_path),
        "prepared": str(prepared),
        "adapter": str(adapter),
        "root": str(SAMPLES.parent),
    }
    argv = [a.format(**values) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", program, *argv],
        capture_output=True,
        text=True,
        env=light_env,
        cwd=tmp_path,
    )
    if missing is None:
        assert (done.returncode, "Traceback" in done.stderr) == (0, False), done.stderr
    else:
        assert (done.returncode, done.stderr) == (code, message(missing)), done.stdout


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("torch", "torch"),
        ("torch.nn", "torch"),
        ("transformers.models.llama", "transformers"),
        ("numpy", "numpy"),
        ("jinja2", "jinja2"),
        ("yaml", None),  # the light core's own: a broken install, not a missing extra
        ("dataprep.nothing", None),
        (None, None),
    ],
)
def test_missing_train_extra(name, module):
    error = ModuleNotFoundError(f"No module named {name!r}", name=name)
    expected = message(module).removeprefix("error: ").rstrip("\n") if module else None
    assert missing_train_extra(error) == expected


@pytest.mark.parametrize(("name", "code"), [("torch", 2), ("no_such_module", 3)])
def test_run_group_translates_only_the_train_extra(capsys, name, code, tmp_path, monkeypatch):
    """The train extra's modules are a usage message (exit 2); any other missing module
    is ours: an internal error with its log (exit 3)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    @click.group()
    def group() -> None:
        pass

    @group.command()
    def needs() -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    with pytest.raises(SystemExit) as exited:
        run_group(group, "prog", ["needs"])
    assert exited.value.code == code
    err = capsys.readouterr().err
    if code == 2:
        assert err == message(name)
    else:
        assert err.startswith("internal error (a bug in prog): ModuleNotFoundError")
        [log] = (tmp_path / "dataprep" / "logs").iterdir()
        assert "no_such_module" in log.read_text()


def test_ci_checks_a_real_light_install_then_ends_with_the_test_suite():
    ci = (SAMPLES.parent / ".ci" / "run").read_text().splitlines()
    steps = [line for line in ci if line and not line.startswith("#")]
    assert steps[-2:] == [".ci/light-install", "make test"]
    script = (SAMPLES.parent / ".ci" / "light-install").read_text()
    # Every command that needs the train extra is run there.
    for command in ("dataprep prepare", "dataprep check-template", "dataprep stats", "dataprep inspect", "train sft",
                    "train dpo", "train merge", "train check"):  # fmt: skip
        assert f"check 2 {command} " in script, command
