"""What a chat template may spend rendering one conversation.

Chat templates come from model repositories: code that runs on every row. Jinja's sandbox
keeps them away from Python's internals, not from spending without limit:
``{{ 'a' * 10**10 }}`` asks for 10 GB, two nested ``range`` loops for 10^10 steps,
``strftime_now('%Y' * 10**7)`` for a date of 20 million characters. Each rendering runs
under a budget (``rendering`` wires these checks into the sandbox's hooks):

- a value the template builds (a string, a list, the digits of an integer) holds at most
  ``MAX_VALUE`` characters or ``MAX_ITEMS`` items. Operations that multiply sizes
  (``*``, ``**``, ``%``, padding, indenting, replacing, joining, turning a container
  into text) are checked *before* they run, the others after;
- what its ``{{ }}`` write adds up to at most ``MAX_OUTPUT`` characters (or four times
  the conversation's own size, when that is more), counted inside macros and
  ``{% set %}`` blocks too;
- it takes at most ``MAX_STEPS`` steps: one per loop iteration and per call, and one
  per 4096 characters built. Steps make the limit deterministic: a row refused here is
  refused on every run and every machine;
- ``MAX_SECONDS`` of wall time, as a backstop for what steps do not see.

Past any of them the rendering raises ``TemplateBudgetExceeded``, a row error with the
reason ``template-budget``. Real templates stay far inside: the templates that ship with
``trl`` spend a few hundred steps on a ten-message conversation.

>>> meter = Meter(lambda: 0)
>>> check_repeat("ab", 3, meter)
>>> check_repeat("ab", 10**10, meter)
Traceback (most recent call last):
...
dataprep.prepare.template.budget.TemplateBudgetExceeded: the chat template exceeded its rendering budget: a string of 20,000,000,000 characters (the limit is 33,554,432)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from dataprep.errors import RowError

MAX_VALUE = 32 * 1024 * 1024  # characters in one string
MAX_ITEMS = 4 * 1024 * 1024  # items in one list, tuple or dict (8 bytes each, at least)
MAX_INT_BITS = 1 << 20  # an integer of about 315,000 digits
MAX_OUTPUT = 32 * 1024 * 1024  # characters written by {{ }} in one rendering
OUTPUT_PER_INPUT = 4  # ... or this many times the conversation's own characters
MAX_STEPS = 10_000_000
MAX_SECONDS = 60.0
MAX_RANGE = 100_000  # items in one range(): jinja's sandbox's own limit
MAX_STRFTIME = 1000  # characters in a strftime_now format
CHARS_PER_STEP = 4096
_CLOCK_EVERY = 1 << 16  # steps between two looks at the clock


class TemplateBudgetExceeded(RowError):
    """A rendering went past its budget; ``what`` says which part, in words."""

    def __init__(self, what: str):
        super().__init__(
            "", f"the chat template exceeded its rendering budget: {what}", "template-budget"
        )
        self.what = what

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process, it travels back pickled: rebuild it from ``what``.
        return (type(self), (self.what,))


class Meter:
    """The steps and output one rendering has spent so far."""

    __slots__ = ("_input_size", "deadline", "next_clock", "output_limit", "produced", "steps")

    def __init__(self, input_size: Callable[[], int]):
        self.steps = 0
        self.produced = 0
        self.output_limit = MAX_OUTPUT
        self.next_clock = _CLOCK_EVERY
        self.deadline = time.monotonic() + MAX_SECONDS  # about 50 ns
        self._input_size: Callable[[], int] | None = input_size

    def spend(self, steps: int) -> None:
        self.steps += steps
        if self.steps >= self.next_clock:
            if self.steps > MAX_STEPS:
                raise TemplateBudgetExceeded(
                    f"more than {MAX_STEPS:,} steps (loop iterations and calls)"
                )
            if time.monotonic() > self.deadline:
                raise TemplateBudgetExceeded(f"more than {MAX_SECONDS:g} seconds")
            self.next_clock = self.steps + _CLOCK_EVERY

    def produce(self, chars: int) -> None:
        """``chars`` more characters written by a ``{{ }}``."""
        self.produced += chars
        if chars >= CHARS_PER_STEP:
            self.spend(chars // CHARS_PER_STEP)
        if self.produced > self.output_limit:
            if self._input_size is not None:
                # Measured only now: a long conversation may render long.
                self.output_limit = max(MAX_OUTPUT, OUTPUT_PER_INPUT * self._input_size())
                self._input_size = None
                if self.produced <= self.output_limit:
                    return
            raise TemplateBudgetExceeded(
                f"it wrote more than {self.output_limit:,} characters for one conversation"
            )


CURRENT: ContextVar[Meter | None] = ContextVar("dataprep_template_meter", default=None)


def spend(steps: int) -> None:
    meter = CURRENT.get()
    if meter is not None:
        meter.spend(steps)


# --- sizes -------------------------------------------------------------------------------


def _too_big(what: str, size: int, limit: int, unit: str = "characters") -> TemplateBudgetExceeded:
    unit = f" {unit}" if unit else ""
    return TemplateBudgetExceeded(f"{what} of {size:,}{unit} (the limit is {limit:,})")


def text_size(value: Any, limit: int = MAX_VALUE) -> int:
    """About how many characters ``str(value)`` gives, without building it; stops counting
    past ``limit``. A list that holds the same long string a thousand times counts it a
    thousand times, as its text would."""
    if type(value) is str:
        return len(value)
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or isinstance(item, str):
            total += len(item) + 2
        elif kind is int:
            total += item.bit_length() // 3 + 1
        elif kind in (list, tuple, set, frozenset):
            total += 2 * len(item) + 2
            stack.extend(item)
        elif kind is dict:
            total += 4 * len(item) + 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif _is_namespace(item):
            attrs = object.__getattribute__(item, "_Namespace__attrs")
            total += 4 * len(attrs) + 14
            stack.extend(attrs.values())
        else:
            total += 16  # numbers, None, Undefined, macros: a short text
        if total > limit:
            return total
    return total


def _is_namespace(value: Any) -> bool:
    # jinja2.utils.Namespace keeps its attributes in ``_Namespace__attrs`` (jinja 3.1) and
    # prints them all in its repr.
    from jinja2.utils import Namespace

    return isinstance(value, Namespace)


def check_text(value: Any, meter: Meter | None = None) -> None:
    """Refuse to turn ``value`` into text when that text would pass ``MAX_VALUE``."""
    if type(value) is str:
        return
    size = text_size(value)
    if size > MAX_VALUE:
        raise _too_big("a text", size, MAX_VALUE)
    if meter is not None and size >= CHARS_PER_STEP:
        meter.spend(size // CHARS_PER_STEP)


def check_built(value: Any, meter: Meter | None, *, deep: bool = False) -> None:
    """After an operation: refuse a result over the limits, and charge its size.

    ``deep`` measures a container's text too (``text_size``): for results that can hold
    the same value many times.
    """
    kind = type(value)
    if kind is str:
        size = len(value)
        if size > MAX_VALUE:
            raise _too_big("a string", size, MAX_VALUE)
    elif kind in (list, tuple, dict, set):
        size = len(value)
        if size > MAX_ITEMS:
            raise _too_big("a container", size, MAX_ITEMS, "items")
        if deep:
            size = text_size(value)
            if size > MAX_VALUE:
                raise _too_big("a container printed as text", size, MAX_VALUE)
    elif kind is int:
        size = value.bit_length() // 8
        if size * 8 > MAX_INT_BITS:
            raise _too_big("an integer", size * 8, MAX_INT_BITS, "bits")
    else:
        return
    if meter is not None and size >= CHARS_PER_STEP:
        meter.spend(size // CHARS_PER_STEP)


def _length(value: Any) -> int | None:
    if isinstance(value, (str, list, tuple)):
        return len(value)
    return None


# --- operations that multiply sizes, checked before they run -----------------------------


def check_repeat(left: Any, right: Any, meter: Meter | None) -> None:
    """``left * right``: a sequence repeated, or two integers multiplied."""
    for seq, times in ((left, right), (right, left)):
        n = _length(seq)
        if n is not None and isinstance(times, int):
            size = n * max(times, 0)
            limit = MAX_VALUE if isinstance(seq, str) else MAX_ITEMS
            if size > limit:
                if isinstance(seq, str):
                    raise _too_big("a string", size, limit)
                raise _too_big("a list", size, limit, "items")
            if not isinstance(seq, str):
                text = text_size(seq, MAX_VALUE // max(times, 1)) * max(times, 0)
                if text > MAX_VALUE:
                    raise _too_big("a list printed as text", text, MAX_VALUE)
            if meter is not None and size >= CHARS_PER_STEP:
                meter.spend(size // CHARS_PER_STEP)
            return
    if type(left) is int and type(right) is int:
        bits = left.bit_length() + right.bit_length()
        if bits > MAX_INT_BITS:
            raise _too_big("an integer", bits, MAX_INT_BITS, "bits")


def check_power(base: Any, exponent: Any) -> None:
    """``base ** exponent`` on integers: the result's bits, estimated before computing it."""
    if type(base) is int and type(exponent) is int and exponent > 0 and abs(base) > 1:
        bits = (abs(base).bit_length() - 1) * exponent
        if bits > MAX_INT_BITS:
            raise _too_big("an integer", bits, MAX_INT_BITS, "bits")


# Widths and precisions in a %-format or a str.format spec: "%50s", "{:>50}", "{:.50f}".
_FORMAT_NUMBER = re.compile(r"\d{8,}")


def check_format_string(fmt: str) -> None:
    for number in _FORMAT_NUMBER.findall(fmt):
        if int(number) > MAX_VALUE:
            raise _too_big("a format width", int(number), MAX_VALUE, "")


def check_numbers(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Widths, counts and fill sizes given as arguments."""
    for value in (*args, *kwargs.values()):
        if type(value) is int and value > MAX_VALUE:
            raise _too_big("a width or count", value, MAX_VALUE, "")


def check_percent(fmt: Any, values: Any, meter: Meter | None) -> None:
    """``fmt % values`` (the ``%`` operator and the ``format`` filter)."""
    if not isinstance(fmt, str):
        return
    check_format_string(fmt)
    items = values if isinstance(values, tuple) else (values,)
    check_numbers(items, {})
    size = len(fmt) + sum(text_size(v) for v in items)
    if size > MAX_VALUE:
        raise _too_big("a formatted string", size, MAX_VALUE)


def check_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``fmt.format(*args, **kwargs)``."""
    check_format_string(fmt)
    size = len(fmt) + sum(text_size(v) for v in (*args, *kwargs.values()))
    if size > MAX_VALUE:
        raise _too_big("a formatted string", size, MAX_VALUE)


def check_replace(s: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not (isinstance(s, str) and isinstance(old, str) and isinstance(new, str)):
        return
    grow = len(new) - len(old)
    if grow <= 0 or len(s) + (len(s) + 1) * grow <= MAX_VALUE:
        return
    found = len(s) + 1 if not old else s.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    size = len(s) + found * grow
    if size > MAX_VALUE:
        raise _too_big("a string", size, MAX_VALUE)


def check_join(separator: Any, items: Any) -> None:
    """``separator.join(items)`` over a list or tuple (what templates join)."""
    if not isinstance(items, (list, tuple)):
        return
    size = text_size(separator) * max(len(items) - 1, 0)
    for item in items:
        size += text_size(item, MAX_VALUE - size)
        if size > MAX_VALUE:
            raise _too_big("a joined string", size, MAX_VALUE)


def check_indent(s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    if not isinstance(s, str):
        return
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    size = len(s) + (s.count("\n") + 1) * max(pad, 0)
    if size > MAX_VALUE:
        raise _too_big("an indented string", size, MAX_VALUE)


def check_expandtabs(s: str, tabsize: Any = 8) -> None:
    if isinstance(tabsize, int):
        size = len(s) + s.count("\t") * max(tabsize, 0)
        if size > MAX_VALUE:
            raise _too_big("a string", size, MAX_VALUE)


def check_strftime(fmt: Any) -> None:
    if isinstance(fmt, str) and len(fmt) > MAX_STRFTIME:
        raise _too_big("a strftime_now format", len(fmt), MAX_STRFTIME)


def check_range(length: int) -> None:
    if length > MAX_RANGE:
        raise _too_big("a range", length, MAX_RANGE, "items")


def check_sum(items: Any, start: Any) -> None:
    """``sum`` over strings or lists copies what it has built at every item: quadratic."""
    if isinstance(start, (int, float)) or not isinstance(items, (list, tuple)):
        return
    total = _length(start) or 0
    work = 0
    for item in items:
        total += _length(item) or 0
        work += total
    if total > MAX_ITEMS:
        raise _too_big("a sum", total, MAX_ITEMS, "items")
    spend(work // 32)  # a step is worth copying about 32 items
