"""The CLI on KTO data: detect says why a file is KTO, prepare infers the kind and
counts the labels, inspect and stats read the prepared folder."""

from __future__ import annotations

import orjson
import pytest

MESSAGES = [
    {"role": "user", "content": "name a fruit"},
    {"role": "assistant", "content": "a banana"},
]


@pytest.fixture
def kto_file(tmp_path):
    rows = [
        {"messages": MESSAGES, "label": True},
        {"messages": [MESSAGES[0], {"role": "assistant", "content": "a chair"}], "label": False},
        {"messages": MESSAGES, "label": True, "id": 3},
    ]
    path = tmp_path / "kto.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def test_detect_says_why(kto_file, dataprep_cli):
    r = dataprep_cli("detect", kto_file)
    assert (r.code, r.err) == (0, "")
    assert r.out == (
        f"{kto_file}: kto (3 rows)\n"
        "  why kto: boolean label beside messages (3 rows)\n"
        "  keys: messages (3), label (3), id (1)\n"
    )


def test_prepare_inspect_and_stats(tmp_path, kto_file, tok_dir, dataprep_cli):
    out = str(tmp_path / "prepared")
    r = dataprep_cli("prepare", kto_file, "--tokenizer", tok_dir, "--max-length", "128", "-o", out)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == f"prepared {out} (kto, max length 128)"
    assert "  labels            2 desirable, 1 undesirable" in r.out.splitlines()

    r = dataprep_cli("inspect", out, "--row", "1")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].endswith("· prompt / completion (undesirable)")
    assert lines[2].startswith("── prompt · ")
    at = next(i for i, line in enumerate(lines) if line.startswith("── completion"))
    assert lines[at].startswith("── completion (undesirable) · ")
    assert "a chair" not in "\n".join(lines[3:at])  # the judged answer is not in the prompt
    assert lines[at + 1] == "«a chair<|im_end|>"

    r = dataprep_cli("stats", out)
    assert r.code == 0, r.err
    assert "    labels             2 desirable, 1 undesirable" in r.out.splitlines()


def test_prepare_as_sft_names_kind_kto(tmp_path, kto_file, tok_dir, dataprep_cli):
    out = str(tmp_path / "prepared")
    r = dataprep_cli(
        "prepare",
        kto_file,
        "--tokenizer",
        tok_dir,
        "--max-length",
        "128",
        "-o",
        out,
        "--kind",
        "sft",
    )
    assert r.code == 1
    assert (
        f"{kto_file}:2: a KTO example (kto row) is not SFT data; prepare it with --kind kto "
        "[wrong-kind]"
    ) in r.err.splitlines()
    assert "use --kind dpo" not in r.err
