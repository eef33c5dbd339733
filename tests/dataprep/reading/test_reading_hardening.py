"""Issue 15, reading and value fidelity: bombs, huge rows, deep nesting, duplicate keys,
odd Parquet types, pipes, saved datasets and odd file names.

Every input is made here. The memory cases run the command in a subprocess under
``RLIMIT_AS`` (the watchdog: a reader that holds the input whole dies of it) and a
timeout (a reader that hangs is killed).
"""

from __future__ import annotations

import datetime
import decimal
import gzip
import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from dataprep.errors import InputError
from dataprep.reading import read_records
from dataprep.reading.limits import DEFAULT_MAX_ROW_BYTES, max_row_bytes, set_max_row_bytes
from dataprep.reading.streams import _Zstd

ROOT = Path(__file__).resolve().parents[3]
GOOD = b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}'
MEMORY_LIMIT = 1536 << 20  # 1.5 GB of address space for the light commands


def run_cli(
    args: list[str],
    *,
    cwd: Path,
    memory: int = MEMORY_LIMIT,
    timeout: float = 120,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """``python -m dataprep ARGS`` with its address space capped at ``memory``."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "dataprep", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        preexec_fn=cap,
        env=full_env,
    )


def problems(records) -> list[tuple[int, str]]:
    return [(r.line, r.problem.code) for r in records if r.problem is not None]


@pytest.fixture
def row_limit():
    """Set the process-wide row limit for one test, and put the default back after."""
    yield set_max_row_bytes
    set_max_row_bytes(None)


# --------------------------------------------------------------------- memory bounded


def _zst(data_parts, level: int = 3) -> bytes:
    c = zstandard.ZstdCompressor(level=level).compressobj()
    return b"".join(c.compress(p) for p in data_parts) + c.flush()


def _gz(data_parts) -> bytes:
    import zlib

    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return b"".join(c.compress(p) for p in data_parts) + c.flush()


MB = 1 << 20
NEWLINES_1G = [b"\n" * (64 * MB)] * 16  # 1 GB of newlines, made 64 MB at a time
HUGE_LINE = [b'{"text": "', *([b"a" * (64 * MB)] * 3), b'"}\n', GOOD + b"\n"]  # a 192 MB row
HUGE_ELEMENT = [b'[\n{"text": "', *([b"a" * (64 * MB)] * 3), b'"},\n', GOOD + b"\n]\n"]
HUGE_CSV = [b"text,other\n", b'"', *([b"a" * (64 * MB)] * 3), b'",x\n', b"hello,world\n"]


@pytest.mark.parametrize(
    "name, parts, compress, args, expected",
    [
        # 1 GB of newlines in a few KB: no rows, bounded memory, and counted fast.
        (
            "bomb.jsonl.zst",
            NEWLINES_1G,
            _zst,
            [],
            "bomb.jsonl.zst: the file holds no rows [empty-file]",
        ),
        (
            "bomb.jsonl.gz",
            NEWLINES_1G,
            _gz,
            [],
            "bomb.jsonl.gz: the file holds no rows [empty-file]",
        ),
        # A 192 MB line: refused at its line, the next line still read.
        (
            "huge.jsonl.zst",
            HUGE_LINE,
            _zst,
            [],
            f"huge.jsonl.zst:1: the row is {192 * MB + 12} bytes, over the limit of "
            f"{DEFAULT_MAX_ROW_BYTES} (--max-row-bytes): skipped without reading it [row-too-large]",
        ),
        (
            "huge.json.zst",
            HUGE_ELEMENT,
            _zst,
            [],
            f"huge.json.zst:2: the row is {192 * MB + 12} bytes, over the limit of "
            f"{DEFAULT_MAX_ROW_BYTES} (--max-row-bytes): skipped without reading it [row-too-large]",
        ),
        (
            "huge.csv.zst",
            HUGE_CSV,
            _zst,
            [],
            f"huge.csv.zst:2: the row is {192 * MB + 4} bytes, over the limit of "
            f"{DEFAULT_MAX_ROW_BYTES} (--max-row-bytes): skipped without reading it [row-too-large]",
        ),
        # The option lowers the limit.
        (
            "small.jsonl",
            [b'{"text": "' + b"b" * 5000 + b'"}\n', GOOD + b"\n"],
            None,
            ["--max-row-bytes", "4K"],
            "small.jsonl:1: the row is 5012 bytes, over the limit of 4096 (--max-row-bytes): "
            "skipped without reading it [row-too-large]",
        ),
    ],
)
def test_memory_stays_bounded(tmp_path, name, parts, compress, args, expected):
    data = compress(parts) if compress else b"".join(parts)
    (tmp_path / name).write_bytes(data)
    result = run_cli(["validate", name, *args], cwd=tmp_path)
    out = result.stdout.decode()
    assert result.returncode == 1, result.stderr.decode()[-2000:]
    assert out.splitlines()[0] == expected
    if b"hi" in parts[-1]:  # the row after the huge one is read
        assert "1 error" in out and ("2 rows" in out)


def test_endless_stdin_without_newline_is_bounded(tmp_path):
    """``validate - < /dev/zero``: the row is dropped as it streams, memory stays flat."""
    result = run_cli(["validate", "-"], cwd=tmp_path, stdin=b"\x00" * (300 * MB))
    out = result.stdout.decode()
    assert result.returncode == 1, result.stderr.decode()[-2000:]
    assert "[row-too-large]" in out.splitlines()[0]
    assert out.startswith("-:1: ")


def test_zstd_read_honours_its_size():
    """A decompressing stream never hands over more than asked, whatever the ratio."""
    data = _zst([b"\n" * (64 * MB)], level=19)
    stream = _Zstd(__import__("io").BytesIO(data))
    sizes = []
    while chunk := stream.read(1 << 16):
        sizes.append(len(chunk))
    assert max(sizes) <= 1 << 16 and sum(sizes) == 64 * MB


# ------------------------------------------------------------------- rows and values


@pytest.mark.parametrize(
    "name, data, expected",
    [
        (
            "dup.jsonl",
            b'{"text": "a", "text": "b"}\n' + GOOD + b"\n",
            [(1, "duplicate-key")],
        ),
        (
            "dup-nested.jsonl",
            GOOD + b'\n{"messages":[{"role":"user","content":"x","role":"assistant"}]}\n',
            [(2, "duplicate-key")],
        ),
        ("dup.json", b'[\n{"a": 1},\n{"a": 1, "b": {"c": 1, "c": 2}}\n]\n', [(3, "duplicate-key")]),
        (
            "dup.csv",
            b'messages\n"[{""role"": ""user"", ""role"": ""x""}]"\n',
            [(2, "duplicate-key")],
        ),
        (
            "deep.jsonl",
            b'{"x": ' + b"[" * 300 + b"]" * 300 + b"}\n" + GOOD + b"\n",
            [(1, "too-deep")],
        ),
        (
            "deep.json",
            b"[\n" + GOOD + b',\n{"x": ' + b"[" * 300 + b"]" * 300 + b"}]",
            [(3, "too-deep")],
        ),
        ("deep.csv", b'x\n"' + b"[" * 300 + b"]" * 300 + b'"\n', [(2, "too-deep")]),
        # A key repeated in sibling objects is no duplicate.
        ("siblings.jsonl", GOOD + b"\n", []),
        # orjson writes 254 levels; 200 is the limit of what is read.
        ("deep-ok.jsonl", b'{"x": ' + b"[" * 199 + b"]" * 199 + b"}\n", []),
        # An integer past 64 bits cannot be written again by a reader without raw bytes.
        ("bigint.json", b'[{"a": 123456789012345678901234567890}]', [(1, "unsupported-value")]),
    ],
)
def test_values_kept_exactly_or_refused(tmp_path, name, data, expected):
    path = tmp_path / name
    path.write_bytes(data)
    assert problems(read_records(str(path))) == expected


def test_duplicate_key_message(tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_bytes(GOOD + b'\n{"text": "a", "text": "b"}\n')
    result = run_cli(["validate", "dup.jsonl"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.decode().splitlines()[0] == (
        'dup.jsonl:2: the key "text" appears twice in one object, near column 22: JSON keeps '
        "only the last value; rename or remove one [duplicate-key]"
    )


def test_jiter_and_orjson_agree_on_good_rows():
    """The row parser gives what orjson gives for JSON that both accept (the readers'
    values did not change with the parser)."""
    from dataprep.reading.values import parse

    texts = [
        GOOD,
        b'{"a": [1, -2.5, 1e10, true, false, null, "\\u00e9\\n\\"", {"b": {}}], "": ""}',
        b'{"e": "\\ud83d\\ude00 emoji", "n": -0.0, "big": 18446744073709551615}',
        b'  {"x": 1}  ',
    ]
    for text in texts:
        assert parse(text) == orjson.loads(text)


def _parquet(tmp_path: Path, columns: dict) -> str:
    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table(columns), path)
    return str(path)


@pytest.mark.parametrize(
    "column, expected",
    [
        (pa.array([datetime.datetime(2024, 5, 1, 12, 30)]), "2024-05-01T12:30:00"),
        (
            pa.array([datetime.datetime(2024, 5, 1, 12, 30)], pa.timestamp("us", tz="UTC")),
            "2024-05-01T12:30:00+00:00",
        ),
        (pa.array([datetime.date(2024, 5, 1)]), "2024-05-01"),
        (pa.array([datetime.time(12, 30)]), "12:30:00"),
        (pa.array([decimal.Decimal("12.50")], pa.decimal128(10, 2)), "12.50"),
        (
            pa.array([decimal.Decimal("0.1000000000000000055511151231257827")]),
            "0.1000000000000000055511151231257827",
        ),
        (pa.array(["héllo".encode()], pa.binary()), "héllo"),
        (pa.array([1.5]), 1.5),
        (pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())), {"k": 1}),
        (pa.array([[(1, "v")]], pa.map_(pa.int64(), pa.string())), [[1, "v"]]),
    ],
)
def test_parquet_values_converted_by_the_rule(tmp_path, column, expected):
    path = _parquet(tmp_path, {"text": ["a"], "v": column})
    [record] = read_records(path)
    assert record.problem is None
    assert record.value == {"text": "a", "v": expected}
    orjson.dumps(record.value)  # and JSON can hold it


@pytest.mark.parametrize(
    "column, code",
    [
        (pa.array([1.0, float("nan"), 2.0]), "non-finite-number"),
        (pa.array([1.0, float("inf"), 2.0]), "non-finite-number"),
        (pa.array([b"ok", b"\xff\xfe", b"ok"], pa.binary()), "unsupported-value"),
        (pa.array([None, datetime.timedelta(seconds=3), None]), "unsupported-value"),
    ],
)
def test_parquet_value_refused_per_row(tmp_path, column, code):
    """Only the row with the value is refused, at its row, with the column's path."""
    path = _parquet(tmp_path, {"text": ["a", "b", "c"], "v": column})
    records = list(read_records(path))
    assert [(r.line, r.problem and r.problem.code) for r in records] == [
        (1, None),
        (2, code),
        (3, None),
    ]
    assert records[1].problem.path == "v"


def test_parquet_convert_does_not_abort_the_file(tmp_path):
    _parquet(
        tmp_path,
        {
            "instruction": ["a", "b", "c"],
            "output": ["x", "y", "z"],
            "at": [datetime.datetime(2024, 1, 1), None, None],
            "score": [1.0, float("nan"), 2.0],
        },
    )
    result = run_cli(
        ["convert", "odd.parquet", "--to", "messages", "-o", "out.jsonl"], cwd=tmp_path
    )
    assert result.returncode == 1
    assert "3 rows in = 2 rows out + 1 rejected" in result.stderr.decode()
    reject = json.loads((tmp_path / "out.jsonl.rejects.jsonl").read_text())
    assert (reject["line"], reject["code"]) == (2, "non-finite-number")


def test_duplicate_csv_header_is_a_file_problem(tmp_path):
    (tmp_path / "dup.csv").write_bytes(b"instruction,output,output\nhi,a,b\n")
    result = run_cli(["validate", "dup.csv"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.decode().splitlines()[0] == (
        "dup.csv: the CSV header names column 'output' twice (columns 2 and 3): every row "
        "would lose one of them; rename one [duplicate-column]"
    )
    with pytest.raises(InputError, match="twice"):
        list(read_records(str(tmp_path / "dup.csv")))


@pytest.mark.parametrize(
    "name, data, limit, expected",
    [
        # Line numbers after a skipped line stay true; a blank line is still no row.
        (
            "a.jsonl",
            GOOD + b"\n" + b"x" * 600 + b"\n\n" + GOOD + b"\n",
            300,
            [(2, "row-too-large")],
        ),
        # A line over the limit split across reads, and one at the end without newline.
        (
            "b.jsonl",
            GOOD + b"\n" + b"y" * (1 << 19) + b"\n" + GOOD + b"\n" + b"z" * (1 << 19),
            1 << 18,
            [(2, "row-too-large"), (4, "row-too-large")],
        ),
        (
            "c.json",
            b"[\n" + GOOD + b',\n{"t": "' + b"x" * 600 + b'"},\n' + GOOD + b"\n]",
            300,
            [(3, "row-too-large")],
        ),
        ("d.csv", b"text\nhi\n" + b"x" * 600 + b"\nho\n", 300, [(3, "row-too-large")]),
    ],
)
def test_row_limit(tmp_path, row_limit, name, data, limit, expected):
    path = tmp_path / name
    path.write_bytes(data)
    row_limit(limit)
    records = list(read_records(str(path)))
    assert problems(records) == expected
    assert all(r.value is not None for r in records if r.problem is None)
    assert len([r for r in records if r.problem is None]) >= 2


def test_row_limit_is_the_default_between_commands(row_limit):
    row_limit(123)
    assert max_row_bytes() == 123
    row_limit(None)
    assert max_row_bytes() == DEFAULT_MAX_ROW_BYTES


@pytest.mark.parametrize(
    "size, ok",
    [
        ("67108864", 67108864),
        ("64M", 64 << 20),
        ("64MiB", 64 << 20),
        ("1g", 1 << 30),
        ("2kb", 2048),
    ],
)
def test_max_row_bytes_option_sizes(size, ok):
    from dataprep.cli._rows import ByteSize

    assert ByteSize().convert(size, None, None) == ok


def test_max_row_bytes_option_refuses_nonsense(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(GOOD + b"\n")
    result = run_cli(["validate", "a.jsonl", "--max-row-bytes", "lots"], cwd=tmp_path)
    assert result.returncode == 2
    assert "is not a size" in result.stderr.decode()


# ---------------------------------------------------------------------------- convert


@pytest.mark.parametrize(
    "row, to, code",
    [
        ({"messages": []}, "sharegpt", "schema"),
        ({"messages": []}, "messages", "schema"),
        (
            {
                "messages": [
                    {"role": "user", "content": None},
                    {"role": "assistant", "content": "x"},
                ]
            },
            "sharegpt",
            "null-content",
        ),
        ({"instruction": "", "output": "x"}, "messages", "empty-content"),
    ],
)
def test_convert_writes_no_row_validate_rejects(tmp_path, row, to, code):
    from dataprep.convert import convert_file
    from dataprep.validate.files import validate_files

    src = tmp_path / "in.jsonl"
    src.write_bytes(orjson.dumps(row) + b"\n" + GOOD + b"\n")
    out = tmp_path / "out.jsonl"
    c = convert_file(str(src), str(out), to, jobs=1)
    assert (c.rows_in, c.rows_out, c.rejected) == (2, 1, 1)
    assert c.reasons == {code: 1}
    assert validate_files([str(out)], fmt=to).exit_code == 0


# ----------------------------------------------------------------------------- inputs


def _saved(tmp_path: Path) -> Path:
    import datasets

    folder = tmp_path / "saved"
    datasets.Dataset.from_list([orjson.loads(GOOD), {"text": "plain"}]).save_to_disk(str(folder))
    return folder


def test_saved_dataset_hashes(tmp_path):
    from dataprep.prepare.identity import hash_input

    folder = _saved(tmp_path)
    first = hash_input(str(folder), str(folder))
    assert first.sha256 == hash_input(str(folder), str(folder)).sha256
    assert first.lines is None and first.size > 0
    arrow = next(folder.glob("*.arrow"))
    with open(arrow, "ab") as f:
        f.write(b"\0")
    assert hash_input(str(folder), str(folder)).sha256 != first.sha256


@pytest.mark.parametrize("name", [None, 5, "", "../elsewhere.arrow", "/etc/passwd"])
def test_bad_state_json_is_a_clear_error(tmp_path, name):
    folder = _saved(tmp_path)
    state = json.loads((folder / "state.json").read_text())
    state["_data_files"][0]["filename"] = name
    (folder / "state.json").write_text(json.dumps(state))
    result = run_cli(["validate", "saved"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.decode().splitlines()[0] == (
        f"saved: has a state.json with file names that are not names ({name!r}): save the "
        "dataset again with save_to_disk [unreadable]"
    )
    assert "Traceback" not in result.stderr.decode()


ODD_NAME = "caf\udce9.jsonl"  # the bytes b"caf\xe9.jsonl": Latin-1, not UTF-8


@pytest.mark.parametrize(
    "args",
    [["detect", "--json"], ["validate", "--json"], ["detect"], ["validate"], ["stats"]],
)
def test_non_utf8_file_names_are_shown(tmp_path, args):
    (tmp_path / ODD_NAME).write_bytes(GOOD + b"\n")
    result = run_cli([*args, ODD_NAME], cwd=tmp_path, env={"PYTHONIOENCODING": "utf-8:strict"})
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert "Traceback" not in result.stderr.decode()
    if "--json" in args:
        text = result.stdout.decode()
        assert "caf\\\\xe9.jsonl" in text  # JSON of the text caf\xe9.jsonl
        json.loads(text)
    else:
        assert b"caf\xe9.jsonl" in result.stdout  # the name's own bytes, as ls shows them


def test_named_pipe_is_read_once(tmp_path):
    from dataprep.prepare.identity import hash_input, spool_input

    fifo = tmp_path / "rows.jsonl"
    os.mkfifo(fifo)
    data = GOOD + b"\n" + b'{"text": "plain"}\n'

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    spooled = spool_input(str(fifo), tmp_path)
    writer.join(timeout=10)
    item = hash_input(str(fifo), spooled)
    assert Path(spooled).read_bytes() == data and spooled.endswith(".jsonl")
    assert item.path == str(fifo) and item.size == len(data)
    assert [r.line for r in read_records(spooled)] == [1, 2]


@pytest.mark.parametrize("how", ["fifo", "process-substitution", "saved"])
def test_prepare_reads_pipes_and_saved_datasets(tmp_path, tok_dir, how):
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(GOOD + b"\n" + GOOD.replace(b"hi", b"hello") + b"\n")
    args = ["--tokenizer", tok_dir, "--max-length", "64", "-o", "out"]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    prepare = f"{sys.executable} -m dataprep prepare"
    if how == "fifo":
        os.mkfifo(tmp_path / "pipe")
        command = f"cat rows.jsonl > pipe & {prepare} pipe {' '.join(args)}"
    elif how == "process-substitution":
        command = f"{prepare} <(cat rows.jsonl) {' '.join(args)}"
    else:
        import datasets

        datasets.Dataset.from_list(
            [orjson.loads(line) for line in rows.read_bytes().splitlines()]
        ).save_to_disk(str(tmp_path / "saved"))
        command = f"{prepare} saved {' '.join(args)}"
    result = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, capture_output=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    manifest = json.loads((tmp_path / "out" / "dataprep.json").read_text())
    assert (manifest["counts"]["rows_in"], manifest["counts"]["rows_out"]) == (2, 2)


# ------------------------------------------------------------------- overlong bound


def test_longest_token_bounds_the_characters(tok_dir):
    """A token never covers more characters than the bound says (random text of every
    script), so the bound never rejects a row that fits."""
    import random

    from transformers import AutoTokenizer

    from dataprep.prepare.encode.bounds import max_token_chars

    backend = AutoTokenizer.from_pretrained(tok_dir).backend_tokenizer
    k = max_token_chars(backend)
    assert k is not None
    rng = random.Random(0)
    alphabet = "abc xyz    \n\t.,;!?éüß漢字かなдаé😀🤖<|>" + "a" * 20 + " " * 10
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 400)))
        assert len(backend.encode(text).ids) * k >= len(text)
    assert len(backend.encode(" " * 5000).ids) * k >= 5000


def test_no_bound_for_tokenizers_that_swallow_text():
    from tokenizers import Tokenizer, models, pre_tokenizers

    from dataprep.prepare.encode.bounds import max_token_chars

    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    assert max_token_chars(wordpiece) is None
    spaces = Tokenizer(models.BPE({"a": 0}, [], byte_fallback=True))
    spaces.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    assert max_token_chars(spaces) is None


def test_prepare_rejects_a_huge_row_without_tokenizing_it(tmp_path, tok_dir):
    """A 25 MB row under --overlong drop (the default): rejected as too-long, under an
    address-space cap that tokenizing it would break (a 50 MB row took 11 GB before). It
    stays under the template's 32 M-character rendering budget, which would stop it too."""
    big = {
        "messages": [
            {"role": "user", "content": "word " * (5 * MB)},
            {"role": "assistant", "content": "ok"},
        ]
    }
    (tmp_path / "big.jsonl").write_bytes(orjson.dumps(big) + b"\n" + GOOD + b"\n")
    result = run_cli(
        ["prepare", "big.jsonl", "--tokenizer", tok_dir, "--max-length", "64", "-o", "out",
         "--json"],
        cwd=tmp_path,
        memory=6 << 30,  # torch and the tokenizer reserve address space they never touch
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    manifest = json.loads(result.stdout)
    assert manifest["counts"]["rejected"] == {"too-long": 1}
    reject = json.loads((tmp_path / "out" / "rejects.jsonl").read_bytes().split(b"\n")[0])
    assert reject["line"] == 1 and reject["message"].startswith("at least ")


def test_gzip_bomb_is_bounded_in_process():
    """The gzip stream hands over at most what is asked, as zstd does."""
    import io

    from dataprep.reading.streams import _Gzip

    stream = _Gzip(io.BytesIO(gzip.compress(b"\n" * (16 * MB))))
    assert len(stream.read(1 << 16)) <= 1 << 16
