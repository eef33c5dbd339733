"""Which attention path and kernels a training run uses.

The seam between the trainer (``train.sft``, ``train.dpo``) and device-specific speed work:
the trainer asks here, once, how to load a model (:func:`attention_implementation`) and then
hands the loaded model to :func:`adapt_model`, which returns notes for the user.

What is chosen, fastest first:

- **CUDA, varlen** (``"dataprep_varlen"``): FlashAttention-2's variable-length kernel as
  PyTorch ships it (``torch.nn.attention.varlen``), no ``flash-attn`` package needed.
  Document boundaries come from ``cu_seq_lens_q`` (TRL's padding-free collator emits them
  for rows with ``seq_lengths``), else from restarting ``position_ids``, else from a 2-D
  padding mask. A padded batch is unpadded once at the model's input by
  :func:`adapt_model`, so every layer runs on real tokens only (that is what makes padded
  DPO batches padding-free), and the last hidden states are padded back for the loss.
- **CUDA without the varlen kernel**: ``flex_attention`` when packing (transformers builds a
  block mask from the restarting ``position_ids``), else ``sdpa``.
- **CPU** and anything else: ``sdpa``, which transformers also masks per document from
  ``position_ids``.

On CUDA, :func:`adapt_model` also swaps RMSNorm, RoPE and SwiGLU for Liger's fused Triton
kernels when ``liger-kernel`` is installed. The loss needs nothing here: TRL 1.16 already
computes it with a chunked LM head that never materialises the full logits.

On an H200 (BENCHMARKS.md, issue 5) this runs a 1B Llama full fine-tune on packed rows at
58.6k tokens/s against 46.6k for TRL with flex_attention and 8.4k with sdpa, and DPO 3.9x
faster than TRL's padded batches.

Example (what ``train sft`` does)::

    impl = attention_implementation(device.type, packed=True)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=impl, dtype=dtype)
    for note in adapt_model(model, device_type=device.type, packed=True):
        print(note)
"""

from __future__ import annotations

import functools
import itertools
import os
import weakref
from typing import Any

import torch
import torch.nn.functional as F

from train import _upstream

VARLEN_ATTENTION = "dataprep_varlen"

# Architectures whose attention is plain causal softmax attention over full rows (no logit
# softcapping, no attention sinks, no sliding window), so the varlen kernel computes what
# their sdpa path computes. Others keep sdpa/flex and get a note.
VARLEN_MODEL_TYPES = frozenset(
    {
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "phi3",
        "granite",
        "olmo",
        "olmo2",
        "smollm3",
        "gemma",
        "glm",
        "helium",
    }
)


def attention_implementation(device_type: str, *, packed: bool) -> str:
    """The ``attn_implementation`` to load the model with.

    >>> attention_implementation("cpu", packed=True)
    'sdpa'
    """
    if device_type == "cuda":
        if is_varlen_available():
            return register_varlen_attention()
        if packed:
            return "flex_attention"
    return "sdpa"


def adapt_model(model: Any, *, device_type: str, packed: bool) -> list[str]:
    """Apply device-specific kernels to a loaded model; returns notes for the user.

    Call it on every model that runs forward passes with the chosen attention (the policy
    and, for DPO, the reference model), after loading and before wrapping with PEFT or
    building the trainer. It never changes what the model computes, only how.
    """
    notes: list[str] = []
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    model_type = getattr(config, "model_type", "?")
    impl = _upstream.attention_implementation_of(config)
    if impl == VARLEN_ATTENTION:
        reason = _varlen_unsupported_reason(config)
        if reason is not None:
            fallback = "flex_attention" if packed and device_type == "cuda" else "sdpa"
            base.set_attn_implementation(fallback)
            notes.append(f"attention: {model_type} {reason}; using {fallback} instead of varlen")
        else:
            backbone = getattr(base, "base_model", base)
            install_unpadding(backbone)
            notes.append(
                "attention: FlashAttention-2 varlen kernel (torch.nn.attention.varlen), documents "
                "kept apart by cu_seqlens; padded batches are unpadded at the model input"
            )
    elif device_type == "cuda" and packed and impl == "flex_attention":
        notes.append(
            "attention: flex_attention with a per-document block mask (this torch has no varlen kernel)"
        )
    elif device_type == "cuda" and packed:
        notes.append(f"attention: {impl}; documents kept apart by a per-document mask")
    if device_type == "cuda":
        notes.extend(_apply_liger(base))
    return notes


@functools.cache
def is_varlen_available() -> bool:
    """Whether this torch has a usable FlashAttention varlen kernel on a CUDA device."""
    if not torch.cuda.is_available():
        return False
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    major, _ = torch.cuda.get_device_capability()
    return major >= 8  # FlashAttention-2 needs Ampere or newer


def register_varlen_attention() -> str:
    """Register the varlen attention (and its mask builder) with transformers; returns its name.

    Safe to call more than once. On the CPU, or with fp32 tensors, the same function runs a
    per-document SDPA loop instead of the CUDA kernel, so the plumbing can be tested anywhere.
    """
    _upstream.register_attention(VARLEN_ATTENTION, varlen_attention_forward, _varlen_mask)
    return VARLEN_ATTENTION


def _varlen_unsupported_reason(config: Any) -> str | None:
    model_type = getattr(config, "model_type", None)
    if model_type not in VARLEN_MODEL_TYPES:
        return f"is not in the varlen list ({', '.join(sorted(VARLEN_MODEL_TYPES))})"
    if getattr(config, "attn_logit_softcapping", None) is not None:
        return "uses attention logit softcapping"
    sliding = getattr(config, "sliding_window", None)
    if sliding is not None and getattr(config, "use_sliding_window", True):
        return f"uses sliding-window attention ({sliding})"
    return None


# ---------------------------------------------------------------------------------------------
# Document boundaries


def cu_seqlens_from_position_ids(position_ids: torch.Tensor) -> torch.Tensor:
    """Cumulative document lengths (int32, starting at 0) of rows flattened end to end.

    A document starts at each row start and wherever the position does not follow the one
    before it (the rule transformers uses for packed ``position_ids``).

    >>> cu_seqlens_from_position_ids(torch.tensor([[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]])).tolist()
    [0, 3, 5, 9, 10]
    """
    length = position_ids.shape[1]
    starts = torch.ones_like(position_ids, dtype=torch.bool)
    if length > 1:
        starts[:, 1:] = position_ids[:, 1:] != position_ids[:, :-1] + 1
    return _cu_from_starts(starts.flatten())


def unpad_indices(
    attention_mask: torch.Tensor, position_ids: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where the real tokens of a padded batch are, and their document boundaries.

    Returns ``(indices, cu_seqlens, positions)``: flat indices of the tokens whose mask is 1,
    the cumulative document lengths over those tokens (each row is a document, split further
    where ``position_ids`` restart), and each kept token's position.

    >>> idx, cu, pos = unpad_indices(torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]]))
    >>> idx.tolist(), cu.tolist(), pos.tolist()
    ([0, 1, 2, 5, 6, 7], [0, 3, 6], [0, 1, 2, 0, 1, 2])
    """
    mask = attention_mask.bool()
    if position_ids is None:
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
    else:
        positions = position_ids.expand_as(mask)
    indices = mask.flatten().nonzero().squeeze(1)
    kept_positions = positions.flatten()[indices]
    row_of = torch.div(indices, mask.shape[1], rounding_mode="floor")
    starts = torch.ones_like(indices, dtype=torch.bool)
    if indices.numel() > 1:
        starts[1:] = (row_of[1:] != row_of[:-1]) | (kept_positions[1:] != kept_positions[:-1] + 1)
    return indices, _cu_from_starts(starts), kept_positions


def _cu_from_starts(starts: torch.Tensor) -> torch.Tensor:
    first = starts.nonzero().squeeze(1)
    total = torch.tensor([starts.numel()], device=starts.device, dtype=first.dtype)
    return torch.cat([first, total]).to(torch.int32)


class _BoundaryCache:
    """Boundaries derived from one forward's tensors, reused by every layer of that forward.

    Keyed on tensor identity (weak references), so it costs one device-to-host sync per
    forward instead of one per layer, and never outlives the tensors it was built from.
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] = ()
        self._value: Any = None

    def get(self, tensors: tuple[torch.Tensor | None, ...], build: Any) -> Any:
        key = tuple(None if t is None else weakref.ref(t) for t in tensors)
        alive = tuple(None if r is None else r() for r in self._key)
        if len(alive) == len(tensors) and all(a is t for a, t in zip(alive, tensors, strict=True)):
            return self._value
        self._value = build()
        self._key = key
        return self._value


_boundaries = _BoundaryCache()


# ---------------------------------------------------------------------------------------------
# Attention


def _varlen_mask(
    batch_size: int,
    q_length: int,
    kv_length: int,
    q_offset: Any = 0,
    kv_offset: Any = 0,
    attention_mask: torch.Tensor | None = None,
    **kwargs: Any,
) -> torch.Tensor | None:
    """Mask builder for :data:`VARLEN_ATTENTION`: the 2-D padding mask, or None when none.

    Decoding with a cache (queries shorter than keys) gets sdpa's 4-D mask, and the attention
    function then defers to sdpa as well.
    """
    if q_length != kv_length:
        return _upstream.sdpa_mask(
            batch_size=batch_size,
            q_length=q_length,
            kv_length=kv_length,
            q_offset=q_offset,
            kv_offset=kv_offset,
            attention_mask=attention_mask,
            **kwargs,
        )
    if attention_mask is not None:
        attention_mask = attention_mask[:, -kv_length:]
        if attention_mask.shape[1] == kv_length and bool(attention_mask.all()):
            return None
    return attention_mask


def varlen_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """A transformers attention function: causal attention that never crosses documents.

    ``query`` is ``(batch, heads, seq, head_dim)``, ``key``/``value`` may have fewer heads
    (GQA). Returns ``(batch, seq, heads, head_dim)`` like transformers' own functions.
    """
    batch, heads, length, head_dim = query.shape
    decoding = key.shape[2] != length or (attention_mask is not None and attention_mask.dim() != 2)
    if decoding or dropout > 0.0:
        return _upstream.sdpa_attention(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    causal = getattr(module, "is_causal", True)
    q = query.transpose(1, 2).reshape(batch * length, heads, head_dim)
    k = key.transpose(1, 2).reshape(batch * length, key.shape[1], head_dim)
    v = value.transpose(1, 2).reshape(batch * length, value.shape[1], head_dim)

    if attention_mask is not None:
        position_ids = kwargs.get("position_ids")
        indices, cu, max_len = _boundaries.get(
            (attention_mask, position_ids),
            lambda: _unpadded(attention_mask, position_ids),
        )
        out = _varlen_kernel(q[indices], k[indices], v[indices], cu, max_len, scaling, causal)
        full = out.new_zeros(batch * length, heads, head_dim).index_copy(0, indices, out)
        return full.view(batch, length, heads, head_dim), None

    cu, max_len = _upstream.varlen_boundaries(kwargs)
    if cu is None or max_len is None:
        position_ids = kwargs.get("position_ids")
        if position_ids is None:
            cu = torch.arange(0, (batch + 1) * length, length, device=q.device, dtype=torch.int32)
            max_len = length
        else:
            cu, max_len = _boundaries.get(
                (position_ids,), lambda: _with_max(cu_seqlens_from_position_ids(position_ids))
            )
    cu = cu.to(device=q.device, dtype=torch.int32)
    out = _varlen_kernel(q, k, v, cu, int(max_len), scaling, causal)
    return out.view(batch, length, heads, head_dim), None


def _unpadded(
    attention_mask: torch.Tensor, position_ids: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    indices, cu, _ = unpad_indices(attention_mask, position_ids)
    return indices, cu, int(cu.diff().max()) if cu.numel() > 1 else 0


def _with_max(cu: torch.Tensor) -> tuple[torch.Tensor, int]:
    return cu, int(cu.diff().max())


def _varlen_kernel(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu: torch.Tensor,
    max_len: int,
    scale: float | None,
    causal: bool,
) -> torch.Tensor:
    dtype = flash_dtype(q)
    if q.is_cuda and dtype is not None and is_varlen_available():
        q, k, v = (t.to(dtype) for t in (q, k, v))
        return _upstream.flash_varlen(q, k, v, cu, max_len, scale, causal)
    return reference_varlen(q, k, v, cu, scale, causal)


def flash_dtype(q: torch.Tensor) -> torch.dtype | None:
    """The half dtype the flash kernel can take ``q`` in, or None.

    Under autocast an fp32 ``q`` is what fp32 master weights give once RoPE has run in
    fp32 (transformers' rotary embedding follows the hidden states' dtype; Liger's does
    not): SDPA would compute it in the autocast dtype, and so does the kernel; left fp32,
    it fell back to one SDPA call a document, 16x slower on the GPU (a 1B DPO step: 2.7 s
    against 0.17 s).

    >>> q = torch.zeros(2, 1, 8)
    >>> flash_dtype(q) is None, flash_dtype(q.bfloat16())
    (True, torch.bfloat16)
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     flash_dtype(q)
    torch.bfloat16
    """
    if q.dtype in (torch.float16, torch.bfloat16):
        return q.dtype
    device = q.device.type
    if q.dtype == torch.float32 and torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        return dtype if dtype in (torch.float16, torch.bfloat16) else None
    return None


def reference_varlen(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu: torch.Tensor,
    scale: float | None = None,
    causal: bool = True,
) -> torch.Tensor:
    """Varlen attention as a loop of SDPA calls, one per document (the CPU path and the oracle).

    ``q`` is ``(tokens, heads, head_dim)``; ``k``/``v`` may have fewer heads.
    """
    outputs = []
    bounds = cu.tolist()
    for start, end in itertools.pairwise(bounds):
        qd, kd, vd = (t[start:end].transpose(0, 1).unsqueeze(0) for t in (q, k, v))
        out = F.scaled_dot_product_attention(
            qd, kd, vd, is_causal=causal, scale=scale, enable_gqa=kd.shape[1] != qd.shape[1]
        )
        outputs.append(out.squeeze(0).transpose(0, 1))
    if not outputs:
        return q.new_zeros(q.shape)
    return torch.cat(outputs, dim=0)


# ---------------------------------------------------------------------------------------------
# Unpadding at the model input


def install_unpadding(backbone: torch.nn.Module) -> None:
    """Make a decoder backbone run padded batches padding-free.

    A 2-D ``attention_mask`` with padding is turned, once per forward, into one row of real
    tokens with restarting ``position_ids`` and ``cu_seq_lens``; the last hidden state is
    scattered back to the padded shape, so callers (TRL's fused LM head, the loss) see what
    they expect. Calls with a cache (generation) pass through untouched. Idempotent, and a
    deep copy of the backbone (a DPO reference model) stays bound to itself. Only the last
    hidden state is padded back: ``output_hidden_states`` returns the unpadded row.
    """
    _upstream.replace_forward(backbone, _unpadded_forward)


def _unpadded_forward(self: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
    original = type(self).forward
    mask = kwargs.get("attention_mask")
    cached = any(
        kwargs.get(name) is not None for name in ("past_key_values", "cache", "cache_position")
    )
    if mask is None or mask.dim() != 2 or cached or kwargs.get("use_cache") or len(args) > 1:
        return original(self, *args, **kwargs)
    if args:
        kwargs["input_ids"] = args[0]
    input_ids = kwargs.pop("input_ids", None)
    embeds = kwargs.pop("inputs_embeds", None)
    batch, length = mask.shape
    indices, cu, positions = unpad_indices(mask, kwargs.get("position_ids"))
    max_len = int(cu.diff().max()) if cu.numel() > 1 else 0
    if embeds is not None:
        kwargs["inputs_embeds"] = embeds.flatten(0, 1)[indices].unsqueeze(0)
    else:
        kwargs["input_ids"] = input_ids.flatten()[indices].unsqueeze(0)
    kwargs.update(attention_mask=None, position_ids=positions.unsqueeze(0))
    kwargs.update(_upstream.varlen_keywords(cu, max_len))
    outputs = original(self, **kwargs)
    hidden = outputs.last_hidden_state[0]
    padded = hidden.new_zeros(batch * length, hidden.shape[-1]).index_copy(0, indices, hidden)
    outputs.last_hidden_state = padded.view(batch, length, -1)
    return outputs


# ---------------------------------------------------------------------------------------------
# Fused layer kernels


def _apply_liger(model: Any) -> list[str]:
    liger_types = _upstream.liger_model_types()
    if liger_types is None:
        return ["kernels: liger-kernel is not installed; RMSNorm, RoPE and SwiGLU run unfused"]
    model_type = getattr(model.config, "model_type", None)
    if model_type not in liger_types:
        return [f"kernels: liger-kernel has no kernels for {model_type}; layers run unfused"]
    # The LM head and loss stay with TRL's chunked fused head, which also yields the metrics.
    # TRAIN_LIGER_KERNELS (comma-separated of rope, rms_norm, swiglu; empty for none) is a
    # measuring knob: which of them pays depends on how many tokens a step holds.
    chosen = os.environ.get("TRAIN_LIGER_KERNELS", "rope,rms_norm,swiglu")
    kernels = {name: name in chosen.split(",") for name in ("rope", "rms_norm", "swiglu")}
    if not any(kernels.values()):
        return ["kernels: Liger off (TRAIN_LIGER_KERNELS)"]
    _upstream.apply_liger_kernels(
        model, **kernels, cross_entropy=False, fused_linear_cross_entropy=False
    )
    return ["kernels: Liger " + ", ".join(k for k, on in kernels.items() if on)]
