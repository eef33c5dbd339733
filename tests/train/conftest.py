"""Prepared folders for the train tests, made by the real ``dataprep prepare`` from rows
written here, with the tiny tokenizer; ``write_by_hand`` makes the broken folders that
prepare never writes.

The conversations are arithmetic in one fixed answer shape, which the tiny random model
learns within a few dozen steps; the preference pairs prefer the right sum, and so do the
KTO answers (the right sum desirable, a wrong one not).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[2]
TINY_MODEL = ROOT / "samples" / "tiny-model"
TINY_TOKENIZER = ROOT / "samples" / "tiny-tokenizer"
NAMES = ["Ada", "Bo", "Cy", "Di", "Eve", "Fa", "Gus", "Hal"]


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    return TINY_MODEL


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Path:
    return TINY_TOKENIZER


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TINY_TOKENIZER))


def conversations(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        question = f"{rng.choice(NAMES)} asks: what is {a} plus {b}?"
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": f"{a} plus {b} is {a + b}."},
                ]
            }
        )
    return rows


def preferences(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        wrong = a + b + rng.randint(1, 5)
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"What is {a} plus {b}?"}],
                "chosen": [{"role": "assistant", "content": f"It is {a + b}."}],
                "rejected": [{"role": "assistant", "content": f"It is {wrong}."}],
            }
        )
    return rows


def kto_answers(count: int, seed: int) -> list[dict]:
    """LLaMA-Factory's KTO shape (messages and a boolean label): ``count`` right sums
    labelled desirable, then ``count`` wrong ones labelled undesirable, grouped as files
    put together from two sources often are."""
    rng = random.Random(seed)
    good, bad = [], []
    for _ in range(count):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        question = {"role": "user", "content": f"What is {a} plus {b}?"}
        answer = {"role": "assistant", "content": f"It is {a + b}."}
        good.append({"messages": [question, answer], "label": True})
        wrong = {"role": "assistant", "content": f"It is {a + b + rng.randint(1, 5)}."}
        bad.append({"messages": [question, wrong], "label": False})
    return good + bad


def prepare_rows(folder: Path, rows: list[dict], **options) -> Path:
    """``dataprep prepare`` on ``rows`` (written as JSON Lines) into ``folder``."""
    from dataprep.prepare.pipeline import PrepareOptions, prepare

    source = folder.with_suffix(".jsonl")
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    options.setdefault("max_length", 256)
    prepare(
        PrepareOptions(
            inputs=[str(source)], tokenizer=str(TINY_TOKENIZER), output=str(folder), **options
        )
    )
    return folder


def write_by_hand(path: Path, kind: str, train: dict[str, list], *, packing: bool = False) -> Path:
    """A folder in the prepared layout with any columns and manifest, for the refusals."""
    import datasets

    from dataprep.prepare.identity import tokenizer_identity

    features = datasets.Features({name: datasets.List(datasets.Value("int32")) for name in train})
    datasets.Dataset.from_dict(train, features=features).save_to_disk(str(path))
    manifest = {
        "kind": kind,
        "tokenizer": tokenizer_identity(str(TINY_TOKENIZER)),
        "packing": packing,
    }
    (path / "dataprep.json").write_text(json.dumps(manifest))
    return path


@pytest.fixture(scope="session")
def make_by_hand():
    return write_by_hand


@pytest.fixture(scope="session")
def sft_data(tmp_path_factory) -> Path:
    """64 conversations, one per row."""
    return prepare_rows(
        tmp_path_factory.mktemp("prepared") / "sft", conversations(64, 0), pack=False
    )


@pytest.fixture(scope="session")
def sft_packed(tmp_path_factory) -> Path:
    """64 conversations packed into rows of at most 96 tokens, with seq_lengths."""
    folder = tmp_path_factory.mktemp("prepared") / "sft-packed"
    return prepare_rows(folder, conversations(64, 0), pack=True, max_length=96)


@pytest.fixture(scope="session")
def sft_with_eval(tmp_path_factory) -> Path:
    """Conversations with an eval split, as --eval-fraction makes it."""
    folder = tmp_path_factory.mktemp("prepared") / "sft-eval"
    return prepare_rows(folder, conversations(64, 1), pack=False, eval_fraction=0.2)


@pytest.fixture(scope="session")
def dpo_data(tmp_path_factory) -> Path:
    """32 pairs: the right sum chosen, a wrong one rejected."""
    return prepare_rows(tmp_path_factory.mktemp("prepared") / "dpo", preferences(32, 2), kind="dpo")


@pytest.fixture(scope="session")
def dpo_with_eval(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("prepared") / "dpo-eval"
    return prepare_rows(folder, preferences(40, 3), kind="dpo", eval_fraction=0.2)


@pytest.fixture(scope="session")
def prepare_conversations():
    """``prepare_conversations(folder, count, **options)``: real prepare on new conversations."""
    return lambda folder, count, **options: prepare_rows(folder, conversations(count, 5), **options)


@pytest.fixture(scope="session")
def kto_data(tmp_path_factory) -> Path:
    """32 desirable answers then 32 undesirable ones; the kind comes from the data."""
    return prepare_rows(tmp_path_factory.mktemp("prepared") / "kto", kto_answers(32, 4))


@pytest.fixture(scope="session")
def kto_with_eval(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("prepared") / "kto-eval"
    return prepare_rows(folder, kto_answers(20, 6), eval_fraction=0.2)


# A short LoRA run with a checkpoint every 2 steps: the resume and kill tests copy it.
SHORT_RUN = {
    "max_steps": 4,
    "save_steps": 2,
    "logging_steps": 1,
    "per_device_train_batch_size": 3,
    "learning_rate": 3e-3,
    "disable_tqdm": True,
}


def make_short_run_config(**changes):
    from train.config import RunConfig

    return RunConfig(
        model=str(TINY_MODEL), tokenizer=str(TINY_TOKENIZER), trl={**SHORT_RUN, **changes}
    )


@pytest.fixture(scope="session")
def short_run_config():
    """``short_run_config(**changes)``: the RunConfig of ``finished_run`` (``.trl`` holds
    its TRL settings)."""
    return make_short_run_config


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, sft_packed) -> Path:
    """``SHORT_RUN`` on the packed SFT data, finished: checkpoint-2, checkpoint-4 and the
    final save. Copy it before changing anything."""
    import warnings

    from train.sft import run_sft

    output = tmp_path_factory.mktemp("runs") / "short"
    with warnings.catch_warnings():
        # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        run_sft(sft_packed, make_short_run_config(), output)
    return output
