"""The light core stays light: detect, validate and convert never import the heavy
stack, and ``dataprep --help`` imports no command's libraries (so it answers in well
under a second: ``benchmarks/bench_timings.py`` measures that)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SAMPLE = os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "samples", "messages.jsonl")
)
HEAVY = ("torch", "transformers", "datasets", "trl", "peft", "accelerate", "tokenizers")
# The help only lists the commands: each command imports what it needs when it runs, so
# not even the light core's own big libraries are loaded for it.
NOT_FOR_HELP = (*HEAVY, "pyarrow", "jsonschema", "numpy", "jinja2", "orjson")

# Runs the command as the console script does, then reports what got imported on stderr.
WRAPPER = """
import sys
from dataprep.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stderr.write("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules) + "\\n")
"""


@pytest.mark.parametrize(
    "args",
    [
        ["detect", SAMPLE],
        ["validate", SAMPLE],
        ["validate", SAMPLE, "--json"],
        ["convert", SAMPLE, "--to", "sharegpt"],
        ["convert", SAMPLE, "--to", "alpaca", "--allow-lossy", "-o", "{tmp}/out.parquet"],
    ],
)
def test_light_commands_import_nothing_heavy(tmp_path, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert done.stderr.splitlines()[-1] == "HEAVY=", done.stderr


def test_help_lists_the_commands_and_imports_no_command_library(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER.format(heavy=NOT_FOR_HELP), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert "validate" in done.stdout
    assert done.stderr.splitlines()[-1] == "HEAVY=", done.stderr
