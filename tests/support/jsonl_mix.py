"""A JSON Lines body that puts blank, whitespace-only and broken lines among messages rows
in a fixed mix: what parallel reading must renumber exactly wherever a split falls."""

from __future__ import annotations

import orjson


def messages_row(user: str, assistant: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


def lines_with_blanks(n: int) -> bytes:
    """``n`` lines: rows, blank lines, whitespace lines and broken lines, in a fixed mix
    (some rows repeat, one has an empty user message)."""
    out = []
    for i in range(n):
        if i % 7 == 3:
            out.append(b"")
        elif i % 11 == 5:
            out.append(b"   \t ")
        elif i % 97 == 13:
            out.append(b"{broken")
        elif i % 89 == 7:
            out.append(orjson.dumps(messages_row("", "Yo")))
        else:
            out.append(orjson.dumps(messages_row(f"q{i % 50}", "x" * (i % 13))))
    return b"\n".join(out) + b"\n"
