"""Fixtures of the ui tests: a prepared folder, a large file, the server (the real
``dataprep ui`` command in a subprocess, on a free port) and a headless Chromium.

The browser is Debian's ``chromium`` driven by Playwright for Python (``pip install
playwright``; never ``playwright install``, which downloads a browser). Browser tests
skip when it is missing, unless ``DATAPREP_REQUIRE_BROWSER=1`` (``.ci/run`` sets it):
then they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest
from ui_server import BIG_ROWS, CHROMIUM, CHROMIUM_ARGS, SAMPLES, get_json, start_ui, stop_ui  # noqa: F401


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, tok_dir) -> Path:
    """A packed SFT folder with rejects (rows over --max-length)."""
    from dataprep.prepare.pipeline import PrepareOptions, prepare

    out = tmp_path_factory.mktemp("ui") / "prepared"
    inputs = [str(SAMPLES / "messages.jsonl"), str(SAMPLES / "alpaca.jsonl")]
    prepare(PrepareOptions(inputs=inputs, tokenizer=tok_dir, max_length=256, pack=True,
                           output=str(out)))  # fmt: skip
    return out


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Files to browse: a large JSONL, a file with problems, a folder that is not prepared."""
    base = tmp_path_factory.mktemp("ui-data")
    rows = [orjson.loads(line) for line in (SAMPLES / "alpaca.jsonl").read_bytes().splitlines()]
    with open(base / "big.jsonl", "wb") as f:
        for i in range(BIG_ROWS):
            row = dict(rows[i % len(rows)])
            row["instruction"] = f"row {i}: {row['instruction']}"
            f.write(orjson.dumps(row) + b"\n")
    (base / "bad.jsonl").write_bytes(
        b'{"instruction": "Hi", "output": ""}\n'
        b"not json\n"
        b"\n"
        b'{"instruction": "Add 2 and 2", "output": "4"}\n'
        b'{"messages": [{"role": "user", "content": "hi"}]}\n'
    )
    (base / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (base / "plain").mkdir()
    (base / "plain" / "notes.jsonl").write_bytes(b'{"text": "hello"}\n')
    (base / "damaged").mkdir()
    (base / "damaged" / "dataprep.json").write_text("{not json")
    return base


@pytest.fixture(scope="session")
def inputs(prepared, data_dir, tok_dir) -> list[str]:
    """The paths given to the server, in order (the tests name them by number)."""
    return [
        str(data_dir / "big.jsonl"),  # 0
        str(prepared),  # 1
        str(data_dir / "bad.jsonl"),  # 2
        str(data_dir / "plain"),  # 3
        str(data_dir / "damaged"),  # 4
        tok_dir,  # 5
        str(data_dir / "broken.parquet"),  # 6
        str(SAMPLES / "preference.jsonl"),  # 7
    ]


@pytest.fixture(scope="session")
def server(inputs):
    proc, base = start_ui(inputs)
    yield base
    code, err = stop_ui(proc)
    assert (code, "Traceback" in err) == (0, False), err


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("DATAPREP_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser():
    required = os.environ.get("DATAPREP_REQUIRE_BROWSER") == "1"
    missing = None
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "playwright is not installed (pip install playwright)"
    if missing:
        if required:
            pytest.fail(f"DATAPREP_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM)
                              else shutil.which("chromium"), args=CHROMIUM_ARGS)  # fmt: skip
        yield b
        b.close()
