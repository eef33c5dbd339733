"""The one model every format converts to and from.

Templating, masking, packing and writing only ever see these types; each format in
``dataprep.formats`` is a small adapter between its rows and them. Past the fields that
say what an example is (a message's role and content, a conversation's messages, ...),
fields are keyword-only: no call depends on their order.

>>> from dataprep.canonical import Conversation, Message
>>> conv = Conversation([Message("user", "Hi"), Message("assistant", "Hello!")])
>>> [m.role for m in conv.messages]
['user', 'assistant']
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


@dataclass(slots=True)
class ToolCall:
    """One function call made by an assistant turn.

    ``arguments`` is kept as it came: a JSON string (OpenAI) or an object (Hugging Face
    templates). Keeping it as given is what makes round trips exact; ``prepare`` turns it
    into an object for templates that expect one.
    """

    name: str
    arguments: str | dict[str, Any]
    _: KW_ONLY
    id: str | None = None


@dataclass(slots=True)
class Message:
    role: str
    # None only for an assistant turn that carries tool calls and no text.
    content: str | None
    # The rest by name only: field order is not part of the model.
    _: KW_ONLY
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None
    # None: the mask policy decides. False: never trained. True: trained even where the
    # policy would not (e.g. ``--mask last`` with an explicit train flag on an earlier turn).
    train: bool | None = None
    # Where this message came from in its row, e.g. "conversations[3]"; used in messages.
    origin: str | None = field(default=None, compare=False, repr=False)
    # Keys of the message no canonical field claims ("id", "timestamp", "metadata"):
    # data, carried through conversions like ``Conversation.extra``.
    extra: dict[str, Any] | None = None


def plain_message(role: str, content: str | None, origin: str | None) -> Message:
    """``Message(role, content, origin=origin)``, every other field unset, built for the
    readers' common case: a dataclass ``__init__`` looks each absent keyword-only field up
    in its defaults, six dictionary lookups a message on the path every row takes (a
    50 MB ``convert`` builds 72k messages). ``tests/dataprep/test_canonical.py`` holds the
    two equal, field by field.

    >>> plain_message("user", "Hi", "messages[0]") == Message("user", "Hi")
    True
    """
    m = _new(Message)
    m.role = role
    m.content = content
    m.tool_calls = m.tool_call_id = m.name = m.reasoning = m.train = m.extra = None
    m.origin = origin
    return m


_new = object.__new__


@dataclass(slots=True)
class Conversation:
    """A supervised example: a list of messages.

    ``plain`` marks text that is not chat (the ``text`` format, string prompt-completion):
    contents are concatenated as they are, with no chat template.
    """

    messages: list[Message]
    _: KW_ONLY
    tools: list[dict[str, Any]] | None = None
    plain: bool = False
    # Row-level fields no format field claims (ids, metadata): carried through conversions.
    extra: dict[str, Any] | None = None
    # The row gave ``tools`` as a JSON string (LLaMA-Factory's messages rows): how it was
    # written, not what it means, so a writer can keep it and equality ignores it.
    tools_as_text: bool = field(default=False, compare=False)


@dataclass(slots=True)
class Preference:
    """A paired preference: a shared prompt and two continuations.

    ``chosen`` and ``rejected`` never repeat the prompt: an implicit-prompt row has its
    shared prefix moved into ``prompt`` by its adapter.
    """

    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    _: KW_ONLY
    tools: list[dict[str, Any]] | None = None
    plain: bool = False
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Unpaired:
    """A KTO example: one continuation labelled desirable (True) or not (False)."""

    prompt: list[Message]
    completion: list[Message]
    label: bool
    _: KW_ONLY
    tools: list[dict[str, Any]] | None = None
    plain: bool = False
    extra: dict[str, Any] | None = None


Example = Conversation | Preference | Unpaired
