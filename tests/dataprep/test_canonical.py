"""The canonical model: past the fields that say what an example is, fields go by name."""

from __future__ import annotations

import pytest

from dataprep.canonical import Conversation, Message, Preference, ToolCall, Unpaired

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
