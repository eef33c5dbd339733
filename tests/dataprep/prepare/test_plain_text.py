"""Plain text documents (format ``text``) prepare with no chat template: tokenized as they
are, EOS appended and trained. Anything else still needs a template, said at once."""

from __future__ import annotations

import orjson
import pytest
import tokenizer_factory

from dataprep.errors import PrepareError
from dataprep.prepare.output import read_split
from dataprep.prepare.pipeline import PrepareOptions, prepare
from dataprep.prepare.template.choice import (
    load_tokenizer,
    load_transformers_tokenizer,
    needs_chat_template,
    resolve_template,
)

DOCS = [
    {"text": "the weather in paris is mild and the model answers questions"},
    {"text": "numbers and code while tools return results in json"},
    {"text": "hello world thanks again for more detail"},
]
CHAT = {
    "messages": [
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": "thanks"},
    ]
}


@pytest.fixture(scope="module")
def bare_tok_dir(tmp_path_factory) -> str:
    """A base model's tokenizer: no chat template of its own."""
    tokenizer = tokenizer_factory.family_tokenizer("", vocab_size=600)
    tokenizer.chat_template = None
    folder = tmp_path_factory.mktemp("bare-tok")
    tokenizer_factory.save_tokenizer(tokenizer, folder)
    assert load_tokenizer(str(folder)).chat_template is None
    return str(folder)


def write(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def run(tmp_path, files, tok_dir, **kw):
    return prepare(
        PrepareOptions(
            inputs=files, tokenizer=tok_dir, max_length=64, output=str(tmp_path / "out"), **kw
        )
    )


@pytest.mark.parametrize(
    ("formats", "needed"),
    [
        (["text"], False),
        (["text", "text"], False),
        (["messages"], True),
        (["text", "sharegpt"], True),
        (["prompt-completion"], True),
        ([None], True),  # a file of no known format: the template's absence is said first
        ([], False),
    ],
)
def test_needs_chat_template(formats, needed):
    assert needs_chat_template(formats) is needed


def test_text_prepares_without_a_template(tmp_path, bare_tok_dir):
    src = write(tmp_path / "docs.jsonl", DOCS)
    result = run(tmp_path, [src], bare_tok_dir, pack=False)
    assert result.manifest["chat_template"] is None
    assert result.manifest["counts"]["rows_out"] == len(DOCS)
    tok = load_transformers_tokenizer(bare_tok_dir)  # the oracle
    rows = read_split(tmp_path / "out").to_pydict()
    for doc, ids, labels in zip(DOCS, rows["input_ids"], rows["labels"], strict=True):
        # The tokenizer's own encoding of the text, then EOS: trained, so the model stops.
        assert ids == tok(doc["text"])["input_ids"] + [tok.eos_token_id]
        assert labels[-1] == tok.eos_token_id


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([[CHAT]], "has no chat template. Pass --chat-template"),
        ([DOCS, [CHAT]], "has no chat template. Pass --chat-template"),
    ],
)
def test_anything_but_text_still_needs_a_template(tmp_path, bare_tok_dir, files, message):
    paths = [write(tmp_path / f"in{i}.jsonl", rows) for i, rows in enumerate(files)]
    with pytest.raises(PrepareError, match=message):
        run(tmp_path, paths, bare_tok_dir)


def test_a_chat_row_among_documents_is_rejected_alone(tmp_path, bare_tok_dir):
    src = write(tmp_path / "docs.jsonl", [*DOCS, CHAT])
    result = run(tmp_path, [src], bare_tok_dir)
    assert result.manifest["counts"]["rejected"] == {"no-chat-template": 1}
    [reject] = [
        orjson.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_bytes().splitlines()
    ]
    assert (reject["line"], reject["message"]) == (
        4,
        "a conversation, and the tokenizer has no chat template (plain text needs none): "
        "pass --chat-template (chatml suits most base models)",
    )


def test_a_template_given_is_still_used(tmp_path, bare_tok_dir):
    src = write(tmp_path / "docs.jsonl", DOCS)
    result = run(tmp_path, [src], bare_tok_dir, chat_template="chatml")
    assert result.manifest["chat_template"]["name"] == "chatml"


def test_resolve_template_when_not_required():
    tok = tokenizer_factory.family_tokenizer("", vocab_size=600)
    tok.chat_template = None
    assert resolve_template(tok, None, required=False) is None
    with pytest.raises(PrepareError):
        resolve_template(tok, None)


@pytest.mark.parametrize(("rows", "code"), [(DOCS, 0), ([CHAT], 1)])
def test_stats_counts_tokens_of_text_without_a_template(tmp_path, bare_tok_dir, capsys, rows, code):
    from dataprep.cli import main

    src = write(tmp_path / "in.jsonl", rows)
    with pytest.raises(SystemExit) as exited:
        main(["stats", src, "--tokenizer", bare_tok_dir])
    assert exited.value.code == code
    if code == 0:
        assert "length (tokens)" in capsys.readouterr().out
    else:
        assert "has no chat template. Pass --chat-template" in capsys.readouterr().err
