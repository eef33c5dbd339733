"""Images, video and audio in a row: refused, with where they are, until they are supported.

The canonical model holds text. A multimodal row read as text would lose its pictures
and keep their ``<image>`` placeholders: ``prepare`` would train on the words of a
conversation about a picture the model never sees, and ``convert`` would carry the media
out of step with the text. So every command that reads rows (``validate``, ``convert``,
``prepare``, ``stats``) refuses such a row with code ``unsupported-content``, by
``refuse_media`` after the format's adapter. Media are:

- a media column (``images``, ``videos``, ``audios`` or ``image``, ``video``, ``audio``,
  as LLaMA-Factory and Hugging Face datasets name them) holding something;
- a ``<image>``, ``<video>`` or ``<audio>`` placeholder in a message's text;
- a content part of a media type (``image_url``, ``input_audio``, ...): the adapters
  refuse those while reading (``dataprep.formats._shared.read_content``), as nothing
  else in a content list has a place in the canonical model either.

>>> refuse_media({"text": "Hi"}, None) is None
True
>>> refuse_media({"messages": [], "images": ["1.jpg"]}, None)
Traceback (most recent call last):
...
dataprep.errors.RowError: images: the row holds images (1 item): images, video and audio are not supported yet; remove the row, or the column and the text's placeholders to train on the text alone
"""

from __future__ import annotations

import re
from typing import Any

from dataprep.canonical import Conversation, Example, Message, Preference, Unpaired
from dataprep.errors import RowError

CODE = "unsupported-content"
MEDIA_COLUMNS = ("images", "videos", "audios", "image", "video", "audio")
# Content-part types that carry media (OpenAI, Hugging Face processors, Qwen-VL).
MEDIA_PART_TYPES = frozenset(
    {"image", "image_url", "input_image", "audio", "input_audio", "video", "video_url"}
)
PLACEHOLDER = re.compile(r"<(?:image|video|audio)>")
UNSUPPORTED = "images, video and audio are not supported yet"


def refuse_media(row: Any, example: Example | None) -> None:
    """Raise ``RowError`` (code ``unsupported-content``) when ``row`` holds media: a media
    column with a value, or a placeholder in the text of ``example`` (the row as its
    adapter read it; None checks the columns only)."""
    if type(row) is not dict:
        return
    if not _MEDIA_COLUMN_SET.isdisjoint(row):
        _refuse_columns(row)
    if example is None:
        return
    for message in _messages(example):
        content = message.content
        if type(content) is str and "<" in content:
            found = PLACEHOLDER.search(content)
            if found:
                path = _path_of(row, example, found.group(0)) or message.origin or ""
                raise RowError(
                    path,
                    f"{found.group(0)} placeholder: {UNSUPPORTED}; remove the row, or the "
                    "placeholder where the text stands without it",
                    CODE,
                )


_MEDIA_COLUMN_SET = frozenset(MEDIA_COLUMNS)


def _refuse_columns(row: dict) -> None:
    """Raise for the first media column of ``row`` that holds something."""
    for key in MEDIA_COLUMNS:
        value = row.get(key)
        if value is not None and value != "" and value != [] and value != {}:
            # Only plural columns hold lists; a single path is one item.
            n = len(value) if isinstance(value, list) else 1
            raise RowError(
                key,
                f"the row holds {_kind(key)} ({n} item{'s' if n != 1 else ''}): {UNSUPPORTED}; "
                "remove the row, or the column and the text's placeholders to train on the "
                "text alone",
                CODE,
            )


def media_part_message(kind: str) -> str:
    """What a content part of media type ``kind`` is told (the adapters raise it)."""
    return f"content part of type {kind!r}: {UNSUPPORTED} (only text parts are)"


def _kind(name: str) -> str:
    for word in ("image", "video", "audio"):
        if word in name:
            return {"image": "images", "video": "video", "audio": "audio"}[word]
    return "media"


def _messages(example: Example) -> list[Message]:
    if isinstance(example, Conversation):
        return example.messages
    if isinstance(example, Preference):
        return [*example.prompt, *example.chosen, *example.rejected]
    if isinstance(example, Unpaired):
        return [*example.prompt, *example.completion]
    return []


def _path_of(row: dict, example: Example, placeholder: str) -> str | None:
    """The field path of the first string in the row's format fields (not its extras)
    that holds ``placeholder``: ``messages[0].content``, ``conversations[2].value``,
    ``input``."""
    extra = example.extra or {}
    for key, value in row.items():
        if key in extra:
            continue
        found = _find(value, placeholder, key)
        if found is not None:
            return found
    return None


def _find(value: Any, needle: str, path: str) -> str | None:
    if isinstance(value, str):
        return path if needle in value else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _find(item, needle, f"{path}[{i}]")
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _find(item, needle, f"{path}.{key}")
            if found is not None:
                return found
    return None
