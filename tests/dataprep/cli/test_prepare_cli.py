"""``dataprep prepare`` from the command line: summary, cache, exit codes, messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import orjson
import pytest

from dataprep.cli import main


def chat(i, turns=1):
    messages = []
    for t in range(turns):
        messages += [
            {"role": "user", "content": f"question {i} {t} about the weather"},
            {"role": "assistant", "content": f"answer {i} {t}: sure, here is a reply"},
        ]
    return {"messages": messages}


def write_jsonl(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_summary_shows_rows_in_out_and_rejected_by_reason(tmp_path, tok_dir, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0), chat(1, turns=40), chat(2)])
    out = tmp_path / "out"
    code, stdout, _ = run(
        capsys, "prepare", src, "--tokenizer", tok_dir, "--max-length", 128, "-o", out
    )
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == f"prepared {out} (sft, packed, max length 128)"
    assert [line.split() for line in lines[1:5]] == [
        ["rows", "in", "3"],
        ["rows", "out", "2"],
        ["rows", "rejected", "1"],
        ["too-long", "1"],
    ]
    assert "rows in = rows out + rows rejected: 3 = 2 + 1" in lines
    assert f"rejects: {out}/rejects.jsonl" in lines
    assert any(line.split()[:2] == ["packing", "efficiency"] for line in lines)
    assert any(line.split()[:2] == ["trainable", "tokens"] for line in lines)


def test_summary_shows_rows_rejected_accepted_and_warned_by_code(tmp_path, tok_dir, capsys):
    twice = json.dumps(json.dumps({"city": "paris"}))
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": twice}}
    rows = [
        chat(0),
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "hi"}]},
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "assistant", "content": "hello"}]},
        {"messages": [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": None, "tool_calls": [call]},
                      {"role": "tool", "tool_call_id": "c1", "content": "21C"}, {"role": "assistant", "content": "21C"}]},
    ]  # fmt: skip
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out"
    args = ["prepare", src, "--tokenizer", tok_dir, "--max-length", 128, "-o", out]
    code, stdout, _ = run(capsys, *args, "--accept", "empty-content")
    assert code == 0
    assert [line.split() for line in stdout.splitlines()[1:10]] == [
        ["rows", "in", "4"],
        ["rows", "out", "3"],
        ["rows", "rejected", "1"],
        ["tool-args-double-encoded", "1"],
        ["rows", "kept", "with", "--accept", "1"],
        ["empty-content", "1"],
        ["rows", "with", "warnings", "1"],
        ["no-user-turn", "1"],
        ["train", "1", "packed", "rows,", "3", "documents"],
    ]
    [reject] = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert (reject["line"], reject["code"]) == (4, "tool-args-double-encoded")


def test_second_run_says_up_to_date_and_force_rebuilds(tmp_path, tok_dir, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0)])
    args = ["prepare", src, "--tokenizer", tok_dir, "--max-length", 128, "-o", tmp_path / "out"]
    assert run(capsys, *args)[0] == 0
    fingerprint = json.loads((tmp_path / "out" / "dataprep.json").read_text())["fingerprint"]
    code, stdout, _ = run(capsys, *args)
    assert (code, stdout) == (
        0,
        f"{tmp_path / 'out'}: up to date (fingerprint {fingerprint[:12]}); use --force to rebuild\n",
    )
    code, stdout, _ = run(capsys, *args, "--force")
    assert code == 0 and stdout.startswith("prepared ")


def files_of(folder):
    """Every file under ``folder`` with what a rewrite changes (an atomic rename gives a
    new inode)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_cache_hit_imports_no_heavy_library_and_touches_nothing(tmp_path, tok_dir, capsys):
    # What makes a cache hit fast: no tokenizer library loaded, nothing tokenized or
    # written. How fast it is, ``benchmarks/bench_timings.py`` measures.
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0)])
    args = [
        "prepare",
        src,
        "--tokenizer",
        tok_dir,
        "--max-length",
        "128",
        "-o",
        str(tmp_path / "out"),
    ]
    assert run(capsys, *args)[0] == 0
    before = files_of(tmp_path / "out")
    code = (
        "import sys\n"
        "from dataprep.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'datasets', 'tokenizers') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "up to date" in done.stdout
    assert done.stdout.splitlines()[-1] == "HEAVY="
    assert files_of(tmp_path / "out") == before
    # The same check sees a rebuild.
    assert run(capsys, *args, "--force")[0] == 0
    assert files_of(tmp_path / "out") != before


def test_nothing_left_exits_1_with_the_reasons(tmp_path, tok_dir, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0, turns=40), {"question": "?"}])
    code, stdout, stderr = run(
        capsys, "prepare", src, "--tokenizer", tok_dir, "--max-length", 64, "-o", tmp_path / "out"
    )
    assert code == 1 and stdout == ""
    lines = stderr.splitlines()
    assert "rows in = rows out + rows rejected: 2 = 0 + 2" in lines
    assert lines[-3].startswith(f"{src}:1: ") and lines[-3].endswith("[too-long]")
    assert (
        lines[-2]
        == f"{src}:2: row fits no format (keys: question); pass --format to read it as one, "
        "or map its fields with --field [unknown-format]"
    )
    assert (
        lines[-1]
        == "error: nothing left to write: all 2 rows were rejected (1 too-long, 1 unknown-format)"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--kind", "dpo", "--pack"], "error: --pack applies to SFT only: DPO rows are never packed"),
        (["--kind", "dpo", "--overlong", "split"], "error: --overlong split applies to SFT only: a preference pair cannot be split"),
        (["--field", "nonsense"], "error: bad --field 'nonsense': expected OUR_FIELD=YOUR_KEY (e.g. --field messages=dialog)"),
        (["--max-length", "1"], "Error: Invalid value for '--max-length': 1 is not in the range x>=2."),
        (["--eval-fraction", "1"], "Error: Invalid value for '--eval-fraction': 1.0 is not in the range 0.0<=x<1.0."),
        (["--mask", "bogus"], "Error: Invalid value for '--mask': 'bogus' is not one of 'assistant', 'last', 'all', 'completion'."),
        (["--accept", "empty-content", "--accept", "empty-answer"], "error: unknown code 'empty-answer' for --accept (known: bad-tool-arguments, chosen-equals-rejected, consecutive-roles, empty-content, leaked-control-token, missing-tool-argument, no-final-assistant, null-content, orphan-tool-result, system-not-first, tool-args-double-encoded, undeclared-tool, wrong-tool-argument-type)"),
        (["--accept", "no-user-turn"], "error: --accept no-user-turn: no-user-turn is a warning, and rows with it are kept already"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2(tmp_path, tok_dir, capsys, extra, message):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0)])
    code, _, stderr = run(
        capsys,
        "prepare",
        src,
        "--tokenizer",
        tok_dir,
        "--max-length",
        64,
        "-o",
        tmp_path / "out",
        *extra,
    )
    assert code == 2
    assert message in stderr.splitlines()
    assert not (tmp_path / "out").exists()


def test_refuses_to_overwrite_a_folder_it_did_not_write(tmp_path, tok_dir, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0)])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("x")
    code, _, stderr = run(
        capsys, "prepare", src, "--tokenizer", tok_dir, "--max-length", 64, "-o", tmp_path / "out"
    )
    assert code == 2
    assert stderr == (
        f"error: refusing to overwrite {tmp_path / 'out'}: it exists and is not a prepared folder "
        "(it has no dataprep.json); choose another -o or remove it\n"
    )


def test_missing_input_is_a_usage_error(tmp_path, tok_dir, capsys):
    code, _, stderr = run(
        capsys,
        "prepare",
        tmp_path / "nope.jsonl",
        "--tokenizer",
        tok_dir,
        "--max-length",
        64,
        "-o",
        tmp_path / "out",
    )
    assert (code, stderr) == (2, f"error: no such file: {tmp_path / 'nope.jsonl'}\n")


def test_reads_stdin(tmp_path, tok_dir, capsys, monkeypatch):
    data = orjson.dumps(chat(0)) + b"\n" + b"{broken\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, stdout, _ = run(
        capsys, "prepare", "-", "--tokenizer", tok_dir, "--max-length", 64, "-o", tmp_path / "out"
    )
    assert code == 0 and "rows in = rows out + rows rejected: 2 = 1 + 1" in stdout.splitlines()
    [reject] = [
        json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    ]
    assert (reject["source"], reject["line"], reject["code"]) == ("-", 2, "invalid-json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_json_prints_the_manifest(tmp_path, tok_dir, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [chat(0), chat(1)])
    code, stdout, _ = run(
        capsys,
        "prepare",
        src,
        "--tokenizer",
        tok_dir,
        "--max-length",
        64,
        "-o",
        tmp_path / "out",
        "--json",
        "--no-pack",
    )
    assert code == 0
    manifest = json.loads(stdout)
    assert manifest == json.loads((tmp_path / "out" / "dataprep.json").read_text())
    assert manifest["packing"] is False and manifest["counts"]["rows_out"] == 2
