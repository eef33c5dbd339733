"""jinja's immutable sandbox with every way a template grows a value metered (``budget``).

The sandbox's own hooks see operators (``*``, ``**``, ``%``) and calls; no hook sees
``for`` loops, ``~``, ``+`` or ``[a, b]``, so the parsed template is rewritten to pass
them through small filters (``_Metering``) before it is compiled. What a template renders
is unchanged; only what it spends is counted. The invariant this keeps: every string,
list or dict a template makes has a text of at most ``budget.MAX_VALUE`` characters
(counting a value held twice twice), so printing, joining or formatting any of them is
bounded too.

Written against jinja2 3.1 (``Environment._parse``, ``environment.concat`` in compiled
code, ``jinja_pass_arg`` on filters); ``tests/faults/test_template_budget.py`` holds
rendering equal to plain jinja.

>>> env = BudgetedEnvironment()
>>> with metering():
...     env.from_string("{% for x in [1, 2] %}{{ x ~ '!' }}{% endfor %}").render()
'1!2!'
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from types import BuiltinMethodType, FunctionType
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.visitor
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from dataprep.prepare.template import budget
from dataprep.prepare.template.budget import CHARS_PER_STEP, CURRENT

# Values whose size is checked after an operation made them (strings are checked by
# length on the spot, the rest by ``budget.check_built``).
_SIZED = frozenset({list, tuple, dict, set, int})
_BUILTIN = BuiltinMethodType  # a bound method of str

# str methods that can make a string much longer than their inputs, with their checks.
_STR_METHODS: dict[str, Callable[..., None]] = {
    "replace": budget.check_replace,
    "join": lambda separator, items=(), *_: budget.check_join(separator, items),
    "expandtabs": budget.check_expandtabs,
    "format": lambda fmt, *args, **kwargs: budget.check_format(fmt, args, kwargs),
    "format_map": lambda fmt, mapping, *_: budget.check_format(fmt, (mapping,), {}),
    **dict.fromkeys(("ljust", "rjust", "center", "zfill"), lambda *_: None),  # a width
}


def _check_str_method(
    method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Check a call of a str method before it runs; the arguments to call it with."""
    # str.format arrives wrapped by the sandbox (SandboxedEnvironment.wrap_str_format).
    target = getattr(getattr(method, "__wrapped__", method), "__self__", None)
    if not isinstance(target, str):
        return args
    name = method.__name__
    if name == "join" and args and not isinstance(args[0], (str, list, tuple)):
        args = (list(args[0]), *args[1:])  # listed once, to be measured and then joined
    budget.check_numbers(args, kwargs)
    _STR_METHODS[name](target, *args, **kwargs)
    return args


# --- filters -----------------------------------------------------------------------------


def _check_center(value: Any, width: Any = 80, *_: Any) -> None:
    budget.check_numbers((width,), {})


def _check_join(value: Any, d: Any = "", attribute: Any = None) -> None:
    budget.check_join(d, value)


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
    budget.check_percent(value, tuple(args) or tuple(kwargs.values()), None)


def _check_sum(iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    budget.check_sum(iterable, start)


def _check_count(value: Any, count: Any, *_: Any, **__: Any) -> None:
    budget.check_numbers((count,), {})


# Filters that can build more than they are given, and the check run before each.
_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _check_center,
    "indent": budget.check_indent,
    "replace": lambda s, old, new, count=None: budget.check_replace(s, old, new, count),
    "join": _check_join,
    "format": _check_format,
    "sum": _check_sum,
    "batch": _check_count,
    "slice": _check_count,
}
# Filters whose value may be an iterator: listed once, to be measured and then used.
_LISTING_FILTERS = frozenset({"join", "sum"})


def _metered_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    check = _FILTER_CHECKS[name]
    # A filter taking jinja's context, eval context or environment gets it first.
    skip = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0
    lists = name in _LISTING_FILTERS

    @functools.wraps(fn)
    def metered(*args: Any, **kwargs: Any) -> Any:
        if lists and len(args) > skip and not isinstance(args[skip], (str, list, tuple)):
            args = (*args[:skip], list(args[skip]), *args[skip + 1 :])
        check(*args[skip:], **kwargs)
        result = fn(*args, **kwargs)
        budget.check_built(result, CURRENT.get(), deep=True)
        return result

    return metered


# --- what no hook sees: loops, ~, + and literals -----------------------------------------


def _metered_loop(iterable: Any) -> Any:
    """Every ``{% for %}`` iterates through here: each item is a step."""
    meter = CURRENT.get()
    if meter is None:  # compiling (constant folding), or outside ``metering``
        return iterable
    try:
        meter.spend(len(iterable))
    except TypeError:  # no length (a generator): count the items as they come
        return _counted(iterable, meter)
    return iterable


def _counted(iterable: Any, meter: budget.Meter) -> Iterator[Any]:
    n = 0
    for item in iterable:
        n += 1
        if n == 1024:
            meter.spend(n)
            n = 0
        yield item
    meter.spend(n)


def _metered_concat(items: list[Any]) -> str:
    """The ``~`` operator: every operand as text, joined (jinja's ``str_join``)."""
    result = "".join(map(str, items))
    if len(result) >= CHARS_PER_STEP:
        budget.check_built(result, CURRENT.get())
    return result


def _metered_add(left: Any, right: Any) -> Any:
    """``+`` of two values that are not constants (the only ``+`` that can double)."""
    result = left + right
    if type(result) is not str or len(result) >= CHARS_PER_STEP:
        budget.check_built(result, CURRENT.get(), deep=True)
    return result


def _metered_literal(value: Any) -> Any:
    """A list, tuple or dict written in the template with variables in it: ``[a, a, a]``
    holds ``a`` three times, and ``[b, b, b]`` of that nine."""
    budget.check_built(value, CURRENT.get(), deep=True)
    return value


def _is_constant(node: jinja2.nodes.Node) -> bool:
    return isinstance(node, jinja2.nodes.Const)


class _Metering(jinja2.visitor.NodeTransformer):
    """Routes loops, ``~``, ``+`` and literals with variables through the filters above.

    A ``+`` with a constant side (``'<|im_start|>' + message['role']``) grows a value by a
    fixed amount, which the steps bound; only ``+`` of two variables is metered, so the
    common case costs nothing.
    """

    @staticmethod
    def _filter(name: str, node: Any, args: list[Any], lineno: int) -> jinja2.nodes.Filter:
        return jinja2.nodes.Filter(node, name, args, [], None, None, lineno=lineno)

    def visit_For(self, node: jinja2.nodes.For) -> jinja2.nodes.For:
        self.generic_visit(node)
        node.iter = self._filter("dataprep_loop", node.iter, [], node.iter.lineno)
        return node

    def visit_Concat(self, node: jinja2.nodes.Concat) -> jinja2.nodes.Filter:
        self.generic_visit(node)
        listed = jinja2.nodes.List(node.nodes, lineno=node.lineno)
        return self._filter("dataprep_concat", listed, [], node.lineno)

    def visit_Add(self, node: jinja2.nodes.Add) -> jinja2.nodes.Expr:
        self.generic_visit(node)
        if _is_constant(node.left) or _is_constant(node.right):
            return node
        return self._filter("dataprep_add", node.left, [node.right], node.lineno)

    def _literal(self, node: Any, parts: list[Any]) -> jinja2.nodes.Expr:
        self.generic_visit(node)
        if all(_is_constant(p) for p in parts):
            return node
        return self._filter("dataprep_literal", node, [], node.lineno)

    def visit_List(self, node: jinja2.nodes.List) -> jinja2.nodes.Expr:
        return self._literal(node, node.items)

    def visit_Tuple(self, node: jinja2.nodes.Tuple) -> jinja2.nodes.Expr:
        if node.ctx != "load":  # ``{% for a, b in ... %}``, ``{% set a, b = ... %}``
            return self.generic_visit(node)
        return self._literal(node, node.items)

    def visit_Dict(self, node: jinja2.nodes.Dict) -> jinja2.nodes.Expr:
        return self._literal(node, [p.value for p in node.items])


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """jinja's immutable sandbox, metered: renderings inside ``metering()`` spend from
    one ``budget.Meter`` and raise ``TemplateBudgetExceeded`` past it."""

    # "+" is metered in the tree instead (see _Metering), where its constant side shows.
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.globals["range"] = _range
        for name in _FILTER_CHECKS:
            self.filters[name] = _metered_filter(name, self.filters[name])
        self.filters["dataprep_loop"] = _metered_loop
        self.filters["dataprep_concat"] = _metered_concat
        self.filters["dataprep_add"] = _metered_add
        self.filters["dataprep_literal"] = _metered_literal

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        meter = CURRENT.get()
        if operator == "*":
            budget.check_repeat(left, right, meter)
        elif operator == "**":
            budget.check_power(left, right)
        else:
            budget.check_percent(left, right, meter)
        result = self.binop_table[operator](left, right)
        # (a repeated list's text was measured before it was built)
        budget.check_built(result, meter, deep=operator != "*")
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        meter = CURRENT.get()
        if meter is not None:
            meter.steps += 1
            if meter.steps >= meter.next_clock:
                meter.spend(0)
        kind = type(__obj)
        if (kind is _BUILTIN or kind is FunctionType) and __obj.__name__ in _STR_METHODS:
            args = _check_str_method(__obj, args, kwargs)
        # SandboxedEnvironment.call, inlined: this runs for every call a template makes.
        if not __self.is_safe_callable(__obj):
            raise SecurityError(f"{__obj!r} is not safely callable")
        result = __context.call(__obj, *args, **kwargs)
        kind = type(result)
        if (kind is str and len(result) >= CHARS_PER_STEP) or kind in _SIZED:
            budget.check_built(result, meter, deep=True)
        return result

    def concat(self, pieces: Any) -> str:  # type: ignore[override]
        """Joins what a macro, a ``{% set %}`` block or a filter block wrote (compiled
        templates call ``environment.concat``): its characters count as output."""
        meter = CURRENT.get()
        if meter is not None and type(pieces) is list:
            # Counted before joining: a loop can write one long string 100,000 times.
            size = sum(map(len, pieces))
            meter.produced += size
            if size >= CHARS_PER_STEP or meter.produced > meter.output_limit:
                meter.spend(size // CHARS_PER_STEP)
                meter.produce(0)
        return "".join(pieces)

    def _parse(self, source: str, name: str | None, filename: str | None) -> jinja2.nodes.Template:
        # Environment.compile parses through here: the tree is metered before compiling.
        return _Metering().visit(super()._parse(source, name, filename))


def _range(*args: int) -> range:
    # jinja's sandbox refuses more than 100,000 items with an OverflowError; here it is a
    # budget, and iterating a range is metered like any loop.
    values = range(*args)
    budget.check_range(len(values))
    return values


@contextlib.contextmanager
def metering(input_size: Callable[[], int] = lambda: 0) -> Iterator[budget.Meter]:
    """Meter the renderings inside the block (``rendering.render`` sets this itself)."""
    meter = budget.Meter(input_size)
    token = CURRENT.set(meter)
    try:
        yield meter
    finally:
        CURRENT.reset(token)
