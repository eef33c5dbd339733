"""Issue 5: the real `train sft` / `train dpo` commands on the GPU, on data from the real
`dataprep prepare`.

``bench_gpu.py`` times TRL's trainers built in-process; this script runs what a user runs,
as a subprocess, and reads the throughput from the trainer's own log lines (TRL's
``num_tokens``: real tokens, padding never counted; padding-free rows have none). Two steps:

    # here, on a CPU: seeded chat data, a byte-level BPE tokenizer, `dataprep prepare`
    python benchmarks/gpu_train_cli.py build --dir .bench_cli
    # on the GPU machine: a random-init Llama-3.2-1B-shaped model, then every arm
    python benchmarks/gpu_train_cli.py run --dir .bench_cli --out $OUT
    # accelerate launch -m train sft with each shipped config (DDP + LoRA, FSDP2 + full)
    python benchmarks/gpu_train_cli.py launch --dir .bench_cli --out $OUT --num-processes 2
    # the whole thing on a CPU with a tiny model, to try the script first
    python benchmarks/gpu_train_cli.py build --dir /tmp/cli-tiny --tiny
    python benchmarks/gpu_train_cli.py run --dir /tmp/cli-tiny --out /tmp/cli-out --tiny
    # issue 11: train orpo / simpo / reward against TRL's own trainers on the same pairs
    python benchmarks/gpu_train_cli.py run --dir .bench_cli --out $OUT --arms pairs

Arms (``--arms``, in this order by default): ``sft_bf16`` (``--set model_dtype=bfloat16
--set activation_checkpointing=false``: the issue's setup), ``sft_fp32_master`` (the
default fp32 master weights, activation checkpointing off), ``dpo_bf16`` (``train dpo
--full`` with bf16 weights through ``model_init_kwargs``), ``sft_defaults`` (nothing set:
fp32 masters and activation checkpointing, what ``train sft --full`` does by default);
outside the default list, ``sft_bf16_all`` and ``sft_fp32_master_all`` train every token.

Issue 11 (``--arms pairs``): ``train orpo``, ``train simpo`` and ``train reward`` with
``--full``, bf16 weights and no activation checkpointing, each beside TRL's own trainer
(``ORPOTrainer``, ``CPOTrainer`` with the simpo loss, ``RewardTrainer``) built from the raw
pairs (``pairs.jsonl``, kept by ``build``) with TRL's own tokenization, the same model,
weights dtype, batch, steps and settings, sdpa attention (``python gpu_train_cli.py trl``,
one process per arm). ORPO and CPO log no ``num_tokens`` in TRL 1.16: both arms log it
through ``train.pair_batches.CountsTokens`` (non-padding tokens of the chosen and
rejected sequences, the prompt with each), which only counts. TRL's own path adds an EOS
after each answer and drops nothing; ``prepare`` applied its length policy: the token
counts of a step differ a little, the rate is per real token in both.

Timing: the arrival of the log line of step ``warmup`` to that of the last step (each line
is printed after its step's loss is read back, so the GPU is done with the step). Peak
memory: the device's used memory sampled through NVML every 0.1 s (so it includes the CUDA
context and PyTorch's cached blocks: about ``max_memory_reserved`` + 0.5 GiB).
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import gpu_common as common  # noqa: E402

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# The GPU engineer's "ours" arm: 8 packed rows of 4096 tokens a step (about 32.7k tokens).
FULL = dict(
    shape="llama-1b", max_length=4096, dpo_max_length=1024, batch=8, steps=20, warmup=4,
    sft_size_mb=5.0, dpo_pairs=400, tokenizer_mb=4.0, vocab=32000, exchanges=(1, 2),
)  # fmt: skip
TINY = dict(
    shape="tiny", max_length=1024, dpo_max_length=1024, batch=2, steps=4, warmup=1,
    sft_size_mb=0.3, dpo_pairs=24, tokenizer_mb=0.3, vocab=500, exchanges=(1,),
)  # fmt: skip

# name -> (command, prepared folder, --set items)
ARMS: dict[str, tuple[str, str, list[str]]] = {
    "sft_bf16": ("sft", "sft", ["model_dtype=bfloat16", "activation_checkpointing=false"]),
    "sft_fp32_master": ("sft", "sft", ["activation_checkpointing=false"]),
    "dpo_bf16": (
        "dpo",
        "dpo",
        ["model_init_kwargs.dtype=bfloat16", "activation_checkpointing=false"],
    ),
    "sft_defaults": ("sft", "sft", []),
    # Every token trained (`prepare --mask all`), as in bench_gpu's pre-tokenized rows: TRL's
    # fused LM head scores only the trained positions, so the assistant-only mask skips part
    # of the LM head's work, and these arms take that difference out of the comparison.
    "sft_bf16_all": ("sft", "sft_all", ["model_dtype=bfloat16", "activation_checkpointing=false"]),
    "sft_fp32_master_all": ("sft", "sft_all", ["activation_checkpointing=false"]),
}
# Issue 11, defaults: nothing set (no batch size either: TRL's 8), so activation
# checkpointing, the weights' dtype and micro-batches follow train's memory estimate; and
# TRL's own SFT (packed, padding-free, flex attention) and DPO trainers on the same rows.
ARMS["dpo_defaults"] = ("dpo", "dpo", [])
ARMS["lora8b_defaults"] = ("sft", "sft", [])
ARMS["sft_trl"] = ("trl:sft", "chats.jsonl", [])
ARMS["dpo_trl"] = ("trl:dpo", "pairs.jsonl", [])
# Arms on another model than the settings' shape, and arms that train an adapter.
ARM_SHAPES = {"lora8b_defaults": "llama-8b"}
ARM_LORA = {"lora8b_defaults"}
# Issue 11: ours ("train orpo" ...) and TRL's own trainer ("trl:orpo") on the same pairs.
PAIR_SETS = ["model_dtype=bfloat16", "activation_checkpointing=false"]
for _method in ("orpo", "simpo", "reward"):
    ARMS[f"{_method}_bf16"] = (_method, "dpo", PAIR_SETS)
    ARMS[f"{_method}_trl"] = (f"trl:{_method}", "pairs.jsonl", [])
# Issue 11, what the defaults should be: the same runs with Liger's kernels chosen another
# way (TRAIN_LIGER_KERNELS, `train.fastpath`'s measuring knob) and LoRA without dropout.
ARM_ENV: dict[str, dict[str, str]] = {}
for _base in ("dpo_defaults", "sft_defaults"):
    for _suffix, _kernels in (("noliger", ""), ("norm_swiglu", "rms_norm,swiglu")):
        ARMS[f"{_base}_{_suffix}"] = ARMS[_base]
        ARM_ENV[f"{_base}_{_suffix}"] = {"TRAIN_LIGER_KERNELS": _kernels}
# The same DPO run again: Triton's on-disk cache warm (no kernel compiled mid-run), and
# with the CUDA allocator's expandable segments (batches of varying length).
ARMS["dpo_defaults_warm"] = ARMS["dpo_defaults"]
ARMS["dpo_defaults_expandable"] = ARMS["dpo_defaults"]
ARM_ENV["dpo_defaults_expandable"] = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
ARMS["lora8b_dropout0"] = ("sft", "sft", ["lora.dropout=0"])
ARM_SHAPES["lora8b_dropout0"] = "llama-8b"
ARM_LORA.add("lora8b_dropout0")
# Arms that leave TRL's batch size alone too (train may split it into micro-batches).
NOTHING_SET = {n for n, (kind, _, sets) in ARMS.items() if not sets and ":" not in kind}
ARM_GROUPS = {
    "pairs": [f"{m}_{side}" for m in ("orpo", "simpo", "reward") for side in ("bf16", "trl")],
    "defaults": ["sft_defaults", "sft_trl", "dpo_defaults", "dpo_trl"],
}


# ---------------------------------------------------------------------------------------------
# build: on a CPU, before the device call


def chat_rows(size_mb: float, exchanges: tuple[int, ...], seed: int) -> list[dict[str, Any]]:
    """``gen_chat``'s conversations cut to the first 1-3 exchanges, so that documents have
    chat-like lengths (median about 500 tokens) rather than 1-8 exchanges of up to 4000
    characters each."""
    import gen_chat

    rng = random.Random(seed)
    texts = gen_chat._Texts(random.Random(seed))
    rows, size = [], 0
    while size < size_mb * 1e6:
        row = gen_chat._row(len(rows), rng, texts)
        keep, answers = [], 0
        wanted = rng.choice(exchanges)
        for message in row["messages"]:
            keep.append(message)
            if message["role"] == "assistant" and message.get("content"):
                answers += 1
                if answers == wanted:
                    break
        row["messages"] = keep
        rows.append(row)
        size += len(json.dumps(row))
    return rows


def preference_rows(rows: list[dict[str, Any]], count: int, seed: int) -> list[dict[str, Any]]:
    """Pairs from the conversations: the last answer chosen, another row's answer rejected."""
    rng = random.Random(seed)
    pairs = []
    for row in rows[:count]:
        messages = row["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        other = rng.choice(rows)["messages"]
        wrong = next(m for m in reversed(other) if m["role"] == "assistant" and m.get("content"))
        pairs.append(
            {
                "prompt": messages[:last],
                "chosen": [messages[last]],
                "rejected": [{"role": "assistant", "content": wrong["content"]}],
            }
        )
    return pairs


def build_tokenizer(rows: list[dict[str, Any]], folder: Path, vocab: int, size_mb: float) -> None:
    """A byte-level BPE on the rows' text with the ChatML template of the sample tokenizer.
    Its ids stay far below the model's 128256 rows, which changes nothing in the cost."""
    import build_tiny
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts, size = [], 0
    for row in rows:
        for message in row["messages"]:
            if message.get("content") and size < size_mb * 1e6:
                texts.append(message["content"])
                size += len(message["content"])
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=131072,
    )
    wrapped.chat_template = build_tiny.CHAT_TEMPLATE
    shutil.rmtree(folder, ignore_errors=True)
    wrapped.save_pretrained(folder)


def prepare(source: Path, tokenizer: Path, output: Path, max_length: int, *extra: str) -> dict:
    """The real `dataprep prepare`, as a user runs it; returns its manifest."""
    command = [
        sys.executable, "-m", "dataprep", "prepare", str(source), "--tokenizer", str(tokenizer),
        "--max-length", str(max_length), "-o", str(output), "--force", *extra,
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads((output / "dataprep.json").read_text())


def build(folder: Path, tiny: bool) -> dict[str, Any]:
    s = TINY if tiny else FULL
    sys.path.insert(0, str(ROOT / "samples"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = chat_rows(s["sft_size_mb"], s["exchanges"], seed=0)
    build_tokenizer(rows, folder / "tokenizer", s["vocab"], s["tokenizer_mb"])
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"gpu_train_cli_{os.getpid()}"
    scratch.mkdir(parents=True, exist_ok=True)
    # The rows stay: TRL's own trainers tokenize them in the issue 11 arms.
    chats, pairs = folder / "chats.jsonl", folder / "pairs.jsonl"
    chats.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    pairs.write_text(
        "".join(
            json.dumps(p, ensure_ascii=False) + "\n"
            for p in preference_rows(rows, s["dpo_pairs"], seed=1)
        )
    )
    sft = prepare(chats, folder / "tokenizer", folder / "sft", s["max_length"], "--pack")
    prepare(chats, folder / "tokenizer", folder / "sft_all", s["max_length"], "--mask", "all")
    dpo = prepare(pairs, folder / "tokenizer", folder / "dpo", s["dpo_max_length"], "--kind", "dpo")
    shutil.rmtree(scratch)
    summary = {
        "settings": s,
        "tokenizer_vocab": len(json.loads((folder / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]),
        "sft_manifest": sft,
        "dpo_manifest": dpo,
        "bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
    }  # fmt: skip
    (folder / "build.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


# ---------------------------------------------------------------------------------------------
# run: on the GPU machine


def save_model(shape: str, tokenizer_dir: Path, folder: Path, device: str) -> None:
    """A random-init model of ``shape`` in bf16, its special ids those of the tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = LlamaConfig(
        **common.SHAPES[shape],
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(str(folder))
    del model


class MemorySampler:
    """The device's peak used memory over a run, through NVML (None without a GPU)."""

    def __init__(self) -> None:
        self.peak: int | None = None
        self.baseline: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self._nvml = pynvml
        except Exception:  # no NVML, no GPU: no memory figure
            self._nvml = None

    def _used(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def __enter__(self) -> MemorySampler:
        if self._nvml is not None:
            self.baseline = self.peak = self._used()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak or 0, self._used())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def parse_log_line(line: str) -> dict[str, Any] | None:
    """A trainer log line (``{'loss': ..., 'num_tokens': ...}``) as a dict, else None."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        logs = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(logs, dict):
        return None
    return {k: _number(v) for k, v in logs.items()}


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def throughput(steps: list[dict[str, Any]], warmup: int) -> dict[str, Any]:
    """Tokens/s from the step log lines after ``warmup``: tokens and wall time between the
    line of step ``warmup`` and the last one."""
    by_step = [s for s in steps if "num_tokens" in s]
    if len(by_step) <= warmup:
        return {"tokens_per_s": None, "error": f"only {len(by_step)} step lines"}
    first, last = by_step[warmup - 1], by_step[-1]
    tokens = last["num_tokens"] - first["num_tokens"]
    seconds = last["t"] - first["t"]
    pairs = list(itertools.pairwise(by_step[warmup - 1 :]))
    intervals = [b["t"] - a["t"] for a, b in pairs]
    per_step = [b["num_tokens"] - a["num_tokens"] for a, b in pairs]
    return {
        "tokens_per_s": tokens / seconds if seconds > 0 else None,
        "measured_steps": len(intervals),
        "measured_tokens": tokens,
        "seconds": seconds,
        "tokens_per_step": statistics.mean(per_step),
        "step_seconds": intervals,
        "median_step_s": statistics.median(intervals),
    }


def stream(
    command: list[str], timeout: float, extra_env: dict[str, str] | None = None
) -> tuple[int, list[str], list[dict], float, Any]:
    """Run ``command`` from the repo root, reading its log as it comes: (exit code, lines,
    the step log lines with their arrival time, wall seconds, the memory sampler)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env.update(extra_env or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
    lines: list[str] = []
    steps: list[dict[str, Any]] = []
    started = time.perf_counter()
    with MemorySampler() as memory:
        child = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        assert child.stdout is not None
        for line in child.stdout:
            now = time.perf_counter()
            lines.append(line.rstrip("\n"))
            logs = parse_log_line(line)
            if logs is not None and "loss" in logs:
                steps.append({"t": now, **logs})
        code = child.wait()
        timer.cancel()
    return code, lines, steps, time.perf_counter() - started, memory


def run_sets(steps: int, batch: int) -> list[str]:
    """The ``--set`` items every timed run takes: a step count, a batch, a log line per
    step (the timing reads them), no checkpoints, seeded."""
    return [
        f"max_steps={steps}",
        f"per_device_train_batch_size={batch}",
        "logging_steps=1",
        "save_strategy=no",
        "disable_tqdm=true",
        "seed=0",
    ]


def run_arm(
    name: str, s: dict[str, Any], data: Path, model: Path, tokenizer: Path, timeout: float
) -> dict[str, Any]:
    kind, prepared, sets = ARMS[name]
    output = Path("/tmp") / f"gpu_train_cli_{name}"
    shutil.rmtree(output, ignore_errors=True)
    common_sets = run_sets(s["steps"], s["batch"])
    if name in NOTHING_SET or name in ARM_LORA:  # TRL's batch size too: train may split it
        common_sets = [item for item in common_sets if not item.startswith("per_device")]
    if kind.startswith("trl:"):  # TRL's own trainer, in a process of its own
        method = kind.removeprefix("trl:")
        length = s["max_length"] if method == "sft" else s["dpo_max_length"]
        command = [
            sys.executable, str(Path(__file__).resolve()), "trl", method,
            "--pairs", str(data / prepared), "--model", str(model), "--tokenizer", str(tokenizer),
            "--max-length", str(length), "-o", str(output),
            *[arg for item in common_sets for arg in ("--set", item)],
        ]  # fmt: skip
    else:
        mode = [] if name in ARM_LORA else ["--full"]
        command = [
            sys.executable, "-m", "train", kind, str(data / prepared), "--model", str(model),
            "--tokenizer", str(tokenizer), *mode, "-o", str(output),
            *[arg for item in [*common_sets, *sets] for arg in ("--set", item)],
        ]  # fmt: skip
    code, lines, steps, wall, memory = stream(command, timeout, ARM_ENV.get(name, {}))
    written = output / "train_config.yaml"  # the run's config as TRL took it
    config = written.read_text() if written.is_file() else None
    shutil.rmtree(output, ignore_errors=True)
    result: dict[str, Any] = {
        "arm": name,
        "command": " ".join(["train", *command[3:]]),
        "env": ARM_ENV.get(name, {}),
        "returncode": code,
        "ok": code == 0,
        "wall_s": wall,
        **throughput(steps, s["warmup"]),
        "losses": [st["loss"] for st in steps],
        "notes": [ln for ln in lines if ln.startswith(("note:", "memory:"))],
        "describe": next((ln for ln in lines if " parameters train " in ln), None),
        "summary": next((parse_log_line(ln) for ln in lines if "train_runtime" in ln), None),
        "log_tail": lines[-40:] if code != 0 else lines[-6:],
        "written_config": config,
    }
    if memory.peak is not None:
        result["peak_used_gib"] = memory.peak / common.GIB
        result["baseline_used_gib"] = (memory.baseline or 0) / common.GIB
    if result.get("tokens_per_s"):
        shape = s["shape"] if s is TINY else ARM_SHAPES.get(name, s["shape"])
        result.update(common.mfu(result["tokens_per_s"], shape))
    return result


# ---------------------------------------------------------------------------------------------
# trl: TRL's own ORPO / CPO (simpo) / reward trainer on the raw pairs, one arm's process

# What `train orpo|simpo|reward --full` sets by default, so both arms train alike.
TRL_DEFAULTS = {
    # TRL's own defaults, as a user who follows its documentation runs them: SFT packed
    # (best-fit, padding-free) on flex attention, TRL's documented path that keeps packed
    # documents apart; DPO as DPOConfig comes.
    "sft": {"packing": True, "padding_free": True},
    "dpo": {},
    "orpo": {"learning_rate": 8e-6},
    "simpo": {"learning_rate": 5e-7, "loss_type": "simpo", "cpo_alpha": 0.0, "beta": 2.0,
              "simpo_gamma": 1.0},
    "reward": {"learning_rate": 1e-5},
}  # fmt: skip


def trl_arm(
    method: str, pairs: Path, model_dir: Path, tokenizer_dir: Path, max_length: int,
    output: Path, sets: list[str],
) -> int:  # fmt: skip
    """TRL's trainer for ``method`` built as its documentation shows: the raw pairs
    (conversational prompt/chosen/rejected) tokenized by TRL, the model loaded in bf16
    with sdpa attention, bf16 autocast on a GPU, no activation checkpointing. Prints
    the trainer's log lines, as `train` does, for the timing to read."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from train.config import parse_set
    from train.pair_batches import CountsTokens

    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    rows = [json.loads(line) for line in pairs.read_text().splitlines() if line.strip()]
    dataset = datasets.Dataset.from_list(rows)
    values: dict[str, Any] = {
        "output_dir": str(output), "report_to": "none", "bf16": cuda, "use_cpu": not cuda,
        "activation_checkpointing": False, "max_length": max_length,
        "lr_scheduler_type": "cosine", "warmup_steps": 0.03, **TRL_DEFAULTS[method],
    }  # fmt: skip
    values.update(dict(parse_set(item) for item in sets))
    dtype = torch.bfloat16
    if method in ("sft", "dpo"):
        import trl

        if method == "sft":
            values.update(assistant_only_loss=False)
        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir),
            dtype=dtype,
            attn_implementation="flex_attention" if cuda and method == "sft" else "sdpa",
        )
        # Both log num_tokens themselves.
        trainer_class = trl.SFTTrainer if method == "sft" else trl.DPOTrainer
        args = (trl.SFTConfig if method == "sft" else trl.DPOConfig)(**values)
    elif method == "reward":
        from trl import RewardConfig, RewardTrainer

        model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), num_labels=1, dtype=dtype, attn_implementation="sdpa"
        )
        trainer_class, args = RewardTrainer, RewardConfig(**values)
    else:
        from train._upstream import trl_experimental

        module = trl_experimental("orpo" if method == "orpo" else "cpo")
        base = module.ORPOTrainer if method == "orpo" else module.CPOTrainer
        config = module.ORPOConfig if method == "orpo" else module.CPOConfig
        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=dtype, attn_implementation="sdpa"
        )
        trainer_class = type(f"Counted{base.__name__}", (CountsTokens, base), {})
        args = config(**values)
    if cuda:
        model = model.to("cuda")
    trainer = trainer_class(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer
    )
    print(f"{method} (TRL's own trainer) on {len(dataset):,} pairs", flush=True)
    trainer.train()
    return 0


def run(folder: Path, out: Path, tiny: bool, arms: list[str], budget: float) -> dict[str, Any]:
    import torch

    began = time.time()
    s = TINY if tiny else FULL
    device = "cuda" if torch.cuda.is_available() and not tiny else "cpu"
    model = Path("/tmp") / f"gpu_train_cli_model_{s['shape']}"
    save_model(s["shape"], folder / "tokenizer", model, device)
    if device == "cuda":
        torch.cuda.empty_cache()
    built = json.loads((folder / "build.json").read_text())
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "environment": common.package_versions(),
        "data": data_summary(built),
        "model_build_s": time.time() - began,
        "arms": {},
    }
    out.mkdir(parents=True, exist_ok=True)
    for name in arms:
        left = budget - (time.time() - began)
        if left < 60:
            results["arms"][name] = {"arm": name, "ok": False, "error": "skipped: out of budget"}
            continue
        print(f"== {name}", flush=True)
        arm_model = model
        if name in ARM_SHAPES and not tiny:
            arm_model = Path("/tmp") / f"gpu_train_cli_model_{ARM_SHAPES[name]}"
            if not arm_model.is_dir():
                save_model(ARM_SHAPES[name], folder / "tokenizer", arm_model, device)
                if device == "cuda":
                    torch.cuda.empty_cache()
        try:
            result = run_arm(name, s, folder, arm_model, folder / "tokenizer", left - 10)
        except Exception as exc:  # one arm's failure is a result, not the end of the run
            result = {"arm": name, "ok": False, "error": repr(exc)}
        results["arms"][name] = result
        common.write_json(out / "results.json", results)
        print(line(name, result), flush=True)
    for used in {model, *(Path("/tmp") / f"gpu_train_cli_model_{v}" for v in ARM_SHAPES.values())}:
        shutil.rmtree(used, ignore_errors=True)
    common.write_json(out / "results.json", results)
    return results


# The shipped accelerate configs, each with the mode the README pairs it with.
LAUNCHES = {
    "fsdp2_full": ("train/configs/accelerate_fsdp2.yaml", ["--full"]),
    "ddp_lora": ("train/configs/accelerate_ddp.yaml", []),
}


def launch(folder: Path, out: Path, tiny: bool, num_processes: int, budget: float) -> dict:
    """``accelerate launch --config_file <shipped config> --num_processes N -m train sft``,
    word for word what the README shows, once per shipped config; then what the run saved
    is checked (a full model that transformers loads alone, or an adapter), with the
    tokenizer, the training config and the data's manifest beside it."""
    import torch

    began = time.time()
    s = TINY if tiny else FULL
    device = "cuda" if torch.cuda.is_available() and not tiny else "cpu"
    model = Path("/tmp") / f"gpu_train_cli_model_{s['shape']}"
    save_model(s["shape"], folder / "tokenizer", model, device)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "gpus": torch.cuda.device_count(),
        "num_processes": num_processes,
        "environment": common.package_versions(),
        "launches": {},
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, (config, extra) in LAUNCHES.items():
        left = budget - (time.time() - began)
        if left < 60:
            results["launches"][name] = {"ok": False, "error": "skipped: out of budget"}
            continue
        output = Path("/tmp") / f"gpu_train_cli_launch_{name}"
        shutil.rmtree(output, ignore_errors=True)
        sets = run_sets(s["steps"] // 2, s["batch"] // 2)
        command = [
            sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / config),
            "--num_processes", str(num_processes), "-m", "train", "sft", str(folder / "sft"),
            "--model", str(model), "--tokenizer", str(folder / "tokenizer"), *extra,
            "-o", str(output), *[arg for item in sets for arg in ("--set", item)],
        ]  # fmt: skip
        print(f"== {name}: accelerate launch --config_file {config} ...", flush=True)
        code, lines, steps, wall, memory = stream(command, left - 10)
        result: dict[str, Any] = {
            "command": " ".join(["accelerate", "launch", *command[3:]]),
            "returncode": code,
            "wall_s": wall,
            "losses": [st["loss"] for st in steps],
            "tokens_per_step": [st.get("num_tokens") for st in steps],
            "said": [ln for ln in lines if ln.startswith(("sft on", "note:", "saved to"))],
            "saved": sorted(p.name for p in output.iterdir()) if output.is_dir() else [],
            "log_tail": lines[-40:] if code != 0 else lines[-6:],
        }
        if memory.peak is not None:
            result["peak_used_gib"] = memory.peak / common.GIB
        result["check"] = check_saved(output, full="--full" in extra) if code == 0 else None
        result["ok"] = code == 0 and bool(result["check"]) and result["check"].get("ok", False)
        results["launches"][name] = result
        common.write_json(out / "launch.json", results)
        shutil.rmtree(output, ignore_errors=True)
    shutil.rmtree(model, ignore_errors=True)
    common.write_json(out / "launch.json", results)
    return results


def check_saved(output: Path, *, full: bool) -> dict[str, Any]:
    """What a user needs from the run's folder is there, and the model loads alone."""
    beside = ["tokenizer_config.json", "train_config.yaml", "dataprep.json"]
    missing = [name for name in beside if not (output / name).is_file()]
    if full:
        from transformers import AutoModelForCausalLM

        loaded = AutoModelForCausalLM.from_pretrained(str(output))
        parameters = sum(p.numel() for p in loaded.parameters())
        finite = all(bool(p.isfinite().all()) for p in loaded.parameters())
        del loaded
        return {"ok": not missing and finite, "missing": missing, "parameters": parameters,
                "finite": finite}  # fmt: skip
    adapter = (output / "adapter_config.json").is_file() and any(output.glob("adapter_model.*"))
    return {"ok": not missing and adapter, "missing": missing, "adapter": adapter}


def data_summary(built: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"tokenizer_vocab": built.get("tokenizer_vocab")}
    for kind in ("sft", "dpo"):
        manifest = built.get(f"{kind}_manifest") or {}
        summary[kind] = {
            key: manifest.get(key)
            for key in ("counts", "tokens", "token_stats", "packing", "packing_efficiency",
                        "max_length", "length_policy")
            if key in manifest
        }  # fmt: skip
    return summary


def line(name: str, r: dict[str, Any]) -> str:
    if not r.get("ok"):
        tail = " | ".join(r.get("log_tail", [])[-5:])
        return f"{name:18s} FAILED rc={r.get('returncode')} {r.get('error', '')} {tail[-600:]}"
    rate = r.get("tokens_per_s") or float("nan")
    return (
        f"{name:18s} {rate:9.0f} tok/s  mfu6N {r.get('mfu_6n', float('nan')):.3f}  "
        f"step {r.get('median_step_s', float('nan')):.3f}s  tok/step {r.get('tokens_per_step', 0):.0f}  "
        f"peak {r.get('peak_used_gib') or 0:6.1f} GiB  loss1 {(r.get('losses') or [None])[0]}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    make = sub.add_parser("build", help="data, tokenizer and prepared folders (CPU)")
    make.add_argument("--dir", required=True, type=Path)
    make.add_argument("--tiny", action="store_true")
    go = sub.add_parser("run", help="the model, then every arm (GPU)")
    go.add_argument("--dir", required=True, type=Path)
    go.add_argument("--out", required=True, type=Path)
    go.add_argument("--tiny", action="store_true")
    go.add_argument(
        "--arms", default=",".join(list(ARMS)[:4]), help="comma-separated; `pairs`: issue 11's"
    )
    go.add_argument("--budget", type=float, default=1e9, help="start no arm after this many s")
    own = sub.add_parser("trl", help="one arm: TRL's own trainer on the raw rows or pairs")
    own.add_argument("method", choices=sorted(TRL_DEFAULTS))
    own.add_argument("--pairs", required=True, type=Path)
    own.add_argument("--model", required=True, type=Path)
    own.add_argument("--tokenizer", required=True, type=Path)
    own.add_argument("--max-length", required=True, type=int)
    own.add_argument("-o", "--output", required=True, type=Path)
    own.add_argument("--set", dest="sets", action="append", default=[])
    both = sub.add_parser("launch", help="accelerate launch -m train sft with each shipped config")
    both.add_argument("--dir", required=True, type=Path)
    both.add_argument("--out", required=True, type=Path)
    both.add_argument("--tiny", action="store_true")
    both.add_argument("--num-processes", type=int, default=2, help="one per GPU")
    both.add_argument("--budget", type=float, default=1e9, help="start no run after this many s")
    args = parser.parse_args()
    if args.cmd == "launch":
        results = launch(args.dir, args.out, args.tiny, args.num_processes, args.budget)
        for name, r in results["launches"].items():
            print(f"{name:12s} ok={r.get('ok')} rc={r.get('returncode')} losses={r.get('losses')} "
                  f"saved={r.get('saved')} check={r.get('check')} {r.get('error', '')}")  # fmt: skip
        return 0 if all(r.get("ok") for r in results["launches"].values()) else 1
    if args.cmd == "build":
        summary = build(args.dir, args.tiny)
        print(json.dumps(data_summary(summary), indent=1, default=str))
        print(f"{args.dir}: {summary['bytes'] / 2**20:.1f} MiB")
        return 0
    if args.cmd == "trl":
        return trl_arm(args.method, args.pairs, args.model, args.tokenizer, args.max_length,
                       args.output, args.sets)  # fmt: skip
    arms = [a for group in args.arms.split(",") for a in ARM_GROUPS.get(group, [group])]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; known: {', '.join(ARMS)}")
    results = run(args.dir, args.out, args.tiny, arms, args.budget)
    print("\n".join(line(k, v) for k, v in results["arms"].items()))
    return 0 if all(r.get("ok") for r in results["arms"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
