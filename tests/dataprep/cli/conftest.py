"""Running ``dataprep`` in-process, as a user's shell would: argv in, exit code and the
two output streams out (captured at the file-descriptor level, so data written to
stdout's buffer is seen too)."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass

import pytest

from dataprep.cli import main


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def dataprep_cli(capfd, monkeypatch):
    def run(*args: str, stdin: bytes | None = None) -> Run:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        capfd.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        sys.stdout.flush()
        captured = capfd.readouterr()
        code = exited.value.code
        return Run(0 if code is None else code, captured.out, captured.err)

    return run
