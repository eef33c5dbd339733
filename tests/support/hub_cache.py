"""A real huggingface_hub cache, filled by huggingface_hub's own ``snapshot_download``
(through ``resolve_hub``, online) against the fake Hub of ``fake_hub`` on 127.0.0.1: no
network. Tests then read it offline, as a user whose cache holds the dataset would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from fake_hub import FakeHub

# Run online in a child process: huggingface_hub reads HF_ENDPOINT and HF_HUB_CACHE when
# imported, and the test process has it imported already, offline.
_ONLINE = """
import json, sys
from dataprep.reading.hub import resolve_hub
for ref, kw in json.loads(sys.argv[1]):
    try:
        s = resolve_hub(ref, **kw)
        print(json.dumps({"sha": s.revision, "files": s.repo_files}))
    except Exception as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"""


def write_repo(root, files: dict[str, str | list[dict]]) -> str:
    """A folder laid out like a Hub dataset repo: name -> text, or rows (Parquet or JSON
    Lines by the name's suffix)."""
    for name, content in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if name.endswith(".parquet"):
            pq.write_table(pa.Table.from_pylist(content), path)
        else:
            with open(path, "w") as f:
                f.write(
                    content
                    if isinstance(content, str)
                    else "".join(json.dumps(r) + "\n" for r in content)
                )
    return str(root)


def fill_cache(
    repos: dict[str, str], sha: str, calls: list, cache_dir: str
) -> tuple[list[dict], list[str]]:
    """Serve ``repos`` (repo id -> folder) at commit ``sha`` and run ``resolve_hub`` online
    for each ``[ref, kwargs]`` of ``calls`` into ``cache_dir``; what each call answered
    (``sha`` and ``files``, or ``error`` and ``message``) and the requests the Hub saw."""
    hub = FakeHub(repos, sha)
    env = dict(
        os.environ,
        HF_ENDPOINT=hub.url,
        HF_HUB_CACHE=cache_dir,
        HF_HUB_OFFLINE="0",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=os.getcwd(),
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", _ONLINE, json.dumps(calls)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        hub.close()
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()], hub.requests
