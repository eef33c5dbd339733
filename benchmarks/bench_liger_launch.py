"""What one call of Liger's RoPE / RMSNorm costs the host, against the eager version.

A DPO step of 6.4k tokens is bound by the CPU launching kernels (BENCHMARKS.md, issue 11),
and the profiler puts Liger's autograd functions first in CPU time; but the profiler's own
tracing inflates Python-heavy calls. This times the calls without it: N calls queued
back to back, one synchronisation at the end, the wall time per call (the host's cost when
the device keeps up), at a DPO-sized and an SFT-sized step, Llama-3.2-1B's head shapes.

    python benchmarks/bench_liger_launch.py --out results.json      # on a GPU
"""

from __future__ import annotations

import argparse
import json
import time


def per_call(fn, calls: int) -> float:
    import torch

    for _ in range(10):  # compile / warm the caches
        fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    queued = time.perf_counter() - start
    torch.cuda.synchronize()
    return queued / calls * 1e6  # µs of host time a call


def measure(tokens: int, calls: int) -> dict[str, float]:
    """Host µs a call, each variant, at ``tokens`` tokens a step (Llama-3.2-1B's heads)."""
    import torch
    from liger_kernel.transformers.rms_norm import LigerRMSNorm
    from liger_kernel.transformers.rope import liger_rotary_pos_emb
    from transformers.models.llama.modeling_llama import LlamaRMSNorm, apply_rotary_pos_emb

    heads, kv_heads, head_dim, hidden = 32, 8, 64, 2048
    bf16 = {"device": "cuda", "dtype": torch.bfloat16}
    q = torch.randn(1, heads, tokens, head_dim, **bf16)
    k = torch.randn(1, kv_heads, tokens, head_dim, **bf16)
    cos = torch.randn(1, tokens, head_dim, **bf16)
    sin = torch.randn(1, tokens, head_dim, **bf16)
    x = torch.randn(1, tokens, hidden, **bf16)
    norms = {
        "liger": LigerRMSNorm(hidden).cuda().to(torch.bfloat16),
        "eager": LlamaRMSNorm(hidden).cuda().to(torch.bfloat16),
    }
    ropes = {"liger": liger_rotary_pos_emb, "eager": apply_rotary_pos_emb}
    qg, kg, xg = (t.clone().requires_grad_() for t in (q, k, x))

    def rope_fwd_bwd(rope):
        a, b = rope(qg, kg, cos, sin)
        (a.sum() + b.sum()).backward()

    row = {}
    for name in ("liger", "eager"):
        rope, norm = ropes[name], norms[name]
        with torch.no_grad():
            row[f"{name}_rope_fwd"] = per_call(lambda: rope(q, k, cos, sin), calls)  # noqa: B023
            row[f"{name}_norm_fwd"] = per_call(lambda: norm(x), calls)  # noqa: B023
        row[f"{name}_rope_fwd_bwd"] = per_call(lambda: rope_fwd_bwd(rope), calls)  # noqa: B023
        row[f"{name}_norm_fwd_bwd"] = per_call(lambda: norm(xg).sum().backward(), calls)  # noqa: B023
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out")
    args = parser.parse_args()
    results = {}
    for tokens in (6400, 6401, 32768):  # a DPO step (and one not divisible by 16), an SFT step
        results[tokens] = measure(tokens, args.calls)
        print(tokens, {k: round(v, 1) for k, v in results[tokens].items()}, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
