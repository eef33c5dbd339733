"""What the format adapters share: reading and writing message lists, row-level extras,
and the rules for conversions that lose something.

Two message dialects exist among the formats. The *messages* dialect (``role``,
``content``, ``tool_calls``, ...) is used by ``messages`` and by the message lists of
``prompt-completion``, ``preference`` and ``kto``; it lives here. The *ShareGPT* dialect
(``from``, ``value``) lives in ``dataprep.formats.sharegpt``.

Words put in ``dropped`` (and so shown to users after ``--allow-lossy``) are fixed here, so
that a summary can count them across rows.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from dataprep.canonical import (
    ROLES,
    Conversation,
    Example,
    Message,
    Preference,
    ToolCall,
    Unpaired,
    plain_message,
)
from dataprep.errors import LossyConversion, RowError
from dataprep.formats.mapping import suggest_role
from dataprep.formats.media import MEDIA_PART_TYPES, media_part_message

# The words of ``dropped``: one per kind of thing a format cannot hold.
DROP_TOOL_CALLS = "tool calls"
DROP_TOOL_RESULTS = "tool results"
DROP_TOOL_CALL_IDS = "tool call ids"
DROP_TOOLS = "tool definitions"
DROP_REASONING = "reasoning"
DROP_NAMES = "message names"
DROP_TRAIN = "per-message train flags"
DROP_LATE_SYSTEM = "system messages after the first turn"
DROP_REJECTED = "rejected responses"
DROP_LABEL = "KTO labels"
DROP_SPLIT = "prompt/completion boundary"
DROP_MERGED = "turn boundaries (consecutive turns merged)"
# What joins the texts of merged turns: a blank line, alpaca's own separator between an
# instruction and its input, so each text stays a paragraph of its own (a bare "" would
# glue the last sentence of one to the first of the next).
TURN_JOINER = "\n\n"


def drop_extra_word(key: str) -> str:
    return f"extra field '{key}'"


def drop_message_field_word(key: str) -> str:
    return f"message field '{key}'"


# Keys of a message in the messages dialect, and the aliases accepted for two of them.
REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
TRAIN_KEYS = ("train", "weight", "loss_weight")
MESSAGE_KEYS = frozenset(
    {"role", "content", "tool_calls", "tool_call_id", "name", *REASONING_KEYS, *TRAIN_KEYS}
)
# The keys that hold a KTO desirability label: TRL's ``label``, or LLaMA-Factory's
# ``kto_tag``. Beside any conversation they make the row a KTO example, never SFT data
# (``dataprep.formats.kto``): the conversational formats leave such rows alone, and never
# write an extra field under these names (it would turn the row into a KTO example).
LABEL_KEYS = ("label", "kto_tag")


def has_label(row: dict) -> bool:
    """Does ``row`` carry a KTO label key (whatever its value)?"""
    return "label" in row or "kto_tag" in row


# Role spellings the messages dialect accepts besides the canonical ones: OpenAI's newer
# "developer" (a system prompt) and its legacy "function" (a tool result).
MESSAGE_ROLE_ALIASES = {"developer": "system", "function": "tool"}


def is_empty(value: Any) -> bool:
    """A value that carries nothing: dropping it loses nothing (``"refusal": null``)."""
    return value is None or value == "" or value == [] or value == {}


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def wrong_type(path: str, expected: str, value: Any) -> RowError:
    return RowError(path, f"expected {expected}, got {type_name(value)}", "wrong-type")


def require(obj: dict, key: str, path: str) -> Any:
    """``obj[key]``, or a ``missing-field`` error naming ``path``."""
    if key not in obj:
        raise RowError(join(path, key), f"missing required field '{key}'", "missing-field")
    return obj[key]


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def text_or_none(value: Any, path: str) -> str | None:
    """A message's text: a string or null (null is a meaning problem ``validate`` reports)."""
    if value is None or isinstance(value, str):
        return value
    raise RowError(path, f"content must be a string, got {type_name(value)}", "non-string-content")


def optional_str(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise wrong_type(path, "a string", value)


def check_known_keys(obj: dict, known: Iterable[str], path: str) -> None:
    """Refuse keys the canonical model has no place for, unless they hold nothing.

    For tool calls: ``ToolCall`` has no ``extra``, so a key we do not know would vanish in
    conversion; it is an error rather than a silent loss. Empty values (``"index": null``)
    are ignored. (Messages keep such keys: see ``split_message_extra``.)
    """
    known = known if isinstance(known, (set, frozenset)) else set(known)
    for key, value in obj.items():
        if key not in known and not is_empty(value):
            raise RowError(
                join(path, key),
                f"unknown field '{key}': the canonical model keeps no extra fields inside "
                "messages; remove it, or map it onto a known field with --field",
                "unknown-field",
            )


def split_message_extra(obj: dict, known: frozenset[str]) -> dict[str, Any] | None:
    """The keys of a message no canonical field claims (``id``, ``timestamp``,
    ``metadata``), for ``Message.extra``. Keys that hold nothing (``"refusal": null``)
    are left out: dropping them loses nothing.

    >>> split_message_extra({"role": "user", "content": "Hi", "id": 7, "refusal": None}, MESSAGE_KEYS)
    {'id': 7}
    """
    extra = {k: v for k, v in obj.items() if k not in known and not is_empty(v)}
    return extra or None


def put_message_extra(
    out: dict[str, Any], extra: dict[str, Any], claimed: frozenset[str], dropped: list[str]
) -> None:
    """Write a message's ``extra`` into its dict. A key the dialect reads as one of its
    own fields (an extra ``name`` going into a messages-dialect message) would change the
    message's meaning: it is dropped, and said so."""
    for key, value in extra.items():
        if key in claimed:
            add(dropped, drop_message_field_word(key))
        else:
            out[key] = value


def read_train(obj: dict, path: str) -> bool | None:
    """The per-message train flag: ``train`` (bool), or ``weight``/``loss_weight`` (0 or 1),
    as Axolotl and LLaMA-Factory write them."""
    key = _one_of(obj, TRAIN_KEYS, path)
    if key is None:
        return None
    value = obj[key]
    if key == "train":
        if isinstance(value, bool):
            return value
        raise RowError(join(path, key), f"train must be true or false, got {value!r}", "bad-weight")
    # LLaMA-Factory v1 writes 0.0 and 1.0 (floats); Axolotl 0 and 1.
    if not isinstance(value, bool) and isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value < 1:
        # prepare's labels train a token or leave it out (-100); the trainers take the
        # plain mean over trained tokens, with no per-token weight to scale by.
        why = "a fractional loss weight cannot be honoured: a token is trained or not"
    else:
        why = "a weight is 0 (not trained) or 1 (trained)"
    raise RowError(join(path, key), f"{key} must be 0 or 1, got {value!r}: {why}", "bad-weight")


def read_reasoning(obj: dict, path: str) -> str | None:
    key = _one_of(obj, REASONING_KEYS, path)
    return None if key is None else text_or_none(obj[key], join(path, key))


def _one_of(obj: dict, keys: tuple[str, ...], path: str) -> str | None:
    """The one key of ``keys`` (spellings of one field) set in ``obj``, or None; two set
    is ``conflicting-fields``, at the second."""
    present = [k for k in keys if obj.get(k) is not None]
    if len(present) > 1:
        raise RowError(
            join(path, present[1]),
            f"both '{present[0]}' and '{present[1]}' set: keep one",
            "conflicting-fields",
        )
    return present[0] if present else None


def read_content(value: Any, path: str) -> str | None:
    """A content field: a string, null, or a list of text parts joined with no separator
    (``{"type": "text", "text": ...}`` as OpenAI writes it, or ``"value"`` as LLaMA-Factory
    v1 does). Images, video and audio are refused (``dataprep.formats.media``), and any other part."""
    if not isinstance(value, list):
        return text_or_none(value, path)
    texts = []
    for i, part in enumerate(value):
        part_path = join(path, i)
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise wrong_type(part_path, "a content part object", part)
        # Columnar readers (Parquet, Arrow) give every part every key, null where unused.
        kind = part.get("type") or "text"
        if kind in MEDIA_PART_TYPES:
            raise RowError(join(part_path, "type"), media_part_message(kind), "unsupported-content")
        if kind != "text":
            raise RowError(
                join(part_path, "type"),
                f"content part of type '{kind}' is not supported: only text parts are",
                "unsupported-content",
            )
        key = "text" if part.get("text") is not None else "value"
        if part.get(key) is None:
            raise RowError(part_path, "text part without 'text' or 'value'", "missing-field")
        text = part[key]
        if not isinstance(text, str):
            raise RowError(
                join(part_path, key),
                f"text part must hold a string, got {type_name(text)}",
                "non-string-content",
            )
        texts.append(text)
    return "".join(texts)


def read_arguments(value: Any, path: str) -> str | dict[str, Any]:
    """Tool-call arguments as they came: a JSON string or an object. Whether the string is
    valid JSON is a meaning check for ``validate``."""
    if isinstance(value, (str, dict)):
        return value
    raise RowError(
        path,
        f"arguments must be a JSON string or an object, got {type_name(value)}",
        "bad-tool-call",
    )


def read_tool_call(value: Any, path: str) -> ToolCall:
    """One call, in OpenAI shape ``{id?, type: "function", function: {name, arguments}}`` or
    Hugging Face shape ``{name, arguments}``."""
    if not isinstance(value, dict):
        raise RowError(
            path, f"a tool call must be an object, got {type_name(value)}", "bad-tool-call"
        )
    if value.get("function") is not None:
        check_known_keys(value, ("id", "type", "function", "index"), path)
        kind = value.get("type") or "function"
        if kind != "function":
            raise RowError(
                join(path, "type"),
                f"tool call of type '{kind}': only 'function' is supported",
                "bad-tool-call",
            )
        body, body_path = value["function"], join(path, "function")
        if not isinstance(body, dict):
            raise RowError(body_path, f"expected an object, got {type_name(body)}", "bad-tool-call")
        check_known_keys(body, ("name", "arguments"), body_path)
    else:
        check_known_keys(value, ("id", "type", "name", "arguments"), path)
        body, body_path = value, path
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise RowError(
            join(body_path, "name"), "a tool call needs a function name", "bad-tool-call"
        )
    if "arguments" not in body:
        raise RowError(join(body_path, "arguments"), "a tool call needs arguments", "bad-tool-call")
    call_id = value.get("id")
    if call_id is not None and not isinstance(call_id, str):
        raise RowError(
            join(path, "id"), f"id must be a string, got {type_name(call_id)}", "bad-tool-call"
        )
    return ToolCall(
        name, read_arguments(body["arguments"], join(body_path, "arguments")), id=call_id
    )


def read_tool_calls(value: Any, path: str) -> list[ToolCall] | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise RowError(path, f"tool_calls must be a list, got {type_name(value)}", "bad-tool-call")
    return [read_tool_call(call, join(path, i)) for i, call in enumerate(value)]


def read_tools(value: Any, path: str) -> list[dict[str, Any]] | None:
    """Tool definitions: a list of objects, or that list as a JSON string (LLaMA-Factory's
    ``tools`` column). An empty string means none."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise RowError(
                path, f"tools is a string but not valid JSON ({e})", "bad-tools"
            ) from None
        if isinstance(value, dict):
            value = [value]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise RowError(path, "tools must be a list of objects (function schemas)", "bad-tools")
    return value


def read_role(value: Any, path: str) -> str:
    if isinstance(value, str):
        role = MESSAGE_ROLE_ALIASES.get(value, value)
        if role in ROLES:
            return role
    shown = value if isinstance(value, str) else type_name(value)
    raise RowError(
        path,
        f"unknown role '{shown}' (known: {', '.join(ROLES)}; "
        f"map it with --role {shown}={suggest_role(shown)})",
        "unknown-role",
    )


def read_message(value: Any, path: str) -> Message:
    """One message in the messages dialect; ``path`` is where it sits in the row.

    Keys no canonical field claims go to ``extra``; known keys must hold their types.
    """
    if type(value) is dict and len(value) == 2:
        role, content = value.get("role"), value.get("content")
        if type(content) is str and role in ROLES:
            # The common message, {role, content}: convert reads millions of them.
            return plain_message(role, content, path)
    return _read_full_message(value, path)


def _read_full_message(value: Any, path: str) -> Message:
    # Paths of fields are built only for the fields present, most only when raising.
    if not isinstance(value, dict):
        raise wrong_type(path, "a message object", value)
    role = value.get("role")
    content = value.get("content")
    if type(content) is str and role in ROLES and len(value.keys() & MESSAGE_KEYS) == 2:
        # The next most common message: role, content and keys no field claims ("id").
        extra = split_message_extra(value, MESSAGE_KEYS)
        return Message(role, content, origin=path, extra=extra)
    if role not in ROLES:
        role = read_role(require(value, "role", path), join(path, "role"))
    if content is not None and type(content) is not str:
        content = read_content(content, join(path, "content"))
    calls = value.get("tool_calls")
    if calls is not None:
        calls = read_tool_calls(calls, join(path, "tool_calls"))
    call_id, name = value.get("tool_call_id"), value.get("name")
    if call_id is not None and not isinstance(call_id, str):
        raise wrong_type(join(path, "tool_call_id"), "a string", call_id)
    if name is not None and not isinstance(name, str):
        raise wrong_type(join(path, "name"), "a string", name)
    return Message(
        role=role,
        content=content,
        tool_calls=calls,
        tool_call_id=call_id,
        name=name,
        reasoning=read_reasoning(value, path),
        train=read_train(value, path),
        origin=path,
        extra=split_message_extra(value, MESSAGE_KEYS),
    )


def read_messages(value: Any, path: str) -> list[Message]:
    if not isinstance(value, list):
        raise wrong_type(path, "a list of messages", value)
    out = []
    append = out.append
    roles = ROLES
    for i, item in enumerate(value):
        # read_message's common case, inlined: this loop is most of to_canonical.
        if type(item) is dict and len(item) == 2:
            role, content = item.get("role"), item.get("content")
            if type(content) is str and role in roles:
                append(plain_message(role, content, f"{path}[{i}]"))
                continue
        append(_read_full_message(item, f"{path}[{i}]"))
    return out


def read_messages_or_one(value: Any, path: str) -> list[Message]:
    """A message list where one is expected (``chosen``, ``completion``, ...), or a single
    message object standing for a list of one, as people write a one-message answer:
    ``{"role": "assistant", "content": "4"}``. Its path is the field's (``chosen``), as
    the row has no list to index."""
    if isinstance(value, dict):
        return [read_message(value, path)]
    return read_messages(value, path)


def is_chat_value(value: Any) -> bool:
    """A value that holds messages: a list, or one message object."""
    return isinstance(value, (list, dict))


def write_tool_call(call: ToolCall) -> dict[str, Any]:
    """OpenAI shape; arguments stay as they came (string or object)."""
    out: dict[str, Any] = {} if call.id is None else {"id": call.id}
    out["type"] = "function"
    out["function"] = {"name": call.name, "arguments": call.arguments}
    return out


def write_message(message: Message, dropped: list[str]) -> dict[str, Any]:
    """One message in the messages dialect: every canonical field has a place, and so has
    ``extra`` (unless a key of it is a field of the dialect: see ``put_message_extra``)."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.reasoning is not None:
        out["reasoning_content"] = message.reasoning
    if message.tool_calls:
        out["tool_calls"] = [write_tool_call(c) for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    if message.train is not None:
        out["train"] = message.train
    if message.extra:
        put_message_extra(out, message.extra, MESSAGE_KEYS, dropped)
    return out


def write_messages(messages: list[Message], dropped: list[str]) -> list[dict[str, Any]]:
    out = []
    append = out.append
    for m in messages:
        if (
            m.tool_calls is None
            and m.reasoning is None
            and m.tool_call_id is None
            and m.name is None
            and m.train is None
            and m.extra is None
        ):
            append({"role": m.role, "content": m.content})  # the common message
        else:
            append(write_message(m, dropped))
    return out


def has_message_list_prefix(value: Any) -> bool:
    """Cheap look for detection: a list whose first item (if any) is a message object."""
    return isinstance(value, list) and (
        not value or (isinstance(value[0], dict) and "role" in value[0])
    )


def has_role_turns(value: Any) -> bool:
    """A non-empty list whose first item is a message of the messages dialect (``role``),
    not a ShareGPT turn (``from``): ``conversations`` written with ``role``/``content``."""
    return (
        isinstance(value, list)
        and bool(value)
        and isinstance(value[0], dict)
        and "role" in value[0]
        and "from" not in value[0]
    )


def split_extra(row: dict, claimed: frozenset[str]) -> dict[str, Any] | None:
    """Row-level keys no format field claims (ids, sources, metadata), carried through."""
    extra = {k: v for k, v in row.items() if k not in claimed}
    return extra or None


def put_extra(
    row: dict, extra: dict[str, Any] | None, claimed: frozenset[str], dropped: list[str]
) -> None:
    """Write ``extra`` back into ``row``. A key the target format claims for itself (an
    ``extra`` ``text`` going into the text format) cannot be written without changing the
    row's meaning: it is dropped, and said so."""
    for key, value in (extra or {}).items():
        if key in claimed:
            add(dropped, drop_extra_word(key))
        else:
            row[key] = value


def add(dropped: list[str], word: str) -> None:
    if word not in dropped:
        dropped.append(word)


def finish(row: dict, dropped: list[str], target: str, allow_lossy: bool) -> tuple[dict, list[str]]:
    """The end of every ``from_canonical``: refuse a loss unless it was allowed."""
    if dropped and not allow_lossy:
        raise LossyConversion(list(dropped), target)
    return row, dropped


def not_convertible(example: Example, target: str, why: str) -> RowError:
    return RowError(
        "", f"a {kind_of(example)} example cannot be written as {target}: {why}", "not-convertible"
    )


def kind_of(example: Example) -> str:
    if isinstance(example, Preference):
        return "preference"
    if isinstance(example, Unpaired):
        return "kto"
    return "sft"


def as_conversation(example: Example, target: str, dropped: list[str]) -> Conversation:
    """The conversation an SFT format can hold for ``example``.

    A preference pair keeps its prompt and chosen answer (the rejected one is dropped); a
    KTO example labelled desirable keeps its prompt and completion (the label is dropped);
    one labelled undesirable is not training data for SFT at all.
    """
    if isinstance(example, Conversation):
        return example
    if isinstance(example, Preference):
        add(dropped, DROP_REJECTED)
        return Conversation(
            example.prompt + example.chosen,
            tools=example.tools,
            plain=example.plain,
            extra=example.extra,
        )
    if not example.label:
        raise not_convertible(
            example, target, "an undesirable (label false) completion is not SFT data"
        )
    add(dropped, DROP_LABEL)
    return Conversation(
        example.prompt + example.completion,
        tools=example.tools,
        plain=example.plain,
        extra=example.extra,
    )


def strip_tool_use(messages: list[Message], dropped: list[str]) -> list[Message]:
    """Messages without tool calls and tool results, for formats that have no place for
    them: a tool-calling turn with no text goes, one with text keeps its text."""
    kept = []
    for m in messages:
        if m.role == "tool":
            add(dropped, DROP_TOOL_RESULTS)
            continue
        if m.tool_calls:
            add(dropped, DROP_TOOL_CALLS)
            if m.content is None:
                continue
            m = dataclasses.replace(m, tool_calls=None)
        kept.append(m)
    return kept


def merge_runs(messages: list[Message], dropped: list[str]) -> list[Message]:
    """Messages with each run of same-role user or assistant turns merged into one, their
    texts joined by ``TURN_JOINER``; a merge is recorded in ``dropped``.

    For formats whose turns must alternate (alpaca, sharegpt, TRL's string forms):
    dropping tool calls and results, or a late system message, leaves two turns of one
    role side by side, and a row written that way would fail ``validate``. The merged
    message keeps the first's fields; what the second held beyond its text (a name, a
    train flag, ...) is recorded as dropped unless the first holds the same. Turns with
    tool calls are never merged: their text and calls would change order.

    >>> merged = merge_runs([Message("user", "Q"), Message("assistant", "Looking."),
    ...                      Message("assistant", "Sunny.")], dropped := [])
    >>> [(m.role, m.content) for m in merged], dropped
    ([('user', 'Q'), ('assistant', 'Looking.\\n\\nSunny.')], ['turn boundaries (consecutive turns merged)'])
    """
    # Most rows alternate already: one pass over the roles, and the list as it is.
    previous = None
    for m in messages:
        if m.role == previous:
            break
        previous = m.role
    else:
        return messages
    out: list[Message] = []
    for m in messages:
        last = out[-1] if out else None
        if (
            last is not None
            and m.role == last.role
            and m.role in ("user", "assistant")
            and isinstance(m.content, str)
            and isinstance(last.content, str)
            and not m.tool_calls
            and not last.tool_calls
        ):
            add(dropped, DROP_MERGED)
            merged = dataclasses.replace(last, content=last.content + TURN_JOINER + m.content)
            if dataclasses.replace(m, content=merged.content) != merged:
                note_unheld([m], dropped)
            out[-1] = merged
        else:
            out.append(m)
    return out


def as_text_turns(
    example: Example, target: str, dropped: list[str]
) -> tuple[Conversation, list[Message]]:
    """For a format with no place for tools: the conversation ``as_conversation`` gives,
    and its messages without tool use (``strip_tool_use``); every field the format cannot
    hold, tool definitions included, is recorded in ``dropped``."""
    conv = as_conversation(example, target, dropped)
    messages = strip_tool_use(conv.messages, dropped)
    note_unheld(messages, dropped)
    if conv.tools:
        add(dropped, DROP_TOOLS)
    return conv, messages


def note_unheld(
    messages: list[Message],
    dropped: list[str],
    *,
    names: bool = True,
    reasoning: bool = True,
    train: bool = True,
    tool_call_ids: bool = True,
    extras: bool = True,
) -> None:
    """Record in ``dropped`` the message fields a format cannot hold (True: cannot); an
    ``extra`` key is named: ``message field 'timestamp'``."""
    for m in messages:
        if names and m.name is not None:
            add(dropped, DROP_NAMES)
        if reasoning and m.reasoning is not None:
            add(dropped, DROP_REASONING)
        if train and m.train is not None:
            add(dropped, DROP_TRAIN)
        if tool_call_ids and (
            m.tool_call_id is not None
            or (m.tool_calls and any(c.id is not None for c in m.tool_calls))
        ):
            add(dropped, DROP_TOOL_CALL_IDS)
        if extras and m.extra:
            for key in m.extra:
                add(dropped, drop_message_field_word(key))


def common_prefix(a: list[Message], b: list[Message]) -> int:
    """How many leading messages ``a`` and ``b`` share, leaving each at least one of its own."""
    limit = min(len(a), len(b)) - 1
    n = 0
    while n < limit and a[n] == b[n]:
        n += 1
    return n
