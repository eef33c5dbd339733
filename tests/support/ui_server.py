"""Helpers of the ui tests (``tests/dataprep/ui``): the real ``dataprep ui`` command in a
subprocess, and HTTP requests to it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
BIG_ROWS = 50_000


def start_ui(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """``dataprep ui ARGS --port 0`` in a subprocess, and the address it prints."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "dataprep", "ui", *args, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    found = re.search(r"listening on (http://\S+/)", line)
    if not found:
        proc.kill()
        raise AssertionError(
            f"no listening line: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, found.group(1).rstrip("/")


def stop_ui(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C, as a person stops it: the exit code and what it wrote on stderr."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    err = proc.stderr.read() if proc.stderr else ""
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
    return proc.returncode, err


def get(url: str) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        with e:  # its socket closed with it
            return e.code, e.read(), e.headers.get("Content-Type", "")


def get_json(url: str):
    status, body, _ = get(url)
    return status, orjson.loads(body)


def wait_scanned(base: str, number: int, timeout: float = 120) -> dict:
    """The scan status of input ``number`` once its index and validation are done."""
    deadline = time.monotonic() + timeout
    while True:
        _, status = get_json(f"{base}/api/scan/{number}")
        if status["validation"] != "running" and (
            status["index"] is None or status["index"]["done"]
        ):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"input {number} still scanning: {status}")
        time.sleep(0.2)
