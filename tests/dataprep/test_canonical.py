"""The canonical model: past the fields that say what an example is, fields go by name."""

from __future__ import annotations

import dataclasses

import pytest

from dataprep.canonical import Conversation, Message, Preference, ToolCall, Unpaired, plain_message

M = Message("user", "Hi")


@pytest.mark.parametrize(
    ("cls", "positional", "named"),
    [
        (Message, ("user", "Hi"), {"origin": "messages[0]"}),
        (ToolCall, ("f", "{}"), {"id": "c1"}),
        (Conversation, ([M],), {"plain": True}),
        (Preference, ([M], [M], [M]), {"tools": []}),
        (Unpaired, ([M], [M], True), {"plain": True}),
    ],
)
def test_fields_past_the_essentials_are_keyword_only(cls, positional, named):
    ((name, value),) = named.items()
    assert getattr(cls(*positional, **named), name) == value
    with pytest.raises(TypeError):
        cls(*positional, value)  # by position: refused, so field order is never load-bearing


@pytest.mark.parametrize(
    ("role", "content", "origin"),
    [("user", "Hi", "messages[0]"), ("assistant", None, None), ("tool", "", "conversations[3]")],
)
def test_plain_message_is_the_message_the_constructor_builds(role, content, origin):
    fast, plain = plain_message(role, content, origin), Message(role, content, origin=origin)
    # Field by field, origin included (equality leaves it out): a field added to Message
    # and not set by plain_message fails here (an unset slot raises AttributeError).
    for f in dataclasses.fields(Message):
        assert getattr(fast, f.name) == getattr(plain, f.name), f.name
    assert fast == plain and type(fast) is Message
