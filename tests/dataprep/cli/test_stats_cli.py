"""``dataprep stats``: rows, turns, roles, lengths, trainable share, duplicates, histogram."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import orjson
import pytest

from dataprep.cli import main
from dataprep.prepare.output import read_split
from dataprep.prepare.pipeline import PrepareOptions, prepare
from dataprep.stats import histogram

ROWS = [
    {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello there"},
        ]
    },
    {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather in paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "content": "sunny"},
            {"role": "assistant", "content": "sunny"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello there"},
        ]
    },
]


@pytest.fixture
def chats(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ROWS) + b"{not json\n")
    return path


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def field(out, name):
    """The value of a `  name   value` line of the report."""
    for line in out.splitlines():
        if line.startswith(f"  {name}  "):
            return line[len(name) + 2 :].strip()
    raise AssertionError(f"no line {name!r} in:\n{out}")


def test_file_in_characters(chats, capsys):
    code, out, _ = run(capsys, "stats", chats)
    assert code == 0
    assert out.splitlines()[0] == f"{chats}: messages"
    assert field(out, "rows") == "4 (1 invalid-json)"
    assert field(out, "roles") == "assistant 4, user 3, system 1, tool 1"
    assert field(out, "tool calls") == "1"
    assert field(out, "duplicates") == "1 exact duplicate rows"
    assert field(out, "trainable share") == "- (give --tokenizer)"
    chars = [sum(len(m["content"] or "") for m in r["messages"]) for r in ROWS]
    p50, p90, p99 = np.percentile(chars, [50, 90, 99])
    assert (
        field(out, "length (characters)")
        == f"p50 {p50:g}  p90 {p90:.1f}  p99 {p99:.1f}  max {max(chars)}"
    )
    assert "length histogram (characters per row)" in out


def test_file_with_a_tokenizer_counts_tokens_and_the_trainable_share(chats, tok_dir, capsys):
    code, out, _ = run(capsys, "stats", chats, "--tokenizer", tok_dir, "--json")
    assert code == 0
    stats = json.loads(out)
    assert stats["unit"] == "tokens" and stats["length"]["count"] == 3
    assert 0 < stats["trainable_share"] < 1
    assert (
        stats["rows"] == 4 and stats["problems"] == {"invalid-json": 1} and stats["duplicates"] == 1
    )


def test_prepared_folder_agrees_with_its_manifest(chats, tok_dir, tmp_path, capsys):
    out_dir = tmp_path / "prepared"
    prepare(
        PrepareOptions(inputs=[str(chats)], tokenizer=tok_dir, max_length=256, output=str(out_dir))
    )
    manifest = json.loads((out_dir / "dataprep.json").read_text())
    code, out, _ = run(capsys, "stats", out_dir, "--json")
    assert code == 0
    stats = json.loads(out)
    train = stats["splits"]["train"]
    assert train["tokens"] == manifest["tokens"]["total"]
    assert train["trainable_tokens"] == manifest["tokens"]["trainable"]
    assert train["documents"] == manifest["splits"]["train"]["documents"] == 3
    assert train["duplicate_documents"] == 1
    table = read_split(out_dir)
    assert train["rows"] == table.num_rows

    code, out, _ = run(capsys, "stats", out_dir)
    assert out.splitlines()[0].startswith(f"{out_dir}: prepared sft, packed to 256 tokens")
    assert field(out, "input rows") == "4 in, 3 out; rejected: 1 invalid-json"


def test_plot_writes_a_png(chats, tmp_path, capsys):
    png = tmp_path / "lengths.png"
    code, out, _ = run(capsys, "stats", chats, "--plot", png)
    assert code == 0 and out.splitlines()[-1] == f"  plot: {png}"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_matplotlib_is_imported_only_for_plot(chats):
    code = (
        "import sys\nfrom dataprep.cli import main\n"
        f"try:\n    main(['stats', {str(chats)!r}])\nexcept SystemExit:\n    pass\n"
        "print('MPL=' + str('matplotlib' in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "MPL=False"


@pytest.mark.parametrize(
    ("values", "bins", "expected"),
    [
        ([], 3, []),
        ([5, 5, 5], 3, ["      5 –       5  ████ 3"]),
        ([1, 2, 2, 4], 2, ["      1 –       2  ████ 3", "      3 –       4  █▍ 1"]),
    ],
)
def test_histogram_bars(values, bins, expected):
    lines = histogram(values, bins=bins, width=4)
    assert [line for line in lines if not line.endswith(" 0")] == expected


def test_histogram_counts_every_value_once():
    rng = np.random.default_rng(0)
    values = rng.integers(1, 5000, size=1000)
    lines = histogram(values, bins=12)
    assert sum(int(line.split()[-1].replace(",", "")) for line in lines) == 1000
    assert len(lines) <= 13
