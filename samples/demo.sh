#!/usr/bin/env bash
# The README's main command (`make demo`): the whole path on the bundled samples, on CPU.
# detect -> validate -> convert -> prepare -> train sft / dpo / kto a few steps -> merge.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false
out=${DEMO_OUT:-out/demo}
rm -rf "$out"; mkdir -p "$out"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "detect: what is each sample?"
dataprep detect samples/*.jsonl

step "validate: schema and meaning checks"
dataprep validate samples/*.jsonl

step "convert: sharegpt -> messages, alpaca -> sharegpt, messages -> parquet"
dataprep convert samples/sharegpt.jsonl --to messages -o "$out/sharegpt_as_messages.jsonl"
dataprep convert samples/alpaca.jsonl --to sharegpt -o "$out/alpaca_as_sharegpt.jsonl"
dataprep convert samples/messages.jsonl --to messages -o "$out/messages.parquet"

step "prepare: SFT data for the tiny model (chat template, masks, packing)"
dataprep prepare samples/messages.jsonl samples/sharegpt.jsonl samples/alpaca.jsonl \
  --tokenizer samples/tiny-tokenizer --max-length 512 -o "$out/sft"
dataprep inspect "$out/sft" --row 0 | head -40

step "prepare: DPO data"
dataprep prepare samples/preference.jsonl --tokenizer samples/tiny-tokenizer --max-length 512 \
  -o "$out/dpo"

step "prepare: KTO data (answers labelled desirable or not)"
dataprep prepare samples/kto.jsonl --tokenizer samples/tiny-tokenizer --max-length 512 -o "$out/kto"

step "train sft: a few LoRA steps on the tiny model"
train sft "$out/sft" --model samples/tiny-model --tokenizer samples/tiny-tokenizer -o "$out/sft-run" \
  --set max_steps=6 --set logging_steps=2

step "train dpo: a few LoRA steps"
train dpo "$out/dpo" --model samples/tiny-model --tokenizer samples/tiny-tokenizer -o "$out/dpo-run" \
  --set max_steps=4 --set logging_steps=2

step "train kto: a few LoRA steps"
train kto "$out/kto" --model samples/tiny-model --tokenizer samples/tiny-tokenizer -o "$out/kto-run" \
  --set max_steps=4 --set logging_steps=2 --set per_device_train_batch_size=4

step "merge the SFT adapter into the base model"
train merge "$out/sft-run" -o "$out/merged"

printf '\nDemo finished: outputs in %s\n' "$out"
