"""``train eval --generate N``: answers to held-out prompts, beside their references.

The prompts come from the prepared data itself, so they are rendered exactly as in
training: for SFT data, a document's tokens up to its first trained token (the
reference is that trained span: the answer, with the tokens that end its turn); for DPO
and KTO data, ``prompt_ids`` (the reference is the chosen answer, or a desirable one).
The eval split is used first, then train. Decoding is greedy, up to
``max_new_tokens``, stopping at the tokenizer's or the model's end-of-sequence tokens.
Written as JSON Lines: ``{"prompt", "reference", "generated", "source"}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dataprep.contract import IGNORE_INDEX
from train import say
from train.data import PreparedData


@dataclass
class Prompt:
    split: str
    prompt_ids: list[int]
    reference_ids: list[int]


def progress(total: int, desc: str) -> Any:
    """A progress bar over ``total`` batches, on stderr, from the main process only."""
    from tqdm.auto import tqdm

    from train import is_main_process

    return tqdm(
        total=total, desc=desc, unit="batch", file=sys.stderr, disable=not is_main_process()
    )


def first_span(labels: np.ndarray) -> tuple[int, int] | None:
    """(start, end) of the first run of trained positions, or None when nothing is
    trained or the first trained token opens the document (no prompt before it).

    >>> first_span(np.array([-100, -100, 5, 6, -100, 7])), first_span(np.array([5, 6]))
    ((2, 4), None)
    """
    trained = np.flatnonzero(labels != IGNORE_INDEX)
    if len(trained) == 0 or trained[0] == 0:
        return None
    start = int(trained[0])
    after = np.flatnonzero(labels[start:] == IGNORE_INDEX)
    end = start + int(after[0]) if len(after) else len(labels)
    return start, end


def sft_prompts(split: Any, name: str) -> Iterator[Prompt]:
    packed = "seq_lengths" in split.column_names
    for row in split:
        ids, labels = np.asarray(row["input_ids"]), np.asarray(row["labels"])
        lengths = row["seq_lengths"] if packed else [len(ids)]
        start = 0
        for length in lengths:
            doc_ids, doc_labels = ids[start : start + length], labels[start : start + length]
            start += length
            span = first_span(doc_labels)
            if span is not None:
                yield Prompt(name, doc_ids[: span[0]].tolist(), doc_ids[span[0] : span[1]].tolist())


def preference_prompts(split: Any, name: str, kind: str) -> Iterator[Prompt]:
    if kind == "dpo":
        for row in split:
            yield Prompt(name, row["prompt_ids"], row["chosen_ids"])
        return
    # KTO: the desirable answers are the references worth reading; the others after.
    for wanted in (True, False):
        for row in split:
            if bool(row["label"]) is wanted:
                yield Prompt(name, row["prompt_ids"], row["completion_ids"])


def held_out_prompts(data: PreparedData, count: int) -> list[Prompt]:
    """Up to ``count`` prompts: the eval split's first, then the train split's."""
    splits = [("eval", data.eval), ("train", data.train)]
    found: list[Prompt] = []
    for name, split in splits:
        if split is None:
            continue
        source = (
            sft_prompts(split, name)
            if data.kind == "sft"
            else preference_prompts(split, name, data.kind)
        )
        for prompt in source:
            if len(found) == count:
                return found
            found.append(prompt)
    return found


def stop_ids(tokenizer: Any, model: Any) -> list[int]:
    """The tokens that end an answer: the tokenizer's EOS and the model's generation
    config's (often several: end of text, end of turn)."""
    ids: list[int] = []
    config = getattr(model, "generation_config", None)
    for value in (tokenizer.eos_token_id, getattr(config, "eos_token_id", None)):
        for token in value if isinstance(value, list) else [value]:
            if isinstance(token, int) and token not in ids:
                ids.append(token)
    return ids


def generate(
    model: Any,
    prompts: list[list[int]],
    *,
    stop: list[int],
    pad_id: int,
    max_new_tokens: int,
    batch_size: int,
    device: str,
    on_batch: Callable[[], None] = lambda: None,
) -> list[list[int]]:
    """Greedy continuations of ``prompts`` (left-padded batches), each cut after its
    first stop token (which is left out)."""
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=stop or None,
        pad_token_id=pad_id,
    )
    out: list[list[int]] = []
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start : start + batch_size]
            width = max(len(p) for p in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, prompt in enumerate(batch):
                ids[row, width - len(prompt) :] = torch.as_tensor(prompt, dtype=torch.long)
                attention[row, width - len(prompt) :] = 1
            generated = model.generate(
                input_ids=ids.to(device),
                attention_mask=attention.to(device),
                generation_config=config,
            )
            for row in generated[:, width:].tolist():
                cut = next((i for i, token in enumerate(row) if token in stop), len(row))
                out.append(row[:cut])
            on_batch()
    return out


def run_generation(
    model: Any,
    tokenizer: Any,
    data: PreparedData,
    *,
    count: int,
    max_new_tokens: int,
    batch_size: int,
    device: str,
    path: Path,
    source: Callable[[str], str | None],
) -> Path:
    """Generate for ``count`` held-out prompts and write them to ``path`` (JSON Lines)."""
    from train.outputs import writing_errors

    prompts = held_out_prompts(data, count)
    splits = sorted({p.split for p in prompts}, key=["eval", "train"].index)
    say(
        f"generating for {len(prompts)} prompts of the {' and '.join(splits)} split"
        f"{'s' if len(splits) > 1 else ''} (greedy, at most {max_new_tokens} new tokens)"
    )
    batches = -(-len(prompts) // batch_size)
    with progress(batches, "generate") as bar:
        answers = generate(
            model,
            [p.prompt_ids for p in prompts],
            stop=stop_ids(tokenizer, model),
            pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            device=device,
            on_batch=lambda: bar.update(1),
        )
    with writing_errors(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for prompt, answer in zip(prompts, answers, strict=True):
                record = {
                    "prompt": tokenizer.decode(prompt.prompt_ids),
                    "reference": tokenizer.decode(prompt.reference_ids, skip_special_tokens=True),
                    "generated": tokenizer.decode(answer, skip_special_tokens=True),
                    "source": source(prompt.split),
                }
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    say(f"generations: {path}")
    return path
