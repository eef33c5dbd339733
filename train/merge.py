"""Fold a LoRA adapter into its base model: a model ``transformers`` loads alone.

    train merge OUT -o MERGED [--base PATH] [--dtype bfloat16|float16|float32|auto]

The base comes from the adapter's ``base_model_name_or_path`` (``train`` records it as an
absolute path), or ``--base``. The merge runs in fp32 whatever the training precision
(an adapter trained with QLoRA merges into the full-precision base), and the merged
weights are saved in ``--dtype``: by default (``auto``) the dtype the base was stored in.
A model card (README.md) names the base, the method and the data (``train.card``).

The merged folder is built under ``MERGED.partial`` and renamed when complete
(``train.outputs.atomic_folder``): a merge killed midway leaves no ``MERGED``, and
running it again starts clean.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dataprep.errors import TrainError, UsageError
from train import card, say
from train.checkpoints import weights_problem
from train.data import MANIFEST, has_tokenizer
from train.outputs import atomic_folder, check_output_folder, writing_errors
from train.summary import SUMMARY

KEPT_FILES = (MANIFEST, "train_config.yaml", SUMMARY)
DTYPES = ("auto", "bfloat16", "float16", "float32")


def merge_adapter(
    adapter_dir: str | Path,
    output_dir: str | Path,
    *,
    base: str | None = None,
    dtype: str = "auto",
) -> Path:
    """Merge ``adapter_dir`` into its base and save model and tokenizer in ``output_dir``,
    the weights in ``dtype`` (``auto``: the base's stored dtype), with a model card."""
    adapter_dir, output_dir = Path(adapter_dir), Path(output_dir)
    if dtype not in DTYPES:
        raise UsageError(f"--dtype {dtype}: expected one of {', '.join(DTYPES)}")
    config_path = adapter_dir / "adapter_config.json"
    if not config_path.is_file():
        if (adapter_dir / "config.json").is_file():
            raise UsageError(
                f"{adapter_dir} holds a whole model (trained with --full): there is no adapter to merge"
            )
        raise UsageError(f"{adapter_dir}: no adapter_config.json, so no LoRA adapter to merge")
    try:
        adapter_config = json.loads(config_path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise UsageError(f"{config_path}: unreadable: {e}") from None
    if not isinstance(adapter_config, dict):
        raise UsageError(f"{config_path}: unreadable: not a JSON object")
    base = base or adapter_config.get("base_model_name_or_path")
    if not base or not isinstance(base, str):
        raise UsageError(f"{config_path} does not name its base model: pass --base PATH")
    check_output_folder(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise UsageError(f"refusing to write into {output_dir}: it exists and is not empty")

    import torch
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    # After the imports: on a light install, what to install is the first thing to say.
    if problem := weights_problem(adapter_dir):
        raise TrainError(
            f"{adapter_dir}: {problem}; the run's final save is incomplete "
            "(run it again with --resume to finish it)"
        )

    tokenizer_from = adapter_dir if has_tokenizer(adapter_dir) else base
    # A reward model's adapter (`train reward`) carries its score head: the base is loaded
    # as a one-output sequence classifier, or the merge would drop the head silently.
    scores = adapter_config.get("task_type") == "SEQ_CLS"
    try:
        stored = AutoConfig.from_pretrained(base).dtype
        if scores:
            from transformers import AutoModelForSequenceClassification

            model = AutoModelForSequenceClassification.from_pretrained(
                base, num_labels=1, dtype=torch.float32
            )
        else:
            model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise UsageError(f"base model {base}: cannot load it ({e}); pass --base PATH") from None
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_from))
    if scores and model.config.pad_token_id is None:
        # The classifier finds each sequence's last token by the pad id, as in training.
        model.config.pad_token_id = tokenizer.pad_token_id
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        # The run added special tokens for its chat template and trained the grown
        # embeddings (saved in the adapter): the base grows to match before loading them.
        model.resize_token_embeddings(len(tokenizer))
    model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    if dtype != "auto":
        model = model.to(getattr(torch, dtype))
    elif isinstance(stored, torch.dtype) and stored in (torch.bfloat16, torch.float16):
        model = model.to(stored)
    saved_as = str(model.dtype).removeprefix("torch.")
    config, command = card.read_run_config(adapter_dir)
    text = card.model_card(
        base=base,
        config=config,
        manifest=card.read_card_manifest(adapter_dir),
        command=command,
        merged_dtype=saved_as,
    )
    with writing_errors(output_dir), atomic_folder(output_dir) as partial:
        model.save_pretrained(str(partial))
        tokenizer.save_pretrained(str(partial))
        for name in KEPT_FILES:
            if (adapter_dir / name).is_file():
                shutil.copyfile(adapter_dir / name, partial / name)
        card.write_card(partial, text)  # after save_pretrained: it may write a card of its own
    say(f"merged {adapter_dir} into {base} ({saved_as}): {output_dir}")
    return output_dir
