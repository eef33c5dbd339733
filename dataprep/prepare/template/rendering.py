"""Rendering chat templates in a sandbox, the way ``transformers`` does.

The environment is configured like ``transformers.utils.chat_template_utils`` (trim_blocks,
lstrip_blocks, loop controls, a ``tojson`` that keeps non-ASCII text and takes ``indent``,
``raise_exception``, ``strftime_now``, a limited ``dict`` and ``namespace``, and the
``{% generation %}`` block tag), because our ids must equal
``tokenizer.apply_chat_template`` for the same template. Templates come from model
repositories and are untrusted code: they run in jinja's immutable sandbox.

Unlike transformers, the offsets of ``{% generation %}`` blocks are tracked with a running
character count instead of joining everything rendered so far at each block, so a long
conversation costs linear time, not quadratic.

Each rendering runs under a budget of size, steps and time (``budget``, metered by the
sandbox in ``sandbox``): a rendering that goes past it raises ``TemplateBudgetExceeded``
(a row error, reason ``template-budget``). Any other failure of
a template (``OverflowError``, ``ZeroDivisionError``, ...) comes out as a
``jinja2.TemplateError``, like the errors templates raise on purpose.

>>> t = compile_template("{% for m in messages %}{{ m.role }}: "
...                      "{% generation %}{{ m.content }}{% endgeneration %}\\n{% endfor %}")
>>> r = render(t, [{"role": "user", "content": "hi"}])
>>> r.text, r.generation_spans
('user: hi', [(6, 8)])
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dataprep.canonical import Message
from dataprep.prepare.template import budget
from dataprep.prepare.template.budget import CURRENT as _CURRENT
from dataprep.prepare.template.budget import TemplateBudgetExceeded
from dataprep.prepare.template.sandbox import BudgetedEnvironment


@dataclass(slots=True)
class _Tracking:
    emitted: int = 0  # characters yielded by the template so far
    spans: list[tuple[int, int]] = field(default_factory=list)


_TRACKING: ContextVar[_Tracking | None] = ContextVar("dataprep_generation_tracking", default=None)


class _GenerationTracker(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: records where generated text lands.

    The start of a block is the number of characters the template has yielded before it,
    as in transformers; a block rendered into a buffer (a macro, ``{% set %}...``) gets
    the same (misplaced) offsets it gets there.
    """

    tags = {"generation"}  # noqa: RUF012  (jinja reads this class attribute)

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.CallBlock:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation", []), [], [], body).set_lineno(
            lineno
        )

    def _generation(self, caller: jinja2.runtime.Macro) -> str:
        text = caller()
        tracking = _TRACKING.get()
        if tracking is not None:
            tracking.spans.append((tracking.emitted, tracking.emitted + len(text)))
        return text


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


# An indent wider than this is a template growing its output, not formatting it.
_MAX_JSON_INDENT = 64


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # jinja's own tojson escapes HTML characters (<, >, &, '), which no model was trained on.
    width = len(indent) if isinstance(indent, str) else indent or 0
    if width > _MAX_JSON_INDENT:
        raise TemplateBudgetExceeded(f"a tojson indent of {width:,} (the limit is 64)")
    budget.check_text(x, _CURRENT.get())
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(format: str) -> str:
    budget.check_strftime(format)
    return datetime.now().strftime(format)


class _TemplateDict:
    # ``dict(...)`` in templates, without handing them the real type to poke at.
    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict:
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
    # Namespaces that refuse underscore attributes, so a template cannot reach internals.
    def __init__(*args: Any, **kwargs: Any):
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)
        if not isinstance(value, (int, float, bool, type(None))) and not (
            type(value) is str and len(value) < budget.CHARS_PER_STEP
        ):
            # A namespace prints everything it holds: it stays within the budget too.
            budget.check_text(self)

    @staticmethod
    def _check_name(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                f"chat templates cannot store underscore attributes on a namespace: {name!r}"
            )


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = BudgetedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTracker, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    return env


@lru_cache(maxsize=64)
def compile_template(source: str) -> jinja2.Template:
    """Compile a chat template once; the same source gives the same compiled template."""
    return _environment().from_string(source)


@dataclass(slots=True)
class Rendered:
    text: str
    # Character spans of ``{% generation %}`` blocks, in order; empty for templates without.
    generation_spans: list[tuple[int, int]]


def render(
    template: jinja2.Template,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = False,
    variables: dict[str, Any] | None = None,
) -> Rendered:
    """Render ``messages`` (template dicts, see ``to_template_messages``) once.

    ``variables`` are the extra names the template sees: the tokenizer's special tokens
    (``bos_token``, ``eos_token``, ...) and template options such as ``enable_thinking``.
    Raises ``TemplateBudgetExceeded`` past the budget, and jinja2 errors (or TypeError,
    ValueError, KeyError, AttributeError) as they come: callers turn them into row errors.
    """
    tracking = _Tracking()
    try:
        meter = budget.Meter(lambda: budget.text_size([messages, tools]))
        with _Rendering(tracking, meter):
            pieces = []
            for piece in template.generate(
                **(variables or {}),
                messages=messages,
                tools=tools,
                documents=None,
                add_generation_prompt=add_generation_prompt,
            ):
                pieces.append(piece)
                tracking.emitted += len(piece)
                meter.produced += len(piece)
                if meter.produced > meter.output_limit:
                    meter.produce(0)
    except (TemplateBudgetExceeded, *_TEMPLATE_ERRORS):
        raise
    except MemoryError:
        raise TemplateBudgetExceeded("it ran out of memory") from None
    except RecursionError:
        raise TemplateBudgetExceeded("it recursed deeper than Python allows") from None
    except Exception as e:
        # OverflowError, ZeroDivisionError, IndexError...: the template failed on this row.
        raise jinja2.TemplateRuntimeError(f"{type(e).__name__}: {e}") from e
    return Rendered("".join(pieces), tracking.spans)


# What a template raises that callers already expect (and turn into row errors).
_TEMPLATE_ERRORS = (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError)


class _Rendering:
    """Sets the tracking and the budget meter of one rendering (a class: a generator
    context manager costs microseconds, a tenth of a short rendering)."""

    __slots__ = ("_meter", "_tokens", "_tracking")

    def __init__(self, tracking: _Tracking, meter: budget.Meter):
        self._tracking = tracking
        self._meter = meter

    def __enter__(self) -> None:
        self._tokens = (_TRACKING.set(self._tracking), _CURRENT.set(self._meter))

    def __exit__(self, *exc: object) -> None:
        _TRACKING.reset(self._tokens[0])
        _CURRENT.reset(self._tokens[1])


def tool_arguments(arguments: str | dict[str, Any], *, as_string: bool) -> str | dict[str, Any]:
    """Tool-call arguments in the form a template wants.

    Most templates do ``arguments | tojson`` and want an object: a JSON string holding
    an object is parsed. A few (DeepSeek-V3's original) concatenate ``arguments`` as a
    string and fail on an object: for them ``as_string`` gives the JSON text. Arguments
    that are not valid JSON stay the string they are.

    >>> tool_arguments('{"a": 1}', as_string=False)
    {'a': 1}
    >>> tool_arguments({"a": 1}, as_string=True)
    '{"a": 1}'
    """
    if as_string:
        if isinstance(arguments, str):
            return arguments
        return json.dumps(arguments, ensure_ascii=False)
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return arguments
        return parsed if isinstance(parsed, dict) else arguments
    return arguments


def to_template_messages(
    messages: list[Message], *, arguments_as_string: bool = False, content_blocks: bool = False
) -> list[dict[str, Any]]:
    """Canonical messages as the dicts chat templates read (the OpenAI / HF shape).

    Keys whose value is None are left out, as ``apply_chat_template`` does (templates test
    ``'content' in message`` more often than ``is none``). Reasoning is given under both
    names templates read it by: ``reasoning_content`` (Qwen, DeepSeek, GLM) and
    ``thinking`` (gpt-oss). ``content_blocks`` gives each content as one text block
    (``[{"type": "text", "text": ...}]``), for vision-language templates that only read
    blocks (Idefics3, SmolVLM, LLaVA-NeXT).

    >>> from dataprep.canonical import Message, ToolCall
    >>> to_template_messages([Message("assistant", None, tool_calls=[ToolCall("f", '{"x": 1}')])])
    [{'role': 'assistant', 'tool_calls': [{'type': 'function', 'function': {'name': 'f', 'arguments': {'x': 1}}}]}]
    """
    out = []
    for m in messages:
        d: dict[str, Any] = {}
        if m.reasoning is not None:
            d["thinking"] = m.reasoning
        d["role"] = m.role
        if m.content is not None:
            d["content"] = [{"type": "text", "text": m.content}] if content_blocks else m.content
        if m.tool_calls:
            calls = []
            for call in m.tool_calls:
                c: dict[str, Any] = {
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": tool_arguments(call.arguments, as_string=arguments_as_string),
                    },
                }
                if call.id is not None:
                    c["id"] = call.id
                calls.append(c)
            d["tool_calls"] = calls
        if m.tool_call_id is not None:
            d["tool_call_id"] = m.tool_call_id
        if m.name is not None:
            d["name"] = m.name
        if m.reasoning is not None:
            d["reasoning_content"] = m.reasoning
        out.append(d)
    return out
