"""How much device memory a run needs, and the defaults that follow from it.

Activation checkpointing recomputes each layer's activations in the backward pass instead
of keeping them: it saves most of the activation memory and costs about a fifth of the
speed (on an H200, a 1B Llama full fine-tune at 32k tokens a step: 53.8k tokens/s and
26 GiB with it, 62.4k and 67 GiB without; BENCHMARKS.md, issue 5). It is worth its price
only when the run would not fit without it. The same goes for the weights' dtype in a full
fine-tune: fp32 master weights keep the small updates bf16 rounds away, and are kept
unless only bf16 weights fit.

So the defaults are chosen from an estimate, before the model is loaded, from the model's
``config.json``, the mode, the batch and the data's longest row:

- weights and optimizer state, per parameter: full fine-tuning 16 bytes with fp32 masters
  (weights 4, gradients 4, AdamW's two moments 8), 8 with bf16 weights (AdamW keeps its
  moments in the weights' dtype); a LoRA base its loaded dtype; a QLoRA base about half a
  byte (NF4 with double quantization), its embeddings and head unquantized; DPO and KTO
  add a frozen reference for a full fine-tune (none with LoRA: the base with the adapter
  off is the reference);
- activations kept for the backward pass, per token and layer: ``ACTIVATION_BYTES`` times
  (hidden + intermediate size) without checkpointing; with it, each layer's input (the
  hidden state) plus one layer's full set, recomputed;
- a fixed allowance for the CUDA context, the allocator's fragmentation and the chunked
  loss (``OVERHEAD``).

The activation factors are fitted to the peaks measured on the H200 (BENCHMARKS.md: a 1B
full fine-tune: 67.0 GiB with fp32 masters, 47.6 GiB with bf16 weights, 26.4 GiB with
checkpointing; an 8B LoRA): the estimate gives 67.9, 48.7 and 27.4 GiB for the 1B (``tests/train/test_memory.py``
holds it to those figures). It is an estimate: ``--set activation_checkpointing=...`` and
``--set model_dtype=...`` decide instead of it.

>>> shape = ModelShape(parameters=1_235_814_400, layers=16, hidden=2048, intermediate=8192)
>>> need = estimate(shape, mode="full", weights_bytes=4, tokens=32_768)
>>> round(need.total(checkpointing=False) / GIB, 1), round(need.total(checkpointing=True) / GIB, 1)
(67.9, 27.4)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

GIB = 1024**3

# Bytes kept per token, per layer, per unit of (hidden + intermediate size) when no
# activation is recomputed: fitted to the H200 peaks above (a Llama with SwiGLU, Liger's
# fused kernels, FlashAttention's varlen kernel: no attention matrix is stored). Autocast
# over fp32 masters keeps both the fp32 inputs and their bf16 casts, hence more; so does
# an adapter, and its dropout (when not 0) keeps a dropped copy of every adapted layer's
# input besides: `train sft` of an 8B LoRA r16, 4 rows of 4096 a micro-batch, peaked at
# 121.2 GiB allocated with dropout 0.05 (estimated 121.3), 101.7 GiB without (102.4).
ACTIVATION_BYTES = {"full_fp32": 9.5, "full_half": 7.5, "adapter": 9.5, "adapter_dropout": 2.1}
# Bytes per token and vocabulary entry for the methods whose TRL trainer scores the whole
# vocabulary at once (trl.experimental's ORPO and CPO build the logits of chosen and
# rejected and their log-softmax; SFT, DPO and KTO go through TRL's chunked LM head and
# never hold them). Checkpointing leaves them as they are. Fitted to one run each (a 1B
# Llama, 128k vocabulary, 8 pairs of up to 1,983 tokens, bf16 weights, no checkpointing):
# ORPO 36.0 GiB allocated, SimPO 32.2, where the rest of the estimate gives 29.4.
LOGITS_BYTES = {"orpo": 3.5, "simpo": 1.5}
# CUDA context, allocator fragmentation, the loss's chunks, LoRA adapters and their state.
OVERHEAD = 2.0 * GIB
# The share of the device the estimate may fill for a choice to count as fitting "with
# room to spare": the estimate came within 5% of the peaks it was fitted to, and a run that
# dies of memory at step 300 costs more than a slower one.
HEADROOM = 0.88


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that its memory depends on."""

    parameters: int
    layers: int
    hidden: int
    intermediate: int
    # Parameters of the embeddings and the LM head, which QLoRA leaves unquantized.
    unquantized: int = 0
    vocab: int = 0


@dataclass(frozen=True)
class Need:
    """The estimated bytes a run needs on one device."""

    states: float  # weights, gradients, optimizer state, a frozen reference
    activations: float  # kept for the backward pass, no checkpointing
    checkpointed: float  # the same with activation checkpointing
    scores: float = 0.0  # whole-vocabulary logits (LOGITS_BYTES), with or without it

    def total(self, *, checkpointing: bool) -> float:
        kept = self.checkpointed if checkpointing else self.activations
        return self.states + kept + self.scores + OVERHEAD


class Choice(NamedTuple):
    """What the defaults are, and the line that says why."""

    activation_checkpointing: bool
    model_dtype: str  # "auto" (as the mode and device say) or "bfloat16"
    rows: int  # per_device_train_batch_size; the rest of the batch by accumulation
    why: str


def model_shape(config: dict[str, Any]) -> ModelShape | None:
    """The shape of a model from its ``config.json`` (a multimodal model's ``text_config``),
    or None when the config lacks the sizes (then nothing is estimated).

    >>> s = model_shape({"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
    ...                  "num_attention_heads": 4, "vocab_size": 1000})
    >>> s.parameters, s.unquantized
    (259392, 128000)
    """
    config = config.get("text_config") or config
    try:
        hidden = int(config["hidden_size"])
        layers = int(config["num_hidden_layers"])
        vocab = int(config["vocab_size"])
        heads = int(config.get("num_attention_heads") or 1)
        intermediate = int(config.get("intermediate_size") or 4 * hidden)
    except (KeyError, TypeError, ValueError):
        return None
    head_dim = int(config.get("head_dim") or hidden // max(heads, 1))
    kv_heads = int(config.get("num_key_value_heads") or heads)
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    experts = int(config.get("num_local_experts") or config.get("num_experts") or 1)
    mlp = 3 * hidden * intermediate * experts
    tied = bool(config.get("tie_word_embeddings", False))
    embeddings = vocab * hidden * (1 if tied else 2)
    per_layer = attention + mlp + 2 * hidden  # two norms
    return ModelShape(
        parameters=layers * per_layer + embeddings + hidden,
        layers=layers,
        hidden=hidden,
        intermediate=intermediate,
        unquantized=embeddings,
        vocab=vocab,
    )


def read_model_shape(folder: str | Path | None) -> ModelShape | None:
    """``model_shape`` of the ``config.json`` in ``folder``, None when there is none."""
    if folder is None:
        return None
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return model_shape(config) if isinstance(config, dict) else None


def estimate(
    shape: ModelShape,
    *,
    mode: str,
    weights_bytes: float,
    tokens: int,
    reference: bool = False,
    dropout: bool = False,
    logits_bytes: float = 0.0,
) -> Need:
    """The memory a step of ``tokens`` tokens needs in ``mode`` ("full", "lora", "qlora")
    with weights of ``weights_bytes`` bytes each (4 for fp32 masters, 2 for bf16);
    ``reference``: a frozen copy of the model beside it (DPO/KTO full fine-tuning);
    ``dropout``: the adapter's dropout is not 0; ``logits_bytes``: the method's
    ``LOGITS_BYTES``."""
    n = shape.parameters
    if mode == "full":
        # weights + gradients in their dtype, AdamW's two moments in the same dtype.
        states = n * weights_bytes * 4
        if reference:
            states += n * weights_bytes
    elif mode == "qlora":
        states = (n - shape.unquantized) * 0.55 + shape.unquantized * 2
    else:
        states = n * weights_bytes
    if mode != "full":
        per_unit = ACTIVATION_BYTES["adapter"] + dropout * ACTIVATION_BYTES["adapter_dropout"]
    else:
        per_unit = ACTIVATION_BYTES["full_fp32" if weights_bytes >= 4 else "full_half"]
    layer = tokens * per_unit * (shape.hidden + shape.intermediate)
    activations = layer * shape.layers
    # Checkpointing keeps each layer's input (in the weights' dtype under autocast) and
    # rebuilds one layer's activations at a time in the backward pass.
    kept = tokens * shape.hidden * max(weights_bytes, 2) * shape.layers
    scores = tokens * shape.vocab * logits_bytes
    return Need(states=states, activations=activations, checkpointed=kept + layer, scores=scores)


def choose(
    estimate_for: Any,
    *,
    device_bytes: float,
    weights_bytes: int,
    batch: int,
    may_split: bool = False,
    min_rows: int = 1,
    may_halve: bool = False,
    checkpointing: bool | None = None,
) -> Choice:
    """The fastest defaults that fit in ``HEADROOM`` of ``device_bytes``, in this order:

    1. no checkpointing, ``batch`` rows a step;
    2. (``may_split``: the batch size is ours) no checkpointing, the batch split into 2 or
       4 micro-batches with gradient accumulation: the same rows make each optimizer
       step, a little less work per kernel, none recomputed;
    3. checkpointing, ``batch`` rows;
    4. (``may_halve``: a full fine-tune whose dtype is ours) bf16 weights, checkpointing.

    ``estimate_for(weights_bytes, rows)`` gives the ``Need``; ``checkpointing`` set by the
    user is kept; micro-batches hold ``min_rows`` rows or more. When nothing fits: the
    last, saying so.

    >>> shape = ModelShape(parameters=1_235_814_400, layers=16, hidden=2048, intermediate=8192)
    >>> need = lambda b, rows: estimate(shape, mode="full", weights_bytes=b, tokens=rows * 4096)
    >>> [choose(need, device_bytes=gib * GIB, weights_bytes=4, batch=8, may_halve=True)[:3]
    ...  for gib in (141, 72, 24)]
    [(False, 'auto', 8), (True, 'auto', 8), (True, 'bfloat16', 8)]
    >>> choose(need, device_bytes=72 * GIB, weights_bytes=4, batch=8, may_split=True)[:3]
    (False, 'auto', 4)
    """
    room = HEADROOM * device_bytes
    ways = [False, True] if checkpointing is None else [checkpointing]
    candidates = [(ways[0], weights_bytes, batch)]
    if may_split and not ways[0]:
        candidates += [
            (False, weights_bytes, batch // k)
            for k in (2, 4)
            if batch % k == 0 and batch // k >= min_rows
        ]
    candidates += [(way, weights_bytes, batch) for way in ways[1:]]
    if may_halve and weights_bytes > 2:
        candidates.append((ways[-1], 2, batch))
    needs = [estimate_for(w, rows).total(checkpointing=c) for c, w, rows in candidates]
    pick = next((i for i, n in enumerate(needs) if n <= room), len(candidates) - 1)
    on, weights, rows = candidates[pick]
    said = [
        f"{_name(c, w < weights_bytes, r)} about {n / GIB:.0f} GiB"
        for (c, w, r), n in zip(candidates, needs, strict=True)
    ]
    why = (
        f"activation checkpointing {'on' if on else 'off'}"
        + (", bf16 weights" if weights < weights_bytes else "")
        + (f", {batch // rows} micro-batches of {rows} rows" if rows < batch else "")
        + f" ({'; '.join(said[: pick + 1])}; the GPU has {device_bytes / GIB:.0f} GiB)"
    )
    if needs[pick] > room:
        why += ": it may not fit, lower per_device_train_batch_size"
    return Choice(on, "bfloat16" if weights < weights_bytes else "auto", rows, why)


def _name(checkpointing: bool, halved: bool, rows: int) -> str:
    way = "with" if checkpointing else "without"
    return f"{rows} rows {way} checkpointing" + (", bf16 weights" if halved else "")


def longest_row(dataset: Any, columns: tuple[str, ...]) -> int:
    """The most tokens one example of ``dataset`` puts through the model at once: the
    longest row of the first column, or for preference data the longest prompt + chosen +
    prompt + rejected (TRL concatenates the pair in one forward pass)."""
    import pyarrow.compute as pc

    table = dataset.data.table if hasattr(dataset, "data") else dataset
    lengths = None
    for name in columns:
        if name not in table.column_names:
            continue
        column = pc.list_value_length(table.column(name)).fill_null(0)
        lengths = column if lengths is None else pc.add(lengths, column)
    if lengths is None or len(lengths) == 0:
        return 0
    value = pc.max(lengths).as_py()
    return int(value or 0)
