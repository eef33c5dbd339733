"""The model card (``README.md``) written beside a run's weights and a merged model.

It names what a reader needs to trust or reproduce the model: the base model (a path or
a Hub name, never ``None``), the method and mode, the key hyper-parameters, and the data
as its manifest describes it (sources with rows and tokens, mask policy, template,
packing). peft's ``save_pretrained`` and TRL's checkpoints write their own README.md
(with ``base_model: None`` when the base is a local folder); this one replaces it.

>>> print(model_card(base="/m/base", config={"kind": "sft", "mode": "lora"}, manifest=None).splitlines()[1])
base_model: /m/base
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dataprep.contract import Manifest
from train.config import RECORDED

CARD = "README.md"
METHODS = {
    "sft": "supervised fine-tuning (SFT)",
    "dpo": "direct preference optimisation (DPO)",
    "kto": "Kahneman-Tversky optimisation (KTO)",
    "orpo": "odds-ratio preference optimisation (ORPO)",
    "simpo": "simple preference optimisation (SimPO)",
    "reward": "a reward model",
}
MODES = {
    "lora": "LoRA adapter",
    "qlora": "LoRA adapter on a 4-bit (NF4) base (QLoRA)",
    "full": "every weight trained",
}
# The hyper-parameters a reader looks for first, when the config has them: those the
# written config records from TRL's (``train.config.RECORDED``), then the loss and dtype.
KEY_SETTINGS = (*RECORDED, "loss_type", "model_dtype")


def read_run_config(folder: str | Path) -> tuple[dict[str, Any], str | None]:
    """``train_config.yaml`` of a run folder and the command on its first line (``{}``
    and None when there is none or it cannot be read)."""
    path = Path(folder) / "train_config.yaml"
    try:
        text = path.read_text(encoding="utf-8")
        config = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}, None
    first = text.splitlines()[0] if text else ""
    command = first[1:].strip() if first.startswith("#") else None
    return (config if isinstance(config, dict) else {}), command


def read_card_manifest(folder: str | Path) -> Manifest | None:
    """The data manifest kept in a run folder, or None when absent or unreadable."""
    from dataprep.contract import ManifestDamaged, ManifestMissing, read_manifest

    try:
        return read_manifest(folder)
    except (ManifestMissing, ManifestDamaged):
        return None


def model_card(
    *,
    base: str,
    config: dict[str, Any],
    manifest: Manifest | None,
    command: str | None = None,
    merged_dtype: str | None = None,
) -> str:
    """The card's Markdown. ``merged_dtype``: the weights were merged and saved in it."""
    kind = config.get("kind") or "?"
    mode = config.get("mode") or "?"
    adapter = mode in ("lora", "qlora") and merged_dtype is None
    front = {
        "base_model": base,
        "library_name": "peft" if adapter else "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["train", kind] + (["lora"] if mode in ("lora", "qlora") else []),
    }
    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", ""]
    lines += [f"# {kind.upper()} of {base}", ""]
    what = METHODS.get(kind, kind)
    how = MODES.get(mode, mode)
    if merged_dtype is not None:
        how += f", merged into the base and saved in {merged_dtype}"
    lines += [f"- base model: `{base}`", f"- method: {what}", f"- mode: {how}"]
    if command:
        lines.append(f"- command: `{command}`")
    settings = [(k, config[k]) for k in KEY_SETTINGS if k in config]
    lora = config.get("lora")
    if mode in ("lora", "qlora") and isinstance(lora, dict):
        settings += [(f"lora.{k}", v) for k, v in lora.items()]
    if settings:
        lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in settings]
    lines += ["", "## Data", ""]
    lines += data_lines(manifest)
    lines += ["", "## Use", ""]
    lines += usage_lines(adapter)
    return "\n".join(lines) + "\n"


def data_lines(manifest: Manifest | None) -> list[str]:
    """The manifest's summary: sources, rows and tokens, and how the rows were made."""
    if manifest is None:
        return ["The data's manifest (dataprep.json) was not found beside the weights."]
    lines = [
        f"- kind: {manifest.kind or '?'}; tokenizer: `{manifest.tokenizer.name_or_path or '?'}`",
    ]
    template = manifest.chat_template
    if template is not None:
        lines.append(
            f"- chat template: {template.name or '?'} (sha256 {str(template.sha256)[:12]})"
        )
    if manifest.kind == "sft":
        lines.append(f"- mask policy: {manifest.mask or '?'}")
    lines.append(
        f"- max length {manifest.max_length}, length policy {manifest.length_policy}, "
        f"packing {'on' if manifest.packing else 'off'}"
    )
    if manifest.tokens is not None:
        lines.append(f"- tokens: {manifest.tokens.total:,} ({manifest.tokens.trainable:,} trained)")
    if manifest.splits:
        lines += ["", "| split | rows | tokens | trained tokens |", "|---|---:|---:|---:|"]
        for name, split in manifest.splits.items():
            lines.append(
                f"| {name} | {split.rows:,} | {_count(split.tokens)} | {_count(split.trainable_tokens)} |"
            )
    if manifest.sources:
        lines += [
            "",
            "| source | rows | tokens | trained tokens | mask |",
            "|---|---:|---:|---:|---|",
        ]
        for source in manifest.sources:
            name = source.name + (" (eval)" if source.eval else "")
            lines.append(
                f"| {name} | {source.rows_out:,} | {source.tokens:,} | "
                f"{source.trainable_tokens:,} | {source.mask or manifest.mask or ''} |"
            )
    elif manifest.inputs:
        lines += ["", "| input | format | sha256 |", "|---|---|---|"]
        for item in manifest.inputs:
            lines.append(f"| {item.path} | {item.format or '?'} | {str(item.sha256)[:12]} |")
    return lines


def usage_lines(adapter: bool) -> list[str]:
    if adapter:
        return [
            "A LoRA adapter: load it with peft (`PeftModel.from_pretrained(base, this_folder)`),",
            "or fold it into its base with `train merge THIS_FOLDER -o merged/`.",
        ]
    return ["`AutoModelForCausalLM.from_pretrained(this_folder)` loads it alone."]


def write_card(folder: str | Path, card: str) -> Path:
    path = Path(folder) / CARD
    path.write_text(card, encoding="utf-8")
    return path


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "?"
