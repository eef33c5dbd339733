"""Benchmark ``dataprep prepare`` against the raw tokenizer and TRL's own preparation.

In one run, with the same data, tokenizer, chat template, max length and packing:

1. the floor: ``tokenizers`` ``encode_batch`` of the already-rendered texts;
2. TRL 1.16 ``SFTTrainer`` preparation (``assistant_only_loss=True``, ``packing=True``),
   timed around the trainer's construction, at ``dataset_num_proc`` 1 and 2;
3. ``dataprep prepare`` end to end from the JSONL (a subprocess), at ``--num-proc`` 1 and 2;

then the per-token cost of long conversations (40-80 turns) against short ones (1-8),
and the peak memory of ``prepare`` on inputs of growing size (``--big``: about 2 GB).

The data are generated (seeded): ``--rows`` chat rows of 1-8 exchanges, about 1k tokens
on average, some with a system prompt, some with tool calls, plus ``--long-rows`` rows of
40-80 exchanges. The tokenizer is a 32k byte-level BPE trained here with ``tokenizers`` on
a sample of the data, carrying the ChatML template with ``{% generation %}`` marks. Data
and tokenizer are cached in ``benchmarks/.cache/`` (ignored by git).

    python benchmarks/bench_prepare.py                      # the full run (~15 min)
    python benchmarks/bench_prepare.py --rows 4000 --long-rows 200 --skip-trl   # quick
    python benchmarks/bench_prepare.py --big                # adds the ~2 GB memory run

Every process runs its tokenizer single-threaded (TOKENIZERS_PARALLELISM=false) so that
"processes" means cores for all three contenders; the raw floor is also measured with
two tokenizer threads (the Rust thread pool) against ``--num-proc 2``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Children get their own value (the raw floor runs with 1 and 2 threads); default: 1.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
ROOT = HERE.parent

SYLLABLES = (  # noqa: SIM905
    "ka ri to na mi se lo de ve ra an en in on un ta ne po li su ma ko be ri gu al er or "
    "ex th st ch sh pr tr gr bl pl qu ion ing ment ness able ous ive ly ed es al ic"
).split()
COMMON = (  # noqa: SIM905
    "the of and to in is that for it as with was on be by this are from or have an they which "
    "one you were all we can her has there been if more when will would who so no model data "
    "training answer question example function value return result first time people could"
).split()
EXTRA = "café naïve Zürich São Ελλάδα Привет 你好 世界 数据 训练 🙂 🚀 ✅ — « » ½ °C".split()  # noqa: SIM905
CODE = [
    'def f(x):\n    return {"a": x, "b": [1, 2, 3]}\n',
    "for i in range(10):\n\tif i % 2 == 0:\n\t\tcontinue\n",
    'SELECT name, count(*) FROM "users" WHERE age > 30;\n',
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_docs",
            "description": "Full-text search over the documentation.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["query"],
            },
        },
    },
]


# --- data --------------------------------------------------------------------------------


class Text:
    """Fast pseudo-text: slices of one large Zipf-distributed corpus of 6k word forms.

    The word forms (the "language") are the same for every seed; the seed only changes
    which words are drawn. Short rows, long rows and the big file must speak the same
    language as the tokenizer was trained on, or the comparison measures vocabularies.
    """

    def __init__(self, seed: int, size: int = 24_000_000):
        rng = np.random.default_rng(seed)
        language = random.Random(12345)
        forms = list(COMMON)
        while len(forms) < 6000:
            forms.append("".join(language.choice(SYLLABLES) for _ in range(language.randint(1, 4))))
        pyrng = random.Random(seed)
        forms += EXTRA + [str(n) for n in range(0, 2000, 7)]
        weights = 1.0 / np.arange(1, len(forms) + 1) ** 1.05
        weights /= weights.sum()
        words = rng.choice(len(forms), size=size // 6, p=weights)
        punct = rng.random(len(words))
        parts = []
        for w, p in zip(words.tolist(), punct.tolist(), strict=True):
            parts.append(forms[w])
            if p < 0.06:
                parts.append(". " if p < 0.04 else ".\n\n")
            elif p < 0.1:
                parts.append(", ")
            else:
                parts.append(" ")
        self.corpus = "".join(parts)
        self.rng = pyrng

    def take(self, n: int) -> str:
        start = self.rng.randrange(0, len(self.corpus) - n - 64)
        start = self.corpus.find(" ", start) + 1
        text = self.corpus[start : start + n].strip()
        if self.rng.random() < 0.05:
            text += "\n\n```python\n" + self.rng.choice(CODE) + "```"
        return text or "ok"


def chat_row(text: Text, rng: random.Random, *, long: bool) -> dict:
    messages = []
    tools = None
    if rng.random() < 0.3:
        messages.append({"role": "system", "content": text.take(rng.randint(60, 400))})
    exchanges = rng.randint(40, 80) if long else rng.randint(1, 8)
    with_tools = not long and rng.random() < 0.15
    # Long and short rows draw their messages from the same lengths: the comparison is
    # about the number of turns, not about message size.
    for i in range(exchanges):
        messages.append(
            {
                "role": "user",
                "content": text.take(min(1000, int(rng.lognormvariate(5.3, 0.8)) + 10)),
            }
        )
        if with_tools and i == 0:
            tools = TOOLS
            call = {"city": text.take(12)} if rng.random() < 0.5 else {"query": text.take(30)}
            name = "get_weather" if "city" in call else "search_docs"
            messages.append(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "type": "function",
                            "function": {"name": name, "arguments": orjson.dumps(call).decode()},
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "content": text.take(rng.randint(40, 300))})
        messages.append(
            {
                "role": "assistant",
                "content": text.take(min(2500, int(rng.lognormvariate(6.6, 0.7)) + 20)),
            }
        )
    row = {"messages": messages}
    if tools:
        row["tools"] = tools
    return row


def write_rows(path: Path, count: int, seed: int, *, long: bool) -> None:
    text = Text(seed)
    rng = random.Random(seed + 1)
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        for _ in range(count):
            f.write(orjson.dumps(chat_row(text, rng, long=long)) + b"\n")
    tmp.replace(path)


def write_big(path: Path, target_bytes: int, seed: int) -> None:
    """About ``target_bytes`` of short chat rows (the memory run)."""
    text = Text(seed)
    rng = random.Random(seed + 1)
    tmp = path.with_suffix(".part")
    size = 0
    with open(tmp, "wb") as f:
        while size < target_bytes:
            data = b"".join(
                orjson.dumps(chat_row(text, rng, long=False)) + b"\n" for _ in range(1000)
            )
            f.write(data)
            size += len(data)
    tmp.replace(path)


def ensure_cache() -> None:
    CACHE.mkdir(exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # everything here is generated


def data_files(rows: int, long_rows: int, seed: int) -> dict[str, Path]:
    ensure_cache()
    short = CACHE / f"short-{rows}-s{seed}.jsonl"
    long = CACHE / f"long-{long_rows}-s{seed}.jsonl"
    both = CACHE / f"chat-{rows}-{long_rows}-s{seed}.jsonl"
    if not short.exists():
        write_rows(short, rows, seed, long=False)
    if not long.exists():
        write_rows(long, long_rows, seed + 100, long=True)
    if not both.exists():
        with open(both.with_suffix(".part"), "wb") as f:
            f.write(short.read_bytes())
            f.write(long.read_bytes())
        both.with_suffix(".part").replace(both)
    return {"short": short, "long": long, "all": both}


# --- tokenizer ---------------------------------------------------------------------------


def bench_tokenizer(sample: Path, seed: int, vocab_size: int = 32_000) -> Path:
    """A 32k byte-level BPE trained on a sample of the data, with the ChatML template."""
    folder = CACHE / f"tok{vocab_size // 1000}k-s{seed}"
    if (folder / "tokenizer.json").exists():
        return folder
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from dataprep.prepare.template.choice import builtin_template

    def texts():
        with open(sample, "rb") as f:
            for i, line in enumerate(f):
                if i >= 8000:
                    break
                row = orjson.loads(line)
                for m in row["messages"]:
                    yield m.get("content") or ""

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = builtin_template("chatml").source
    tmp = Path(tempfile.mkdtemp(dir=CACHE))
    fast.save_pretrained(tmp)
    tmp.replace(folder)
    return folder


# --- measurements ------------------------------------------------------------------------


# Peak memory comes from the kernel's own accounting (getrusage maxrss) as each process
# exits: polling /proc/*/smaps from here cost enough CPU to slow the runs it measured.
_WITH_RUSAGE = (
    "import json, resource, sys\n"
    "from dataprep.cli import main\n"
    "code = 0\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit as e:\n"
    "    code = e.code\n"
    "me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print('RUSAGE ' + json.dumps([me.ru_maxrss, kids.ru_maxrss]), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_ours(
    src: Path, tok: Path, max_length: int, num_proc: int | None, out: Path, root: Path = ROOT
) -> dict:
    """``dataprep prepare`` as a fresh process, imports included; ``num_proc`` None: no
    --num-proc (the input-size rule decides); ``root``: the checkout whose code runs."""
    procs = [] if num_proc is None else ["--num-proc", str(num_proc)]
    cmd = [
        sys.executable, "-c", _WITH_RUSAGE, "prepare", str(src), "--tokenizer", str(tok),
        "--max-length", str(max_length), "-o", str(out), *procs, "--force", "--json",
    ]  # fmt: skip
    load = os.getloadavg()[0]
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # One tokenizer thread per process: --num-proc is the number of cores it uses.
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root, env=env)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"prepare failed ({proc.returncode}): {stderr.decode()[-2000:]}")
    manifest = json.loads(stdout)
    main_kb, worker_kb = json.loads(stderr.decode().rsplit("RUSAGE ", 1)[1])
    return {
        "seconds": wall,
        # the whole process tree, interpreter start-up and imports included
        "cpu_seconds": cpu_seconds(resource.RUSAGE_CHILDREN) - cpu,
        "tokens": manifest["tokens"]["total"],
        "trainable": manifest["tokens"]["trainable"],
        "rows_in": manifest["counts"]["rows_in"],
        "rows_out": manifest["counts"]["rows_out"],
        "packed_rows": manifest["splits"]["train"]["rows"],
        "packing_efficiency": manifest["packing_efficiency"],
        "peak_rss_main_mb": main_kb / 1024,
        # the largest worker; forked workers share most of these pages with the main one
        "peak_rss_worker_mb": worker_kb / 1024 if num_proc != 1 else 0.0,
        "inner_seconds": manifest["seconds"],
        "load": load,
        "input_mb": src.stat().st_size / 2**20,
    }


def rendered_texts(src: Path, tok: Path) -> Path:
    """Every row rendered with the chat template (not timed), one JSON string per line."""
    out = src.with_suffix(".rendered.jsonl")
    if out.exists():
        return out
    from dataprep.formats import FORMATS
    from dataprep.prepare.encode.encoder import Encoder
    from dataprep.prepare.template.choice import load_tokenizer, resolve_template
    from dataprep.prepare.template.rendering import compile_template, render

    tokenizer = load_tokenizer(str(tok))
    encoder = Encoder(tokenizer, resolve_template(tokenizer, None))
    compiled = compile_template(encoder.template.source)
    with open(src, "rb") as f, open(out.with_suffix(".part"), "wb") as w:
        for line in f:
            conv = FORMATS["messages"].to_canonical(orjson.loads(line))
            text = render(compiled, encoder.template_messages(conv.messages), tools=conv.tools).text
            w.write(orjson.dumps(text) + b"\n")
    out.with_suffix(".part").replace(out)
    return out


def run_raw(src: Path, tok: Path, threads: int, short_rows: int) -> dict:
    """The floor: ``encode_batch`` of the rendered texts, with 1 thread or ``threads``."""
    texts = rendered_texts(src, tok)
    env = dict(
        os.environ,
        TOKENIZERS_PARALLELISM="true" if threads > 1 else "false",
        RAYON_NUM_THREADS=str(threads),
        RAYON_RS_NUM_CPUS=str(threads),
    )
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--raw-child", str(texts), str(tok), str(short_rows),
    ]  # fmt: skip
    load = os.getloadavg()[0]
    done = subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT, env=env)
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    result.update(load=load, threads=threads)
    return result


def _batches_like_prepare(texts: list[str]):
    """Batches as prepare makes them (at most 256 rows or about 1 MiB): a batch of 1000
    long conversations would hold 20 million tokens of Encoding objects and measure the
    allocator, not the tokenizer."""
    batch, size = [], 0
    for text in texts:
        batch.append(text)
        size += len(text)
        if len(batch) >= 256 or size >= 1 << 20:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def raw_child(texts_path: str, tok: str, short_rows: int) -> None:
    from tokenizers import Tokenizer

    with open(texts_path, "rb") as f:
        texts = [orjson.loads(line) for line in f]
    backend = Tokenizer.from_file(str(Path(tok) / "tokenizer.json"))
    parts = {"short": texts[:short_rows], "long": texts[short_rows:]}
    out = {"rows": len(texts), "tokens": 0, "seconds": 0.0}
    cpu = cpu_seconds(resource.RUSAGE_SELF)
    for name, part in parts.items():
        start = time.perf_counter()
        tokens = 0
        for batch in _batches_like_prepare(part):
            for enc in backend.encode_batch(batch, add_special_tokens=False):
                tokens += len(enc.ids)
        seconds = time.perf_counter() - start
        out[f"{name}_us_per_token"] = seconds / max(tokens, 1) * 1e6
        out["tokens"] += tokens
        out["seconds"] += seconds
    out["cpu_seconds"] = cpu_seconds(resource.RUSAGE_SELF) - cpu
    out["long_short_ratio"] = out["long_us_per_token"] / out["short_us_per_token"]
    # The same long texts in the pieces prepare tokenizes them in (cut before a special
    # token, at least 4k characters apart; same ids): the tokenizer's own cost per token
    # on long inputs is what goes.
    from itertools import pairwise

    from dataprep.prepare.encode.pieces import PieceTokenizer

    specials = [t.content for t in backend.get_added_tokens_decoder().values() if t.special]
    cutter = PieceTokenizer(backend, specials)
    pieces = []
    for text in parts["long"]:
        bounds = [0, *cutter.cut_points(text), len(text)]
        pieces += [text[a:b] for a, b in pairwise(bounds)]
    start, tokens = time.perf_counter(), 0
    for batch in _batches_like_prepare(pieces):
        for enc in backend.encode_batch(batch, add_special_tokens=False):
            tokens += len(enc.ids)
    out["long_cut_us_per_token"] = (time.perf_counter() - start) / max(tokens, 1) * 1e6
    print(json.dumps(out))


def run_trl(src: Path, tok: Path, max_length: int, num_proc: int) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--trl-child",
        str(src),
        str(tok),
        str(max_length),
        str(num_proc),
    ]
    load = os.getloadavg()[0]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    stdout, stderr = proc.communicate()
    process_seconds = time.perf_counter() - start
    process_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"TRL run failed: {stderr.decode()[-3000:]}")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    # "seconds" is the trainer's construction; "process_seconds" the whole process: imports,
    # reading the JSONL, loading the tokenizer, the tiny model, the preparation.
    result.update(load=load, process_seconds=process_seconds, process_cpu_seconds=process_cpu)
    return result


def trl_child(src: str, tok: str, max_length: int, num_proc: int) -> None:
    """Runs in its own process: load the rows (not timed), build SFTTrainer (timed)."""
    import warnings

    warnings.filterwarnings("ignore")
    import datasets
    import pyarrow.compute as pc
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    hf_logging.set_verbosity_error()
    datasets.disable_caching()
    datasets.disable_progress_bars()
    with open(src, "rb") as f:
        rows = [orjson.loads(line) for line in f]
    for row in rows:
        row.setdefault("tools", None)
    dataset = datasets.Dataset.from_list(rows)
    del rows
    tokenizer = AutoTokenizer.from_pretrained(tok)
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_length)
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            max_length=max_length,
            packing=True,
            assistant_only_loss=True,
            dataset_num_proc=num_proc,
            report_to=[],
            use_cpu=True,
            per_device_train_batch_size=1,
            activation_checkpointing=False,
        )
        cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=dataset, processing_class=tokenizer
        )
        seconds = time.perf_counter() - start
        cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    table = trainer.train_dataset.data.table
    lengths = pc.list_value_length(table.column("input_ids"))
    tokens = int(pc.sum(lengths).as_py())
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "peak_rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                "tokens": tokens,
                "packed_rows": table.num_rows,
                "packing_efficiency": tokens / (table.num_rows * max_length),
            }
        )
    )


def per_token_cost(short: Path, long: Path, tok: Path, max_length: int) -> dict:
    """Seconds per token of prepare on long conversations (40-80 exchanges) and on short
    ones (1-8), in one warm process so start-up costs stay out of the figures.

    The short run reads the first short rows up to the long file's size (about as many
    tokens).
    """
    subset = CACHE / f"short-subset-{long.stat().st_size}.jsonl"
    budget = long.stat().st_size
    with open(short, "rb") as f, open(subset, "wb") as out:
        for line in f:
            if budget <= 0:
                break
            out.write(line)
            budget -= len(line)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--cost-child",
        str(subset),
        str(long),
        str(tok),
        str(max_length),
    ]
    done = subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def cost_child(short: str, long: str, tok: str, max_length: int) -> None:
    from dataprep.prepare.pipeline import PrepareOptions, prepare

    def run(src: str) -> tuple[float, int]:
        options = PrepareOptions(
            inputs=[src],
            tokenizer=tok,
            max_length=max_length,
            output=str(CACHE / "out-cost"),
            force=True,
        )
        # CPU time of this (single) process: the comparison survives other people's load.
        start = time.process_time()
        manifest = prepare(options).manifest
        return time.process_time() - start, manifest["tokens"]["total"]

    run(short)  # warm: imports, page cache
    long_s, long_t = run(long)
    short_s, short_t = run(short)
    print(
        json.dumps(
            {
                "short_tokens": short_t,
                "long_tokens": long_t,
                "short_us_per_token": short_s / short_t * 1e6,
                "long_us_per_token": long_s / long_t * 1e6,
                "ratio": (long_s / long_t) / (short_s / short_t),
            }
        )
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--trl-child":
        _, _, src, tok, max_length, num_proc = sys.argv
        trl_child(src, tok, int(max_length), int(num_proc))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--raw-child":
        raw_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--cost-child":
        _, _, short, long, tok, max_length = sys.argv
        cost_child(short, long, tok, int(max_length))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=40_000, help="short chat rows (1-8 exchanges)")
    parser.add_argument(
        "--long-rows", type=int, default=2_000, help="long chat rows (40-80 exchanges)"
    )
    parser.add_argument("--max-length", type=int, default=32768, help="fits the longest row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--procs", type=int, nargs="+", default=[1, 2], help="process counts to compare"
    )
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument(
        "--big", action="store_true", help="also prepare a ~2 GB input (peak memory)"
    )
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument(
        "--whole-process",
        action="store_true",
        help="only dataprep prepare against TRL, both timed as fresh processes (imports, "
        "tokenizer loading and reading included), median of --repeat runs each",
    )
    parser.add_argument(
        "--crossover",
        action="store_true",
        help="only --num-proc 1 against 2 on growing inputs (where a worker pool pays)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--ours-root", type=Path, default=ROOT, help="the checkout whose dataprep runs"
    )
    args = parser.parse_args()
    if args.whole_process:
        whole_process(args)
        return
    if args.crossover:
        crossover(args)
        return

    files = data_files(args.rows, args.long_rows, args.seed)
    tok = bench_tokenizer(files["short"], args.seed)
    results: dict = {
        "rows": args.rows,
        "long_rows": args.long_rows,
        "max_length": args.max_length,
        "input_mb": files["all"].stat().st_size / 2**20,
        "cpus": os.cpu_count(),
    }
    print(f"data: {files['all']} ({results['input_mb']:.0f} MB), tokenizer: {tok}", flush=True)

    for n in args.procs:
        results[f"raw_np{n}"] = run_raw(files["all"], tok, n, args.rows)
        print(f"raw tokenizer, {n} thread(s):", _rate(results[f"raw_np{n}"]), flush=True)
    for n in args.procs:
        results[f"ours_np{n}"] = run_ours(
            files["all"], tok, args.max_length, n, CACHE / f"out-np{n}"
        )
        print(f"dataprep prepare --num-proc {n}:", _rate(results[f"ours_np{n}"]), flush=True)
    if not args.skip_trl:
        for n in args.procs:
            results[f"trl_np{n}"] = run_trl(files["all"], tok, args.max_length, n)
            print(f"TRL SFTTrainer dataset_num_proc={n}:", _rate(results[f"trl_np{n}"]), flush=True)
    results["turn_cost"] = per_token_cost(files["short"], files["long"], tok, args.max_length)
    print("per-token cost, long / short:", f"{results['turn_cost']['ratio']:.2f}", flush=True)
    if args.big:
        big = CACHE / f"big-{args.big_gb:g}gb-s{args.seed}.jsonl"
        if not big.exists():
            write_big(big, int(args.big_gb * 2**30), args.seed + 7)
        n = max(args.procs)
        results["big"] = run_ours(big, tok, args.max_length, n, CACHE / "out-big")
        results["big"]["num_proc"] = n
        print(
            f"big ({results['big']['input_mb']:.0f} MB), --num-proc {n}:",
            _rate(results["big"]),
            flush=True,
        )
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def whole_process(args: argparse.Namespace) -> None:
    """What a user waits for: each side a fresh process from the JSONL to prepared rows."""
    files = data_files(args.rows, args.long_rows, args.seed)
    tok = bench_tokenizer(files["short"], args.seed)
    src = files["all"]
    print(f"data: {src} ({src.stat().st_size / 2**20:.1f} MB), tokenizer: {tok}", flush=True)
    results: dict = {"rows": args.rows, "long_rows": args.long_rows, "cpus": os.cpu_count()}
    for n in args.procs:
        ours = [
            run_ours(src, tok, args.max_length, n, CACHE / f"out-wp{n}", args.ours_root)
            for _ in range(args.repeat)
        ]
        trl = [run_trl(src, tok, args.max_length, n) for _ in range(args.repeat)]
        ours_s = float(np.median([r["seconds"] for r in ours]))
        trl_s = float(np.median([r["process_seconds"] for r in trl]))
        # CPU seconds of each process tree: on a shared machine, steadier than wall time.
        ours_cpu = float(np.median([r["cpu_seconds"] for r in ours]))
        trl_cpu = float(np.median([r["process_cpu_seconds"] for r in trl]))
        results[f"np{n}"] = {
            "ours_seconds": [r["seconds"] for r in ours],
            "ours_cpu_seconds": [r["cpu_seconds"] for r in ours],
            "trl_process_seconds": [r["process_seconds"] for r in trl],
            "trl_process_cpu_seconds": [r["process_cpu_seconds"] for r in trl],
            "trl_prepare_seconds": [r["seconds"] for r in trl],
            "load": [r["load"] for r in ours + trl],
            "tokens": ours[0]["tokens"],
            "ratio": trl_s / ours_s,
            "cpu_ratio": trl_cpu / ours_cpu,
        }
        print(
            f"{n} process(es): dataprep prepare {ours_s:.2f} s ({ours_cpu:.2f} CPU s), TRL "
            f"{trl_s:.2f} s ({trl_cpu:.2f} CPU s) whole process "
            f"({float(np.median([r['seconds'] for r in trl])):.2f} s of it preparing): "
            f"dataprep is {trl_s / ours_s:.2f}x as fast in wall time, {trl_cpu / ours_cpu:.2f}x "
            f"in CPU time ({ours[0]['tokens']:,} tokens)",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def crossover(args: argparse.Namespace) -> None:
    """prepare at each --procs count on short chat inputs of growing size (median wall of
    --repeat fresh processes): the size above which worker processes pay for themselves."""
    ensure_cache()
    tok = bench_tokenizer(data_files(args.rows, args.long_rows, args.seed)["short"], args.seed)
    print("rows   MB     " + " ".join(f"np{n} s".ljust(8) for n in args.procs), flush=True)
    out: list[dict] = []
    for rows in (30, 100, 300, 1000, 3000):
        src = CACHE / f"short-{rows}-s{args.seed + 5}.jsonl"
        if not src.exists():
            write_rows(src, rows, args.seed + 5, long=False)
        figures = {}
        for n in args.procs:
            runs = [
                run_ours(src, tok, args.max_length, n, CACHE / f"out-x{n}", args.ours_root)
                for _ in range(args.repeat)
            ]
            figures[n] = float(np.median([r["seconds"] for r in runs]))
        mb = src.stat().st_size / 2**20
        out.append({"rows": rows, "mb": mb, **{f"np{n}": figures[n] for n in args.procs}})
        print(
            f"{rows:<6} {mb:<6.2f} " + " ".join(f"{figures[n]:<8.2f}" for n in args.procs),
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def _rate(r: dict) -> str:
    extra = f", peak RSS {_memory(r)}" if "peak_rss_main_mb" in r else ""
    return f"{r['tokens'] / r['seconds'] / 1e6:.2f} M tokens/s ({r['tokens']:,} tokens in {r['seconds']:.1f} s, load {r['load']:.1f}{extra})"


def _memory(r: dict) -> str:
    text = f"{r['peak_rss_main_mb']:.0f} MB"
    if r.get("peak_rss_worker_mb"):
        text += f" + workers {r['peak_rss_worker_mb']:.0f} MB each"
    return text


def report(r: dict) -> str:
    """The figures as the Markdown tables of BENCHMARKS.md.

    Wall-clock rates depend on what else the machine runs; CPU seconds (user + system,
    the whole process tree) do not, so both are given and both kinds of ratio.
    """

    def rate(key: str) -> float:
        return r[key]["tokens"] / r[key]["seconds"]

    def cpu_rate(key: str) -> float:
        return r[key]["tokens"] / r[key]["cpu_seconds"]

    def row(name: str, procs: str, x: dict, packing: str, rss: str) -> str:
        return (
            f"| {name} | {procs} | {x['tokens']:,} | {x['seconds']:.1f} | {x['cpu_seconds']:.1f} | "
            f"{x['tokens'] / x['seconds'] / 1e6:.2f} | {x['tokens'] / x['cpu_seconds'] / 1e6:.2f} | {packing} | {rss} |"
        )

    lines = [
        "| contender | processes | tokens | wall s | CPU s | M tokens/s (wall) | M tokens/CPU-s | packing | peak RSS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    procs = sorted(int(k.removeprefix("ours_np")) for k in r if k.startswith("ours_np"))
    for n in procs:
        lines.append(
            row(
                "raw `tokenizers` `encode_batch` (floor)",
                f"{n} thread{'s' * (n > 1)}",
                r[f"raw_np{n}"],
                "-",
                "-",
            )
        )
    for n in procs:
        if f"trl_np{n}" in r:
            t = r[f"trl_np{n}"]
            lines.append(
                row(
                    "TRL 1.16 `SFTTrainer` preparation",
                    str(n),
                    t,
                    f"{t['packing_efficiency']:.2%}",
                    _memory(t),
                )
            )
    for n in procs:
        o = r[f"ours_np{n}"]
        rss = _memory(o)
        lines.append(row("`dataprep prepare`", str(n), o, f"{o['packing_efficiency']:.2%}", rss))
    if "big" in r:
        b = r["big"]
        rss = _memory(b)
        name = f"`dataprep prepare`, {b['input_mb'] / 1024:.2f} GB input"
        lines.append(
            row(name, str(b.get("num_proc", procs[-1])), b, f"{b['packing_efficiency']:.2%}", rss)
        )
    lines += ["", "| ratio | target | wall | CPU |", "|---|---|---:|---:|"]
    for n in procs:
        if f"trl_np{n}" in r:
            lines.append(
                f"| ours / TRL, {n} process{'es' * (n > 1)} | >= 2x | {rate(f'ours_np{n}') / rate(f'trl_np{n}'):.2f}x | "
                f"{cpu_rate(f'ours_np{n}') / cpu_rate(f'trl_np{n}'):.2f}x |"
            )
    for n in procs:
        lines.append(
            f"| ours ({n} process{'es' * (n > 1)}) / raw tokenizer ({n} thread{'s' * (n > 1)}) | >= 0.8x | "
            f"{rate(f'ours_np{n}') / rate(f'raw_np{n}'):.2f}x | {cpu_rate(f'ours_np{n}') / cpu_rate(f'raw_np{n}'):.2f}x |"
        )
    if len(procs) > 1:
        hi, lo = f"ours_np{procs[-1]}", f"ours_np{procs[0]}"
        lines.append(
            f"| --num-proc {procs[-1]} / --num-proc {procs[0]}: speed-up (wall), CPU spent (CPU) | > 1x | "
            f"{rate(hi) / rate(lo):.2f}x | {r[hi]['cpu_seconds'] / r[lo]['cpu_seconds']:.2f}x the CPU |"
        )
    c = r["turn_cost"]
    raw = r[f"raw_np{procs[0]}"]
    lines.append(
        f"| per-token cost, 40-80 turns / 1-8 turns (CPU) | <= 1.2x | | {c['ratio']:.2f}x "
        f"({c['long_us_per_token']:.2f} vs {c['short_us_per_token']:.2f} µs/token) |"
    )
    lines.append(
        f"| the same for the raw tokenizer alone | | {raw['long_short_ratio']:.2f}x "
        f"({raw['long_us_per_token']:.2f} vs {raw['short_us_per_token']:.2f} µs/token) | |"
    )
    lines.append(
        f"| raw tokenizer, long texts in prepare's pieces / short | | "
        f"{raw['long_cut_us_per_token'] / raw['short_us_per_token']:.2f}x "
        f"({raw['long_cut_us_per_token']:.2f} µs/token) | |"
    )
    lines.append(
        f"| packing efficiency | >= 99.5% | {r[f'ours_np{procs[0]}']['packing_efficiency']:.2%} | |"
    )
    if "big" in r:
        small, big = r[f"ours_np{procs[-1]}"], r["big"]
        lines.append(
            f"| peak memory, {big['input_mb'] / 1024:.2f} GB input vs {small['input_mb']:.0f} MB input | flat | "
            f"{_memory(big)} vs {_memory(small)} | |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
