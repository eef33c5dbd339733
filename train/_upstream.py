"""Every place ``train`` relies on another project's internals, in one module.

Each coupling is a small named function (or class) here, and an entry of ``COUPLINGS``
saying the package and version it was written against, the versions declared compatible,
what it relies on, and a probe that looks for that in the installed package. Nothing else
in ``train`` reads a private attribute of another project, patches one of its objects or
sniffs one of its signatures.

Two checks hold them:

- ``tests/train/test_upstream.py`` probes every coupling against the installed packages
  and exercises the cheap ones on the CPU; it fails naming the coupling and both
  versions, the message you get after upgrading a package.
- at run time, each function here calls :func:`check` before it first relies on its
  coupling, so a run on a package that changed stops with an :class:`UpstreamChanged`
  (exit 1, the message below) instead of an ``AttributeError`` deep inside TRL. A
  version outside the declared range whose probe still passes gets a note, not a refusal.

    train/_upstream.py: dpo_prepare_dataset was written against trl 1.16.0; installed
    trl 1.17.0 lacks DPOTrainer._prepare_dataset

Versions are the ones of the development image (trl 1.16.0, transformers 5.24.0, torch
2.13.0, bitsandbytes 0.50.2, safetensors 0.8.0) and, for liger-kernel, the H200 image of
BENCHMARKS.md (issue 5: liger-kernel 0.8.5).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dataprep.errors import TrainError
from train import say

HERE = "train/_upstream.py"


class UpstreamChanged(TrainError):
    """An installed package no longer has what a coupling of ``train/_upstream.py`` relies on."""


@dataclass(frozen=True)
class Coupling:
    """One reliance on another project's internals."""

    name: str
    package: str  # the distribution, as pip names it
    written_against: str
    compatible: str  # a PEP 440 specifier; the pins of pyproject.toml where there are some
    relies_on: str
    probe: Callable[[], str | None]  # what the installed package lacks, or None


def installed_version(package: str) -> str | None:
    """The installed version of distribution ``package``, or None when it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def problems(name: str) -> list[str]:
    """What no longer holds for coupling ``name`` in the installed packages (empty: all
    holds), each as one message naming the coupling and both versions."""
    coupling = COUPLINGS[name]
    installed = installed_version(coupling.package)
    head = f"{HERE}: {name} was written against {coupling.package} {coupling.written_against}"
    if installed is None:
        return [f"{head}; {coupling.package} is not installed"]
    found = []
    lack = coupling.probe()
    if lack is not None:
        found.append(f"{head}; installed {coupling.package} {installed} {lack}")
    if not _in_range(installed, coupling.compatible):
        found.append(
            f"{head}; installed {coupling.package} {installed} is outside the range declared "
            f"compatible ({coupling.compatible}): check that it still {coupling.relies_on}, "
            "then widen the range"
        )
    return found


_checked: set[str] = set()


def check(name: str) -> None:
    """Raise :class:`UpstreamChanged` when what coupling ``name`` relies on is gone from
    the installed package; a version outside the declared range only gets a note.
    Probes once per process: the callers are on hot paths (each attention layer)."""
    if name in _checked:
        return
    coupling = COUPLINGS[name]
    installed = installed_version(coupling.package)
    lack = coupling.probe()
    if lack is not None:
        raise UpstreamChanged(
            f"{HERE}: {name} was written against {coupling.package} "
            f"{coupling.written_against}; "
            + (
                f"installed {coupling.package} {installed} {lack}. "
                if installed
                else f"{coupling.package} is not installed. "
            )
            + f"Install a version in {coupling.compatible} (pip install "
            f"'{coupling.package}{coupling.compatible}')"
        )
    if installed is not None and not _in_range(installed, coupling.compatible):
        say(
            f"note: {name} was written against {coupling.package} {coupling.written_against}; "
            f"{installed} is outside {coupling.compatible}, and still has what it relies on"
        )
    _checked.add(name)


def _in_range(version: str, specifier: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    # A local label (torch's "+cpu", "+cu128") is ignored by "==2.13.0", as PEP 440 says.
    return Version(version) in SpecifierSet(specifier)


def _lacks_parameters(function: Any, where: str, names: tuple[str, ...]) -> str | None:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return f"has no readable signature for {where}"
    missing = [n for n in names if n not in parameters]
    return f"lacks parameters {', '.join(missing)} of {where}" if missing else None


def _source_lacks(function: Any, where: str, text: str) -> str | None:
    """``text`` must appear in ``function``'s source (a call we rely on); unknown when the
    source is not installed, which is not a failure."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    return None if text in source else f"no longer has `{text}` in {where}"


def _has_var_keyword(function: Any) -> bool:
    parameters = inspect.signature(function).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


# ---------------------------------------------------------------------------------------------
# TRL: the dataset preparation step of DPOTrainer, KTOTrainer and RewardTrainer

PREPARE_PARAMETERS = ("dataset", "processing_class", "args", "dataset_name")


def _probe_prepare_dataset(class_name: str) -> Callable[[], str | None]:
    def probe() -> str | None:
        import trl

        trainer = getattr(trl, class_name, None)
        if trainer is None:
            return f"lacks trl.{class_name}"
        method = getattr(trainer, "_prepare_dataset", None)
        if method is None:
            return f"lacks {class_name}._prepare_dataset"
        lack = _lacks_parameters(method, f"{class_name}._prepare_dataset", PREPARE_PARAMETERS)
        return lack or _source_lacks(
            trainer.__init__, f"{class_name}.__init__", "self._prepare_dataset("
        )

    return probe


class TakesPreparedData:
    """Put before a TRL trainer class (``class T(TakesPreparedData, DPOTrainer)``) for
    data that ``dataprep prepare`` already tokenized: TRL's dataset preparation step
    becomes :meth:`prepared_dataset`, which returns the data as it is unless a subclass
    says otherwise.

    Coupling ``dpo_prepare_dataset`` / ``kto_prepare_dataset`` /
    ``reward_prepare_dataset`` (set ``coupling``): trl 1.16's ``DPOTrainer``,
    ``KTOTrainer`` and ``RewardTrainer`` send every dataset, from ``__init__``
    and from ``evaluate``, through the private ``_prepare_dataset(dataset,
    processing_class, args, dataset_name)``, and TRL has no switch to skip it.
    """

    coupling: str = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check(self.coupling)
        super().__init__(*args, **kwargs)

    def prepared_dataset(self, dataset: Any, args: Any, dataset_name: str) -> Any:
        """The dataset as training or evaluation will see it; ``dataset_name`` is
        ``train``, ``eval`` or an eval split's key."""
        return dataset

    def _prepare_dataset(
        self, dataset: Any, processing_class: Any, args: Any, dataset_name: str
    ) -> Any:
        return self.prepared_dataset(dataset, args, dataset_name)


# ---------------------------------------------------------------------------------------------
# TRL: the experimental ORPOTrainer and CPOTrainer, which tokenize in __init__


def trl_experimental(name: str) -> types.ModuleType:
    """``trl.experimental.<name>`` (``orpo``, ``cpo``, ``utils``), imported without TRL's
    warning that experimental APIs may change: ``pyproject.toml`` pins trl, and the
    couplings below are checked against the installed version instead.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are importing from 'trl.experimental'")
        return importlib.import_module(f"trl.experimental.{name}")


def _probe_tokenizes_in_init(module: str, class_name: str) -> Callable[[], str | None]:
    def probe() -> str | None:
        try:
            trainer = getattr(trl_experimental(module), class_name)
        except (ImportError, AttributeError) as e:
            return f"lacks trl.experimental.{module}.{class_name} ({e})"
        init = trainer.__init__
        for text in (
            "train_dataset.map(self.tokenize_row",
            "eval_dataset.map(self.tokenize_row",
            "self.use_dpo_data_collator = True",
        ):
            if lack := _source_lacks(init, f"{class_name}.__init__", text):
                return lack
        from transformers import Trainer

        return _source_lacks(
            Trainer.__init__, "transformers' Trainer.__init__", "self.train_dataset = train_dataset"
        )

    return probe


class TokenizedInInit:
    """Put before trl.experimental's ``ORPOTrainer`` or ``CPOTrainer`` for data that
    ``dataprep prepare`` already tokenized; pass a ``data_collator`` that makes TRL's
    batch columns from the prepared ones (``train.pair_batches.PairCollator``).

    Coupling ``orpo_tokenize_row`` / ``cpo_tokenize_row`` (set ``coupling``): trl 1.16's
    ``ORPOTrainer`` and ``CPOTrainer`` tokenize text columns in ``__init__`` (three
    ``Dataset.map`` passes: extract the prompt, apply the chat template,
    ``tokenize_row``), with no switch to skip them and no other preparation later:
    ``evaluate`` and the dataloaders read ``self.train_dataset`` / ``self.eval_dataset``,
    which ``transformers.Trainer.__init__`` keeps as given. So ``__init__`` gets empty
    in-memory stand-ins with the same columns (the passes cost nothing, and nothing is
    written beside the prepared data, where ``Dataset.map`` would put its cache), and
    the prepared splits are put in their place after. TRL marks batches from its own
    collator (``use_dpo_data_collator``), which ours wraps.
    """

    coupling: str = ""

    def __init__(self, *args: Any, train_dataset: Any, eval_dataset: Any = None, **kwargs: Any):
        check(self.coupling)
        super().__init__(
            *args,
            train_dataset=_empty_like(train_dataset),
            eval_dataset=None if eval_dataset is None else _empty_like(eval_dataset),
            **kwargs,
        )
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.use_dpo_data_collator = True  # ours pads with TRL's DPODataCollatorWithPadding


def _empty_like(dataset: Any) -> Any:
    import datasets

    return datasets.Dataset.from_dict(
        {name: [] for name in dataset.column_names}, features=dataset.features
    )


def quiet_reward_head_load() -> Any:
    """A context in which a causal LM checkpoint loads as a sequence classifier without
    transformers' load report of the new ``score`` head and the unused ``lm_head`` (the
    run says it in its own words).

    Coupling ``seqcls_load_report``: trl 1.16's ``reward_trainer.suppress_seqcls_warning``,
    the context its ``RewardTrainer`` loads a model name in.
    """
    check("seqcls_load_report")
    from trl.trainer.reward_trainer import suppress_seqcls_warning

    return suppress_seqcls_warning()


def _probe_seqcls_load_report() -> str | None:
    module = importlib.import_module("trl.trainer.reward_trainer")
    if not callable(getattr(module, "suppress_seqcls_warning", None)):
        return "lacks trl.trainer.reward_trainer.suppress_seqcls_warning"
    return None


# ---------------------------------------------------------------------------------------------
# TRL: the loss types DPOTrainer knows


def dpo_loss_types() -> tuple[str, ...]:
    """The values of ``DPOConfig.loss_type`` that the installed ``DPOTrainer`` computes.

    Coupling ``dpo_loss_types``: trl 1.16's ``DPOConfig`` takes any string (a list of
    them) and ``DPOTrainer`` refuses an unknown one only when it computes the first loss,
    in a chain of ``loss_type == "name"`` branches; the names are read from that chain,
    so a run refuses an unknown loss before loading anything.
    """
    check("dpo_loss_types")
    return _dpo_loss_types()


@functools.cache
def _dpo_loss_types() -> tuple[str, ...]:
    import re

    import trl

    try:
        source = inspect.getsource(trl.DPOTrainer)
    except (OSError, TypeError):
        return ()
    return tuple(dict.fromkeys(re.findall(r'\bloss_type == "(\w+)"', source)))


def _probe_dpo_loss_types() -> str | None:
    import trl

    if not hasattr(trl, "DPOTrainer"):
        return "lacks trl.DPOTrainer"
    try:
        inspect.getsource(trl.DPOTrainer)
    except (OSError, TypeError):
        return None  # no source installed: nothing to read, the trainer still refuses
    if "sigmoid" not in _dpo_loss_types():
        return 'no longer has the `loss_type == "sigmoid"` branches in DPOTrainer'
    return None


# ---------------------------------------------------------------------------------------------
# transformers: the trainer's running loss


def running_loss(trainer: Any) -> Any | None:
    """The sum of the step losses since the last log, a tensor still on the device (None
    before training starts).

    Coupling ``running_loss``: transformers 5.24's ``Trainer`` keeps it in the private
    ``_tr_loss``, set in ``_inner_training_loop`` and added to after every step.
    """
    return getattr(trainer, "_tr_loss", None)


def _probe_running_loss() -> str | None:
    from transformers import Trainer

    loop = getattr(Trainer, "_inner_training_loop", None)
    if loop is None:
        return "lacks Trainer._inner_training_loop"
    return _source_lacks(loop, "Trainer._inner_training_loop", "self._tr_loss")


# ---------------------------------------------------------------------------------------------
# transformers: attention functions and the model's attention implementation


def attention_implementation_of(config: Any) -> str | None:
    """The attention implementation a loaded model runs (``sdpa``, a registered name, ...).

    Coupling ``attn_implementation``: transformers 5.24 keeps it in the config's private
    ``_attn_implementation`` (a property of ``PreTrainedConfig``); there is no public getter.
    """
    check("attn_implementation")
    return getattr(config, "_attn_implementation", None)


def _probe_attn_implementation() -> str | None:
    from transformers import PreTrainedConfig

    if not hasattr(PreTrainedConfig, "_attn_implementation"):
        return "lacks PreTrainedConfig._attn_implementation"
    return None


def register_attention(name: str, forward: Callable[..., Any], mask: Callable[..., Any]) -> None:
    """Register an attention function and its mask builder with transformers under ``name``.

    Coupling ``attention_functions``: transformers 5.24's ``AttentionInterface.register``
    and ``masking_utils.AttentionMaskInterface.register``; the mask builder is called
    with ``sdpa_mask``'s keywords.
    """
    check("attention_functions")
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(name, forward)
    AttentionMaskInterface.register(name, mask)


def sdpa_attention(*args: Any, **kwargs: Any) -> Any:
    """transformers' own sdpa attention function (``integrations.sdpa_attention``), for the
    calls a custom attention function hands back (decoding, dropout)."""
    check("attention_functions")
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(*args, **kwargs)


def sdpa_mask(**kwargs: Any) -> Any:
    """transformers' sdpa mask builder (``masking_utils.sdpa_mask``), same keywords."""
    check("attention_functions")
    from transformers.masking_utils import sdpa_mask as build

    return build(**kwargs)


SDPA_MASK_PARAMETERS = (
    "batch_size",
    "q_length",
    "kv_length",
    "q_offset",
    "kv_offset",
    "attention_mask",
)
SDPA_ATTENTION_PARAMETERS = (
    "module",
    "query",
    "key",
    "value",
    "attention_mask",
    "dropout",
    "scaling",
)


def _probe_attention_functions() -> str | None:
    import transformers

    if not hasattr(transformers, "AttentionInterface"):
        return "lacks transformers.AttentionInterface"
    try:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError as e:
        return f"lacks {e.name or e}"
    if not hasattr(AttentionMaskInterface, "register"):
        return "lacks masking_utils.AttentionMaskInterface.register"
    return _lacks_parameters(
        sdpa_mask, "masking_utils.sdpa_mask", SDPA_MASK_PARAMETERS
    ) or _lacks_parameters(
        sdpa_attention_forward, "sdpa_attention.sdpa_attention_forward", SDPA_ATTENTION_PARAMETERS
    )


# ---------------------------------------------------------------------------------------------
# transformers: a decoder backbone's forward replaced, and the varlen keywords it passes on

# The keywords transformers' FlashAttentionKwargs names: document boundaries that a
# backbone's forward(**kwargs) passes down to every attention function.
VARLEN_KEYWORDS = ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")
_MARK = "_dataprep_forward_replaced"


def replace_forward(module: Any, forward: Callable[..., Any]) -> bool:
    """Make ``forward`` (a function taking the module first) ``module``'s forward, for this
    instance only; False when it was already replaced. ``forward`` reaches the original as
    ``type(module).forward``; a deep copy of the module stays bound to itself.

    Coupling ``unpadding_forward``: ``nn.Module.__call__`` runs the instance's ``forward``;
    transformers 5.24's decoder backbones (``LlamaModel.forward`` and its kin) take
    ``**kwargs`` and pass the FlashAttentionKwargs (:data:`VARLEN_KEYWORDS`) on to each
    attention function, and return an output with ``last_hidden_state``.
    """
    if getattr(module, _MARK, False):
        return False
    check("unpadding_forward")
    module.forward = types.MethodType(forward, module)
    setattr(module, _MARK, True)
    return True


def varlen_keywords(cu_seqlens: Any, max_length: int) -> dict[str, Any]:
    """The keywords that carry document boundaries down to the attention functions."""
    return dict(zip(VARLEN_KEYWORDS, (cu_seqlens, cu_seqlens, max_length, max_length), strict=True))


def varlen_boundaries(kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(cu_seqlens, max_length)`` from an attention function's keywords (None, None when
    the caller sent none)."""
    return kwargs.get(VARLEN_KEYWORDS[0]), kwargs.get(VARLEN_KEYWORDS[2])


def _probe_unpadding_forward() -> str | None:
    from transformers import LlamaModel
    from transformers.modeling_flash_attention_utils import FlashAttentionKwargs
    from transformers.modeling_outputs import BaseModelOutputWithPast

    missing = [k for k in VARLEN_KEYWORDS if k not in FlashAttentionKwargs.__annotations__]
    if missing:
        return f"lacks FlashAttentionKwargs keys {', '.join(missing)}"
    if not _has_var_keyword(LlamaModel.forward):
        return "lacks **kwargs in LlamaModel.forward"
    if "last_hidden_state" not in getattr(BaseModelOutputWithPast, "__dataclass_fields__", {}):
        return "lacks BaseModelOutputWithPast.last_hidden_state"
    return None


# ---------------------------------------------------------------------------------------------
# torch: the FlashAttention varlen kernel

# The positional parameters we pass, in order.
VARLEN_POSITIONAL = ("query", "key", "value", "cu_seq_q", "cu_seq_k", "max_q", "max_k")
_native_gqa: list[bool] = [True]


def flash_varlen(
    q: Any, k: Any, v: Any, cu: Any, max_len: int, scale: float | None, causal: bool
) -> Any:
    """``torch.nn.attention.varlen.varlen_attn`` on ``(tokens, heads, head_dim)`` tensors,
    documents given by ``cu`` (int32 cumulative lengths); ``k``/``v`` may have fewer heads.

    Coupling ``varlen_kernel``: written against torch 2.13.0 (pinned exactly in
    pyproject.toml), whose ``varlen_attn`` takes ``window_size`` and ``enable_gqa``. The
    call is still built from the installed signature (``is_causal`` before
    ``window_size``, GQA with or without the flag), which the pin makes one case today.
    """
    check("varlen_kernel")
    from torch.nn.attention.varlen import varlen_attn

    params = _varlen_signature()
    kwargs: dict[str, Any] = {}
    if "scale" in params:
        kwargs["scale"] = scale
    if "is_causal" in params:
        kwargs["is_causal"] = causal
    else:
        kwargs["window_size"] = (-1, 0) if causal else (-1, -1)
    grouped = k.shape[1] != q.shape[1]
    if grouped and "enable_gqa" in params:
        kwargs["enable_gqa"] = True
    if grouped and not _native_gqa[0]:
        k, v = _repeat_heads(k, q.shape[1]), _repeat_heads(v, q.shape[1])
    try:
        return varlen_attn(q, k, v, cu, cu, max_len, max_len, **kwargs)
    except (RuntimeError, ValueError):
        if not grouped or not _native_gqa[0]:
            raise
        # An older kernel wrapper that rejects fewer key heads: repeat them once and remember.
        _native_gqa[0] = False
        kwargs.pop("enable_gqa", None)
        k, v = _repeat_heads(k, q.shape[1]), _repeat_heads(v, q.shape[1])
        return varlen_attn(q, k, v, cu, cu, max_len, max_len, **kwargs)


@functools.cache
def _varlen_signature() -> frozenset[str]:
    from torch.nn.attention.varlen import varlen_attn

    return frozenset(inspect.signature(varlen_attn).parameters)


def _repeat_heads(t: Any, heads: int) -> Any:
    return t.repeat_interleave(heads // t.shape[1], dim=1)


def _probe_varlen_kernel() -> str | None:
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return "lacks torch.nn.attention.varlen.varlen_attn"
    parameters = list(inspect.signature(varlen_attn).parameters)
    if tuple(parameters[: len(VARLEN_POSITIONAL)]) != VARLEN_POSITIONAL:
        return f"has varlen_attn{tuple(parameters)}, not the positional {VARLEN_POSITIONAL}"
    if "scale" not in parameters or not {"is_causal", "window_size"} & set(parameters):
        return "lacks scale, or both is_causal and window_size, in varlen_attn"
    return None


# ---------------------------------------------------------------------------------------------
# liger-kernel: fused layer kernels applied to a loaded model

LIGER_FLAGS = ("rope", "rms_norm", "swiglu", "cross_entropy", "fused_linear_cross_entropy")


def liger_model_types() -> frozenset[str] | None:
    """The model types Liger has kernels for; None when liger-kernel is not installed."""
    try:
        from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN
    except ImportError:
        return None
    check("liger_kernels")
    return frozenset(MODEL_TYPE_TO_APPLY_LIGER_FN)


def apply_liger_kernels(model: Any, **flags: bool) -> None:
    """Swap ``model``'s layers for Liger's fused kernels, as ``flags`` (:data:`LIGER_FLAGS`) say.

    Coupling ``liger_kernels``: liger-kernel 0.8.5's private
    ``transformers._apply_liger_kernel_to_instance(model, **kwargs)``, which looks up the
    model type in ``monkey_patch.MODEL_TYPE_TO_APPLY_LIGER_FN`` and silently drops the
    keywords that type's apply function lacks (so the probe checks they are there).
    """
    check("liger_kernels")
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    _apply_liger_kernel_to_instance(model=model, **flags)


def _probe_liger_kernels() -> str | None:
    try:
        transformers_part = importlib.import_module("liger_kernel.transformers")
        from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN
    except ImportError as e:
        return f"cannot import what it needs ({e})"
    apply = getattr(transformers_part, "_apply_liger_kernel_to_instance", None)
    if apply is None:
        return "lacks liger_kernel.transformers._apply_liger_kernel_to_instance"
    if "model" not in inspect.signature(apply).parameters or not _has_var_keyword(apply):
        return "has _apply_liger_kernel_to_instance without (model, **kwargs)"
    llama = MODEL_TYPE_TO_APPLY_LIGER_FN.get("llama")
    if llama is None:
        return "lacks llama in MODEL_TYPE_TO_APPLY_LIGER_FN"
    return _lacks_parameters(llama, "apply_liger_kernel_to_llama", LIGER_FLAGS)


# ---------------------------------------------------------------------------------------------
# bitsandbytes and safetensors: recognised by class name, without importing them


def stored_values(parameter: Any) -> int:
    """How many weights ``parameter`` holds: a 4-bit parameter packs two in each stored
    element.

    Coupling ``params4bit``: bitsandbytes 0.50.2's 4-bit parameter class is named
    ``Params4bit`` (recognised by name so that counting never imports bitsandbytes).
    Only a description line depends on it, so a run does not check it.
    """
    return parameter.numel() * (2 if type(parameter).__name__ == "Params4bit" else 1)


def _probe_params4bit() -> str | None:
    if importlib.util.find_spec("bitsandbytes") is None:
        return "cannot be found"
    import bitsandbytes.nn

    return None if hasattr(bitsandbytes.nn, "Params4bit") else "lacks bitsandbytes.nn.Params4bit"


def safetensors_io_error(error: BaseException) -> str | None:
    """The OS error text of a safetensors write that failed for an I/O reason
    (``I/O error: No space left on device (os error 28)``), else None.

    Coupling ``safetensors_io_error``: safetensors 0.8.0 raises its own
    ``SafetensorError`` (recognised by name, no import) with the OS error in the text.
    Checked by the test only: at run time a changed text means the plain error is shown.
    """
    if type(error).__name__ == "SafetensorError" and "I/O error" in str(error):
        return str(error)
    return None


def _probe_safetensors_io_error() -> str | None:
    import safetensors

    error = getattr(safetensors, "SafetensorError", None)
    if error is None or error.__name__ != "SafetensorError":
        return "lacks safetensors.SafetensorError"
    return None


COUPLINGS: dict[str, Coupling] = {
    c.name: c
    for c in (
        Coupling(
            "dpo_prepare_dataset",
            "trl",
            "1.16.0",
            ">=1.16,<1.17",
            "sends every dataset through DPOTrainer._prepare_dataset from __init__ and evaluate",
            _probe_prepare_dataset("DPOTrainer"),
        ),
        Coupling(
            "kto_prepare_dataset",
            "trl",
            "1.16.0",
            ">=1.16,<1.17",
            "sends every dataset through KTOTrainer._prepare_dataset from __init__ and "
            "evaluate, and builds KL_completion_ids there",
            _probe_prepare_dataset("KTOTrainer"),
        ),
        Coupling(
            "reward_prepare_dataset",
            "trl",
            "1.16.0",
            ">=1.16,<1.17",
            "sends every dataset through RewardTrainer._prepare_dataset from __init__ and evaluate",
            _probe_prepare_dataset("RewardTrainer"),
        ),
        Coupling(
            "orpo_tokenize_row",
            "trl",
            "1.16.0",
            ">=1.16,<1.17",
            "tokenizes only in ORPOTrainer.__init__ (tokenize_row mapped over the datasets), "
            "then trains on Trainer.train_dataset as given",
            _probe_tokenizes_in_init("orpo", "ORPOTrainer"),
        ),
        Coupling(
            "cpo_tokenize_row",
            "trl",
            "1.16.0",
            ">=1.16,<1.17",
            "tokenizes only in CPOTrainer.__init__ (tokenize_row mapped over the datasets), "
            "then trains on Trainer.train_dataset as given",
            _probe_tokenizes_in_init("cpo", "CPOTrainer"),
        ),
        Coupling(
            "dpo_loss_types",
            "trl",
            "1.16.0",
            ">=1.16,<1.17",
            'names every loss it computes in DPOTrainer as `loss_type == "name"`',
            _probe_dpo_loss_types,
        ),
        Coupling(
            "seqcls_load_report",
            "trl",
            "1.16.0",
            ">=1.16,<1.17",
            "has reward_trainer.suppress_seqcls_warning(), a context for loading a reward model",
            _probe_seqcls_load_report,
        ),
        Coupling(
            "running_loss",
            "transformers",
            "5.24.0",
            ">=5.24,<5.25",
            "keeps the running loss in Trainer._tr_loss",
            _probe_running_loss,
        ),
        Coupling(
            "attn_implementation",
            "transformers",
            "5.24.0",
            ">=5.24,<5.25",
            "keeps the attention implementation in config._attn_implementation",
            _probe_attn_implementation,
        ),
        Coupling(
            "attention_functions",
            "transformers",
            "5.24.0",
            ">=5.24,<5.25",
            "registers attention functions and mask builders, with sdpa_mask's keywords",
            _probe_attention_functions,
        ),
        Coupling(
            "unpadding_forward",
            "transformers",
            "5.24.0",
            ">=5.24,<5.25",
            "passes FlashAttentionKwargs from a backbone's forward to its attention functions",
            _probe_unpadding_forward,
        ),
        Coupling(
            "varlen_kernel",
            "torch",
            "2.13.0",
            # 2.11 (the H200 image's) checked on the GPU 2026-12-03: no enable_gqa there,
            # handled by flash_varlen (grouped key heads repeated); same figures.
            ">=2.11,<2.14",
            "has varlen_attn(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, scale, "
            "window_size[, enable_gqa])",
            _probe_varlen_kernel,
        ),
        Coupling(
            "liger_kernels",
            "liger-kernel",
            "0.8.5",
            ">=0.8.5,<0.9",
            "has _apply_liger_kernel_to_instance(model, **kwargs) and the llama flags",
            _probe_liger_kernels,
        ),
        Coupling(
            "params4bit",
            "bitsandbytes",
            "0.50.2",
            ">=0.50,<0.51",
            "names its 4-bit parameter class Params4bit",
            _probe_params4bit,
        ),
        Coupling(
            "safetensors_io_error",
            "safetensors",
            "0.8.0",
            ">=0.8,<0.9",
            "raises SafetensorError with 'I/O error: ... (os error N)' in the text",
            _probe_safetensors_io_error,
        ),
    )
}
