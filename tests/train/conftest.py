"""Prepared folders for the train tests, built in one place.

They follow the contract of ``dataprep prepare`` (DESIGN.md, "The output of prepare"):
an Arrow folder ``datasets.load_from_disk`` opens, ``list<int32>`` columns, and a
``dataprep.json`` with kind, tokenizer (name and sha256), chat template, max length,
packing and fingerprint. The rows are rendered with the tiny tokenizer's own chat
template; labels train the assistant turns with their end-of-turn token, never the
header. ``write_prepared`` is the one function to switch to the real ``dataprep
prepare`` once it is there.
"""

from __future__ import annotations

import hashlib
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


def conversation(rng: random.Random) -> list[dict[str, str]]:
    """A short exchange a tiny model learns quickly: the same answer shape every time."""
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    name = rng.choice(NAMES)
    return [
        {"role": "user", "content": f"{name} asks: what is {a} plus {b}?"},
        {"role": "assistant", "content": f"{a} plus {b} is {a + b}."},
    ]


def tokenize_conversation(tokenizer, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """ids and labels of one rendered conversation: assistant turns trained, from the first
    token after their header through the end-of-turn token."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    trained_spans, cursor = [], 0
    for message in messages:
        if message["role"] != "assistant":
            continue
        start = text.index("<|im_start|>assistant\n", cursor) + len("<|im_start|>assistant\n")
        end = text.index("<|im_end|>", start) + len("<|im_end|>")
        trained_spans.append((start, end))
        cursor = end
    labels = [
        token if any(s <= begin and finish <= e for s, e in trained_spans) else -100
        for token, (begin, finish) in zip(
            encoded["input_ids"], encoded["offset_mapping"], strict=True
        )
    ]
    return encoded["input_ids"], labels


def pack(rows: list[tuple[list[int], list[int]]], max_length: int) -> dict[str, list]:
    """First-fit packing in order; documents are never split."""
    packed: dict[str, list] = {"input_ids": [], "labels": [], "seq_lengths": []}
    for ids, labels in rows:
        if packed["input_ids"] and len(packed["input_ids"][-1]) + len(ids) <= max_length:
            packed["input_ids"][-1] += ids
            packed["labels"][-1] += labels
            packed["seq_lengths"][-1].append(len(ids))
        else:
            packed["input_ids"].append(list(ids))
            packed["labels"].append(list(labels))
            packed["seq_lengths"].append([len(ids)])
    return packed


def write_prepared(
    path: Path,
    kind: str,
    train: dict[str, list],
    evaluation: dict[str, list] | None = None,
    *,
    packing: bool = False,
    max_length: int = 256,
    tokenizer_dir: Path = TINY_TOKENIZER,
) -> Path:
    """A prepared folder as ``dataprep prepare`` writes it."""
    import datasets

    from train.data import tokenizer_sha256

    features = datasets.Features({name: datasets.List(datasets.Value("int32")) for name in train})
    splits = {"train": datasets.Dataset.from_dict(train, features=features)}
    if evaluation is not None:
        splits["eval"] = datasets.Dataset.from_dict(evaluation, features=features)
        datasets.DatasetDict(splits).save_to_disk(str(path))
    else:
        splits["train"].save_to_disk(str(path))
    template = (tokenizer_dir / "chat_template.jinja").read_bytes()
    manifest = {
        "kind": kind,
        "tokenizer": {
            "name_or_path": str(tokenizer_dir),
            "sha256": tokenizer_sha256(tokenizer_dir),
        },
        "chat_template": {"name": "tokenizer", "sha256": hashlib.sha256(template).hexdigest()},
        "max_length": max_length,
        "packing": packing,
        "counts": {"rows_out": len(next(iter(train.values())))},
    }
    manifest["fingerprint"] = hashlib.sha256(
        json.dumps(manifest, sort_keys=True).encode()
    ).hexdigest()
    (path / "dataprep.json").write_text(json.dumps(manifest, indent=2))
    return path


def sft_rows(tokenizer, count: int, seed: int) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    return [tokenize_conversation(tokenizer, conversation(rng)) for _ in range(count)]


def columns(rows: list[tuple[list[int], list[int]]]) -> dict[str, list]:
    return {"input_ids": [ids for ids, _ in rows], "labels": [labels for _, labels in rows]}


@pytest.fixture(scope="session")
def sft_data(tmp_path_factory, tokenizer) -> Path:
    """64 conversations, one per row."""
    path = tmp_path_factory.mktemp("prepared") / "sft"
    return write_prepared(path, "sft", columns(sft_rows(tokenizer, 64, seed=0)))


@pytest.fixture(scope="session")
def sft_packed(tmp_path_factory, tokenizer) -> Path:
    """64 conversations packed into rows of at most 96 tokens, with seq_lengths."""
    path = tmp_path_factory.mktemp("prepared") / "sft-packed"
    return write_prepared(
        path, "sft", pack(sft_rows(tokenizer, 64, seed=0), 96), packing=True, max_length=96
    )


@pytest.fixture(scope="session")
def sft_with_eval(tmp_path_factory, tokenizer) -> Path:
    """48 training conversations and 8 held out, as --eval-fraction writes them."""
    path = tmp_path_factory.mktemp("prepared") / "sft-eval"
    rows = sft_rows(tokenizer, 56, seed=1)
    return write_prepared(path, "sft", columns(rows[:48]), columns(rows[48:]))


def preference_rows(tokenizer, count: int, seed: int) -> dict[str, list]:
    """Right sums chosen, wrong sums rejected; completions without the prompt."""
    rng = random.Random(seed)
    data: dict[str, list] = {"prompt_ids": [], "chosen_ids": [], "rejected_ids": []}
    for _ in range(count):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": f"What is {a} plus {b}?"}],
            tokenize=False,
            add_generation_prompt=True,
        )
        data["prompt_ids"].append(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        for column, total in (("chosen_ids", a + b), ("rejected_ids", a + b + rng.randint(1, 5))):
            data[column].append(
                tokenizer(f"It is {total}.<|im_end|>\n", add_special_tokens=False)["input_ids"]
            )
    return data


@pytest.fixture(scope="session")
def dpo_data(tmp_path_factory, tokenizer) -> Path:
    path = tmp_path_factory.mktemp("prepared") / "dpo"
    return write_prepared(path, "dpo", preference_rows(tokenizer, 32, seed=2))


@pytest.fixture(scope="session")
def dpo_with_eval(tmp_path_factory, tokenizer) -> Path:
    path = tmp_path_factory.mktemp("prepared") / "dpo-eval"
    return write_prepared(
        path, "dpo", preference_rows(tokenizer, 24, seed=3), preference_rows(tokenizer, 8, seed=4)
    )


@pytest.fixture(scope="session")
def make_prepared():
    """``write_prepared`` itself, for tests that need a folder of their own."""
    return write_prepared


@pytest.fixture(scope="session")
def sft_columns(tokenizer):
    """``count`` tokenized conversations as SFT columns."""
    return lambda count, seed=0: columns(sft_rows(tokenizer, count, seed))
