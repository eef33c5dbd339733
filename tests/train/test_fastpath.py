"""train.fastpath on the CPU: document boundaries, and packed batches that keep documents apart.

The CUDA kernel itself is checked on the GPU by ``benchmarks/bench_gpu.py`` (arm ``check``);
here the same attention function runs its per-document reference kernel.
"""

from __future__ import annotations

import copy
import inspect
from types import SimpleNamespace

import pytest
import torch

from train import _upstream, fastpath

VOCAB = 101


def tiny_config(**overrides):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        **overrides,
    )


def tiny_model(attn: str, seed: int = 0):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(tiny_config(), attn_implementation=attn).eval()


@pytest.fixture(scope="module")
def docs() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return [torch.randint(2, VOCAB, (n,), generator=gen) for n in (5, 11, 1, 17, 2)]


@pytest.fixture(scope="module")
def alone(docs) -> list[torch.Tensor]:
    """Each document's logits, run alone through plain sdpa."""
    model = tiny_model("sdpa")
    with torch.no_grad():
        return [model(input_ids=d[None], use_cache=False).logits[0] for d in docs]


def packed_inputs(docs: list[torch.Tensor], mode: str) -> dict:
    lengths = [len(d) for d in docs]
    ids = torch.cat(docs)[None]
    positions = torch.cat([torch.arange(n) for n in lengths])[None]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    if mode == "cu_seq_lens":  # what TRL's padding-free collator emits
        return dict(
            input_ids=ids,
            position_ids=positions,
            cu_seq_lens_q=cu,
            cu_seq_lens_k=cu,
            max_length_q=max(lengths),
            max_length_k=max(lengths),
        )
    if mode == "position_ids":
        return dict(input_ids=ids, position_ids=positions)
    if mode == "no_boundaries":
        return dict(input_ids=ids)
    raise ValueError(mode)


def padded_inputs(docs: list[torch.Tensor], side: str) -> tuple[dict, list[slice]]:
    width = max(len(d) for d in docs) + 2
    ids = torch.zeros(len(docs), width, dtype=torch.long)
    mask = torch.zeros(len(docs), width, dtype=torch.long)
    spans = []
    for row, d in enumerate(docs):
        start = 0 if side == "right" else width - len(d)
        ids[row, start : start + len(d)] = d
        mask[row, start : start + len(d)] = 1
        spans.append(slice(start, start + len(d)))
    return dict(input_ids=ids, attention_mask=mask), spans


# ---------------------------------------------------------------------------------------------
# Boundaries


@pytest.mark.parametrize(
    ("position_ids", "expected"),
    [
        ([[0, 1, 2, 3]], [0, 4]),
        ([[0, 1, 2, 0, 1]], [0, 3, 5]),
        ([[0, 0, 0]], [0, 1, 2, 3]),
        ([[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]], [0, 3, 5, 9, 10]),
        # A jump that is not a restart also starts a document (transformers' rule).
        ([[0, 1, 5, 6]], [0, 2, 4]),
        ([[7]], [0, 1]),
    ],
)
def test_cu_seqlens_from_position_ids(position_ids, expected):
    cu = fastpath.cu_seqlens_from_position_ids(torch.tensor(position_ids))
    assert cu.dtype == torch.int32
    assert cu.tolist() == expected


@pytest.mark.parametrize(
    ("mask", "position_ids", "indices", "cu", "positions"),
    [
        ([[1, 1, 1, 0], [1, 1, 0, 0]], None, [0, 1, 2, 4, 5], [0, 3, 5], [0, 1, 2, 0, 1]),
        ([[0, 1, 1, 1], [0, 0, 1, 1]], None, [1, 2, 3, 6, 7], [0, 3, 5], [0, 1, 2, 0, 1]),
        ([[1, 1, 1, 1]], None, [0, 1, 2, 3], [0, 4], [0, 1, 2, 3]),
        # Packed documents inside padded rows: position_ids restart within a row.
        ([[1, 1, 1, 1, 0]], [[0, 1, 0, 1, 0]], [0, 1, 2, 3], [0, 2, 4], [0, 1, 0, 1]),
        # Rows that continue each other's positions are still separate documents.
        ([[1, 1, 0], [1, 1, 0]], [[0, 1, 2], [2, 3, 4]], [0, 1, 3, 4], [0, 2, 4], [0, 1, 2, 3]),
        ([[0, 0], [1, 0]], None, [2], [0, 1], [0]),
    ],
)
def test_unpad_indices(mask, position_ids, indices, cu, positions):
    pos = None if position_ids is None else torch.tensor(position_ids)
    got_indices, got_cu, got_positions = fastpath.unpad_indices(torch.tensor(mask), pos)
    assert got_indices.tolist() == indices
    assert got_cu.tolist() == cu
    assert got_positions.tolist() == positions


# ---------------------------------------------------------------------------------------------
# Choosing the path


@pytest.mark.parametrize("packed", [True, False])
def test_cpu_keeps_sdpa(packed):
    assert fastpath.attention_implementation("cpu", packed=packed) == "sdpa"


@pytest.mark.parametrize(
    ("config", "supported"),
    [
        (SimpleNamespace(model_type="llama"), True),
        (SimpleNamespace(model_type="qwen2", sliding_window=4096, use_sliding_window=False), True),
        (SimpleNamespace(model_type="qwen2", sliding_window=4096, use_sliding_window=True), False),
        (SimpleNamespace(model_type="mistral", sliding_window=None), True),
        (SimpleNamespace(model_type="mistral", sliding_window=4096), False),
        (SimpleNamespace(model_type="gemma", attn_logit_softcapping=50.0), False),
        (SimpleNamespace(model_type="gpt_oss"), False),
    ],
)
def test_varlen_support_by_architecture(config, supported):
    assert (fastpath._varlen_unsupported_reason(config) is None) is supported


def test_adapt_model_falls_back_for_unsupported_architecture():
    from transformers import AutoModelForCausalLM, GPT2Config

    name = fastpath.register_varlen_attention()
    config = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=1, n_head=2, n_positions=64)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=name)
    notes = fastpath.adapt_model(model, device_type="cpu", packed=True)
    assert model.config._attn_implementation == "sdpa"
    assert notes == [
        f"attention: gpt2 is not in the varlen list ({', '.join(sorted(fastpath.VARLEN_MODEL_TYPES))}); "
        "using sdpa instead of varlen"
    ]


# ---------------------------------------------------------------------------------------------
# Documents kept apart


@pytest.mark.parametrize("mode", ["cu_seq_lens", "position_ids"])
def test_packed_row_matches_documents_alone(docs, alone, mode):
    model = tiny_model(fastpath.register_varlen_attention())
    with torch.no_grad():
        logits = model(**packed_inputs(docs, mode), use_cache=False).logits[0]
    pieces = logits.split([len(d) for d in docs])
    for piece, expected in zip(pieces, alone, strict=True):
        torch.testing.assert_close(piece, expected, rtol=1e-5, atol=1e-5)


def test_packed_row_without_boundaries_mixes_documents(docs, alone):
    """The control: the comparison above does fail when documents can see each other."""
    model = tiny_model(fastpath.register_varlen_attention())
    with torch.no_grad():
        logits = model(**packed_inputs(docs, "no_boundaries"), use_cache=False).logits[0]
    pieces = logits.split([len(d) for d in docs])
    assert all(
        not torch.allclose(p, e, atol=1e-3) for p, e in zip(pieces[1:], alone[1:], strict=True)
    )


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("adapted", [True, False])
def test_padded_batch_matches_documents_alone(docs, alone, side, adapted):
    """Padded rows: unpadded once at the input (adapted) or per layer from the 2-D mask."""
    model = tiny_model(fastpath.register_varlen_attention())
    if adapted:
        assert fastpath.adapt_model(model, device_type="cpu", packed=True) == [
            "attention: FlashAttention-2 varlen kernel (torch.nn.attention.varlen), documents kept "
            "apart by cu_seqlens; padded batches are unpadded at the model input"
        ]
    inputs, spans = padded_inputs(docs, side)
    with torch.no_grad():
        logits = model(**inputs, use_cache=False).logits
    for row, (span, expected) in enumerate(zip(spans, alone, strict=True)):
        torch.testing.assert_close(logits[row, span], expected, rtol=1e-5, atol=1e-5)


def test_unpadded_training_step_matches_sdpa_gradients(docs):
    """Loss and gradients of a padded batch are those of plain sdpa on the same batch."""
    inputs, _ = padded_inputs(docs, "right")
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    grads = []
    for attn in ("sdpa", fastpath.register_varlen_attention()):
        model = tiny_model(attn).train()
        fastpath.adapt_model(model, device_type="cpu", packed=True)
        loss = model(**inputs, labels=labels, use_cache=False).loss
        loss.backward()
        grads.append((loss.detach(), {n: p.grad for n, p in model.named_parameters()}))
    (loss_a, grad_a), (loss_b, grad_b) = grads
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-6, atol=1e-6)
    for name, grad in grad_a.items():
        torch.testing.assert_close(grad, grad_b[name], rtol=1e-4, atol=1e-6, msg=name)


def test_adapted_copy_runs_its_own_weights(docs):
    """A deep copy of an adapted model (a DPO reference) must not call the original's layers."""
    model = tiny_model(fastpath.register_varlen_attention())
    fastpath.adapt_model(model, device_type="cpu", packed=True)
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(0.5)
    inputs, _ = padded_inputs(docs, "right")
    with torch.no_grad():
        ours = model(**inputs, use_cache=False).logits
        theirs = twin(**inputs, use_cache=False).logits
    assert not torch.allclose(ours, theirs, atol=1e-3)


def test_generation_with_cache_matches_sdpa():
    """Decoding (queries shorter than keys) defers to sdpa, so generation is unchanged."""
    prompt = torch.tensor([[5, 17, 42, 8, 99, 3]])
    outputs = []
    for attn in ("sdpa", fastpath.register_varlen_attention()):
        model = tiny_model(attn)
        fastpath.adapt_model(model, device_type="cpu", packed=False)
        outputs.append(
            model.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=0).tolist()
        )
    assert outputs[0] == outputs[1]


# ---------------------------------------------------------------------------------------------
# The CUDA call, against the varlen API of different torch releases


def _fake_varlen(signature: str, gqa_ok: bool, calls: list):
    def varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k, **kwargs):
        if k.shape[1] != q.shape[1] and not (gqa_ok or kwargs.get("enable_gqa")):
            raise ValueError("Expect query and key/value to have the same number of heads")
        calls.append({"kv_heads": k.shape[1], **kwargs})
        return torch.zeros_like(q)

    params = {
        "is_causal": "(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, is_causal=False, return_aux=None, scale=None)",
        "window": "(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, return_aux=None, scale=None, window_size=(-1, -1))",
        "window_gqa": "(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, return_aux=None, scale=None, window_size=(-1, -1), enable_gqa=False)",
    }[signature]
    namespace: dict = {}
    exec(f"def stub{params}: pass", namespace)
    varlen_attn.__signature__ = inspect.signature(namespace["stub"])
    return varlen_attn


@pytest.mark.parametrize(
    ("signature", "gqa_ok", "expected"),
    [
        ("is_causal", True, [{"kv_heads": 2, "scale": 0.5, "is_causal": True}]),
        ("window", True, [{"kv_heads": 2, "scale": 0.5, "window_size": (-1, 0)}]),
        (
            "window_gqa",
            False,
            [{"kv_heads": 2, "scale": 0.5, "window_size": (-1, 0), "enable_gqa": True}],
        ),
        # A wrapper that rejects fewer key heads and has no flag: heads are repeated.
        ("window", False, [{"kv_heads": 4, "scale": 0.5, "window_size": (-1, 0)}] * 2),
    ],
)
def test_flash_call_follows_installed_signature(monkeypatch, signature, gqa_ok, expected):
    import torch.nn.attention.varlen as varlen

    calls: list = []
    monkeypatch.setattr(varlen, "varlen_attn", _fake_varlen(signature, gqa_ok, calls))
    monkeypatch.setattr(_upstream, "_native_gqa", [True])
    _upstream._varlen_signature.cache_clear()
    try:
        q, kv = torch.zeros(6, 4, 8), torch.zeros(6, 2, 8)
        cu = torch.tensor([0, 2, 6], dtype=torch.int32)
        for _ in range(len(expected)):
            _upstream.flash_varlen(q, kv, kv, cu, 4, 0.5, True)
    finally:
        _upstream._varlen_signature.cache_clear()
    assert calls == expected
