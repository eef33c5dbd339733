"""Run configuration: YAML -> a small dataclass of our own fields -> TRL's config.

A config file holds our few fields and, beside them, any field of TRL's ``SFTConfig``,
``DPOConfig`` or ``KTOConfig`` (and so of ``transformers.TrainingArguments``). Those pass
through untouched, so TRL validates its own fields and its documentation stays the
reference::

    kind: sft                  # sft | dpo | kto | orpo | simpo | reward; optional, the command says it too
    model: samples/tiny-model  # a folder or a Hugging Face name
    mode: lora                 # lora | qlora | full
    model_dtype: auto          # auto | bfloat16 | float16 | float32: the weights as loaded
    lora: {r: 16, alpha: 32, dropout: 0.0, target_modules: all-linear}
    learning_rate: 2.0e-4      # from here on, TRL's fields
    num_train_epochs: 1

``--set key=value`` overrides a key; the value is read as YAML (``--set lora.r=8``,
``--set report_to=[tensorboard]``). Errors name the key and where it came from.

>>> run = parse_run_config({"mode": "qlora", "lora": {"r": 8}, "max_steps": 10}, {})
>>> run.mode, run.lora.r, run.lora.alpha, run.trl
('qlora', 8, 32, {'max_steps': 10})
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dataprep.errors import UsageError
from train.limits import check_numbers, check_shape

# TRL's config class for each kind, by name under ``trl`` (imported only when a run needs
# it). ORPO and SimPO run on TRL's experimental trainers (SimPO is CPOTrainer's simpo loss).
CONFIG_CLASSES = {
    "sft": "SFTConfig",
    "dpo": "DPOConfig",
    "kto": "KTOConfig",
    "orpo": "experimental.orpo.ORPOConfig",
    "simpo": "experimental.cpo.CPOConfig",
    "reward": "RewardConfig",
}
# Defaults of a kind that TRL's own differ from, under the user's keys. SimPO: CPOConfig's
# loss "simpo" without CPO's NLL term (cpo_alpha 0: pure SimPO, as TRL's docs say for it);
# CPO's beta 0.1 is for summed log-probabilities, and SimPO's are averaged per token, so
# its paper's scale: beta 2.0 and a target margin gamma of 1.0 (gamma/beta 0.5).
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "simpo": {"loss_type": "simpo", "cpo_alpha": 0.0, "beta": 2.0, "simpo_gamma": 1.0},
}
MODES = ("lora", "qlora", "full")
# The dtype the weights are loaded in; "auto" is the table in train.models (fp32 master
# weights for a full fine-tune, like TRL's SFTTrainer; the compute dtype for LoRA's frozen
# base). train.models.weights_dtype says why, and what bfloat16 trades.
MODEL_DTYPES = ("auto", "bfloat16", "float16", "float32")
OUR_KEYS = ("kind", "model", "tokenizer", "mode", "model_dtype", "lora")

# TRL fields that the prepared data decides. Setting them would prepare the data a second
# time (or silently break packing), so they are refused with the reason.
DECIDED_BY_PREPARE = {
    "max_length": "the length policy was applied by `dataprep prepare --max-length`; "
    "prepare again to change it",
    "packing": "packing is done by `dataprep prepare` (best-fit over the whole dataset); "
    "prepare with or without it",
    "dataset_kwargs": "the prepared data is used as it is (skip_prepare_dataset)",
    "dataset_text_field": "the prepared data is already tokenized",
    "completion_only_loss": "the labels were masked by `dataprep prepare --mask`",
    "assistant_only_loss": "the labels were masked by `dataprep prepare --mask`",
}


RENAMED = {
    "gradient_checkpointing": "activation_checkpointing",
    "gradient_checkpointing_kwargs": "activation_checkpointing_kwargs",
}


@dataclass
class LoraSettings:
    """The adapter: rank, scale, dropout and which modules get one."""

    r: int = 16
    alpha: int = 32
    # No dropout by default, as in peft and LLaMA-Factory: dropout runs on each adapted layer's
    # input and keeps its mask for the backward (8B at 4096 on an H200: 13.6k tokens/s and
    # 108 GiB without, 12.7k and 124 GiB at 0.05; BENCHMARKS.md, issue 11).
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"


@dataclass
class RunConfig:
    """Our own fields; ``trl`` holds every other key, for TRL to validate."""

    kind: str | None = None
    model: str | None = None
    tokenizer: str | None = None
    mode: str = "lora"
    model_dtype: str = "auto"
    lora: LoraSettings = field(default_factory=LoraSettings)
    trl: dict[str, Any] = field(default_factory=dict)
    # key (dotted) -> where it was set ("sft.yaml", "--set", "--qlora"), for messages
    sources: dict[str, str] = field(default_factory=dict, repr=False)
    # --plot FILE: the loss curves drawn at the end (a command-line choice, not a setting)
    plot: str | None = field(default=None, repr=False)

    def to_yaml_dict(self) -> dict[str, Any]:
        """The config as a file that ``--config`` reads back."""
        ours: dict[str, Any] = {"kind": self.kind, "model": self.model}
        if self.tokenizer:
            ours["tokenizer"] = self.tokenizer
        ours["mode"] = self.mode
        if self.model_dtype != "auto":
            ours["model_dtype"] = self.model_dtype
        if self.mode != "full":
            ours["lora"] = dataclasses.asdict(self.lora)
        return {**ours, **self.trl}


# --- reading -----------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML with the 1.2 booleans: only true/false are booleans. Under YAML 1.1's rules
    ``save_strategy: no`` (a value TRL documents) would arrive as False and be refused."""


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class TooDeep(yaml.YAMLError):
    """YAML nested deeper than PyYAML's recursive composer can follow."""

    problem = "nested too deep (a config nests a few levels, not hundreds)"

    def __str__(self) -> str:
        return self.problem


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with only true/false as booleans.

    >>> load_yaml("save_strategy: no"), load_yaml("[true, off]")
    ({'save_strategy': 'no'}, [True, 'off'])
    """
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: safe
    except RecursionError:
        # PyYAML composes nodes recursively: "[[[[..." a few hundred deep ends the stack.
        raise TooDeep() from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file; an empty file is an empty mapping."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read: {e}") from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise UsageError(f"{where}: not valid YAML: {problem}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UsageError(
            f"{path}: a config is a mapping of keys to values, not {type(raw).__name__}"
        )
    return raw


def parse_set(item: str) -> tuple[str, Any]:
    """``key=value`` with the value read as YAML.

    >>> parse_set("learning_rate=1e-4"), parse_set("lora.r=8"), parse_set("report_to=[wandb]")
    (('learning_rate', '1e-4'), ('lora.r', 8), ('report_to', ['wandb']))
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--set expects key=value, got {item!r}")
    try:
        value = load_yaml(text) if text.strip() else None
    except TooDeep as e:
        raise UsageError(f"--set {key}: {e}") from None
    except yaml.YAMLError:
        value = text  # "a: b" and friends: take the text as it is
    return key, value


def apply_sets(raw: dict[str, Any], sources: dict[str, str], sets: Sequence[str]) -> None:
    """Apply ``--set`` items to ``raw`` in order; dotted keys reach into mappings."""
    for item in sets:
        key, value = parse_set(item)
        set_key(raw, sources, key, value, "--set")


def set_key(
    raw: dict[str, Any], sources: dict[str, str], key: str, value: Any, source: str
) -> None:
    """``raw[a][b] = value`` for ``key`` ``a.b``, remembering where it came from."""
    *parents, last = key.split(".")
    target = raw
    for depth, part in enumerate(parents):
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parents[: depth + 1])
            raise UsageError(f"{source} {key}: {prefix} is not a mapping")
        target = child
    target[last] = value
    sources[key] = source


def source_of(sources: dict[str, str], key: str, default: str) -> str:
    """Where ``key`` (or the mapping holding it) was set."""
    while key:
        if key in sources:
            return sources[key]
        key = key.rpartition(".")[0]
    return default


def parse_run_config(
    raw: dict[str, Any], sources: dict[str, str], origin: str = "config"
) -> RunConfig:
    """Our fields checked, with errors naming the key; every other key kept for TRL."""

    def fail(key: str, problem: str) -> UsageError:
        where = source_of(sources, key.partition("[")[0], origin)
        return UsageError(f"{where}: {key}: {problem}")

    check_shape(raw, fail)
    run = RunConfig(sources=sources)
    for key in ("kind", "model", "tokenizer", "mode", "model_dtype"):
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise fail(key, f"expected a string, got {value!r}")
        setattr(run, key, value)
    if run.kind is not None and run.kind not in CONFIG_CLASSES:
        raise fail("kind", f"expected one of {', '.join(CONFIG_CLASSES)}, got {run.kind!r}")
    if run.mode not in MODES:
        raise fail("mode", f"expected one of {', '.join(MODES)}, got {run.mode!r}")
    if run.model_dtype not in MODEL_DTYPES:
        raise fail(
            "model_dtype", f"expected one of {', '.join(MODEL_DTYPES)}, got {run.model_dtype!r}"
        )
    if run.mode == "full" and run.model_dtype == "float16":
        # fp16 weights updated in place lose small updates and overflow without fp32 masters,
        # and transformers' fp16 loss scaling refuses fp16 gradients outright.
        raise fail(
            "model_dtype",
            "float16 weights cannot be fully fine-tuned (no loss scaling without fp32 "
            "masters); use bfloat16, or auto for fp32 master weights with fp16 autocast",
        )
    init_kwargs = raw.get("model_init_kwargs")
    if run.model_dtype != "auto" and isinstance(init_kwargs, dict) and "dtype" in init_kwargs:
        raise fail(
            "model_dtype",
            f"model_init_kwargs.dtype ({init_kwargs['dtype']!r}) says it too; set only one",
        )

    lora = raw.get("lora") or {}
    if not isinstance(lora, dict):
        raise fail("lora", f"expected a mapping (r, alpha, dropout, target_modules), got {lora!r}")
    known = {f.name for f in dataclasses.fields(LoraSettings)}
    for key in lora:
        if key not in known:
            hint = _did_you_mean(key, known)
            raise fail(
                f"lora.{key}", f"not a LoRA setting (known: {', '.join(sorted(known))}){hint}"
            )
    for key in ("r", "alpha"):
        if key in lora:
            value = lora[key]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise fail(f"lora.{key}", f"expected a positive integer, got {value!r}")
            setattr(run.lora, key, value)
    if "dropout" in lora:
        value = lora["dropout"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise fail("lora.dropout", f"expected a number in [0, 1), got {value!r}")
        run.lora.dropout = float(value)
    if "target_modules" in lora:
        value = lora["target_modules"]
        is_names = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        if not (isinstance(value, str) and value) and not is_names:
            raise fail(
                "lora.target_modules",
                f"expected all-linear or a list of module names, got {value!r}",
            )
        run.lora.target_modules = value

    run.trl = {k: v for k, v in raw.items() if k not in OUR_KEYS}
    check_numbers(run.trl, fail)
    return run


def load_run_config(
    path: str | Path | None = None,
    sets: Sequence[str] = (),
    flags: dict[str, tuple[Any, str]] | None = None,
) -> RunConfig:
    """Defaults < the YAML file < command-line flags < ``--set``.

    ``flags`` maps a (dotted) key to its value and the flag that gave it, e.g.
    ``{"mode": ("qlora", "--qlora"), "lora.r": (8, "--lora-r")}``; None values are unset.
    """
    raw = read_config_file(path) if path else {}
    origin = str(path) if path else "config"
    sources = dict.fromkeys(raw, origin)
    for key, (value, flag) in (flags or {}).items():
        if value is not None:
            set_key(raw, sources, key, value, flag)
    apply_sets(raw, sources, sets)
    return parse_run_config(raw, sources, origin)


# --- to TRL ------------------------------------------------------------------------------


def default_learning_rate(kind: str, mode: str) -> float:
    """LoRA trains few weights and takes a large rate; DPO and KTO (whose paper uses
    DPO's settings) want a much smaller one, and so does SimPO (its paper: 3e-7 to 1e-6).
    ORPO keeps an SFT term and its paper trains at 8e-6; a reward model trains a new
    head, at SFT's rates of 1e-5 (full) and 1e-4 (LoRA, TRL's RewardConfig default)."""
    if kind in ("dpo", "kto", "simpo"):
        return 5e-7 if mode == "full" else 5e-5
    if kind == "orpo":
        return 8e-6 if mode == "full" else 8e-5
    if kind == "reward":
        return 1e-5 if mode == "full" else 1e-4
    return 2e-5 if mode == "full" else 2e-4


def defaults_for(
    kind: str, mode: str, device_type: str, *, bf16_ok: bool, has_eval: bool
) -> dict[str, Any]:
    """Our defaults for TRL's fields, per mode and device. The user's keys win over these."""
    values: dict[str, Any] = {
        "learning_rate": default_learning_rate(kind, mode),
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0.03,  # a float below 1 is a ratio of the total steps
        "report_to": "none",
    }
    if device_type == "cuda":
        # Under FSDP with its own activation checkpointing, transformers refuses a second.
        fsdp_checkpoints = (
            os.environ.get("FSDP_ACTIVATION_CHECKPOINTING", "false").lower() == "true"
        )
        values.update(bf16=bf16_ok, fp16=not bf16_ok, activation_checkpointing=not fsdp_checkpoints)
    else:
        # fp32 on the CPU: bf16 autocast there is slow and changes results. Memory is
        # rarely what runs out there, so activations are kept rather than recomputed.
        values.update(use_cpu=True, bf16=False, fp16=False, activation_checkpointing=False)
    if has_eval:
        values.update(eval_strategy="steps", eval_steps=0.1)
    return values


def trainer_config(
    run: RunConfig,
    kind: str,
    *,
    output_dir: str,
    device_type: str,
    bf16_ok: bool = False,
    packed: bool = False,
    has_eval: bool = False,
) -> Any:
    """TRL's ``SFTConfig``, ``DPOConfig`` or ``KTOConfig`` for this run; TRL checks its
    own fields.

    ``packed`` (the data has ``seq_lengths``) turns on TRL's padding-free collation, the
    path on which packed documents never attend to each other.
    """
    cls = config_class(kind)
    if run.kind is not None and run.kind != kind:
        where = source_of(run.sources, "kind", "config")
        raise UsageError(f"{where}: kind: the config is for `train {run.kind}`, not `train {kind}`")
    given = check_trl_keys(run, cls)

    values = defaults_for(kind, run.mode, device_type, bf16_ok=bf16_ok, has_eval=has_eval)
    values.update(KIND_DEFAULTS.get(kind, {}))
    # transformers 5 renamed gradient checkpointing; TRL still sets the old name, which
    # only counts when the new one is unset. Take the old name as an alias of the new.
    for old, new in RENAMED.items():
        if old in given:
            given.setdefault(new, given.pop(old))
    values.update(given)
    values.pop("model_init_kwargs", None)  # ours to apply: train.models loads the model
    values["output_dir"] = output_dir
    # A non-finite loss stops the run (train.callbacks); the filter would hide it.
    values["logging_nan_inf_filter"] = False
    if kind == "sft":
        values["dataset_kwargs"] = {"skip_prepare_dataset": True}
        values["packing"] = False
        values["max_length"] = None
        if packed and given.get("padding_free") is False:
            raise UsageError(
                f"{source_of(run.sources, 'padding_free', 'config')}: padding_free: this data is "
                "packed; without padding-free collation its documents would attend to each other"
            )
        values["padding_free"] = packed or bool(given.get("padding_free", False))
    else:
        values["max_length"] = None
    if not has_eval and values.get("eval_strategy", "no") not in ("no", None):
        where = source_of(run.sources, "eval_strategy", "config")
        raise UsageError(
            f"{where}: eval_strategy: the data has no eval split "
            "(prepare it with `dataprep prepare --eval-fraction`)"
        )
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{cls.__name__} refused the config: {e}") from None


def config_class(kind: str) -> type:
    """TRL's config class for ``kind`` (``CONFIG_CLASSES``)."""
    import trl

    module, _, name = CONFIG_CLASSES[kind].rpartition(".")
    if module.startswith("experimental."):
        from train._upstream import trl_experimental

        return getattr(trl_experimental(module.removeprefix("experimental.")), name)
    return getattr(trl, name)


def check_trl_keys(run: RunConfig, cls: type) -> dict[str, Any]:
    """The TRL keys of ``run``, each known to ``cls`` and of a usable type."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    checked = {}
    for key, value in run.trl.items():
        where = source_of(run.sources, key, "config")
        if key in DECIDED_BY_PREPARE and key in names:
            raise UsageError(f"{where}: {key}: {DECIDED_BY_PREPARE[key]}")
        if key == "logging_nan_inf_filter" and value:
            raise UsageError(
                f"{where}: {key}: a non-finite loss stops the run, so the filter cannot be on"
            )
        if key not in names:
            hint = _did_you_mean(key, names | set(OUR_KEYS))
            raise UsageError(
                f"{where}: {key}: not one of our keys ({', '.join(OUR_KEYS)}) "
                f"and not a field of TRL's {cls.__name__}{hint}"
            )
        checked[key] = _coerce(where, key, value, hints.get(key))
    return checked


def _coerce(where: str, key: str, value: Any, hint: Any) -> Any:
    """Check a value against a plain field type; take ``2e-4`` (a string in YAML) as a number.

    Only bool, int, float and str (optionally None) are checked; richer types pass
    through to TRL.
    """
    allowed = _plain_types(hint)
    if allowed is None or (value is None and type(None) in allowed):
        return value
    if bool in allowed and isinstance(value, bool):
        return value
    if isinstance(value, bool):
        raise UsageError(f"{where}: {key}: expected {_describe(allowed)}, got {value!r}")
    if int in allowed and isinstance(value, int):
        return value
    if float in allowed and isinstance(value, (int, float)):
        return float(value)
    if float in allowed and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if not math.isfinite(number):
                raise UsageError(f"{where}: {key}: expected a finite number, got {value!r}")
            return number
    if int in allowed and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    if str in allowed and isinstance(value, str):
        return value
    raise UsageError(f"{where}: {key}: expected {_describe(allowed)}, got {value!r}")


def _plain_types(hint: Any) -> set[type] | None:
    is_union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    args = typing.get_args(hint) if is_union else (hint,)
    plain = {bool, int, float, str, type(None)}
    if not args or any(a not in plain for a in args):
        return None
    return set(args)


def _describe(allowed: set[type]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    words = [names[t] for t in (bool, int, float, str) if t in allowed]
    if type(None) in allowed:
        words.append("null")
    return " or ".join(words)


def _did_you_mean(key: str, names: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(names), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


# Effective values worth keeping beside the user's own keys: with them the written config
# reproduces the run even after our defaults change.
RECORDED = (
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "seed",
    "beta",  # DPO's and KTO's: `train eval` and the model card read it back
)


def write_config(run: RunConfig, path: str | Path, command: str, effective: Any = None) -> None:
    """Write the run's config (a file ``--config`` reads back), opening with its command.

    ``effective`` is the TRL config the run used; its ``RECORDED`` values are added.
    """
    record = run.to_yaml_dict()
    if effective is not None:
        names = {name.rpartition(".")[2]: kind for kind, name in CONFIG_CLASSES.items()}
        record["kind"] = names[type(effective).__name__]
        for key in [*run.trl, *RECORDED]:
            if hasattr(effective, key) and key not in ("output_dir", "model_init_kwargs"):
                value = getattr(effective, key)  # as TRL took it: "1e-4" became 0.0001
                record[key] = getattr(value, "value", value)  # enums as their string
    body = yaml.safe_dump(record, sort_keys=False, allow_unicode=True)
    Path(path).write_text(f"# {command}\n{body}", encoding="utf-8")


def resume_checkpoint(output_dir: str | Path, resume: bool) -> str | None:
    """The checkpoint to resume from (the newest complete one); refuse to start over a
    run without ``--resume``, or to write where nothing can be written.

    Raises ``train.checkpoints.RunFinished`` for ``--resume`` of a finished run.
    """
    from train.checkpoints import choose_checkpoint
    from train.outputs import check_output_folder

    check_output_folder(output_dir)
    return choose_checkpoint(output_dir, resume)
