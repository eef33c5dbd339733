"""The numbers a run's config may hold: finite, and in the range where they mean something.

TRL 1.16 and transformers 5.24 accept ``learning_rate: .nan``, ``learning_rate: 0``,
``per_device_train_batch_size: 0``, ``gradient_accumulation_steps: 0`` and most other
nonsense, and the run fails (or trains nothing, silently) much later, after the model
has loaded. ``train.config`` calls ``check_numbers`` as it reads a config, so
``train check`` and ``train sft|dpo`` refuse these values first, naming the key.

>>> from dataprep.errors import UsageError
>>> fail = lambda key, problem: UsageError(f"{key}: {problem}")
>>> check_numbers({"learning_rate": 2e-4, "max_steps": 10}, fail)
>>> check_numbers({"per_device_train_batch_size": 0}, fail)
Traceback (most recent call last):
...
dataprep.errors.UsageError: per_device_train_batch_size: expected an integer >= 1, got 0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """``low <= value <= high`` (``<`` where open); ``extra`` values are allowed besides."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    extra: tuple[float, ...] = ()
    extra_means: str = ""

    def holds(self, value: float) -> bool:
        if value in self.extra:
            return True
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"{kind} in {left}{_num(self.low)}, {_num(self.high)}{right}"
        elif self.low is not None:
            text = f"{kind} {'>' if self.low_open else '>='} {_num(self.low)}"
        else:
            text = kind
        if self.extra:
            text += f", or {', '.join(_num(v) for v in self.extra)} {self.extra_means}".rstrip()
        return text


def _num(value: float) -> str:
    return f"{value:g}"


POSITIVE = Range(low=0, low_open=True)
NON_NEGATIVE = Range(low=0)
AT_LEAST_ONE = Range(low=1, integer=True)
NON_NEGATIVE_INT = Range(low=0, integer=True)
FRACTION = Range(low=0, high=1, high_open=True)

# TRL's (and transformers') numeric fields that TRL 1.16 does not range-check. A float
# below 1 for the *_steps intervals is a ratio of the total steps, so those need only > 0.
RANGES: dict[str, Range] = {
    "learning_rate": POSITIVE,
    "per_device_train_batch_size": AT_LEAST_ONE,
    "per_device_eval_batch_size": AT_LEAST_ONE,
    "gradient_accumulation_steps": AT_LEAST_ONE,
    "eval_accumulation_steps": AT_LEAST_ONE,
    "max_steps": Range(low=1, integer=True, extra=(-1,), extra_means="(train num_train_epochs)"),
    "num_train_epochs": POSITIVE,
    "warmup_steps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "max_grad_norm": NON_NEGATIVE,
    "adam_beta1": FRACTION,
    "adam_beta2": FRACTION,
    "adam_epsilon": POSITIVE,
    "label_smoothing_factor": FRACTION,
    "logging_steps": POSITIVE,
    "save_steps": POSITIVE,
    "eval_steps": POSITIVE,
    "eval_delay": NON_NEGATIVE,
    "seed": NON_NEGATIVE_INT,
    "data_seed": NON_NEGATIVE_INT,
    "dataloader_num_workers": NON_NEGATIVE_INT,
    "dataloader_prefetch_factor": AT_LEAST_ONE,
    "dataset_num_proc": AT_LEAST_ONE,
    "torch_empty_cache_steps": AT_LEAST_ONE,
    "pad_to_multiple_of": AT_LEAST_ONE,
    "neftune_noise_alpha": POSITIVE,
    "ddp_timeout": POSITIVE,
    # DPO (and KTO's beta)
    "beta": POSITIVE,
    "label_smoothing": Range(low=0, high=0.5),  # TRL's docs: cDPO's epsilon, 0 to 0.5
    "precompute_ref_batch_size": AT_LEAST_ONE,
    "ref_model_sync_steps": AT_LEAST_ONE,
    "ref_model_mixup_alpha": Range(low=0, high=1),
    # KTO
    "desirable_weight": POSITIVE,
    "undesirable_weight": POSITIVE,
}


def check_numbers(raw: dict[str, Any], fail: Callable[[str, str], Exception]) -> None:
    """Raise ``fail(key, problem)`` for the first NaN or infinity anywhere in ``raw``
    (nested keys as ``a.b``, list items as ``a[1]``) and for the first value of
    ``RANGES`` outside its range. Values of other types are left to the type checks."""
    for key, value in _floats(raw, ""):
        if not math.isfinite(value):
            raise fail(key, f"expected a finite number, got {value!r}")
    counts_epochs = _number(raw.get("max_steps", -1))
    for key, allowed in RANGES.items():
        value = _number(raw.get(key))
        if value is None:
            continue
        if key == "num_train_epochs" and counts_epochs is not None and counts_epochs > 0:
            continue  # max_steps decides the length; the epochs are not used
        if not math.isfinite(value):
            raise fail(key, f"expected a finite number, got {raw[key]!r}")
        if not allowed.holds(value):
            raise fail(key, f"expected {allowed.describe()}, got {raw[key]!r}")


MAX_DEPTH = 32  # real configs nest 3 or 4 deep (model_init_kwargs.quantization_config...)
MAX_VALUES = 100_000  # YAML aliases can make a short file hold billions of values


def check_shape(raw: dict[str, Any], fail: Callable[[str, str], Exception]) -> None:
    """Raise ``fail(key, problem)``, naming the top-level key, for a config nested
    deeper than ``MAX_DEPTH`` (a YAML alias that holds itself is infinitely deep) or
    holding more than ``MAX_VALUES`` values: beyond them TRL, ``copy.deepcopy`` and
    ``yaml.safe_dump`` would overflow the stack or run for ever. Iterative, so it
    cannot overflow itself."""
    stack: list[tuple[Any, str, int]] = [(value, str(key), 1) for key, value in raw.items()]
    seen = 0
    while stack:
        value, key, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise fail(key, f"holds more than {MAX_VALUES:,} values (YAML aliases?)")
        if depth > MAX_DEPTH:
            raise fail(key, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((item, key, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, key, depth + 1) for item in value)


def _number(value: Any) -> float | None:
    """A number as TRL would take it (``"2e-4"`` from YAML is one); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _floats(value: Any, path: str) -> list[tuple[str, float]]:
    """Every float in ``value`` with its path. The config's depth is bounded before this
    runs (``train.config.check_shape``), so recursion is safe."""
    if isinstance(value, float):
        return [(path, value)]
    found: list[tuple[str, float]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _floats(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _floats(item, f"{path}[{index}]")
    return found
