"""The server over HTTP: every page as JSON, bad input as a clear page, nothing served
but what was given. (The browser tests look at the same pages as a person does.)"""

from __future__ import annotations

import os
import urllib.parse

import orjson
import pytest
from ui_server import BIG_ROWS, get, get_json, start_ui, stop_ui, wait_scanned

from dataprep.prepare.output import read_split
from dataprep.reading import read_records


@pytest.mark.parametrize(
    ("path", "page"),
    [("/", "home"), ("/file/2", "file"), ("/prepared/1", "prepared"),
     ("/prepared/1/row?n=0", "row"), ("/prepared/1/search?q=the", "search"),
     ("/prepared/1/rejects", "rejects"), ("/template/5", "template"), ("/folder/3", "folder"),
     ("/file/3?rel=notes.jsonl", "file")],
)  # fmt: skip
def test_every_page_is_json_under_api_and_with_format_json(server, path, page):
    status, doc = get_json(server + "/api" + path)
    sep = "&" if "?" in path else "?"
    status2, doc2 = get_json(server + path + sep + "format=json")
    assert (status, doc["page"], status2, doc2["page"]) == (200, page, 200, page)


def test_raw_file_rows_problems_and_detection_are_validates(server, data_dir):
    wait_scanned(server, 2)
    _, doc = get_json(server + "/api/file/2")
    path = str(data_dir / "bad.jsonl")
    expected_lines = [r.line for r in read_records(path)]
    assert [r["line"] for r in doc["rows"]] == expected_lines
    from dataprep.validate.files import validate_files

    v = validate_files([path], jobs=1).to_json()
    assert doc["problems"]["counts"] == v["counts"]
    assert doc["detection"]["status"] == v["files"][0]["detection"]["status"] == "mixed"
    by_line = {r["line"]: [p["code"] for p in r["problems"]] for r in doc["rows"]}
    for p in v["problems"]:
        assert p["code"] in by_line[p["line"]]
    # canonical form for a row that reads, the reader's code for one that does not
    assert doc["rows"][2]["canonical"]["messages"][1] == {"role": "assistant", "content": "4"}
    assert doc["rows"][1]["error"]["code"] == "invalid-json"


def test_filter_by_code_and_jump_to_a_line(server):
    wait_scanned(server, 2)
    _, doc = get_json(server + "/api/file/2?code=invalid-json")
    assert {p["code"] for p in doc["problems"]["listed"]} == {"invalid-json"}
    _, doc = get_json(server + "/api/file/2?size=2&line=5")
    assert (doc["paging"]["page"], [r["line"] for r in doc["rows"]]) == (1, [4, 5])


@pytest.mark.parametrize("page", [0, 1, 500, BIG_ROWS // 50 - 1])
def test_pages_of_a_large_file_hold_its_rows(server, data_dir, page):
    wait_scanned(server, 0)
    _, doc = get_json(server + f"/api/file/0?page={page}&size=50")
    got = [r["value"]["instruction"].split(":")[0] for r in doc["rows"]]
    assert got == [f"row {i}" for i in range(page * 50, page * 50 + 50)]
    assert doc["paging"]["total"] == BIG_ROWS


def test_prepared_row_tokens_are_the_arrow_rows(server, prepared):
    table = read_split(prepared)
    for n in range(table.num_rows):
        _, doc = get_json(server + f"/api/prepared/1/row?n={n}")
        ids = table.column("input_ids")[n].as_py()
        labels = table.column("labels")[n].as_py()
        toks = [t for d in doc["documents"] for t in d["tokens"]]
        assert [t["id"] for t in toks] == ids
        assert [t["trained"] for t in toks] == [label != -100 for label in labels]
        assert [len(d["tokens"]) for d in doc["documents"]] == table.column("seq_lengths")[
            n
        ].as_py()


def test_prepared_row_documents_name_their_source(server, prepared):
    """Two inputs fed the folder: each document of each packed row names the input the
    folder's document_sources.npy gives for it, read here in row order."""
    import numpy as np

    manifest = orjson.loads((prepared / "dataprep.json").read_bytes())
    assert manifest["document_sources"] == "inputs"
    names = [item["path"] for item in manifest["inputs"]]
    recorded = iter(np.load(prepared / "document_sources.npy").tolist())
    for n in range(read_split(prepared).num_rows):
        _, doc = get_json(server + f"/api/prepared/1/row?n={n}")
        for document in doc["documents"]:
            assert document["source"] == names[next(recorded)]
    assert next(recorded, None) is None  # every document was shown once


def test_rejects_are_grouped_by_reason_with_their_line_and_row(server, prepared):
    manifest = orjson.loads((prepared / "dataprep.json").read_bytes())
    rejects = [
        orjson.loads(line) for line in (prepared / "rejects.jsonl").read_bytes().splitlines()
    ]
    assert rejects, "the fixture must reject rows"
    _, doc = get_json(server + "/api/prepared/1/rejects")
    assert doc["counts"] == manifest["counts"]["rejected"]
    for reason in doc["counts"]:
        _, page = get_json(server + f"/api/prepared/1/rejects?reason={reason}")
        want = [(r["source"], r["line"], r["row"]) for r in rejects if r["code"] == reason]
        assert [(r["source"], r["line"], r["row"]) for r in page["items"]] == want[:20]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/file/3?rel=../bad.jsonl", 403, "not a file inside"),
        ("/file/3?rel=" + urllib.parse.quote("/etc/passwd"), 403, "not a file inside"),
        ("/file/2?rel=bad.jsonl", 403, "not a file inside"),
        ("/file/99", 404, "there is no input 99"),
        ("/prepared/3", 404, "is not a prepared folder"),
        ("/prepared/4", 422, "dataprep.json is damaged"),
        ("/file/6", 422, "broken.parquet"),
        ("/file/2?page=-1", 400, "page must be 0 or more"),
        ("/file/2?page=two", 400, "page must be a whole number"),
        ("/prepared/1/row?n=100000", 404, "out of range"),
        ("/static/../../etc/passwd", 404, ""),
        ("/etc/passwd", 404, "no such page"),
    ],
)
def test_bad_requests_get_a_clear_page_and_no_traceback(server, path, status, words):
    code, body, kind = get(server + path)
    text = body.decode()
    assert (code, "text/html" in kind, words in text, "Traceback" in text) == (
        status,
        True,
        True,
        False,
    )
    code, body, _ = get(server + "/api" + path if not path.startswith("/static") else server + path)
    if not path.startswith("/static"):
        assert (code, words in orjson.loads(body)["error"]) == (status, True)


def test_only_get_is_served(server):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(server + "/", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    info.value.close()
    assert info.value.code == 405


def test_a_missing_path_is_a_usage_error(tmp_path):
    import subprocess
    import sys

    from ui_server import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "dataprep", "ui", str(tmp_path / "nope")],
                          capture_output=True, text=True, env=env)  # fmt: skip
    assert (done.returncode, "does not exist" in done.stderr) == (2, True), done.stderr


def test_a_host_other_than_loopback_is_warned_about(tmp_path):
    from ui_server import SAMPLES

    proc, _ = start_ui([str(SAMPLES / "alpaca.jsonl"), "--host", "0.0.0.0"])
    code, err = stop_ui(proc)
    assert (code, "warning: --host 0.0.0.0 is not loopback" in err) == (0, True), err


def test_ctrl_c_stops_cleanly(tmp_path):
    from ui_server import SAMPLES

    proc, base = start_ui([str(SAMPLES / "alpaca.jsonl")])
    assert base.startswith("http://127.0.0.1:")
    assert get(base + "/")[0] == 200
    code, err = stop_ui(proc)
    assert (code, err) == (0, "")
