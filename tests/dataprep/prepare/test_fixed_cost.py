"""The fixed cost of a run: a tokenizer.json folder is loaded without transformers or
torch, and gives the same prepared data, byte for byte, as the transformers loader; worker
processes start only for inputs that pay for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dataprep.prepare.encode import workers
from dataprep.prepare.encode.workers import POOL_MIN_BYTES, worker_count
from dataprep.prepare.identity import Input
from dataprep.prepare.pipeline import PrepareOptions, prepare
from dataprep.prepare.template import tokenizer as light

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples"
TINY = SAMPLES / "tiny-tokenizer"
HEAVY = ("torch", "transformers")

# Runs the CLI, then says which heavy modules the process imported.
_WRAPPER = (
    "import sys\n"
    "from dataprep.cli import main\n"
    "code = 0\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as e:\n"
    "    code = e.code or 0\n"
    f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _cli(args: list[str], cwd: Path) -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["prepare", "messages.jsonl", "--max-length", "512", "-o", "{out}"],
        ["prepare", "messages.jsonl", "--max-length", "512", "-o", "{out}",
         "--chat-template", "gemma3_training"],  # markers the tokenizer lacks are added
        ["prepare", "preference.jsonl", "--max-length", "512", "-o", "{out}"],
        ["prepare", "kto.jsonl", "--max-length", "512", "-o", "{out}"],
        ["prepare", "text.jsonl", "--max-length", "512", "-o", "{out}"],
        ["check-template"],
        ["check-template", "--chat-template", "gemma3_training"],
        ["stats", "messages.jsonl"],
    ],
)  # fmt: skip
def test_light_commands_import_neither_torch_nor_transformers(tmp_path, args):
    args = [a.replace("{out}", str(tmp_path / "out")) for a in args]
    code, _, stderr = _cli([*args, "--tokenizer", str(TINY)], cwd=SAMPLES)
    assert code == 0, stderr
    assert stderr.strip().splitlines()[-1] == "HEAVY=", stderr


def test_the_wrapper_sees_heavy_imports(tmp_path):
    """The control: a folder transformers must load does import it, and the probe says so."""
    folder = tmp_path / "tok"
    folder.mkdir()
    for file in TINY.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    config = orjson.loads((folder / "tokenizer_config.json").read_bytes())
    (folder / "tokenizer_config.json").write_bytes(
        orjson.dumps({**config, "tokenizer_class": "Qwen2Tokenizer"})
    )
    code, _, stderr = _cli(["check-template", "--tokenizer", str(folder)], cwd=SAMPLES)
    assert code == 0, stderr
    assert "transformers" in stderr.strip().splitlines()[-1]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "dataprep.json"
    }


def _manifest(folder: Path) -> dict:
    manifest = orjson.loads((folder / "dataprep.json").read_bytes())
    manifest.pop("seconds")
    return manifest


@pytest.mark.parametrize(
    ("sample", "extra"),
    [
        ("messages.jsonl", {}),
        ("messages.jsonl", {"chat_template": "gemma3_training"}),
        ("sharegpt.jsonl", {"eval_fraction": 0.3}),
        ("alpaca.jsonl", {"pack": False}),
        ("chatml.jsonl", {}),
        ("prompt-completion.jsonl", {}),
        ("preference.jsonl", {}),
        ("kto.jsonl", {}),
        ("text.jsonl", {}),
    ],
)
def test_light_and_transformers_loaders_prepare_the_same_bytes(
    tmp_path, monkeypatch, sample, extra
):
    calls = []
    real = light.load_light_tokenizer
    monkeypatch.setattr(light, "load_light_tokenizer", lambda p: calls.append(p) or real(p))

    def run(name: str) -> Path:
        options = PrepareOptions(
            inputs=[str(SAMPLES / sample)],
            tokenizer=str(TINY),
            max_length=512,
            output=str(tmp_path / name),
            **extra,
        )
        prepare(options)
        return tmp_path / name

    fast = run("light")
    assert calls, "the light loader was not used"
    monkeypatch.setattr(light, "light_refusal", lambda _: "forced by the test")
    calls.clear()
    slow = run("transformers")
    assert not calls
    assert _manifest(fast) == _manifest(slow)
    assert _files(fast) == _files(slow)


def test_train_accepts_data_prepared_by_the_light_loader(tmp_path):
    """train loads the model's tokenizer with transformers: the recorded vocabulary and
    added tokens must match it (``check_tokenizer``, ``restore_tokens``)."""
    from transformers import AutoTokenizer

    from train.data import check_tokenizer, load_prepared, restore_tokens, vocab_sha256

    out = tmp_path / "out"
    prepare(
        PrepareOptions(
            inputs=[str(SAMPLES / "messages.jsonl")],
            tokenizer=str(TINY),
            max_length=512,
            output=str(out),
            chat_template="gemma3_training",  # adds tokens, which train must add alike
        )
    )
    data = load_prepared(out, kind="sft")
    assert data.added_tokens  # else the added-token path is not exercised
    tokenizer = AutoTokenizer.from_pretrained(str(TINY))
    restore_tokens(data, tokenizer)
    recorded = orjson.loads((out / "dataprep.json").read_bytes())["tokenizer"]["vocab_sha256"]
    assert vocab_sha256(tokenizer) == recorded
    check_tokenizer(data, TINY, tokenizer)  # raises when refused


def _inputs(*sizes: int) -> list[Input]:
    return [Input(f"f{i}.jsonl", f"f{i}.jsonl", "", size, None) for i, size in enumerate(sizes)]


@pytest.mark.parametrize(
    ("requested", "sizes", "cores", "expected"),
    [
        (None, [50_000], 16, 1),  # a small file: no pool whatever the cores
        (None, [POOL_MIN_BYTES - 1], 16, 1),
        (None, [POOL_MIN_BYTES // 2, POOL_MIN_BYTES // 2], 16, 1),  # summed: still one
        (None, [2 * POOL_MIN_BYTES], 16, 2),  # one worker per POOL_MIN_BYTES
        (None, [2 * POOL_MIN_BYTES], 1, 1),  # never more than the cores
        (None, [1000 * POOL_MIN_BYTES], 64, workers.POOL_MAX_WORKERS),
        (4, [50_000], 1, 4),  # --num-proc given: honoured
        (1, [1000 * POOL_MIN_BYTES], 64, 1),
    ],
)
def test_worker_count(monkeypatch, requested, sizes, cores, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(cores)), raising=False)
    assert worker_count(requested, _inputs(*sizes)) == expected


def test_pipeline_asks_worker_count(tmp_path, monkeypatch):
    """prepare's pool follows worker_count, not the option alone."""
    started = []
    monkeypatch.setattr(workers, "POOL_MIN_BYTES", 1)  # every input is "large"
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    import dataprep.prepare.pipeline as pipeline

    real = pipeline.run_pool
    monkeypatch.setattr(
        pipeline, "run_pool", lambda job, n, *a: started.append(n) or real(job, n, *a)
    )
    options = PrepareOptions(
        inputs=[str(SAMPLES / "messages.jsonl")],
        tokenizer=str(TINY),
        max_length=512,
        output=str(tmp_path / "out"),
    )
    prepare(options)
    assert started == [2]
