"""Rows with images, video or audio are refused with their line and field path, by every
command that reads rows (``validate``, ``convert``, ``prepare``), never prepared as text
with the media silently gone. Controls: rows that only look like media pass."""

from __future__ import annotations

import orjson
import pytest

from dataprep._fast.clean import FAST_CLEAN
from dataprep.convert import convert_file
from dataprep.formats import FORMATS
from dataprep.formats.media import refuse_media
from dataprep.validate.rows import check_row

U = {"role": "user", "content": "What is it?"}
A = {"role": "assistant", "content": "A cat."}


def parts(*items):
    return {"messages": [{"role": "user", "content": list(items)}, A]}


# (format, row, the field path of the one problem). Every problem is unsupported-content.
MEDIA_ROWS = [
    # LLaMA-Factory's multimodal shape (realdata/mllm_demo.json): placeholders + a column.
    ("messages", {"messages": [{"role": "user", "content": "<image>Who?"}, A], "images": ["1.jpg"]}, "images"),
    ("messages", {"messages": [U, A], "videos": ["a.mp4"]}, "videos"),
    ("messages", {"messages": [U, A], "audios": ["a.wav", "b.wav"]}, "audios"),
    ("messages", {"messages": [U, A], "image": "a.png"}, "image"),
    ("messages", {"messages": [U, A], "video": {"path": "a.mp4"}}, "video"),
    ("messages", {"messages": [U, A], "audio": "a.wav"}, "audio"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "<video>Hi"}, {"from": "gpt", "value": "Yo"}], "videos": ["v.mp4"]}, "videos"),
    ("alpaca", {"instruction": "Transcribe", "input": "", "output": "hello", "audios": ["a.wav"]}, "audios"),
    ("text", {"text": "a caption", "image": "a.png"}, "image"),
    # Placeholders alone, in each place a text can be.
    ("messages", {"messages": [{"role": "user", "content": "Look: <image> what?"}, A]}, "messages[0].content"),
    ("messages", {"messages": [U, {"role": "assistant", "content": "It says <audio>"}]}, "messages[1].content"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "<video>Hi"}, {"from": "gpt", "value": "Yo"}]}, "conversations[0].value"),
    ("alpaca", {"instruction": "Describe", "input": "<image>", "output": "A cat."}, "input"),
    ("alpaca", {"instruction": "<image>Describe", "output": "A cat."}, "instruction"),
    ("prompt-completion", {"prompt": "<audio> says", "completion": " hello"}, "prompt"),
    ("preference", {"prompt": [U], "chosen": [{"role": "assistant", "content": "<image>"}], "rejected": [A]}, "chosen[0].content"),
    ("kto", {"prompt": "<image>?", "completion": "A cat.", "label": True}, "prompt"),
    ("text", {"text": "before <video> after"}, "text"),
    # Content parts of a media type (OpenAI, Hugging Face processors).
    ("messages", parts({"type": "image_url", "image_url": {"url": "http://x/1.png"}}, {"type": "text", "text": "What?"}), "messages[0].content[0].type"),
    ("messages", parts({"type": "text", "text": "What?"}, {"type": "image"}), "messages[0].content[1].type"),
    ("messages", parts({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}), "messages[0].content[0].type"),
    ("messages", parts({"type": "audio", "audio": "a.wav"}), "messages[0].content[0].type"),
    ("messages", parts({"type": "video", "video": "a.mp4"}), "messages[0].content[0].type"),
]  # fmt: skip

# Rows that mention media but hold none: they pass.
NOT_MEDIA = [
    ("messages", {"messages": [U, A], "images": []}),
    ("messages", {"messages": [U, A], "image": None}),
    ("messages", {"messages": [U, A], "audio": ""}),
    ("messages", {"messages": [{"role": "user", "content": "an <img> tag and <imagery>"}, A]}),
    ("messages", {"messages": [{"role": "user", "content": "draw an image, a video, audio"}, A]}),
    ("messages", {"messages": [{"role": "user", "content": "<Image> <image/> </image>"}, A]}),
    ("messages", {"messages": [U, A], "meta": {"note": "<image>"}}),
    ("sharegpt", {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}], "images": []}),
    ("messages", parts({"type": "text", "text": "What?"})),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "row", "path"), MEDIA_ROWS)
def test_validate_names_the_field(fmt, row, path):
    assert [(f.path, f.code) for f in check_row(row, fmt)] == [(path, "unsupported-content")]


@pytest.mark.parametrize(("fmt", "row", "path"), MEDIA_ROWS)
def test_the_fast_paths_never_vouch_for_media(fmt, row, path):
    clean = FAST_CLEAN.get(fmt)
    assert clean is None or not clean(row)


@pytest.mark.parametrize(("fmt", "row"), NOT_MEDIA)
def test_rows_without_media_pass(fmt, row):
    assert check_row(row, fmt) == []
    refuse_media(row, FORMATS[fmt].to_canonical(row))


@pytest.mark.parametrize(
    ("fmt", "row", "message"),
    [
        (
            "messages",
            {"messages": [U, A], "images": ["1.jpg", "2.jpg"]},
            "images: the row holds images (2 items): images, video and audio are not "
            "supported yet; remove the row, or the column and the text's placeholders to "
            "train on the text alone",
        ),
        (
            "messages",
            {"messages": [U, A], "video": "a.mp4"},
            "video: the row holds video (1 item): images, video and audio are not supported "
            "yet; remove the row, or the column and the text's placeholders to train on the "
            "text alone",
        ),
        (
            "alpaca",
            {"instruction": "Describe", "input": "<image>", "output": "A cat."},
            "input: <image> placeholder: images, video and audio are not supported yet; "
            "remove the row, or the placeholder where the text stands without it",
        ),
    ],
)
def test_messages(fmt, row, message):
    example = FORMATS[fmt].to_canonical(row)
    with pytest.raises(Exception) as e:
        refuse_media(row, example)
    assert (str(e.value), e.value.code) == (message, "unsupported-content")


def write(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def test_validate_cli_says_file_line_and_path(tmp_path, capsys):
    from dataprep.cli import main

    path = write(
        tmp_path / "mm.jsonl",
        [
            {"messages": [U, A]},
            {"messages": [{"role": "user", "content": "<image>Who?"}, A], "images": ["1.jpg"]},
            parts({"type": "image_url", "image_url": {"url": "u"}}),
        ],
    )
    with pytest.raises(SystemExit) as exited:
        main(["validate", path])
    assert exited.value.code == 1
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"{path}:2: images: the row holds images (1 item): images, video and audio are not "
        "supported yet; remove the row, or the column and the text's placeholders to train "
        "on the text alone [unsupported-content]",
        f"{path}:3: messages[0].content[0].type: content part of type 'image_url': images, "
        "video and audio are not supported yet (only text parts are) [unsupported-content]",
    ]


@pytest.mark.parametrize("target", ["messages", "sharegpt"])
def test_convert_rejects_media_rows_with_their_line(tmp_path, target):
    """Convert refuses rather than carrying the media: the canonical model has no place for
    them, so a target would get the placeholders without a way to say which media they
    stand for (and a lossy conversion could drop turns but keep every image)."""
    rows = [{"messages": [U, A]}] + [row for fmt, row, _ in MEDIA_ROWS if fmt == "messages"]
    src = write(tmp_path / "in.jsonl", rows)
    c = convert_file(src, str(tmp_path / "out.jsonl"), target)
    assert (c.rows_in, c.rows_out, c.rejected) == (len(rows), 1, len(rows) - 1)
    rejects = [
        orjson.loads(line)
        for line in (tmp_path / "out.jsonl.rejects.jsonl").read_bytes().splitlines()
    ]
    assert [(r["line"], r["code"]) for r in rejects] == [
        (i, "unsupported-content") for i in range(2, len(rows) + 1)
    ]


def test_prepare_rejects_media_rows(tmp_path, tok_dir):
    from dataprep.prepare.pipeline import PrepareOptions, prepare

    rows = [{"messages": [U, A]}] + [row for fmt, row, _ in MEDIA_ROWS if fmt == "messages"]
    src = write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out"
    result = prepare(
        PrepareOptions(inputs=[src], tokenizer=tok_dir, max_length=64, output=str(out))
    )
    counts = result.manifest["counts"]
    assert (counts["rows_in"], counts["rows_out"]) == (len(rows), 1)
    assert counts["rejected"] == {"unsupported-content": len(rows) - 1}
    rejects = [orjson.loads(line) for line in (out / "rejects.jsonl").read_bytes().splitlines()]
    expected = [path for fmt, _, path in MEDIA_ROWS if fmt == "messages"]
    assert [(r["line"], r["code"], r["message"].split(": ")[0]) for r in rejects] == [
        (i + 2, "unsupported-content", path) for i, path in enumerate(expected)
    ]


def test_doctests():
    import doctest

    import dataprep.formats.media

    assert doctest.testmod(dataprep.formats.media).failed == 0
