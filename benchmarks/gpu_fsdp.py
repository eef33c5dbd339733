"""FSDP2 scaling of 1B full fine-tuning on our path, and a check of the saved model.

Launched once per GPU count with the shipped FSDP2 config, the same per-GPU batch each time
(8 packed rows of 4096 tokens), so the ratio of the two tokens/s is the scaling:

    accelerate launch --config_file train/configs/accelerate_fsdp2.yaml --num_processes 1 \\
        benchmarks/gpu_fsdp.py --json fsdp1.json
    accelerate launch --config_file train/configs/accelerate_fsdp2.yaml --num_processes 2 \\
        benchmarks/gpu_fsdp.py --json fsdp2.json

After training, the model is saved as ``train`` saves it (``trainer.save_model``, a gathered
full state dict), loaded back with ``from_pretrained``, and compared with the sharded model:
every weight, and the loss on a held-out batch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import gpu_common as common  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True)
    parser.add_argument("--shape", default="llama-1b")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--max-len", type=int, default=4096)
    args = parser.parse_args()

    import torch
    import torch.distributed as dist
    from accelerate import PartialState
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from train import fastpath

    state = PartialState()
    device = state.device.type
    impl = fastpath.attention_implementation(device, packed=True)
    torch.manual_seed(0)
    with torch.device(state.device):
        # fp32 master weights under FSDP, as train.models loads them; compute runs in bf16.
        model = AutoModelForCausalLM.from_config(
            common.llama_config(args.shape), dtype=torch.float32, attn_implementation=impl
        )
    notes = fastpath.adapt_model(model, device_type=device, packed=True)
    vocab = model.config.vocab_size
    data = Dataset.from_list(common.sft_rows(args.docs, 0, vocab, args.max_len))
    timer = common.step_timer(args.warmup, args.steps)
    trainer_cls = common.counting(SFTTrainer)
    started = time.time()
    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(
            output_dir=out,
            max_steps=args.warmup + args.steps,
            per_device_train_batch_size=8,
            max_length=args.max_len,
            packing=True,
            # The shipped config checkpoints activations through FSDP itself.
            gradient_checkpointing=False,
            bf16=device == "cuda",
            use_cpu=device == "cpu",
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            seed=0,
        )
        trainer = trainer_cls(
            model=model,
            args=config,
            train_dataset=data,
            processing_class=common.stand_in_tokenizer(),
            callbacks=[timer],
        )
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
        local = common.summarise(timer, trainer_cls.token_log, args.warmup, args.steps, args.shape)

        # Tokens of every rank over rank 0's timed window (the ranks step in lockstep).
        tokens = torch.tensor([local["measured_tokens"]], device=state.device, dtype=torch.float64)
        if dist.is_initialized():
            dist.all_reduce(tokens)
        rate = float(tokens) / local["seconds"]

        saved = Path(out) / "model"
        trainer.save_model(str(saved))
        check = compare_saved(trainer, saved, vocab, state)

    result = {
        "processes": state.num_processes,
        "attn_implementation": impl,
        "notes": notes,
        "tokens_per_s": rate,
        "tokens_per_s_per_gpu": rate / state.num_processes,
        **{k: v for k, v in common.mfu(rate / state.num_processes, args.shape).items()},
        "per_rank": {k: local[k] for k in ("tokens_per_s", "tokens_per_step", "step_seconds")},
        "peak_alloc_gib_rank0": local.get("peak_alloc_gib"),
        "first_step_loss": local["first_step_loss"],
        "saved_model": check,
        "wall_s": time.time() - started,
    }
    if state.is_main_process:
        common.write_json(args.json, result)
        print({k: result[k] for k in ("processes", "tokens_per_s", "saved_model")}, flush=True)
    state.wait_for_everyone()
    return 0


def compare_saved(trainer: Any, saved: Path, vocab: int, state: Any) -> dict[str, Any] | None:
    """Weights of the saved model against the gathered sharded ones, and the loss of both on
    one held-out batch. Every rank takes part in the gathers; rank 0 answers."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    full = trainer.accelerator.get_state_dict(trainer.model)
    gen = torch.Generator().manual_seed(123)
    ids = torch.randint(2, vocab, (2, 512), generator=gen).to(state.device)
    trainer.model.eval()
    autocast = torch.autocast(state.device.type, dtype=torch.bfloat16)
    with torch.no_grad(), autocast:
        sharded_loss = float(trainer.model(input_ids=ids, labels=ids, use_cache=False).loss)
    if not state.is_main_process:
        return None
    stored: dict[str, torch.Tensor] = {}
    for shard in sorted(saved.glob("*.safetensors")):
        stored.update(load_file(str(shard)))
    missing = sorted(set(full) - set(stored) - {"lm_head.weight"})  # tied to the embedding
    worst = max(
        float((stored[k].float().cpu() - full[k].float().cpu()).abs().max())
        for k in stored
        if k in full
    )
    loaded = AutoModelForCausalLM.from_pretrained(str(saved), dtype=torch.float32).to(state.device)
    loaded.eval()
    with torch.no_grad(), autocast:
        loaded_loss = float(loaded(input_ids=ids, labels=ids, use_cache=False).loss)
    return {
        "tensors": len(stored),
        "missing": missing,
        "max_abs_weight_diff": worst,
        "sharded_loss": sharded_loss,
        "loaded_loss": loaded_loss,
        "loss_rel_diff": abs(loaded_loss - sharded_loss) / abs(sharded_loss),
        # The sharded forward returns its loss in bf16 (12.125 in the first run), so the
        # losses can only agree to bf16's resolution; the weights must agree exactly.
        "matches": not missing
        and worst == 0.0
        and abs(loaded_loss - sharded_loss) / abs(sharded_loss) < 1e-2,
    }


if __name__ == "__main__":
    sys.exit(main())
