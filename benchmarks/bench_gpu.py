"""Issue 5: `train` on the GPU, ours against TRL's own paths, in one device call.

Every arm runs in its own process (Liger and attention registrations patch modules
globally, and each arm's peak memory must be its own) on the same seeded data and the same
random-init weights, and writes tokens/s (real, non-pad tokens only; warm-up steps excluded),
MFU (6N and 4N), peak GiB and the first logged losses. The ``check`` arm verifies that a
packed batch through our attention path gives each document the logits it gets alone.

    python benchmarks/bench_gpu.py suite sft,dpo --out $OUT        # on the GPU machine
    python benchmarks/bench_gpu.py suite sft --tiny --out /tmp/b    # smoke test on a CPU
    python benchmarks/bench_gpu.py arm sft_ours --json /tmp/a.json  # one arm

Suites: ``sft`` (TRL padded, packed sdpa, packed flex, packed sdpa+Liger, ours, ours without
Liger), ``check``, ``dpo`` (TRL vs ours), ``lora`` (8B LoRA), ``qlora`` (8B QLoRA, needs
bitsandbytes). Arm names can be given instead of suites.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import gpu_common as common  # noqa: E402

SFT_ARMS = {
    "sft_trl_padded": dict(attn="sdpa", packed=False),
    "sft_trl_packed_sdpa": dict(attn="sdpa", packed=True),
    "sft_trl_packed_flex": dict(attn="flex_attention", packed=True),
    "sft_trl_packed_liger": dict(attn="sdpa", packed=True, trl_liger=True),
    "sft_ours": dict(ours=True, packed=True),
    "sft_ours_no_liger": dict(ours=True, packed=True, hide_liger=True),
}
# Variants outside the default suite: what `train sft` loads for a full fine-tune (fp32
# master weights), and rows of 1024 tokens (TRL's default max_length).
SFT_VARIANTS = {
    "sft_ours_fp32_master": dict(ours=True, packed=True, fp32_master=True),
    "sft_trl_packed_sdpa_1k": dict(attn="sdpa", packed=True, max_len=1024),
    "sft_trl_packed_flex_1k": dict(attn="flex_attention", packed=True, max_len=1024),
    "sft_ours_1k": dict(ours=True, packed=True, max_len=1024),
}
SUITES = {
    "sft": list(SFT_ARMS),
    "check": ["check", "check_sdpa", "check_flex"],
    "dpo": ["dpo_trl", "dpo_ours"],
    "lora": ["lora8b_ours"],
    "qlora": ["qlora8b_ours"],
}
CPU_SKIPS = {
    "sft_trl_packed_flex",
    "sft_trl_packed_flex_1k",
    "sft_trl_packed_liger",
    "qlora8b_ours",
    "check_flex",
}


def settings(tiny: bool) -> dict[str, Any]:
    if tiny:
        return dict(
            device="cpu", shape="tiny", shape8b="tiny", warmup=1, steps=2, docs=64, max_len=256
        )
    return dict(
        device="cuda", shape="llama-1b", shape8b="llama-8b", warmup=3, steps=10, docs=1500,
        max_len=4096,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Building blocks


def new_model(shape: str, attn: str, device: str, dtype: Any, seed: int) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(
            common.llama_config(shape), dtype=dtype, attn_implementation=attn
        )
    return model


def our_attention(device: str, packed: bool) -> str:
    from train import fastpath

    if device == "cpu":
        # Exercise the varlen plumbing on a CPU (its reference kernel), not the sdpa default.
        return fastpath.register_varlen_attention()
    return fastpath.attention_implementation(device, packed=packed)


def adapt(model: Any, device: str, packed: bool, hide_liger: bool = False) -> list[str]:
    from train import fastpath

    if hide_liger:
        sys.modules["liger_kernel"] = None  # type: ignore[assignment]  # import now fails
    return fastpath.adapt_model(model, device_type=device, packed=packed)


def dtype_of(s: dict[str, Any]) -> Any:
    import torch

    return torch.bfloat16 if s["device"] == "cuda" else torch.float32


def train_args(cls: Any, s: dict[str, Any], out: str, **kw: Any) -> Any:
    return cls(
        output_dir=out,
        max_steps=s["warmup"] + s["steps"],
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        bf16=s["device"] == "cuda",
        use_cpu=s["device"] == "cpu",
        seed=0,
        **kw,
    )


def run_trainer(trainer_cls: Any, s: dict[str, Any], shape: str, **kw: Any) -> dict[str, Any]:
    import torch

    timer = common.step_timer(s["warmup"], s["steps"])
    cls = common.counting(trainer_cls)
    trainer = cls(callbacks=[timer], processing_class=common.stand_in_tokenizer(), **kw)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    return common.summarise(timer, cls.token_log, s["warmup"], s["steps"], shape)


# ---------------------------------------------------------------------------------------------
# Arms


def sft_arm(
    s: dict[str, Any],
    *,
    packed: bool,
    attn: str = "sdpa",
    ours: bool = False,
    trl_liger: bool = False,
    hide_liger: bool = False,
    fp32_master: bool = False,
    max_len: int | None = None,
) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if ours:
        attn = our_attention(s["device"], packed)
    # fp32_master: fp32 weights, gradients and optimizer state with bf16 autocast, as
    # train.models loads a full fine-tune; otherwise bf16 weights, as the peers ran.
    dtype = torch.float32 if fp32_master else dtype_of(s)
    model = new_model(s["shape"], attn, s["device"], dtype, seed=0)
    notes = adapt(model, s["device"], packed, hide_liger) if ours else []
    data = Dataset.from_list(common.sft_rows(s["docs"], 0, model.config.vocab_size, s["max_len"]))
    with tempfile.TemporaryDirectory() as out:
        args = train_args(
            SFTConfig,
            s,
            out,
            per_device_train_batch_size=8,
            max_length=max_len or s["max_len"],
            packing=packed,
            gradient_checkpointing=False,
            use_liger_kernel=trl_liger,
        )
        result = run_trainer(SFTTrainer, s, s["shape"], model=model, args=args, train_dataset=data)
    return {
        "attn_implementation": attn,
        "packed": packed,
        "weights": str(dtype),
        "max_length": max_len or s["max_len"],
        "notes": notes,
        **result,
    }


def dpo_arm(s: dict[str, Any], *, ours: bool) -> dict[str, Any]:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    attn = our_attention(s["device"], True) if ours else "sdpa"
    model = new_model(s["shape"], attn, s["device"], dtype_of(s), seed=0)
    # An adapted model is never deep-copied: each model is adapted on its own.
    ref = copy.deepcopy(model)
    notes = adapt(model, s["device"], True) if ours else []
    if ours:
        adapt(ref, s["device"], True)
    data = Dataset.from_list(common.dpo_rows(s["docs"], 0, model.config.vocab_size))
    with tempfile.TemporaryDirectory() as out:
        # TRL's defaults (batch 8, max_length 1024, beta 0.1, lr 1e-6, sigmoid loss) except
        # activation checkpointing, off in every arm as in the SFT setup.
        args = train_args(DPOConfig, s, out, gradient_checkpointing=False)
        result = run_trainer(
            pre_tokenized(DPOTrainer),
            s,
            s["shape"],
            model=model,
            ref_model=ref,
            args=args,
            train_dataset=data,
        )
    return {"attn_implementation": attn, "notes": notes, **result}


def pre_tokenized(base: type) -> type:
    """TRL 1.16's DPOTrainer always tokenizes text columns; the rows here (like the output of
    ``dataprep prepare``) already hold ``prompt_ids``/``chosen_ids``/``rejected_ids``."""

    class PreTokenized(base):  # type: ignore[misc, valid-type]
        def _prepare_dataset(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
            return dataset

    return PreTokenized


def lora_arm(s: dict[str, Any], *, quantized: bool, batch: int | None = None) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    shape = s["shape8b"]
    attn = our_attention(s["device"], True)
    model = new_model(shape, attn, s["device"], dtype_of(s), seed=0)
    notes = adapt(model, s["device"], True)
    if quantized:
        quantize_4bit(model)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    row = 2048 if quantized else 4096
    row = min(row, s["max_len"]) if s["device"] == "cpu" else row
    data = Dataset.from_list(common.sft_rows(s["docs"], 0, model.config.vocab_size, row))
    lora = LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    with tempfile.TemporaryDirectory() as out:
        args = train_args(
            SFTConfig,
            s,
            out,
            per_device_train_batch_size=batch or (1 if quantized else 2),
            max_length=row,
            packing=True,
            # QLoRA is about memory: checkpoint activations (TRL's default); LoRA is about speed.
            gradient_checkpointing=quantized,
            learning_rate=2e-4,
        )
        result = run_trainer(
            SFTTrainer, s, shape, model=model, args=args, train_dataset=data, peft_config=lora
        )
    return {
        "attn_implementation": attn,
        "notes": notes,
        "tokens_per_row": row,
        "rows_per_step": batch or (1 if quantized else 2),
        **result,
    }


def quantize_4bit(model: Any) -> None:
    """NF4-quantize every linear layer but the LM head in place, as from_pretrained with a
    BitsAndBytesConfig(load_in_4bit, nf4, double quant, bf16 compute) would."""
    import bitsandbytes as bnb
    import torch

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if not isinstance(child, torch.nn.Linear) or name == "lm_head":
                continue
            q = bnb.nn.Linear4bit(
                child.in_features,
                child.out_features,
                bias=child.bias is not None,
                compute_dtype=torch.bfloat16,
                compress_statistics=True,
                quant_type="nf4",
                device="meta",
            )
            q.weight = bnb.nn.Params4bit(
                child.weight.data, requires_grad=False, compress_statistics=True, quant_type="nf4"
            ).to(child.weight.device)
            if child.bias is not None:
                q.bias = child.bias
            setattr(module, name, q)
            del child
    model.is_loaded_in_4bit = True


def check_arm(s: dict[str, Any], attn: str | None = None) -> dict[str, Any]:
    """Per-document logits of a packed batch against each document run alone.

    Our path by default; ``attn`` checks a peer's attention path the same way (no
    adapt_model). A document passes when the packed run differs from the run alone by no
    more than bf16 arithmetic does (sdpa in bf16 vs an fp32 reference, same document: the
    noise floor), and lands as close to the fp32 reference as that bf16 run; the control (one
    long causal row, documents not kept apart) must fail by far.
    """
    import torch

    from train import fastpath

    device, dtype = s["device"], dtype_of(s)
    ours = attn is None
    attn = our_attention(device, True) if ours else attn
    model = new_model(s["shape"], attn, device, dtype, seed=1).eval()
    state = model.state_dict()
    ref32 = new_model(s["shape"], "sdpa", device, torch.float32, seed=2).eval()
    ref32.load_state_dict(state)
    sdpa = new_model(s["shape"], "sdpa", device, dtype, seed=3).eval()
    sdpa.load_state_dict(state)
    del state

    big = s["device"] == "cuda"
    lengths = [700, 300, 1500, 45, 2000, 900, 3] if big else [30, 7, 64, 3, 41]
    gen = torch.Generator().manual_seed(7)
    docs = [torch.randint(2, model.config.vocab_size, (n,), generator=gen) for n in lengths]
    ids = torch.cat(docs)[None].to(device)
    pos = torch.cat([torch.arange(n) for n in lengths])[None].to(device)
    cu = torch.tensor(
        [0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=device
    )
    width = max(lengths)
    padded = torch.zeros(len(docs), width, dtype=torch.long)
    mask = torch.zeros(len(docs), width, dtype=torch.long)
    for i, d in enumerate(docs):
        padded[i, : len(d)] = d
        mask[i, : len(d)] = 1
    padded, mask = padded.to(device), mask.to(device)

    def logits(m: Any, **kw: Any) -> torch.Tensor:
        with torch.no_grad():
            return m(**kw, use_cache=False).logits[0].float()

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).norm() / b.norm())

    # References first, before adapt_model patches anything (Liger's RoPE patch is global).
    ref = [logits(ref32, input_ids=d[None].to(device)) for d in docs]
    bf16_noise = [
        rel(logits(sdpa, input_ids=d[None].to(device)), r) for d, r in zip(docs, ref, strict=True)
    ]
    del ref32, sdpa
    notes = adapt(model, device, True) if ours else []

    alone = [logits(model, input_ids=d[None].to(device)) for d in docs]
    via_cu = logits(
        model, input_ids=ids, position_ids=pos, cu_seq_lens_q=cu, cu_seq_lens_k=cu,
        max_length_q=width, max_length_k=width,
    )  # fmt: skip
    via_pos = logits(model, input_ids=ids, position_ids=pos)
    with torch.no_grad():
        via_pad = model(input_ids=padded, attention_mask=mask, use_cache=False).logits.float()
    crossed = logits(model, input_ids=ids)  # one long causal row: documents NOT kept apart

    rows = []
    starts = cu.tolist()
    for i, n in enumerate(lengths):
        a, b = starts[i], starts[i + 1]
        rows.append(
            {
                "length": n,
                "packed_cu_vs_alone": rel(via_cu[a:b], alone[i]),
                "packed_pos_vs_alone": rel(via_pos[a:b], alone[i]),
                "padded_vs_alone": rel(via_pad[i, :n], alone[i]),
                "packed_vs_fp32": rel(via_cu[a:b], ref[i]),
                "sdpa_bf16_alone_vs_fp32": bf16_noise[i],
                "crossed_vs_alone": rel(crossed[a:b], alone[i]),
            }
        )
    worst = {k: max(r[k] for r in rows) for k in rows[0] if k != "length"}
    floor_min = 1e-3 if big else 1e-5  # fp32 on a CPU has no bf16 floor to speak of
    for r in rows:
        floor = max(r["sdpa_bf16_alone_vs_fp32"], floor_min)
        packed = max(r["packed_cu_vs_alone"], r["packed_pos_vs_alone"], r["padded_vs_alone"])
        r["passed"] = packed <= 2 * floor and r["packed_vs_fp32"] <= 1.25 * floor
    controls = [
        r["crossed_vs_alone"] >= 10 * max(r["sdpa_bf16_alone_vs_fp32"], floor_min) for r in rows[1:]
    ]
    passed = all(r["passed"] for r in rows) and all(controls)
    return {
        "attn_implementation": attn,
        "varlen_kernel": fastpath.is_varlen_available(),
        "varlen_signature": varlen_signature(),
        "notes": notes,
        "dtype": str(dtype),
        "criterion": (
            "per document: packed vs alone <= 2x floor, packed vs fp32 <= 1.25x floor, floor = "
            f"|sdpa bf16 alone - fp32| / |fp32| (min {floor_min:g}); control (documents not "
            "kept apart) >= 10x floor"
        ),
        "passed": passed,
        "worst": worst,
        "documents": rows,
    }


def varlen_signature() -> str | None:
    import inspect

    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return str(inspect.signature(varlen_attn))


ARMS = {
    **{name: (sft_arm, kw) for name, kw in {**SFT_ARMS, **SFT_VARIANTS}.items()},
    "check": (check_arm, {}),
    "check_sdpa": (check_arm, dict(attn="sdpa")),
    "check_flex": (check_arm, dict(attn="flex_attention")),
    "dpo_trl": (dpo_arm, dict(ours=False)),
    "dpo_ours": (dpo_arm, dict(ours=True)),
    "lora8b_ours": (lora_arm, dict(quantized=False)),
    "lora8b_ours_bs4": (lora_arm, dict(quantized=False, batch=4)),
    "qlora8b_ours": (lora_arm, dict(quantized=True)),
}


# ---------------------------------------------------------------------------------------------
# Driver


def environment() -> dict[str, Any]:
    import torch

    versions = common.package_versions()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"versions": versions, "gpu": gpu, "gpus": torch.cuda.device_count()}


def run_arm(name: str, tiny: bool, json_path: str) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    func, kw = ARMS[name]
    s = settings(tiny)
    started = time.time()
    try:
        result = {"arm": name, "ok": True, **func(s, **kw)}
    except Exception as exc:  # an arm's failure is a result, not the end of the run
        result = {"arm": name, "ok": False, "error": repr(exc), "trace": traceback.format_exc()}
    result["wall_s"] = time.time() - started
    result["environment"] = environment()
    common.write_json(json_path, result)
    return 0 if result["ok"] else 1


def run_suite(
    names: list[str], tiny: bool, out: Path, arm_timeout: int, budget: float, tag: str = ""
) -> dict[str, Any]:
    arms = [a for n in names for a in SUITES.get(n, [n])]
    if tiny:
        arms = [a for a in arms if a not in CPU_SKIPS]
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "arms": {}}
    out.mkdir(parents=True, exist_ok=True)
    if (out / "results.json").exists():  # a second suite into the same folder adds to it
        results = json.loads((out / "results.json").read_text())
    log = (out / "log.txt").open("a")
    began = time.time()
    for arm in arms:
        if time.time() - began > budget - 30:
            results["arms"][arm + tag] = {
                "arm": arm,
                "ok": False,
                "error": "skipped: out of time budget",
            }
            continue
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            path = f.name
        cmd = [sys.executable, __file__, "arm", arm, "--json", path, *(["--tiny"] if tiny else [])]
        print(f"== {arm}", flush=True)
        log.write(f"\n===== {arm}{tag}\n")
        log.flush()
        started = time.time()
        timeout = min(arm_timeout, budget - (started - began))
        try:
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)
            results["arms"][arm + tag] = json.loads(Path(path).read_text())
        except subprocess.TimeoutExpired:
            results["arms"][arm + tag] = {
                "arm": arm,
                "ok": False,
                "error": f"timeout {timeout:.0f}s",
            }
        except (OSError, ValueError) as exc:
            results["arms"][arm + tag] = {"arm": arm, "ok": False, "error": f"no result: {exc!r}"}
        results["arms"][arm + tag].setdefault("wall_s", time.time() - started)
        common.write_json(out / "results.json", add_ratios(results))
        print(line(arm + tag, results["arms"][arm + tag]), flush=True)
    return add_ratios(results)


def add_ratios(results: dict[str, Any]) -> dict[str, Any]:
    arms = results["arms"]

    def rate(name: str) -> float | None:
        arm = arms.get(name, {})
        return arm.get("tokens_per_s") if arm.get("ok") else None

    pairs = [
        ("sft_ours", "sft_trl_padded"),
        ("sft_ours", "sft_trl_packed_sdpa"),
        ("sft_ours", "sft_trl_packed_flex"),
        ("sft_ours", "sft_trl_packed_liger"),
        ("dpo_ours", "dpo_trl"),
    ]
    results["ratios"] = {f"{a}/{b}": rate(a) / rate(b) for a, b in pairs if rate(a) and rate(b)}
    return results


def line(name: str, r: dict[str, Any]) -> str:
    if not r.get("ok"):
        return f"{name:24s} FAILED {r.get('error', '')[:300]}"
    if name.startswith("check"):
        w = r["worst"]
        return (
            f"{name:24s} passed={r['passed']} packed/alone={w['packed_cu_vs_alone']:.2e} "
            f"padded/alone={w['padded_vs_alone']:.2e} packed/fp32={w['packed_vs_fp32']:.2e} "
            f"bf16 noise={w['sdpa_bf16_alone_vs_fp32']:.2e} crossed={w['crossed_vs_alone']:.2e}"
        )
    return (
        f"{name:24s} {r['tokens_per_s']:9.0f} tok/s  mfu6N {r['mfu_6n']:.3f}  "
        f"peak {r.get('peak_alloc_gib', 0):6.1f} GiB  loss1 {r.get('first_step_loss')}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("arm")
    one.add_argument("name", choices=sorted(ARMS))
    one.add_argument("--json", required=True)
    one.add_argument("--tiny", action="store_true")
    many = sub.add_parser("suite")
    many.add_argument("names", help="comma-separated suites or arm names")
    many.add_argument("--out", required=True)
    many.add_argument("--tiny", action="store_true")
    many.add_argument("--arm-timeout", type=int, default=240, help="seconds per arm")
    many.add_argument("--budget", type=float, default=1e9, help="start no arm after this many s")
    many.add_argument("--tag", default="", help="suffix for the arm names in the results")
    args = parser.parse_args()
    if args.cmd == "arm":
        return run_arm(args.name, args.tiny, args.json)
    results = run_suite(
        args.names.split(","), args.tiny, Path(args.out), args.arm_timeout, args.budget, args.tag
    )
    print("\n".join(line(k, v) for k, v in results["arms"].items()))
    print(json.dumps(results["ratios"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
