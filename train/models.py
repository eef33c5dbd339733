"""Models and tokenizers: loading, precision by device, LoRA / QLoRA / full, and the
attention seam (``train.fastpath``).

Precision by device and mode, with ``model_dtype: auto`` (the default):

    device            lora: base weights   qlora: 4-bit NF4, compute   full: weights, autocast
    CUDA with bf16    bf16                 bf16                        fp32, bf16
    older CUDA        fp16                 fp16                        fp32, fp16
    CPU               fp32                 fp32                        fp32, none

``model_dtype: bfloat16`` (or ``float32``, or ``float16`` outside full fine-tuning) loads
the weights in that dtype instead; autocast stays as in the table. Under FSDP the ``auto``
base weights stay fp32: FSDP's own mixed precision casts them, and mixed dtypes inside one
sharded unit are not allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dataprep.errors import TrainError, UsageError
from train import _upstream, fastpath, say
from train.config import LoraSettings
from train.data import PreparedData, has_tokenizer
from train.machine import bf16_supported, is_fsdp, local_folder


def resolve_path(name_or_path: str) -> str:
    """A local folder as an absolute path (so the adapter config finds its base from
    anywhere); anything else as given, for ``from_pretrained`` to look up."""
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.is_dir() else name_or_path


def choose_tokenizer(model: str, tokenizer: str | None, data: PreparedData) -> Path:
    """The tokenizer folder for this run: ``--tokenizer``, else the model's own, else the
    one the data names (checked against the data's hash either way)."""
    if tokenizer:
        folder = local_folder(tokenizer)
        if folder is None or not has_tokenizer(folder):
            raise UsageError(
                f"--tokenizer {tokenizer}: no tokenizer there (a folder, or a cached model)"
            )
        return folder
    folder = local_folder(model)
    if folder is not None and has_tokenizer(folder):
        return folder
    named = data.tokenizer_name
    folder = local_folder(named) if named else None
    if folder is not None and has_tokenizer(folder):
        say(f"note: {model} has no tokenizer; using {named}, the one the data was prepared with")
        return folder
    raise UsageError(
        f"{model} has no tokenizer files; pass the one the data was prepared with: --tokenizer DIR"
    )


def load_tokenizer(folder: str | Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.pad_token is None:
        # Padding positions never reach the loss (labels -100), so any token will do.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def check_vocabulary(model: str, tokenizer: Any, *, added: int = 0) -> None:
    """Refuse a model whose embedding table has no row for some of the tokenizer's ids;
    the last ``added`` (tokens the data's chat template added) get rows when the model is
    loaded (``load_model``'s ``vocab_size``)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as e:
        raise UsageError(f"--model {model}: not a model folder, nor a cached model ({e})") from None
    text_config = config.get_text_config()
    rows = getattr(text_config, "vocab_size", None)
    if rows is not None and len(tokenizer) - added > rows:
        raise TrainError(
            f"{model} embeds {rows} tokens but the tokenizer has {len(tokenizer)}: "
            "this is not the model the tokenizer belongs to"
        )


def compute_dtype(device: str) -> Any:
    """The dtype the matmuls run in: bf16 where the GPU has it, fp16 on older GPUs, fp32 on
    the CPU (where bf16 autocast is slow and changes results)."""
    import torch

    if device != "cuda":
        return torch.float32
    return torch.bfloat16 if bf16_supported(device) else torch.float16


def weights_dtype(mode: str, device: str, model_dtype: str = "auto") -> Any:
    """The dtype the model's (unquantized) weights are loaded in.

    ``auto`` keeps fp32 master weights for a full fine-tune, which is what TRL 1.16's
    ``SFTTrainer`` and ``DPOTrainer`` do with a model name (their ``model_init_kwargs``
    default to float32, not the checkpoint's dtype): with a learning rate of 2e-5 most
    updates are smaller than bf16's resolution of a weight (8 bits of mantissa) and would
    round away, while fp32 masters keep them: in `train sft` runs of a 1B Llama on an H200
    (BENCHMARKS.md, issue 5, "the real command") the bf16-weight run's loss stood at 9.95
    after 20 steps against 8.29 with fp32 masters, same data and seed. The price is speed
    and memory: 55.5k tokens/s and 66 GiB against 61.0k and 48 GiB in bf16. ``bfloat16``
    takes that speed, as many recipes do for large models (with a larger learning rate);
    a frozen LoRA base gets no updates, so ``auto`` loads it in the compute dtype.

    >>> import torch
    >>> weights_dtype("full", "cpu"), weights_dtype("lora", "cpu", "bfloat16")
    (torch.float32, torch.bfloat16)
    """
    import torch

    if model_dtype != "auto":
        return getattr(torch, model_dtype)
    return torch.float32 if mode == "full" or is_fsdp() else compute_dtype(device)


def load_model(
    name_or_path: str,
    *,
    mode: str,
    device: str,
    packed: bool,
    init_kwargs: dict[str, Any] | None = None,
    model_dtype: str = "auto",
    vocab_size: int | None = None,
    reward_head: bool = False,
) -> Any:
    """The causal LM for training in ``mode``, on the attention path ``fastpath`` picks,
    with its weights in :func:`weights_dtype`.

    ``reward_head`` loads the same checkpoint as a sequence classifier with one output
    (``AutoModelForSequenceClassification``, ``num_labels=1``): a reward model, scoring a
    sequence at its last token; the head is new (random) unless the checkpoint has one.

    ``vocab_size`` (the tokenizer's length) grows the embeddings when the tokenizer has
    tokens the model has no row for (special tokens the data's chat template added); new
    rows start at the mean of the others, as transformers' resizing does.

    ``init_kwargs`` (TRL's ``model_init_kwargs``) go to ``from_pretrained`` last, so a
    config can still choose ``dtype``, ``attn_implementation`` or ``trust_remote_code``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    compute = compute_dtype(device)
    kwargs: dict[str, Any] = {
        "attn_implementation": fastpath.attention_implementation(device, packed=packed),
        "dtype": weights_dtype(mode, device, model_dtype),
    }
    if mode == "qlora":
        from accelerate import PartialState
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
            # FSDP shards the packed 4-bit weights as tensors of this dtype.
            bnb_4bit_quant_storage=compute if is_fsdp() else torch.uint8,
        )
        # 4-bit weights are placed at load time; each process takes its own device.
        kwargs["device_map"] = {"": PartialState().device if device == "cuda" else "cpu"}
    if reward_head:
        kwargs["num_labels"] = 1
    kwargs.update(init_kwargs or {})
    try:
        if reward_head:
            with _upstream.quiet_reward_head_load():
                model = AutoModelForSequenceClassification.from_pretrained(name_or_path, **kwargs)
        else:
            model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as e:
        what = "a reward model" if reward_head else "a causal language model"
        raise UsageError(f"--model {name_or_path}: cannot load {what}: {e}") from None
    # The checkpoint's own architectures: a causal LM's has no head to score with.
    if reward_head and not any(is_sequence_classifier(a) for a in model.config.architectures or ()):
        say("note: the reward head (score, one output) is new: it starts from random weights")
    for note in fastpath.adapt_model(model, device_type=device, packed=packed):
        say(f"note: {note}")
    rows = model.get_input_embeddings().num_embeddings
    if vocab_size is not None and vocab_size > rows:
        model.resize_token_embeddings(vocab_size)
        say(
            f"note: grew the embeddings from {rows} to {vocab_size} rows for the tokens "
            "the data's chat template added"
        )
    return model


def lora_config(settings: LoraSettings, model: Any = None, new_tokens: Sequence[int] = ()) -> Any:
    """peft's LoraConfig for ``settings``.

    With ``new_tokens`` (ids added for the data's chat template) the input embeddings and
    the output layer of ``model`` train in full beside the adapter and are saved with it
    (peft's ``modules_to_save``; tied ones kept tied): new rows start at the mean, and the
    model must learn to read and to write those tokens. peft's lighter
    ``trainable_token_indices`` cannot be used: TRL 1.16's fused loss reads the output
    layer's ``weight`` and ``bias`` directly, which its wrapper does not provide.
    """
    from peft import LoraConfig

    extra: dict[str, Any] = {}
    if new_tokens:
        layers, tied = embedding_layers(model)
        extra.update(modules_to_save=layers, ensure_weight_tying=tied)
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        # A reward model's adapter: peft then trains and saves its new score head in full.
        task_type="SEQ_CLS" if is_sequence_classifier(model) else "CAUSAL_LM",
        **extra,
    )


def is_sequence_classifier(model: Any) -> bool:
    """Whether ``model`` (or a class name) scores sequences (a reward model) rather than
    predicting tokens."""
    name = model if isinstance(model, str) else type(model).__name__
    return name.endswith("ForSequenceClassification")


def embedding_layers(model: Any) -> tuple[list[str], bool]:
    """The names (last part) of ``model``'s input embeddings and output layer, and whether
    the two share their weights."""
    names = {id(module): name.rsplit(".", 1)[-1] for name, module in model.named_modules()}
    embeddings, output = model.get_input_embeddings(), model.get_output_embeddings()
    layers = [names[id(embeddings)]]
    if output is None:
        return layers, False
    layers.append(names[id(output)])
    return layers, output.weight is embeddings.weight


def frozen_in_compute_dtype(model: Any, args: Any) -> int:
    """Store the linear layers of a frozen ``model`` (a DPO or KTO reference beside fp32
    master weights) in the dtype the run's autocast computes them in; returns how many.

    Autocast casts a linear layer's fp32 weight to bf16 (fp16) at every call: stored so
    once, the products are the very same, without a cast kernel a layer a step nor the fp32
    copy's memory (2.3 GiB on a 1B model). The embeddings and the LM head keep theirs (a
    tied head is the embedding, whose lookup autocast leaves in fp32), as do the norms.
    Nothing changes without mixed precision (on the CPU) or under FSDP, which shards
    parameters of one dtype.
    """
    import torch

    dtype = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else None
    if dtype is None or is_fsdp():
        return 0
    keep = {id(model.get_input_embeddings()), id(model.get_output_embeddings())}
    linears = [
        m
        for m in model.modules()
        if isinstance(m, torch.nn.Linear) and id(m) not in keep and m.weight.dtype == torch.float32
    ]
    for module in linears:
        module.to(dtype)
    return len(linears)


def describe(model: Any, mode: str) -> str:
    """One line: what trains, how much of it, in which dtype."""
    sizes = [(_upstream.stored_values(p), p) for p in model.parameters()]
    trainable = sum(n for n, p in sizes if p.requires_grad)
    total = sum(n for n, _ in sizes)
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    return f"{mode}: {trainable:,} of {total:,} parameters train ({trainable / max(total, 1):.2%}), weights {dtype}"
