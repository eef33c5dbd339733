"""Predicates that answer only "certainly clean" for the common shapes of rows.

Most rows of a real file are clean. ``FAST_CLEAN[fmt](row)`` is a short function over the
row's dicts that returns True only when the full row checks
(``dataprep.validate.rows.check_row``: schema, adapter, meaning) would find nothing, not
even a warning; any row it cannot vouch for returns False and takes the full path, which
finds and words the problems. The shapes vouched for: ``messages`` rows of alternating
turns, OpenAI tool calls included, and ``sharegpt`` rows of alternating turns, extra keys
allowed. Texts are searched for control tokens with a memchr for "<" (and one for "["
before the search for "INST]"), the full token search only on texts that hold one.

The reference it must equal is ``check_row(row, fmt) == []`` whenever it says True;
``tests/dataprep/_fast/test_clean.py`` holds it to that on generated rows.

>>> FAST_CLEAN["messages"]({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
True
>>> FAST_CLEAN["messages"]({"messages": [{"role": "user", "content": "Hi"}]})
False
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from dataprep.formats.media import MEDIA_COLUMNS
from dataprep.validate.rows import CONTROL_TOKENS
from dataprep.validate.tools import Declared, call_problems, declared_tools

# A control token or a media placeholder (``dataprep.formats.media``) in a text sends the
# row down the full path, which words the problem. The "<" tokens are one pattern behind
# their shared "<", which the regex engine scans for at memchr speed.
_LT_FAST_RE = re.compile(
    "<(?:"
    + "|".join(re.escape(t[1:]) for t in CONTROL_TOKENS if t[0] == "<")
    + "|image>|video>|audio>)"
)
_INST_RE = re.compile("|".join(re.escape(t) for t in CONTROL_TOKENS if t[0] != "<"))


def _holds_token(text: str) -> bool:
    """``find_control_token(text) is not None`` (with no match object to build), or a
    media placeholder."""
    return ("<" in text and _LT_FAST_RE.search(text) is not None) or (
        "[" in text and "INST]" in text and _INST_RE.search(text) is not None
    )


# The keys the adapters read in a message / a ShareGPT turn: any other key is the
# message's extra, which no check looks at.
_MESSAGE_KEYS = frozenset(
    {"role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content", "reasoning",
     "thinking", "train", "weight", "loss_weight"}
)  # fmt: skip
_TURN_KEYS = frozenset({"from", "value", "train", "weight", "loss_weight"})


_MEDIA_COLUMNS = frozenset(MEDIA_COLUMNS)


def _clean_messages_row(row: dict) -> bool:
    """True only for a messages row that is certainly clean.

    The shapes vouched for: an optional leading system message, then user and assistant
    turns of non-empty text that alternate and end with the assistant; an assistant turn
    may instead call tools (OpenAI shape, arguments a JSON object), answered by one tool
    message per call, by id, before the assistant speaks again. Messages hold no other
    known keys (extra keys are data, and allowed); ``tools`` is a list of objects, and
    every call of a row that declares tools fits its declaration
    (``dataprep.validate.tools``); no text holds a control token. Anything else takes the full path.
    """
    messages = row.get("messages")
    if type(messages) is not list or not messages or not _MEDIA_COLUMNS.isdisjoint(row):
        return False
    declares_tools = False
    if "tools" in row:
        tools = row["tools"]
        if type(tools) is not list:
            return False
        for t in tools:
            if type(t) is not dict:
                return False
        declares_tools = bool(tools)
    declared: Declared | None = None
    lt_search, inst_search = _LT_FAST_RE.search, _INST_RE.search
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
            # Not a string (a list, say): unhashable, and the full path's to report.
            if known != 3 or type(call_id) is not str or call_id not in ids:
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
                arguments = _clean_openai_call(call)
                if arguments is None:
                    return False
                if declares_tools:
                    # The row's declarations, read once a row; a call they find anything
                    # wrong with goes to the full path, which words it.
                    if declared is None:
                        declared = declared_tools(row["tools"])
                    if call_problems(call["function"]["name"], arguments, declared):
                        return False
                ids.add(call["id"])
            pending = len(calls)
            expect = "tool"
        else:
            return False
        first = False
    return expect == "user" and answered


def _clean_openai_call(call: Any) -> dict[str, Any] | None:
    """The arguments of ``{"id": str, "type": "function", "function": {"name": str,
    "arguments": "{...}"}}``, parsed; None for any other shape."""
    if type(call) is not dict or len(call) != 3 or call.get("type") != "function":
        return None
    body = call.get("function")
    if type(call.get("id")) is not str or type(body) is not dict or len(body) != 2:
        return None
    name = body.get("name")
    args = body.get("arguments")
    if type(name) is not str or not name or type(args) is not str:
        return None
    try:
        parsed = orjson.loads(args)
    except orjson.JSONDecodeError:
        return None
    return parsed if type(parsed) is dict else None


def _clean_sharegpt_row(row: dict) -> bool:
    """As ``_clean_messages_row`` for ShareGPT: human/gpt turns, a leading system turn."""
    turns = row.get("conversations")
    if type(turns) is not list or not turns or "tools" in row or "system" in row:
        return False
    if not _MEDIA_COLUMNS.isdisjoint(row):
        return False
    lt_search, inst_search = _LT_FAST_RE.search, _INST_RE.search
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
