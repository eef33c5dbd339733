"""The steps ``sft``, ``dpo`` and ``kto`` take alike: the data and its tokenizer, the
model sized for that tokenizer, a trainer on the data that stops on a non-finite loss, and a run trained and saved with everything
that made it.

Each recipe calls them in order, between the steps of its own (its TRL config, its
models), so it still reads top to bottom; they share a shape, not a base class.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from dataprep.errors import UsageError
from train import checkpoints, models, outputs, say
from train.config import RunConfig, write_config
from train.data import (
    PreparedData,
    check_tokenizer,
    copy_manifest,
    load_prepared,
    restore_tokens,
    template_note,
)
from train.summary import format_summary, plot_losses, summarize, write_summary


def load_data_and_tokenizer(
    data_dir: str | Path, run: RunConfig, *, kind: str
) -> tuple[PreparedData, Any]:
    """The prepared data of ``kind`` ("sft", "dpo" or "kto") and the tokenizer it was made
    with, checked against each other and against the run's model.

    Raises UsageError when the run names no model, or the data does not fit the
    tokenizer (see ``train.data.check_tokenizer``).
    """
    if not run.model:
        raise UsageError("which model? pass --model PATH (or `model:` in the config)")
    data = load_prepared(data_dir, kind=kind)
    tokenizer_dir = models.choose_tokenizer(run.model, run.tokenizer, data)
    tokenizer = models.load_tokenizer(tokenizer_dir)
    # The special tokens prepare added for its chat template, added here the same way
    # (same ids): the vocabulary check below then holds for the tokenizer as prepared.
    restore_tokens(data, tokenizer)
    check_tokenizer(data, tokenizer_dir, tokenizer)
    if note := template_note(data, tokenizer):
        say(note)
    models.check_vocabulary(run.model, tokenizer, added=len(data.added_tokens))
    return data, tokenizer


# The columns one example puts through the model in one forward pass (a preference pair:
# prompt + chosen and prompt + rejected; a KTO row and the KL row beside it).
_PAIR = ("prompt_ids", "prompt_ids", "chosen_ids", "rejected_ids")
FORWARD_COLUMNS = {
    "sft": ("input_ids",),
    "dpo": _PAIR,
    "orpo": _PAIR,
    "simpo": _PAIR,
    "reward": _PAIR,
    "kto": ("prompt_ids", "completion_ids", "prompt_ids", "completion_ids"),
}


def memory_defaults(run: RunConfig, data: PreparedData, kind: str, device: str) -> RunConfig:
    """``run`` with activation checkpointing and the weights' dtype chosen from a memory
    estimate of the model, batch and longest row on this device (``train.memory``), where
    the user set neither; says what was chosen and why. On the CPU, under FSDP, or for a
    model whose size the estimate cannot read, ``run`` is returned as it is (the defaults
    of ``train.config.defaults_for`` hold)."""
    import dataclasses

    from train import memory
    from train.config import RENAMED, config_class
    from train.machine import bf16_supported, device_memory, is_fsdp, local_folder

    set_checkpointing = any(k in run.trl for k in ("activation_checkpointing", *RENAMED))
    set_dtype = "model_dtype" in run.sources or run.model_dtype != "auto"
    if device != "cuda" or is_fsdp() or (set_checkpointing and set_dtype):
        return run
    shape = memory.read_model_shape(local_folder(models.resolve_path(run.model)))
    if shape is None:
        return run
    defaults = {f.name: f.default for f in dataclasses.fields(config_class(kind))}
    batch = int(run.trl.get("per_device_train_batch_size", defaults["per_device_train_batch_size"]))
    longest = max(1, memory.longest_row(data.train, FORWARD_COLUMNS.get(kind, ("input_ids",))))
    precompute = run.trl.get("precompute_ref_log_probs", False)
    reference = kind in ("dpo", "kto") and run.mode == "full" and not precompute
    weights = models.weights_dtype(run.mode, device, run.model_dtype).itemsize

    def need(weights_bytes: int, rows: int) -> memory.Need:
        return memory.estimate(
            shape,
            mode=run.mode,
            weights_bytes=weights_bytes,
            tokens=rows * longest,
            reference=reference,
            dropout=run.lora.dropout > 0,
            logits_bytes=memory.LOGITS_BYTES.get(kind, 0.0),
        )

    checkpointing = None
    if set_checkpointing:
        given = run.trl.get("activation_checkpointing", run.trl.get("gradient_checkpointing"))
        checkpointing = bool(given)
    choice = memory.choose(
        need,
        device_bytes=device_memory(),
        weights_bytes=weights,
        batch=batch,
        # A batch size the user chose is kept; ours may be split (same rows a step).
        may_split="per_device_train_batch_size" not in run.trl,
        # KTO estimates its KL term from the other rows of a micro-batch.
        min_rows=2 if kind == "kto" else 1,
        may_halve=run.mode == "full" and not set_dtype and bf16_supported(device),
        checkpointing=checkpointing,
    )
    trl_keys = dict(run.trl)
    if not set_checkpointing:
        trl_keys["activation_checkpointing"] = choice.activation_checkpointing
    if choice.rows < batch:
        trl_keys["per_device_train_batch_size"] = choice.rows
        accumulation = int(run.trl.get("gradient_accumulation_steps", 1))
        trl_keys["gradient_accumulation_steps"] = accumulation * (batch // choice.rows)
    dtype = run.model_dtype if set_dtype else choice.model_dtype
    say(
        f"memory: {choice.why} ({batch} rows of up to {longest:,} tokens a step); "
        "--set activation_checkpointing=... / model_dtype=... decide instead"
    )
    return dataclasses.replace(run, trl=trl_keys, model_dtype=dtype)


class Setup(NamedTuple):
    """What step 2 of a recipe decides: the run (with its memory defaults), TRL's config,
    the device, and the checkpoint to resume from (None: from the start)."""

    run: RunConfig
    args: Any
    device: str
    checkpoint: str | None


def configure(
    run: RunConfig,
    data: PreparedData,
    kind: str,
    output_dir: Path,
    *,
    resume: bool,
    packed: bool = False,
) -> Setup:
    """Step 2 of every recipe: the device; activation checkpointing and the weights' dtype
    from a memory estimate there (``memory_defaults``); TRL's config for ``kind`` from our
    defaults, then the user's keys (``train.config.trainer_config``); the checkpoint that
    ``--resume`` continues from."""
    from train import machine
    from train.config import resume_checkpoint, trainer_config

    device = machine.device_type()
    run = memory_defaults(run, data, kind, device)
    args = trainer_config(
        run,
        kind,
        output_dir=str(output_dir),
        device_type=device,
        bf16_ok=machine.bf16_supported(device),
        packed=packed,
        has_eval=data.eval is not None,
    )
    return Setup(run, args, device, resume_checkpoint(output_dir, resume))


def load_model(
    run: RunConfig,
    tokenizer: Any,
    device: str,
    *,
    packed: bool = False,
    reward_head: bool = False,
) -> Any:
    """The run's model (the policy, or a frozen reference: load it twice), with its
    embeddings grown to the tokenizer's length where prepare added special tokens for
    the chat template; ``packed`` takes the attention path that keeps documents apart;
    ``reward_head`` loads it as a one-output sequence classifier (``train reward``)."""
    return models.load_model(
        models.resolve_path(run.model),
        mode=run.mode,
        device=device,
        packed=packed,
        init_kwargs=run.trl.get("model_init_kwargs"),
        model_dtype=run.model_dtype,
        vocab_size=len(tokenizer),
        reward_head=reward_head,
    )


def load_reference(run: RunConfig, args: Any, tokenizer: Any, device: str) -> Any | None:
    """The frozen reference of a DPO or KTO run: for full fine-tuning a second copy of the
    model, its linear layers in the autocast dtype (``models.frozen_in_compute_dtype``);
    None with LoRA/QLoRA (the base with the adapter off is the reference) or when the
    reference log-probabilities are computed before training."""
    if run.mode != "full" or args.precompute_ref_log_probs:
        return None
    reference = load_model(run, tokenizer, device)
    reference.requires_grad_(False)
    reference.eval()
    models.frozen_in_compute_dtype(reference, args)
    return reference


def make_trainer(
    trainer_class: type,
    run: RunConfig,
    callbacks: Sequence[Any],
    data: PreparedData,
    **kwargs: Any,
) -> Any:
    """``trainer_class(**kwargs)`` on ``data``'s train and eval splits, with the run's
    LoRA settings (none for full fine-tuning) and ``callbacks``, stopping at the first
    non-finite loss.

    The tokens prepare added for the data's chat template have their embedding (and
    output) rows trained beside the adapter, or the model never learns them. TRL's and
    peft's own checks of the settings become a UsageError.
    """
    from train.callbacks import StopOnNonFiniteLoss

    peft_config = None
    if run.mode != "full":
        new_tokens = [t["id"] for t in data.added_tokens]
        peft_config = models.lora_config(run.lora, kwargs.get("model"), new_tokens)
    try:
        trainer = trainer_class(
            peft_config=peft_config,
            callbacks=list(callbacks),
            train_dataset=data.train,
            eval_dataset=data.eval,
            **kwargs,
        )
    except ValueError as e:
        raise UsageError(f"the trainer refused the run: {e}") from None
    trainer.add_callback(StopOnNonFiniteLoss(trainer))
    from trl import SFTTrainer

    if isinstance(trainer, SFTTrainer):
        from train.metrics import log_perplexity

        log_perplexity(trainer)  # eval_perplexity beside eval_loss, in the logs and report_to
    return trainer


def train_and_save(
    trainer: Any,
    *,
    checkpoint: str | None,
    run: RunConfig,
    args: Any,
    data: PreparedData,
    tokenizer: Any,
    output_dir: Path,
    command: str,
) -> None:
    """Train (from ``checkpoint`` when resuming), then save in ``output_dir``
    everything needed to use or reproduce the run: the adapter (or model), the
    tokenizer, the effective config, the data's manifest, a model card (README.md)
    and the run's summary (run_summary.json, also said at the end; ``run.plot`` draws
    the loss curves).

    The save is written aside and moved in with the weights last
    (``train.outputs.publish``): a kill leaves no folder that loads without its
    tokenizer or manifest. A checkpoint at the run's last step (a kill came after
    training, before the save was complete) gives the save without training again.
    """
    from train.callbacks import advise_on_oom
    from train.metrics import TokenCount

    main = trainer.is_world_process_zero()
    count = TokenCount(trainer)
    started = time.perf_counter()
    staging = outputs.staging_folder(output_dir)
    last_step = checkpoints.finished_at(checkpoint, args.max_steps) if checkpoint else None
    with outputs.writing_errors(output_dir):
        if main:
            outputs.remove_leftover(staging)  # a killed run's; long before anyone writes it
        if last_step is None:
            with advise_on_oom(trainer):
                trainer.train(resume_from_checkpoint=checkpoint)
        elif main:
            say(f"{Path(checkpoint).name} is the run's last step ({last_step}): saving it")
        seconds = time.perf_counter() - started
        tokens = count.totals()  # every process: it sums over them
        if main:
            outputs.new_partial(staging)
        try:
            if last_step is None:
                with warnings.catch_warnings():
                    # peft's notice that grown embeddings (tokens added for the chat
                    # template) are saved with the adapter: what is wanted, not a problem.
                    warnings.filterwarnings("ignore", message="Setting `save_embedding_layers`")
                    trainer.save_model(str(staging))  # every process: FSDP, DeepSpeed gather
            elif main:
                checkpoints.copy_final_weights(checkpoint, staging, args)
            if main:
                tokenizer.save_pretrained(str(staging))
                write_config(run, staging / "train_config.yaml", command, effective=args)
                copy_manifest(data, staging)
                summary = write_summary_and_card(
                    trainer,
                    staging,
                    run=run,
                    args=args,
                    data=data,
                    output_dir=output_dir,
                    command=command,
                    seconds=seconds,
                    tokens=tokens,
                    checkpoint=checkpoint,
                )
                outputs.publish(staging, output_dir)
        except BaseException:
            if main:
                shutil.rmtree(staging, ignore_errors=True)  # e.g. a full disk: give it back
            raise
        say(f"saved to {output_dir}")
        if main:
            say(format_summary(summary))
            if run.plot:
                title = f"{summary.kind} ({summary.mode}): {output_dir}"
                plot_losses(summary_history(trainer, checkpoint), run.plot, title=title)
                say(f"loss curve: {run.plot}")


def summary_history(trainer: Any, checkpoint: str | None) -> list[dict[str, Any]]:
    """The run's log history; when the save came from a finished checkpoint (nothing
    trained in this process), the checkpoint's."""
    if trainer.state.log_history or not checkpoint:
        return trainer.state.log_history
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_bytes())
    except (OSError, ValueError):
        return []
    history = state.get("log_history") if isinstance(state, dict) else None
    return history if isinstance(history, list) else []


def write_summary_and_card(
    trainer: Any,
    folder: Path,
    *,
    run: RunConfig,
    args: Any,
    data: PreparedData,
    output_dir: Path,
    command: str,
    seconds: float,
    tokens: tuple[int, int],
    checkpoint: str | None,
) -> Any:
    """``run_summary.json`` and the model card (``README.md``, replacing the one peft or
    TRL wrote) in ``folder``, where the save is staged; returns the summary."""
    from train import card
    from train.config import CONFIG_CLASSES

    history = summary_history(trainer, checkpoint)
    kinds = {name.rpartition(".")[2]: kind for kind, name in CONFIG_CLASSES.items()}
    summary = summarize(
        history,
        command=command,
        kind=kinds.get(type(args).__name__, data.kind),
        mode=run.mode,
        steps=trainer.state.global_step or max((e.get("step", 0) for e in history), default=0),
        seconds=seconds,
        tokens=tokens,
        output=output_dir,
        data=data.path,
        resumed=checkpoint is not None,
    )
    write_summary(summary, folder)
    config, _ = card.read_run_config(folder)
    base = models.resolve_path(run.model) if run.model else "?"
    card.write_card(
        folder, card.model_card(base=base, config=config, manifest=data.manifest, command=command)
    )
    return summary
