"""Generate a realistic chat dataset in the ``messages`` format, deterministically.

Rows have 1-8 exchanges (a user turn and an assistant answer), message lengths
log-uniform between 20 and 4000 characters (short questions are common, long answers
exist), a system prompt on some rows, tool calls with their results on some rows, code
with quotes and newlines (JSON escapes), and unicode (accents, CJK, emoji). The same
seed and size give byte-identical files.

    python benchmarks/gen_chat.py --size-mb 200 -o /tmp/chat.jsonl
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

import orjson

_WORDS = (
    "the of and to in is that for it as with was on be by this are from or have an they which "
    "one you were all we can her has there been if more when will would who so no model data "
    "training answer question example function value return result first time people could "
    "about because between through during before after under again further then once here "
    "why how where explain describe compare summary table list number string error file path "
    "system user assistant memory speed batch token length sequence gradient loss learning"
)
_UNICODE_WORDS = (
    "café naïve résumé über façade jalapeño Zürich São Paulo Ελλάδα Привет мир 你好 世界 "
    "日本語 테스트 こんにちは 数据 训练 🙂 🚀 ✅ 📚 — … « » ½ °C"
)
# Kept as text to read easily; split once.
WORDS = _WORDS.split()
UNICODE_WORDS = _UNICODE_WORDS.split()
CODE = (
    'def f(x):\n    return {"a": x, "b": [1, 2, 3]}\n',
    'print("hello, \\"world\\"")\n',
    "for i in range(10):\n\tif i % 2 == 0:\n\t\tcontinue\n",
    'SELECT name, count(*) FROM "users" WHERE age > 30 GROUP BY name;\n',
    "const x = `template ${value}`;\n",
)
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
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query"],
            },
        },
    },
]
SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a concise assistant. Answer in at most three sentences.",
    "You are an expert Python programmer. Explain your reasoning, then give the code.",
    "Tu es un assistant qui répond en français.",
)


def _corpus(rng: random.Random, n_chars: int, unicode_share: float) -> str:
    """A long text to slice messages from: slicing is what makes generating 1 GB fast."""
    parts: list[str] = []
    size = 0
    while size < n_chars:
        r = rng.random()
        if r < 0.03:
            piece = rng.choice(CODE)
        elif r < 0.03 + unicode_share:
            piece = rng.choice(UNICODE_WORDS) + " "
        else:
            piece = rng.choice(WORDS) + (". " if rng.random() < 0.08 else " ")
            if rng.random() < 0.01:
                piece += "\n\n"
        parts.append(piece)
        size += len(piece)
    return "".join(parts)


class _Texts:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.plain = _corpus(rng, 2_000_000, 0.0)
        self.mixed = _corpus(rng, 500_000, 0.25)

    def text(self) -> str:
        rng = self.rng
        n = int(math.exp(rng.uniform(math.log(20), math.log(4000))))
        source = self.mixed if rng.random() < 0.15 else self.plain
        start = rng.randrange(len(source) - n)
        return source[start : start + n].strip() or "ok"


def _row(i: int, rng: random.Random, texts: _Texts) -> dict:
    messages: list[dict] = []
    if rng.random() < 0.3:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    use_tools = rng.random() < 0.1
    for turn in range(rng.randint(1, 8)):
        messages.append({"role": "user", "content": texts.text()})
        if use_tools and turn == 0:
            call_id = f"call_{i}_{turn}"
            args = orjson.dumps({"city": rng.choice(["Paris", "東京", "Lagos"])}).decode()
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": args},
                        }
                    ],
                }
            )
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": '{"temp_c": 21, "sky": "clear"}',
                }
            )
        messages.append({"role": "assistant", "content": texts.text()})
    row: dict = {"id": f"row-{i:08d}", "messages": messages}
    if use_tools:
        row["tools"] = TOOLS
    return row


def generate(path: str | Path, size_mb: float, seed: int = 0) -> int:
    """Write about ``size_mb`` MB of rows to ``path``; returns the number of rows.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> generate(p, 0.05) > 0
    True
    """
    rng = random.Random(seed)
    texts = _Texts(rng)
    limit = int(size_mb * 1_000_000)
    written = rows = 0
    with open(path, "wb") as f:
        while written < limit:
            line = orjson.dumps(_row(rows, rng, texts)) + b"\n"
            f.write(line)
            written += len(line)
            rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--out", required=True)
    args = parser.parse_args()
    rows = generate(args.out, args.size_mb, args.seed)
    print(f"{args.out}: {rows} rows")


if __name__ == "__main__":
    main()
