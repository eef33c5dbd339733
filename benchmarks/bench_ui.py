"""Issue 12: ``dataprep ui`` on a large JSON Lines file. Makes the file (samples' rows
repeated) in a temporary folder, starts ``dataprep ui`` on it, and measures: start (command
to the "listening" line, and to the first page), the server's memory (RSS now and peak)
and the validating child's peak, the time to index the file, and the time to open a page
at the start, the middle and the end. Deletes the file after.

    PYTHONPATH=. python benchmarks/bench_ui.py --gb 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def fetch(url: str) -> tuple[float, dict]:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        body = r.read()
    return time.perf_counter() - t, json.loads(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=2.0)
    args = parser.parse_args()
    rows = [line for f in sorted((ROOT / "samples").glob("*.jsonl"))
            for line in f.read_bytes().splitlines() if line.strip()]  # fmt: skip
    tmp = tempfile.mkdtemp(prefix="bench-ui-")
    path = os.path.join(tmp, "big.jsonl")
    target = int(args.gb * (1 << 30))
    block = b"\n".join(rows) + b"\n"
    with open(path, "wb") as f:
        written = 0
        while written < target:
            f.write(block)
            written += len(block)
    size = os.path.getsize(path)
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "dataprep", "ui", path, "--port", "0"],
                                stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
        line = proc.stdout.readline()
        listening = time.perf_counter() - t0
        base = re.search(r"(http://\S+)/", line).group(1)
        first, doc = fetch(base + "/api/file/0")
        to_first = time.perf_counter() - t0
        html_first, _ = 0.0, None
        t = time.perf_counter()
        with urllib.request.urlopen(base + "/file/0", timeout=600) as r:
            r.read()
        html_first = time.perf_counter() - t
        peak_child = 0.0
        t = time.perf_counter()
        while True:
            _, status = fetch(base + "/api/scan/0")
            for c in children(proc.pid):
                peak_child = max(peak_child, rss_mb(c, "VmHWM"), rss_mb(c))
            if status["index"]["done"] and status["validation"] != "running":
                break
            if status["index"]["done"] and "indexed" not in locals():
                indexed = time.perf_counter() - t
            time.sleep(0.5)
        scanned = time.perf_counter() - t
        indexed = locals().get("indexed", scanned)
        total = status["index"]["rows"]
        pages = {}
        for name, page in (("start", 0), ("middle", total // 40), ("end", total // 20 - 1)):
            took, doc = fetch(f"{base}/api/file/0?page={page}&size=20")
            pages[name] = (page, round(took * 1000, 1), doc["rows"][0]["line"])
        result = {
            "file_gb": round(size / (1 << 30), 2), "rows": total,
            "listening_s": round(listening, 2), "first_page_json_s": round(first, 2),
            "command_to_first_page_s": round(to_first, 2), "first_page_html_s": round(html_first, 2),
            "index_s": round(indexed, 1), "index_and_validate_s": round(scanned, 1),
            "pages_ms": pages, "server_rss_mb": round(rss_mb(proc.pid), 1),
            "server_peak_rss_mb": round(rss_mb(proc.pid, "VmHWM"), 1),
            "validate_child_peak_rss_mb": round(peak_child, 1),
        }  # fmt: skip
        proc.send_signal(signal.SIGINT)
        result["exit_code_after_ctrl_c"] = proc.wait(timeout=60)
        print(json.dumps(result, indent=2))
    finally:
        os.remove(path)
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
