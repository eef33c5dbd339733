"""Checking one row: its format's schema, its adapter, then the meaning checks on the
canonical example the adapter gives; every problem a ``Finding`` with a stable code (the
codes are listed in ``dataprep.validate``).

Apart from ``validate``, which runs these over whole files: nothing here knows of files,
lines or logs, so one row can be checked alone (``check_row``). These are the reference:
the fast paths that vouch for certainly clean rows (``dataprep._fast.clean.FAST_CLEAN``)
must never vouch for a row in which they find a problem.

>>> from dataprep.canonical import Conversation, Message
>>> conv = Conversation([Message("user", "Hi", origin="messages[0]"), Message("user", "", origin="messages[1]")])
>>> [(f.code, f.severity) for f in meaning_problems(conv, fmt="messages")]
[('empty-content', 'error'), ('consecutive-roles', 'warning'), ('no-final-assistant', 'error')]
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import orjson

from dataprep.canonical import ROLES, Conversation, Example, Message, Preference, Unpaired
from dataprep.errors import RowError
from dataprep.formats import FORMATS
from dataprep.formats.mapping import suggest_role
from dataprep.formats.media import refuse_media
from dataprep.validate.problems import Severity
from dataprep.validate.tools import TOOL_CALL_CODES, Declared, call_problems, declared_tools

# Chat-template control tokens that must never appear inside a message's text: a row
# holding one was rendered by a template (or scraped) and will train the model to emit
# the token, or break its prompt. Order: the longest of overlapping tokens first.
CONTROL_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|im_sep|>",
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|python_tag|>",
    "<|endoftext|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
    "<|start|>",
    "<|channel|>",
    "<|message|>",
    "<|return|>",
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜User｜>",
    "<｜Assistant｜>",
    "<start_of_turn>",
    "<end_of_turn>",
    "[INST]",
    "[/INST]",
    "<<SYS>>",
    "<</SYS>>",
    "<s>",
    "</s>",
)
# Every token starts with "<" or is [INST]/[/INST]. The checks look in each parsed text
# (not in the raw line: a writer that escapes "<" as \u003c, like Gson or Go, hides it
# from the bytes) for "<" and, in a text that holds a "[", for "INST]", with memchr-fast
# searches; only a text that holds one is searched for the tokens. The "<" tokens are one
# pattern behind their shared "<", which the regex engine scans for at memchr speed (one
# alternation of all tokens tries every position: six times slower on code with "<").
_LT_TOKEN_RE = re.compile(
    "<(?:" + "|".join(re.escape(t[1:]) for t in CONTROL_TOKENS if t[0] == "<") + ")"
)
_INST_RE = re.compile("|".join(re.escape(t) for t in CONTROL_TOKENS if t[0] != "<"))
# Formats whose readers refuse two user or two assistant turns in a row (LLaMA-Factory
# and FastChat read ShareGPT strictly alternating; alpaca's pairs cannot repeat a role).
# Elsewhere it is legal in the format but refused by many chat templates (Llama 2,
# Mistral, Gemma): a warning.
ALTERNATING_FORMATS = frozenset({"sharegpt", "alpaca"})


class Finding(NamedTuple):
    """One problem of one row: where in the row, what, its reason code, and whether it
    fails the file ("error") or is reported only ("warning", an error under --strict)."""

    path: str
    message: str
    code: str
    severity: Severity = "error"


# ---------------------------------------------------------------------- meaning checks


def find_control_token(text: str) -> str | None:
    """The first chat-template control token inside ``text``, if any.

    >>> find_control_token("fine"), find_control_token("oops <|im_end|> here")
    (None, '<|im_end|>')
    """
    found = _LT_TOKEN_RE.search(text) if "<" in text else None
    if "[" in text and "INST]" in text:
        inst = _INST_RE.search(text)
        if inst is not None and (found is None or inst.start() < found.start()):
            found = inst
    return found.group(0) if found else None


PATH_TOKEN = re.compile(r'\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def _resolve(row: Any, origin: str) -> Any:
    """The value at ``origin`` (``messages[2]``, ``history[1][0]``) inside ``row``; None if absent."""
    value, pos = row, 0
    while pos < len(origin):
        m = PATH_TOKEN.match(origin, pos)
        if m is None:
            return None
        name, index, quoted = m.groups()
        key: Any = int(index) if index is not None else name
        if quoted is not None:
            key = orjson.loads(quoted)
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
        pos = m.end()
    return value


class _Findings:
    """Findings of one example, each (path, code) once; paths point into the user's row."""

    def __init__(self, row: Any):
        self.row = row
        self.items: list[Finding] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, path: str, message: str, code: str, severity: Severity = "error") -> None:
        if (path, code) not in self._seen:
            self._seen.add((path, code))
            self.items.append(Finding(path, message, code, severity))

    def field(self, origin: str, names: tuple[str, ...]) -> str:
        """The path of a message's field: ``messages[2].content``, ``conversations[1].value``,
        or the origin itself where the message is a plain string (alpaca's ``output``)."""
        item = _resolve(self.row, origin) if self.row is not None else None
        if isinstance(item, str):
            return origin
        if isinstance(item, dict):
            for name in names:
                if name in item:
                    return f"{origin}.{name}"
        if item is None and "@" in origin:  # chatml: "text@120", an offset in the text
            return origin
        return f"{origin}.{names[0]}"

    def arguments_path(self, origin: str, j: int) -> str:
        item = _resolve(self.row, origin) if self.row is not None else None
        if isinstance(item, dict) and "tool_calls" in item:
            call = _resolve(item, f"tool_calls[{j}]")
            if isinstance(call, dict) and "function" in call:
                return f"{origin}.tool_calls[{j}].function.arguments"
            return f"{origin}.tool_calls[{j}].arguments"
        if isinstance(item, dict) and "value" in item:  # sharegpt function_call turn
            return f"{origin}.value"
        return f"{origin}.tool_calls[{j}].arguments"


_CONTENT = ("content", "value", "text")


def _origin(m: Message, section: str, i: int) -> str:
    return m.origin or f"{section}[{i}]"


def _check_messages(
    messages: list[Message],
    section: str,
    out: _Findings,
    scan: bool,
    declared: Declared | None = None,
) -> None:
    """Checks on each message alone: role, content, control tokens, tool-call arguments
    (against the row's ``declared`` tools, when it declares some)."""
    for i, m in enumerate(messages):
        origin = _origin(m, section, i)
        role = m.role
        if role not in ROLES:
            out.add(
                out.field(origin, ("role", "from")),
                f"unknown role {role!r} (known: {', '.join(ROLES)}; "
                f"map it with --role {role}={suggest_role(str(role))})",
                "unknown-role",
            )
        content = m.content
        calls_tools = role == "assistant" and bool(m.tool_calls)
        if content is None:
            if not calls_tools:
                out.add(out.field(origin, _CONTENT), "content is null", "null-content")
        elif type(content) is not str:
            out.add(
                out.field(origin, _CONTENT),
                f"content must be a string, not {type(content).__name__}",
                "non-string-content",
            )
        elif not content or content.isspace():
            if not calls_tools:
                out.add(out.field(origin, _CONTENT), "content is empty", "empty-content")
        elif scan:
            token = find_control_token(content)
            if token:
                out.add(
                    out.field(origin, _CONTENT),
                    f"content holds the chat-template control token {token!r}: "
                    "text rendered by a template leaked into the data",
                    "leaked-control-token",
                )
        if scan and type(m.reasoning) is str:
            token = find_control_token(m.reasoning)
            if token:
                out.add(
                    out.field(origin, ("reasoning_content", "reasoning", "thinking")),
                    f"reasoning holds the chat-template control token {token!r}",
                    "leaked-control-token",
                )
        for j, call in enumerate(m.tool_calls or ()):
            args = call.arguments
            if type(args) is not str:
                if declared is not None:
                    _check_call(call.name, args, origin, j, declared, out)
                continue
            try:
                parsed = orjson.loads(args)
            except orjson.JSONDecodeError as e:
                out.add(
                    out.arguments_path(origin, j),
                    f"arguments of {call.name!r} are not valid JSON ({e})",
                    "bad-tool-arguments",
                )
                continue
            if type(parsed) is str and _is_json_object(parsed):
                # Written by json.dumps over a value that was already a JSON string:
                # templates then render the escaped text, quotes and backslashes included.
                out.add(
                    out.arguments_path(origin, j),
                    f"arguments of {call.name!r} are JSON-encoded twice (a JSON string "
                    "holding the object's JSON text): decode them once more",
                    "tool-args-double-encoded",
                )
            elif type(parsed) is not dict:
                out.add(
                    out.arguments_path(origin, j),
                    f"arguments of {call.name!r} must be a JSON object, got {type(parsed).__name__}",
                    "bad-tool-arguments",
                )
            elif declared is not None:
                _check_call(call.name, parsed, origin, j, declared, out)


def _check_call(
    name: str, arguments: Any, origin: str, j: int, declared: Declared, out: _Findings
) -> None:
    """A call checked against the declared tools, reported at the call's name or argument."""
    for p in call_problems(name, arguments, declared):
        base = out.arguments_path(origin, j)
        if p.where:
            path = (
                f"{base}.{p.where}"
                if base.endswith(".arguments")
                else f"{base}.arguments.{p.where}"
            )
        else:
            path = base[: -len("arguments")] + "name" if base.endswith(".arguments") else base
        out.add(path, p.message, p.code)


def _is_json_object(text: str) -> bool:
    """True when ``text`` is the JSON of an object (``'{"x": 1}'``)."""
    if "{" not in text:
        return False
    try:
        return type(orjson.loads(text)) is dict
    except orjson.JSONDecodeError:
        return False


def _check_sequence(
    messages: list[Message], section: str, out: _Findings, *, alternating: bool
) -> None:
    """Checks on the order of messages: system first, turns alternate, tool results answer calls."""
    call_ids: set[str] = set()
    open_calls = 0  # results still expected, by position, for the latest calling turn
    previous: str | None = None
    for i, m in enumerate(messages):
        role = m.role
        origin = _origin(m, section, i)
        if role == "system" and i > 0:
            out.add(
                origin,
                "system message after the first message; it must come first",
                "system-not-first",
            )
        if role == previous and role in ("user", "assistant"):
            if alternating:
                out.add(
                    origin,
                    f"two {role} turns in a row; this format requires user and assistant turns "
                    "to alternate: merge them or add the missing turn",
                    "consecutive-roles",
                )
            else:
                out.add(
                    origin,
                    f"two {role} turns in a row; many chat templates (Llama 2, Mistral, Gemma) refuse this",
                    "consecutive-roles",
                    "warning",
                )
        if role == "assistant":
            calls = m.tool_calls or ()
            open_calls = len(calls)
            call_ids.update(c.id for c in calls if c.id is not None)
        elif role == "tool":
            if m.tool_call_id is not None:
                if m.tool_call_id not in call_ids:
                    out.add(
                        origin,
                        f"tool result for call id {m.tool_call_id!r}, which no earlier tool call has",
                        "orphan-tool-result",
                    )
            elif open_calls <= 0:
                out.add(
                    origin,
                    "tool result that follows no tool call (or more results than calls)",
                    "orphan-tool-result",
                )
            open_calls -= 1
        else:
            open_calls = 0
        previous = role


def _ends_with_assistant(messages: list[Message], section: str, out: _Findings, what: str) -> None:
    if messages and messages[-1].role != "assistant":
        last = messages[-1]
        out.add(
            _origin(last, section, len(messages) - 1),
            f"{what} ends with a {last.role} turn, not an assistant turn: nothing to learn from",
            "no-final-assistant",
        )


def _has_user_turn(parts: tuple[list[Message], ...], out: _Findings) -> None:
    """Assistant turns with no user turn anywhere (a system prompt and an answer, scraped
    replies): the model learns answers to nothing, and templates that expect a user turn
    first (Gemma, Llama 2) render them oddly or refuse. Legal in every format: a warning."""
    roles = {m.role for part in parts for m in part}
    if "assistant" in roles and "user" not in roles:
        out.add(
            "",
            "assistant turns but no user turn: nothing asks for the answers it trains",
            "no-user-turn",
            "warning",
        )


def _said(messages: list[Message]) -> list[tuple]:
    """What messages say, to compare two answers or prompts: every field but ``extra``
    (ids, timestamps: two answers that differ only there still teach nothing)."""
    return [
        (m.role, m.content, m.tool_calls, m.tool_call_id, m.name, m.reasoning, m.train)
        for m in messages
    ]


def _lead(messages: list[Message]) -> list[Message]:
    """The messages before the first assistant turn: the part that belongs to the prompt."""
    for i, m in enumerate(messages):
        if m.role == "assistant":
            return messages[:i]
    return messages


def meaning_problems(
    example: Example, row: Any = None, fmt: str | None = None, *, scan_tokens: bool = True
) -> list[Finding]:
    """The meaning problems of one canonical example, as ``Finding``s.

    ``row`` is the user's row the example came from: it makes paths exact (``.content``
    in a messages row, ``.value`` in a ShareGPT one). ``fmt`` names the format, which
    decides whether consecutive same-role turns are an error. ``scan_tokens`` False skips
    the control-token search (the caller knows the row's bytes hold none).
    """
    out = _Findings(row)
    alternating = fmt in ALTERNATING_FORMATS
    if isinstance(example, Conversation):
        messages = example.messages
        if not messages:
            out.add("", "the conversation has no messages", "no-messages")
        _check_messages(messages, "messages", out, scan_tokens, declared_tools(example.tools))
        if not example.plain:
            _check_sequence(messages, "messages", out, alternating=alternating)
            _ends_with_assistant(messages, "messages", out, "the conversation")
            _has_user_turn((messages,), out)
    elif isinstance(example, Preference):
        declared = declared_tools(example.tools)
        for section, part in (
            ("prompt", example.prompt),
            ("chosen", example.chosen),
            ("rejected", example.rejected),
        ):
            _check_messages(part, section, out, scan_tokens, declared)
        if _said(example.chosen) == _said(example.rejected):
            out.add(
                "rejected",
                "chosen and rejected are the same: the pair teaches nothing",
                "chosen-equals-rejected",
            )
        if not example.plain:
            for section, part in (("chosen", example.chosen), ("rejected", example.rejected)):
                _check_sequence(example.prompt + part, section, out, alternating=alternating)
                _ends_with_assistant(part, section, out, section)
            _check_prompts(example, out)
            _has_user_turn((example.prompt, example.chosen, example.rejected), out)
    elif isinstance(example, Unpaired):
        declared = declared_tools(example.tools)
        _check_messages(example.prompt, "prompt", out, scan_tokens, declared)
        _check_messages(example.completion, "completion", out, scan_tokens, declared)
        if not example.plain:
            _check_sequence(
                example.prompt + example.completion, "completion", out, alternating=alternating
            )
            _ends_with_assistant(example.completion, "completion", out, "the completion")
            _has_user_turn((example.prompt, example.completion), out)
    return out.items


def _check_prompts(example: Preference, out: _Findings) -> None:
    """Chosen and rejected must continue the same prompt."""
    prompt = _said(example.prompt)
    if prompt:
        n = len(prompt)
        in_chosen = _said(example.chosen[:n]) == prompt
        in_rejected = _said(example.rejected[:n]) == prompt
        if in_chosen != in_rejected:
            which = "chosen" if in_chosen else "rejected"
            other = "rejected" if in_chosen else "chosen"
            out.add(
                other,
                f"the prompt is repeated at the start of {which} but not of {other}",
                "prompt-mismatch",
            )
            return
    lead_c, lead_r = _said(_lead(example.chosen)), _said(_lead(example.rejected))
    if lead_c != lead_r:
        out.add(
            "rejected",
            "chosen and rejected start from different prompts: the turns before their answers differ",
            "prompt-mismatch",
        )
    elif not prompt and not lead_c and not example.plain:
        out.add(
            "",
            "chosen and rejected share no prompt: nothing says what they answer",
            "prompt-mismatch",
        )


# ------------------------------------------------------------------- checking one row

_validators: dict[str, Any] = {}


def _validator(fmt: str) -> Any:
    v = _validators.get(fmt)
    if v is None:
        from dataprep.validate.schema import Validator

        v = _validators[fmt] = Validator(fmt)
    return v


def check_row(row: Any, fmt: str, *, scan_tokens: bool = True) -> list[Finding]:
    """Every problem of one row read as format ``fmt``: schema, adapter, then meaning.

    >>> [f.code for f in check_row({"messages": [{"role": "user", "content": "Hi"}]}, "messages")]
    ['no-final-assistant']
    """
    schema_errors = _validator(fmt).check(row)
    if schema_errors:
        return [_schema_finding(row, path, message) for path, message in schema_errors]
    try:
        example = FORMATS[fmt].to_canonical(row)
        refuse_media(row, example)
    except RowError as e:
        return [Finding(e.path, e.message, _CODE_ALIASES.get(e.code, e.code))]
    return meaning_problems(example, row, fmt, scan_tokens=scan_tokens)


def check_converted(row: Any, fmt: str, example: Example) -> list[Finding]:
    """``check_row``'s findings for a row whose adapter already gave ``example``:
    ``prepare`` converts every row anyway, and converting it twice would double that cost.

    Schema errors come first, as in ``check_row``; the meaning checks then run too (the
    example exists), so that a row kept by ``prepare --accept`` for one code was still
    checked for all the others.

    >>> row = {"messages": [{"role": "user", "content": "Hi"}]}
    >>> [f.code for f in check_converted(row, "messages", FORMATS["messages"].to_canonical(row))]
    ['no-final-assistant']
    """
    schema_errors = _validator(fmt).check(row)
    if not schema_errors:
        return meaning_problems(example, row, fmt)
    found = [_schema_finding(row, path, message) for path, message in schema_errors]
    seen = {(f.path, f.code) for f in found}
    return found + [f for f in meaning_problems(example, row, fmt) if (f.path, f.code) not in seen]


# The codes of the row checks (schema and meaning; the adapters' own codes aside, which
# leave no example to train): errors fail a row, warnings are reported only. One code,
# consecutive-roles, is either, by format. ``prepare --accept`` takes most error codes
# (``dataprep.prepare.encode.gate.ACCEPTABLE_CODES``).
ROW_ERROR_CODES = (
    "schema",
    "no-messages",
    "unknown-role",
    "null-content",
    "empty-content",
    "non-string-content",
    "consecutive-roles",
    "no-final-assistant",
    "system-not-first",
    "orphan-tool-result",
    "bad-tool-arguments",
    "tool-args-double-encoded",
    *TOOL_CALL_CODES,
    "chosen-equals-rejected",
    "prompt-mismatch",
    "leaked-control-token",
)
ROW_WARNING_CODES = ("consecutive-roles", "no-user-turn")

# Adapter codes reported under the name of the meaning check they are an instance of.
_CODE_ALIASES = {"no-shared-prompt": "prompt-mismatch"}
_CONTENT_FIELDS = frozenset({"content", "value"})


def _schema_finding(row: Any, path: str, message: str) -> Finding:
    """A schema error; one about a message's text has the meaning code users look for."""
    last = path.rsplit(".", 1)[-1]
    if last in _CONTENT_FIELDS and "is not of type" in message:
        value = _resolve(row, path)
        if value is None:
            return Finding(path, "content is null", "null-content")
        return Finding(
            path, f"content must be a string, not {type(value).__name__}", "non-string-content"
        )
    return Finding(path, message, "schema")
