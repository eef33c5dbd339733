"""Fixtures of the fault suite: ``run`` (a counted command line under limits) and
``start`` (one to kill). The harness is ``tests/support/faultrun.py``."""

from __future__ import annotations

from typing import Any

import pytest
from faultrun import TALLY, Run, Runner, Started, write_report


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("faults")
    (workdir / "tmp").mkdir()
    r = Runner(workdir)
    yield r
    r.close()


@pytest.fixture
def run(runner: Runner, request: pytest.FixtureRequest):
    """``run(*args, **options) -> Run``: a dataprep command line, counted."""

    def go(*args: str, **options: Any) -> Run:
        result = runner.start([str(a) for a in args], **options).wait()
        TALLY.add(result, request.node.name)
        return result

    return go


@pytest.fixture
def start(runner: Runner, request: pytest.FixtureRequest):
    """``start(*args, **options) -> Started``: a run to kill; count it with ``counted``."""

    def go(*args: str, **options: Any) -> Started:
        return runner.start([str(a) for a in args], **options)

    return go


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    write_report(session.testsfailed)
