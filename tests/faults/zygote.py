"""Runs ``dataprep`` command lines for the fault suite, each in a forked child under limits.

Started once per test session (``conftest.Runner``): it imports dataprep and transformers
once (a few seconds), then forks a child per command line, so a run costs milliseconds of
start instead of seconds. Each child sets its limits (address space, file size), points
fds 0-2 at the files it is given, and runs ``dataprep.cli.main`` as ``python -m dataprep``
would. Protocol, one JSON object per line: a request on stdin; ``{"pid": ...}`` when the
child starts, then ``{"pid", "status", "maxrss_kb"}`` when it ends (``os.wait4``).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile

import dataprep.cli
import dataprep.cli.convert
import dataprep.cli.detect
import dataprep.cli.inspect
import dataprep.cli.prepare
import dataprep.cli.stats
import dataprep.cli.validate
import dataprep.prepare.pipeline

try:  # the heavy part of prepare; the suite runs without it where it is not installed
    import transformers  # noqa: F401
    from transformers import AutoTokenizer  # noqa: F401
except ImportError:
    pass


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(request: dict) -> int:
    os.chdir(request["cwd"])
    os.environ.update(request.get("env") or {})
    tempfile.tempdir = None  # read TMPDIR again
    for fd, (path, mode) in enumerate(
        [(request.get("stdin") or os.devnull, os.O_RDONLY)]
        + [(request[k], os.O_WRONLY | os.O_CREAT | os.O_TRUNC) for k in ("stdout", "stderr")]
    ):
        opened = os.open(path, mode, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    # Fresh Python streams over the new fds (the inherited ones belong to the protocol).
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr
    if request.get("memory"):
        limit = _vm_size() + request["memory"]
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if request.get("fsize"):
        resource.setrlimit(resource.RLIMIT_FSIZE, (request["fsize"], request["fsize"]))
    try:
        dataprep.cli.main(request["args"])
    except SystemExit as e:
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def main() -> None:
    protocol = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 98
            try:
                code = _child(request)
            except BaseException:  # a fault of the harness, or one main() let through
                import traceback

                traceback.print_exc()
                code = 99
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        protocol.write(json.dumps({"pid": pid}) + "\n")
        protocol.flush()
        _, status, usage = os.wait4(pid, 0)
        protocol.write(
            json.dumps({"pid": pid, "status": status, "maxrss_kb": usage.ru_maxrss}) + "\n"
        )
        protocol.flush()


if __name__ == "__main__":
    main()
