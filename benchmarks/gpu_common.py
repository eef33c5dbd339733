"""Shared pieces of the GPU benchmark: model shapes, seeded data, timing, FLOP counts.

Everything here is deterministic given a seed, so every arm of one run sees the same
model weights and the same token ids.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

# Dense bf16 tensor-core peak of an H100/H200 SXM by the datasheet; MFU is quoted against it.
PEAK_FLOPS = 989e12
GIB = 1024**3

SHAPES: dict[str, dict[str, Any]] = {
    # Llama-3.2-1B
    "llama-1b": dict(
        vocab_size=128256,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=64,
        tie_word_embeddings=True,
        max_position_embeddings=131072,
    ),
    # Llama-3.1-8B
    "llama-8b": dict(
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        tie_word_embeddings=False,
        max_position_embeddings=131072,
    ),
    # For trying the script on a CPU.
    "tiny": dict(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        tie_word_embeddings=True,
        max_position_embeddings=4096,
    ),
}


def llama_config(shape: str) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(**SHAPES[shape], pad_token_id=0, bos_token_id=1, eos_token_id=1)


def matmul_params(shape: str) -> int:
    """Parameters that take part in a matmul per token: the layers plus the LM head.

    The input embedding is a lookup, so a tied embedding counts once (as the head).
    """
    s = SHAPES[shape]
    d, hd = s["hidden_size"], s["head_dim"]
    q, kv = s["num_attention_heads"] * hd, s["num_key_value_heads"] * hd
    layer = d * q + 2 * d * kv + q * d + 3 * d * s["intermediate_size"]
    return s["num_hidden_layers"] * layer + s["vocab_size"] * d


def mfu(tokens_per_s: float, shape: str) -> dict[str, float]:
    """MFU under both conventions: 6N (full fine-tune: forward 2N, backward 4N) and 4N
    (frozen weights, as in LoRA: backward computes input gradients only). Attention's own
    FLOPs are not counted in either."""
    n = matmul_params(shape)
    return {
        "mfu_6n": tokens_per_s * 6 * n / PEAK_FLOPS,
        "mfu_4n": tokens_per_s * 4 * n / PEAK_FLOPS,
    }


def lognormal_lengths(
    n: int, seed: int, median: float, sigma: float, low: int, high: int
) -> list[int]:
    rng = np.random.default_rng(seed)
    lengths = rng.lognormal(mean=math.log(median), sigma=sigma, size=n)
    return np.clip(lengths.round(), low, high).astype(int).tolist()


def random_ids(rng: np.random.Generator, length: int, vocab: int) -> list[int]:
    # Ids 0 and 1 are pad and eos in the stand-in tokenizer; documents never contain them.
    return rng.integers(2, vocab, size=length).tolist()


def sft_rows(n: int, seed: int, vocab: int, max_len: int = 4096) -> list[dict[str, list[int]]]:
    """Chat-like documents: lognormal lengths, median 500, capped at ``max_len``."""
    rng = np.random.default_rng(seed + 1)
    lengths = lognormal_lengths(n, seed, median=500, sigma=1.0, low=16, high=max_len)
    return [{"input_ids": random_ids(rng, length, vocab)} for length in lengths]


def dpo_rows(n: int, seed: int, vocab: int, max_len: int = 1024) -> list[dict[str, list[int]]]:
    """Preference pairs: prompt median 200 tokens, each answer median 150, pair within max_len."""
    rng = np.random.default_rng(seed + 1)
    prompts = lognormal_lengths(n, seed, median=200, sigma=0.8, low=8, high=max_len // 2)
    chosen = lognormal_lengths(n, seed + 2, median=150, sigma=0.8, low=4, high=max_len // 2)
    rejected = lognormal_lengths(n, seed + 3, median=150, sigma=0.8, low=4, high=max_len // 2)
    return [
        {
            "prompt_ids": random_ids(rng, p, vocab),
            "chosen_ids": random_ids(rng, c, vocab),
            "rejected_ids": random_ids(rng, r, vocab),
        }
        for p, c, r in zip(prompts, chosen, rejected, strict=True)
    ]


def stand_in_tokenizer() -> Any:
    """A tokenizer with just pad and eos: the data is pre-tokenized, TRL only needs the ids."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>")),
        pad_token="<pad>",
        eos_token="<eos>",
        unk_token="<unk>",
    )


def counting(trainer_cls: type) -> type:
    """A subclass of a TRL trainer that records the real (non-pad) tokens of every step."""

    class Counting(trainer_cls):  # type: ignore[misc, valid-type]
        def training_step(self, model: Any, inputs: dict[str, Any], *args: Any, **kw: Any) -> Any:
            mask = inputs.get("attention_mask")
            real = int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            self.token_log.append((self.state.global_step, real))
            return super().training_step(model, inputs, *args, **kw)

    Counting.token_log = []  # type: ignore[attr-defined]
    Counting.__name__ = f"Counting{trainer_cls.__name__}"
    return Counting


def step_timer(warmup: int, measured: int) -> Any:
    """A callback timing steps ``warmup+1 .. warmup+measured`` with device syncs at both ends,
    and keeping every log line (loss and TRL's metrics)."""
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.start: float | None = None
            self.end: float | None = None
            self.step_times: list[float] = []
            self.logs: list[dict[str, Any]] = []
            self._last = 0.0

        def _now(self) -> float:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            step = state.global_step
            if step == warmup:
                self.start = self._last = self._now()
            elif warmup < step <= warmup + measured:
                now = self._now()
                self.step_times.append(now - self._last)
                self._last = now
                if step == warmup + measured:
                    self.end = now
                    control.should_training_stop = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs:
                self.logs.append({"step": state.global_step, **logs})

    return StepTimer()


def summarise(
    timer: Any, token_log: list[tuple[int, int]], warmup: int, measured: int, shape: str
) -> dict[str, Any]:
    import torch

    tokens = sum(n for step, n in token_log if warmup <= step < warmup + measured)
    seconds = (timer.end or float("nan")) - (timer.start or float("nan"))
    rate = tokens / seconds if seconds > 0 else float("nan")
    out: dict[str, Any] = {
        "tokens_per_s": rate,
        "measured_steps": measured,
        "warmup_steps": warmup,
        "measured_tokens": tokens,
        "tokens_per_step": tokens / measured if measured else 0,
        "seconds": seconds,
        "step_seconds": timer.step_times,
        **mfu(rate, shape),
        "first_logs": timer.logs[:3],
    }
    losses = [log["loss"] for log in timer.logs if "loss" in log]
    out["first_step_loss"] = losses[0] if losses else None
    if torch.cuda.is_available():
        out["peak_alloc_gib"] = torch.cuda.max_memory_allocated() / GIB
        out["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / GIB
    return out


# What a GPU result depends on; each result file records the versions it ran with.
PACKAGES = ("torch", "transformers", "trl", "datasets", "peft", "accelerate", "liger-kernel",
            "bitsandbytes", "triton", "orjson")  # fmt: skip


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """The installed version of each package (None where it is not installed)."""
    import importlib.metadata as md

    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return versions


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, default=str))
