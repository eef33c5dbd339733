"""Validating dataset files: schema, then meaning; every problem collected, then counted.

Each row goes through three stages, each of which can only report, never crash:

1. the format's JSON Schema (``dataprep.schema.Validator``): code ``schema``, with the
   field path jsonschema gives;
2. the format's adapter (``to_canonical``): its ``RowError`` with path and code;
3. meaning checks on the canonical example, each with a stable code:

   ==========================  =========================================================
   ``unknown-role``            a role that is not system, user, assistant or tool
   ``null-content``            content null (an assistant turn that only calls tools
                               may have none)
   ``empty-content``           content empty or only whitespace
   ``non-string-content``      content that is not a string
   ``consecutive-roles``       two user or two assistant turns in a row: an error where
                               the format forbids it (sharegpt), else a warning
   ``no-final-assistant``      a conversation (or chosen/rejected/completion) that does
                               not end with an assistant turn
   ``system-not-first``        a system message after the first message
   ``orphan-tool-result``      a tool message that answers no earlier tool call
   ``bad-tool-arguments``      tool-call arguments that are a string but not a JSON object
   ``chosen-equals-rejected``  a preference pair whose two answers are the same
   ``prompt-mismatch``         chosen and rejected that start from different prompts
   ``leaked-control-token``    a chat-template control token inside a message's text
   ``duplicate-row``           a warning: the same row as an earlier line
   ``unknown-format``          a row that no format fits (format not forced)
   ``mixed-formats``           rows of a file that disagree with the file's main format
   ``ambiguous-format``        every row fits several formats; ``--format`` chooses
   ==========================  =========================================================

The format. With ``format=`` forced, every row is checked as that format. Without it,
each row is checked as the format its own shape shows (``dataprep.detect``), in the same
single pass that gathers the evidence for the file's format; a file whose rows disagree
is reported as mixed at the end, at the lines of the minority kinds. One pass means
stdin needs no buffering and a large file is read once.

Rows that cannot be read keep the reader's codes (``invalid-json``, ``nul-byte``, ...);
a ``--field`` mapping that would overwrite a key is ``mapping-conflict``.

Keys of a message that no format field claims (``id``, ``timestamp``, ...) are data
(``Message.extra``): no check looks at them, and they raise no problem.

Speed. Most rows of a real file are clean, so the common shapes (``messages`` rows of
alternating turns, OpenAI tool calls included, and ``sharegpt`` rows of alternating
turns, extra keys allowed) are first checked by a short function over the row's dicts
that answers only "certainly clean"; any row it cannot vouch for takes the full path
above, which finds and words the problems. It looks for control tokens in each text
with a memchr for "<" (and one for "[" before the search for "INST]"), running the
full token search only on texts that hold one. Duplicates are found by a 64-bit hash of
the raw line bytes (16-32 bytes of memory per row). Large plain JSONL files are split
into byte ranges checked by worker processes (``jobs``; by default as the load allows).

>>> from dataprep.canonical import Conversation, Message
>>> conv = Conversation([Message("user", "Hi", origin="messages[0]"), Message("user", "", origin="messages[1]")])
>>> [(f.code, f.severity) for f in meaning_problems(conv, fmt="messages")]
[('empty-content', 'error'), ('consecutive-roles', 'warning'), ('no-final-assistant', 'error')]
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from dataprep.canonical import ROLES, Conversation, Example, Message, Preference, Unpaired
from dataprep.detect import UNKNOWN, Detection, Detector
from dataprep.errors import InputError, RowError, UsageError
from dataprep.formats import FORMATS
from dataprep.parallel import Forked, forked_all, parallel_workers, split_jsonl
from dataprep.problems import Problem, ProblemLog, Severity

if TYPE_CHECKING:
    from dataprep.mapping import Mapping
    from dataprep.reading import JsonlChunk, Record


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

WARNING_CODES = frozenset({"duplicate-row"})  # always warnings; others may be, by finding
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


# ----------------------------------------------------------------------------- results


@dataclass
class FileResult:
    """What validating one file found."""

    source: str
    format: str | None  # the forced format, or the detected one (None: mixed/unknown)
    rows: int = 0  # rows read, readable or not
    unreadable: int = 0
    errors: int = 0
    warnings: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # code -> problems
    warning_counts: Counter[str] = field(default_factory=Counter)  # code -> those that are warnings
    detection: Detection | None = None  # None when the format was forced
    notes: list[str] = field(default_factory=list)  # how the file was read ("read as UTF-16")

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "rows": self.rows,
            "unreadable": self.unreadable,
            "errors": self.errors,
            "warnings": self.warnings,
            "counts": dict(sorted(self.counts.items())),
            "warning_counts": dict(sorted(self.warning_counts.items())),
            "detection": self.detection.to_json() if self.detection else None,
            "notes": self.notes,
        }


@dataclass
class Validation:
    """The result of a run over several files: per-file results and the problems kept."""

    files: list[FileResult]
    log: ProblemLog

    @property
    def errors(self) -> int:
        return self.log.errors

    @property
    def warnings(self) -> int:
        return self.log.warnings

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def exit_code(self) -> int:
        """0 when no errors (warnings alone pass), else 1."""
        return 1 if self.log.errors else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0,
            "rows": self.rows,
            "errors": self.errors,
            "warnings": self.warnings,
            "counts": dict(sorted(self.log.counts.items())),
            "files": [f.to_json() for f in self.files],
            "problems": [p.to_json() for p in self.log.kept],
            "problems_shown": len(self.log.kept),
        }


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


def _holds_token(text: str) -> bool:
    """``find_control_token(text) is not None``, with no match object to build."""
    return ("<" in text and _LT_TOKEN_RE.search(text) is not None) or (
        "[" in text and "INST]" in text and _INST_RE.search(text) is not None
    )


_PATH_TOKEN = re.compile(r'\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def _resolve(row: Any, origin: str) -> Any:
    """The value at ``origin`` (``messages[2]``, ``history[1][0]``) inside ``row``; None if absent."""
    value, pos = row, 0
    while pos < len(origin):
        m = _PATH_TOKEN.match(origin, pos)
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


def _check_messages(messages: list[Message], section: str, out: _Findings, scan: bool) -> None:
    """Checks on each message alone: role, content, control tokens, tool-call arguments."""
    for i, m in enumerate(messages):
        origin = _origin(m, section, i)
        role = m.role
        if role not in ROLES:
            out.add(
                out.field(origin, ("role", "from")),
                f"unknown role {role!r} (known: {', '.join(ROLES)}; map it with --role {role}=user)",
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
            if type(parsed) is not dict:
                out.add(
                    out.arguments_path(origin, j),
                    f"arguments of {call.name!r} must be a JSON object, got {type(parsed).__name__}",
                    "bad-tool-arguments",
                )


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
        _check_messages(messages, "messages", out, scan_tokens)
        if not example.plain:
            _check_sequence(messages, "messages", out, alternating=alternating)
            _ends_with_assistant(messages, "messages", out, "the conversation")
    elif isinstance(example, Preference):
        for section, part in (
            ("prompt", example.prompt),
            ("chosen", example.chosen),
            ("rejected", example.rejected),
        ):
            _check_messages(part, section, out, scan_tokens)
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
    elif isinstance(example, Unpaired):
        _check_messages(example.prompt, "prompt", out, scan_tokens)
        _check_messages(example.completion, "completion", out, scan_tokens)
        if not example.plain:
            _check_sequence(
                example.prompt + example.completion, "completion", out, alternating=alternating
            )
            _ends_with_assistant(example.completion, "completion", out, "the completion")
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
        from dataprep.schema import Validator

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
    except RowError as e:
        return [Finding(e.path, e.message, _CODE_ALIASES.get(e.code, e.code))]
    return meaning_problems(example, row, fmt, scan_tokens=scan_tokens)


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


# The keys the adapters read in a message / a ShareGPT turn: any other key is the
# message's extra, which no check looks at.
_MESSAGE_KEYS = frozenset(
    {"role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content", "reasoning",
     "thinking", "train", "weight", "loss_weight"}
)  # fmt: skip
_TURN_KEYS = frozenset({"from", "value", "train", "weight", "loss_weight"})


def _clean_messages_row(row: dict) -> bool:
    """True only for a messages row that is certainly clean.

    The shapes vouched for: an optional leading system message, then user and assistant
    turns of non-empty text that alternate and end with the assistant; an assistant turn
    may instead call tools (OpenAI shape, arguments a JSON object), answered by one tool
    message per call, by id, before the assistant speaks again. Messages hold no other
    known keys (extra keys are data, and allowed); ``tools`` is a list of objects; no
    text holds a control token. Anything else takes the full path.
    """
    messages = row.get("messages")
    if type(messages) is not list or not messages:
        return False
    if "tools" in row:
        tools = row["tools"]
        if type(tools) is not list:
            return False
        for t in tools:
            if type(t) is not dict:
                return False
    lt_search, inst_search = _LT_TOKEN_RE.search, _INST_RE.search
    expect = "user"
    first = True
    ids: set[str] = set()
    pending = 0
    answered = False
    for m in messages:
        if type(m) is not dict:
            return False
        role = m.get("role")
        content = m.get("content")
        # How many of the keys the adapter reads the message holds (the rest are extras).
        known = len(m)
        if known > 2:
            known = len(m.keys() & _MESSAGE_KEYS)
        if known == 2 and (role == expect or (first and role == "system")):
            if type(content) is not str or not content or content.isspace():
                return False
            # _holds_token, inlined: it runs for every message
            if ("<" in content and lt_search(content)) or (
                "[" in content and "INST]" in content and inst_search(content)
            ):
                return False
            if role == expect:
                answered = role == "assistant"
                expect = "assistant" if expect == "user" else "user"
        elif role == "tool" and expect == "tool":
            call_id = m.get("tool_call_id")
            if known != 3 or call_id not in ids:
                return False
            if type(content) is not str or not content or content.isspace():
                return False
            if _holds_token(content):
                return False
            pending -= 1
            if not pending:
                expect = "assistant"
        elif role == "assistant" and expect == "assistant" and "tool_calls" in m:
            if known != 2 + ("content" in m) or not (
                content is None or (type(content) is str and not _holds_token(content))
            ):
                return False
            calls = m["tool_calls"]
            if type(calls) is not list or not calls:
                return False
            for call in calls:
                if not _clean_openai_call(call):
                    return False
                ids.add(call["id"])
            pending = len(calls)
            expect = "tool"
        else:
            return False
        first = False
    return expect == "user" and answered


def _clean_openai_call(call: Any) -> bool:
    """``{"id": str, "type": "function", "function": {"name": str, "arguments": "{...}"}}``."""
    if type(call) is not dict or len(call) != 3 or call.get("type") != "function":
        return False
    body = call.get("function")
    if type(call.get("id")) is not str or type(body) is not dict or len(body) != 2:
        return False
    name = body.get("name")
    args = body.get("arguments")
    if type(name) is not str or not name or type(args) is not str:
        return False
    try:
        return type(orjson.loads(args)) is dict
    except orjson.JSONDecodeError:
        return False


def _clean_sharegpt_row(row: dict) -> bool:
    """As ``_clean_messages_row`` for ShareGPT: human/gpt turns, a leading system turn."""
    turns = row.get("conversations")
    if type(turns) is not list or not turns or "tools" in row or "system" in row:
        return False
    lt_search, inst_search = _LT_TOKEN_RE.search, _INST_RE.search
    expect = "human"
    first = True
    for t in turns:
        if type(t) is not dict:
            return False
        if len(t) != 2 and len(t.keys() & _TURN_KEYS) != 2:
            return False
        value = t.get("value")
        if type(value) is not str or not value or value.isspace():
            return False
        if ("<" in value and lt_search(value)) or (
            "[" in value and "INST]" in value and inst_search(value)
        ):
            return False
        role = t.get("from")
        if role == expect:
            expect = "gpt" if expect == "human" else "human"
        elif not (first and role == "system"):
            return False
        first = False
    # Ends after a gpt turn, and had one (a lone system turn expects "human" too).
    return expect == "human" and role == "gpt"


# Per format: a check that answers True only for rows that are certainly clean (schema,
# adapter and meaning). A test holds each to that promise against the full path.
FAST_CLEAN: dict[str, Callable[[dict], bool]] = {
    "messages": _clean_messages_row,
    "sharegpt": _clean_sharegpt_row,
}


# ------------------------------------------------------------------------- duplicates


class SeenRows:
    """A set of 64-bit row hashes, each with the line it was first seen at.

    Open addressing in two flat arrays, 12 bytes a slot, between 3/8 and 3/4 full: 16 to
    32 bytes a row, where a Python ``set`` of ints would take over 60 (and a dict of
    lines over 100).

    >>> seen = SeenRows()
    >>> seen.add(hash(b"a"), 1), seen.add(hash(b"b"), 2), seen.add(hash(b"a"), 3)
    (0, 0, 1)
    """

    def __init__(self, capacity: int = 1 << 16):
        size = 1 << max(capacity - 1, 1).bit_length()
        self._keys = array("q", bytes(8 * size))
        self._lines = array("I", bytes(4 * size))
        self._mask = size - 1
        self._limit = size * 3 // 4
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, h: int, line: int) -> int:
        """Add hash ``h`` first seen at ``line``; return the earlier line if already seen, else 0."""
        if h == 0:  # 0 marks an empty slot
            h = 1
        keys = self._keys
        mask = self._mask
        i = h & mask
        k = keys[i]
        while k:
            if k == h:
                return self._lines[i]
            i = (i + 1) & mask
            k = keys[i]
        keys[i] = h
        self._lines[i] = line
        self._n += 1
        if self._n > self._limit:
            self._grow()
        return 0

    def get(self, h: int) -> int:
        """The line ``h`` was first seen at, or 0."""
        if h == 0:
            h = 1
        keys = self._keys
        i = h & self._mask
        while keys[i]:
            if keys[i] == h:
                return self._lines[i]
            i = (i + 1) & self._mask
        return 0

    def _grow(self) -> None:
        keys, lines = self._keys, self._lines
        self.__init__(len(keys) * 2)
        for h, line in zip(keys, lines, strict=True):
            if h:
                self.add(h, line)


# ------------------------------------------------------------------ validating a file


def user_path(path: str, mapping: Mapping | None) -> str:
    """A field path in the file's own names: what ``--field`` renamed is named back.

    >>> from dataprep.mapping import Mapping
    >>> user_path("messages[2].content", Mapping(fields={"messages": "dialog", "content": "text"}))
    'dialog[2].text'
    """
    if mapping is None or not path or not mapping.fields:
        return path
    from dataprep.mapping import MESSAGE_FIELDS, ROW_FIELDS

    out = []
    pos = 0
    first = True
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None:
            out.append(path[pos:])
            break
        name = m.group(1)
        if name is None:
            out.append(m.group(0))
        else:
            level = ROW_FIELDS if first else MESSAGE_FIELDS
            theirs = mapping.fields.get(name, name) if name in level else name
            out.append(theirs if first else f".{theirs}")
        first = False
        pos = m.end()
    return "".join(out)


class FileChecker:
    """Validates the rows of one source, one at a time, into a ``ProblemLog``.

    ``check_records`` is the per-row loop; ``finish`` adds the file-level findings (mixed
    or ambiguous formats) and returns the ``FileResult``. With ``collect_hashes`` the
    checker only records each row's hash and line (a worker of a parallel run: the
    parent finds the duplicates across all parts, in order).
    """

    def __init__(
        self,
        source: str,
        log: ProblemLog,
        *,
        fmt: str | None = None,
        mapping: Mapping | None = None,
        strict: bool = False,
        collect_hashes: bool = False,
    ):
        if fmt is not None and fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r} for --format (known: {', '.join(FORMATS)})")
        self.source = source
        self.log = log
        self.forced = fmt
        self.mapping = mapping if mapping is not None and not mapping.is_identity else None
        self.warning: Severity = "error" if strict else "warning"
        self.result = FileResult(source, fmt)
        self.detector = None if fmt is not None else Detector(source)
        self.seen = SeenRows()
        self.hashes: array[int] | None = array("q") if collect_hashes else None
        self.lines: array[int] | None = array("L") if collect_hashes else None
        self.last_line = 0  # the line of the last record checked
        self._errors0 = log.errors
        self._warnings0 = log.warnings
        self._kept0 = len(log.kept)

    def add(
        self, line: int, path: str, message: str, code: str, severity: Severity = "error"
    ) -> None:
        if severity == "warning" or code in WARNING_CODES:
            severity = self.warning
        if self.mapping is not None:
            path = user_path(path, self.mapping)
        self.log.add(Problem(self.source, line, path, message, code, severity))
        self.result.counts[code] += 1
        if severity == "warning":
            self.result.warning_counts[code] += 1

    def check_records(self, records: Iterable[Record]) -> None:
        # The hot loop: everything it touches per row is a local.
        add = self.add
        mapping = self.mapping
        detector = self.detector
        forced = self.forced
        seen_add = self.seen.add
        hashes, lines = self.hashes, self.lines
        fast = FAST_CLEAN
        dumps = orjson.dumps
        sort_keys = orjson.OPT_SORT_KEYS
        rows = unreadable = 0
        line = self.last_line
        fmt = forced
        for record in records:
            rows += 1
            line = record.line
            if record.problem is not None:
                p = record.problem
                add(line, p.path, p.message, p.code)
                if line == 0:  # the whole file ("no rows"), not a row
                    rows -= 1
                    if detector is not None:
                        detector.add_file_problem(f"{p.message} [{p.code}]")
                    continue
                unreadable += 1
                if detector is not None:
                    detector.add_unreadable(line)
                continue
            row = record.value
            if mapping is not None:
                try:
                    row = mapping.apply(row)
                except RowError as e:
                    unreadable += 1
                    self.log.add(Problem(self.source, line, e.path, e.message, e.code))
                    self.result.counts[e.code] += 1
                    if detector is not None:
                        detector.add_unreadable(line)
                    continue
            raw = record.raw
            if raw is None:
                raw = dumps(row, option=sort_keys)
            if detector is not None:
                names = detector.add(row, line)
                if not names:
                    add(line, "", _unknown_message(row), "unknown-format")
                    continue
                fmt = names[0]
            if hashes is None:
                earlier = seen_add(hash(raw), line)
                if earlier:
                    add(line, "", f"exact duplicate of line {earlier}", "duplicate-row")
            else:
                hashes.append(hash(raw))
                lines.append(line)
            clean = fast.get(fmt)
            if clean is not None and clean(row):
                continue
            for finding in check_row(row, fmt):
                add(line, *finding)
        self.result.rows += rows
        self.last_line = line
        self.result.unreadable += unreadable

    def finish(self) -> FileResult:
        result = self.result
        if self.detector is not None:
            detection = self.detector.result()
            result.detection = detection
            result.format = detection.format
            if detection.status == "mixed":
                self._report_mixed(detection)
            elif detection.status == "ambiguous":
                result.format = detection.candidates[0]
                self.add(0, "", detection.message, "ambiguous-format")
        result.errors = self.log.errors - self._errors0
        result.warnings = self.log.warnings - self._warnings0
        return result

    def _report_mixed(self, detection: Detection) -> None:
        """One finding per minority kind, at its first line (rows of no format were
        reported as they came)."""
        known = [(kind, n) for kind, n in detection.kinds.most_common() if kind != UNKNOWN]
        if not known:
            return
        main, main_rows = known[0]
        for kind, n in sorted(known[1:], key=lambda kn: detection.lines[kn[0]][0]):
            shown = detection.lines[kind]
            lines = ", ".join(map(str, shown)) + (", ..." if n > len(shown) else "")
            rows = "1 row is" if n == 1 else f"{n} rows are"
            self.add(
                shown[0],
                "",
                f"{rows} {kind} (line{'s' if n > 1 else ''} {lines}) but {main_rows} are {main}: "
                "each row was checked as its own format; pass --format to check all as one",
                "mixed-formats",
            )


def _unknown_message(row: Any) -> str:
    keys = list(row)[:8] if type(row) is dict else []
    shown = ", ".join(keys) if keys else "none"
    return (
        f"row fits no format (keys: {shown}); pass --format to check it as one, "
        "or map its fields with --field"
    )


def validate_records(
    records: Iterable[Record],
    source: str,
    log: ProblemLog,
    *,
    fmt: str | None = None,
    mapping: Mapping | None = None,
    strict: bool = False,
) -> FileResult:
    """Validate a stream of records (one file) in this process, adding problems to ``log``."""
    checker = FileChecker(source, log, fmt=fmt, mapping=mapping, strict=strict)
    checker.check_records(records)
    return checker.finish()


def validate_files(
    paths: Iterable[str],
    *,
    fmt: str | None = None,
    mapping: Mapping | None = None,
    strict: bool = False,
    max_errors: int = 50,
    jobs: int | None = None,
) -> Validation:
    """Validate files (``-`` is stdin); every problem is counted, the first ``max_errors``
    are kept for display.

    ``jobs``: processes for a large plain JSONL file (None: as the load allows, see
    ``dataprep.parallel.count_workers``, at most 8; 1: this process only). The result is the same either way, except which problems
    are kept when there are more than ``max_errors``.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.jsonl")
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"instruction": "Hi", "output": ""}\\n')
    >>> v = validate_files([path])
    >>> v.exit_code, [str(p).split(": ", 1)[1] for p in v.log.kept]
    (1, ['output: content is empty [empty-content]'])
    """
    from dataprep.reading import read_records

    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} for --format (known: {', '.join(FORMATS)})")
    log = ProblemLog(max_kept=max_errors)
    files = []
    for path in paths:
        try:
            workers = parallel_workers(path, jobs)
            chunks = split_jsonl(path, workers) if workers > 1 else []
            if len(chunks) > 1:
                files.append(_validate_parallel(path, log, chunks, fmt, mapping, strict))
                continue
            records = read_records(path)
            result = validate_records(records, path, log, fmt=fmt, mapping=mapping, strict=strict)
            info = getattr(records, "info", None)
            result.notes = list(getattr(info, "notes", None) or [])
            files.append(result)
        except InputError as e:
            # A file that is not a dataset at all: one problem for the whole file, and on
            # to the next file.
            log.add(Problem(path, 0, "", e.message, e.code))
            files.append(FileResult(path, fmt, errors=1, counts=Counter({e.code: 1})))
    return Validation(files, log)


# ------------------------------------------------------------------ parallel validation


@dataclass
class _Part:
    """What a worker found in its byte range of the file (lines numbered in the range)."""

    kept: list[Problem]
    counts: Counter[str]
    warning_counts: Counter[str]
    errors: int
    warnings: int
    rows: int
    unreadable: int
    detector: Detector | None
    hashes: array[int]
    lines: array[int]
    last_line: int  # the range's number of lines (see split_jsonl)


def _check_part(
    chunk: Any, fmt: str | None, mapping: Mapping | None, strict: bool, max_kept: int
) -> _Part:
    from dataprep.reading import read_jsonl_chunk

    log = ProblemLog(max_kept=max_kept)
    checker = FileChecker(
        chunk.path, log, fmt=fmt, mapping=mapping, strict=strict, collect_hashes=True
    )
    checker.check_records(read_jsonl_chunk(chunk))
    r = checker.result
    return _Part(
        log.kept, r.counts, r.warning_counts, log.errors, log.warnings, r.rows, r.unreadable,
        checker.detector, checker.hashes, checker.lines, checker.last_line,
    )  # fmt: skip


def _validate_parallel(
    path: str,
    log: ProblemLog,
    chunks: list[JsonlChunk],
    fmt: str | None,
    mapping: Mapping | None,
    strict: bool,
) -> FileResult:
    """Check byte ranges of a plain JSONL file (``split_jsonl``), one process each (this
    one included).

    Workers are forked, so they share this process's imports and its hash seed: row
    hashes agree across them, and the parent finds duplicates across all parts, in
    line order, as a single process would.
    """
    args = (fmt, mapping, strict, log.max_kept)
    with forked_all() as parts:
        # Every chunk but the last goes to a worker; this process checks the last.
        parts += [Forked(_check_part, chunk, *args) for chunk in chunks[:-1]]
        last = _check_part(chunks[-1], *args)
        results = [p.result() for p in parts] + [last]

    checker = FileChecker(path, log, fmt=fmt, mapping=mapping, strict=strict)
    start = len(log.kept)
    seen = checker.seen
    offset = 0  # lines of the parts before this one
    for part in results:
        log.errors += part.errors
        log.warnings += part.warnings
        log.counts.update(part.counts)
        checker.result.counts.update(part.counts)
        checker.result.warning_counts.update(part.warning_counts)
        checker.result.rows += part.rows
        checker.result.unreadable += part.unreadable
        log.kept.extend(
            replace(p, line=p.line + offset)
            for p in part.kept[: max(0, log.max_kept - len(log.kept))]
        )
        if checker.detector is not None and part.detector is not None:
            checker.detector.merge(part.detector, line_offset=offset)
        for h, line in zip(part.hashes, part.lines, strict=True):
            earlier = seen.add(h, line + offset)
            if earlier:
                checker.add(
                    line + offset, "", f"exact duplicate of line {earlier}", "duplicate-row"
                )
        offset += part.last_line
    # Duplicates across parts came after each part's problems: restore the order one
    # process meets them in (by line; on a line, the duplicate before the row's own
    # problems); file-level findings then follow, as there.
    log.kept[start:] = sorted(log.kept[start:], key=lambda p: (p.line, p.code != "duplicate-row"))
    return checker.finish()
