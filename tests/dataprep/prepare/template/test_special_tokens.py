"""A chat template's special tokens that the tokenizer lacks are added (never tokenized as
ordinary text without a word), recorded in the manifest, and added again with the same
ids where the prepared data is read."""

from __future__ import annotations

import orjson
import pytest
import tokenizer_factory

from dataprep.errors import PrepareError
from dataprep.formats.mapping import Mapping
from dataprep.prepare.encode.workers import Job, Worker
from dataprep.prepare.output import read_split
from dataprep.prepare.pipeline import PrepareOptions, prepare
from dataprep.prepare.template.choice import (
    builtin_template,
    load_tokenizer,
    load_transformers_tokenizer,
)
from dataprep.prepare.template.special_tokens import (
    add_template_tokens,
    markers_in,
    missing_markers,
    restore_added_tokens,
    template_markers,
)

CHATS = [
    {
        "messages": [
            {"role": "user", "content": f"hello world {i} and the weather"},
            {"role": "assistant", "content": f"thanks, the answer is {i}"},
            {"role": "user", "content": "more detail"},
            {"role": "assistant", "content": "the model answers again"},
        ]
    }
    for i in range(3)
]
# (builtin template, its end-of-turn token: trained at the end of every assistant turn)
END_OF_TURN = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>", "gemma": "<end_of_turn>"}


@pytest.fixture(scope="module")
def bare_tok_dir(tmp_path_factory) -> str:
    """A base model's tokenizer: no markers of any chat template, no template."""
    tokenizer = tokenizer_factory.family_tokenizer("", vocab_size=600)
    tokenizer.chat_template = None
    return str(tokenizer_factory.save_tokenizer(tokenizer, tmp_path_factory.mktemp("bare")))


@pytest.fixture
def bare(bare_tok_dir):
    return load_tokenizer(bare_tok_dir)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ '<|im_start|>' + role }}", [("<|im_start|>", True)]),
        ("<｜User｜><|turn>x<turn|>", [("<｜User｜>", True), ("<|turn>", True), ("<turn|>", True)]),
        ("<start_of_turn>x<end_of_turn><start_of_turn>", [("<start_of_turn>", False), ("<end_of_turn>", False)]),
        ("[INST] <<SYS>>\\n{{ system }}\\n<</SYS>>", []),  # Llama 2's prose markers
        ("a < b and c > d, <-- not a tag, <function-name>", []),
    ],
)  # fmt: skip
def test_markers_in(source, expected):
    assert markers_in(source) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("chatml", ["<|im_end|>", "<|im_start|>"]),  # (the first is named in a comment)
        ("llama3", ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]),
        ("gemma", ["<start_of_turn>", "<end_of_turn>"]),
        # Tags of a tool-use prompt (<tools>, <tool_call>) stay text; <think> is written
        # in every conversation by Qwen 3, and the end of a turn by Idefics is a tag.
        ("qwen2_5", ["<|im_start|>", "<|im_end|>"]),
        ("qwen3", ["<|im_start|>", "<|im_end|>", "</think>", "<think>"]),
        ("nemotron_3_nano", ["<|im_start|>", "<|im_end|>", "<think>", "</think>"]),
        ("idefics3", ["<|begin_of_text|>", "<end_of_utterance>"]),
    ],
)
def test_template_markers(bare, name, expected):
    assert template_markers(bare, builtin_template(name)) == expected


@pytest.mark.parametrize("name", ["chatml", "llama3", "gemma"])
def test_a_family_tokenizer_lacks_nothing_and_gets_nothing(name):
    template = builtin_template(name)
    tok = tokenizer_factory.family_tokenizer(template.source, vocab_size=600)
    before = len(tok)
    assert missing_markers(tok, template_markers(tok, template)) == []
    assert add_template_tokens(tok, template) == []
    assert len(tok) == before


def run(tmp_path, tok_dir, **kw):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in CHATS))
    return prepare(
        PrepareOptions(
            inputs=[str(src)],
            tokenizer=tok_dir,
            max_length=256,
            output=str(tmp_path / "out"),
            pack=False,
            **kw,
        )
    )


@pytest.mark.parametrize("name", ["chatml", "llama3", "gemma"])
def test_prepare_adds_the_missing_tokens_and_records_them(tmp_path, bare_tok_dir, name):
    template = builtin_template(name)
    result = run(tmp_path, bare_tok_dir, chat_template=name)
    base = load_tokenizer(bare_tok_dir)
    expected = template_markers(base, template)
    recorded = result.manifest["tokenizer"]["added_tokens"]
    # Appended after the tokenizer's own vocabulary, in the order the template writes them.
    assert recorded == [{"content": t, "id": len(base) + i} for i, t in enumerate(expected)]
    assert result.manifest["tokenizer"]["vocab_size"] == len(base) + len(expected)
    assert any("writes special tokens that" in note for note in result.manifest["notes"])

    # The oracle: transformers' own rendering and tokenization, with the same tokens added
    # by transformers' API.
    oracle = load_transformers_tokenizer(bare_tok_dir)
    oracle.add_special_tokens({"additional_special_tokens": expected})
    rows = read_split(tmp_path / "out").to_pydict()
    end = oracle.convert_tokens_to_ids(END_OF_TURN[name])
    for chat, ids, labels in zip(CHATS, rows["input_ids"], rows["labels"], strict=True):
        want = oracle.apply_chat_template(
            chat["messages"], chat_template=template.source, tokenize=True, return_dict=True
        )["input_ids"]
        assert ids == want
        # One token ends each assistant turn, and it is trained.
        assert sum(label == end for label in labels) == 2


def test_the_tokenizers_own_template_adds_nothing(tmp_path):
    """A tokenizer's own template is the one it was trained with: its text stays text."""
    tok = tokenizer_factory.family_tokenizer("", vocab_size=600)
    tok.chat_template = builtin_template("chatml").source
    folder = tokenizer_factory.save_tokenizer(tok, tmp_path / "own")
    result = run(tmp_path, str(folder))
    assert result.manifest["tokenizer"]["added_tokens"] == []
    assert result.manifest["tokenizer"]["vocab_size"] == len(tok)


def test_a_tokenizer_with_the_markers_records_none(tmp_path, tok_dir):
    result = run(tmp_path, tok_dir, chat_template="chatml")
    assert result.manifest["tokenizer"]["added_tokens"] == []


@pytest.mark.parametrize(
    ("before", "added", "error"),
    [
        ([], 2, None),  # a fresh tokenizer: both added, at the recorded ids
        (["<|im_end|>", "<|im_start|>"], 0, None),  # already there (a run's saved tokenizer)
        (
            ["<|other|>"],
            None,
            "the data was prepared with '<|im_end|>' added as token 600, but this tokenizer "
            "gives it id 601: it is not the tokenizer the data was prepared with",
        ),
    ],
)
def test_restore_added_tokens(bare_tok_dir, before, added, error):
    recorded = [{"content": "<|im_end|>", "id": 600}, {"content": "<|im_start|>", "id": 601}]
    tok = load_transformers_tokenizer(bare_tok_dir)  # its API adds the "before" tokens
    if before:
        tok.add_special_tokens({"additional_special_tokens": before})
    if error is not None:
        with pytest.raises(PrepareError) as e:
            restore_added_tokens(tok, recorded)
        assert str(e.value) == error
        return
    assert restore_added_tokens(tok, recorded) == added
    assert tok.convert_tokens_to_ids(["<|im_end|>", "<|im_start|>"]) == [600, 601]
    assert tok.convert_ids_to_tokens(tok("<|im_start|>x<|im_end|>")["input_ids"])[::2] == [
        "<|im_start|>",
        "<|im_end|>",
    ]


def test_a_worker_that_loads_its_own_tokenizer_adds_the_same(bare_tok_dir, bare):
    """Where workers are spawned (no tokenizer handed over) they add the same tokens."""
    job = Job(
        tokenizer=bare_tok_dir,
        chat_template="chatml",
        template_required=True,
        system=None,
        kind="sft",
        max_length=64,
        overlong="drop",
        inputs=[],
        mapping=Mapping(),
        seed=0,
        eval_fraction=0.0,
        want_keys=False,
    )
    worker = Worker(job)
    assert len(worker.tokenizer) == len(bare) + 2
    assert worker.tokenizer.convert_tokens_to_ids("<|im_end|>") == len(bare)


def test_inspect_reads_the_added_tokens_back(tmp_path, bare_tok_dir, capsys):
    from dataprep.cli import main

    run(tmp_path, bare_tok_dir, chat_template="chatml")
    with pytest.raises(SystemExit) as exited:
        main(["inspect", str(tmp_path / "out"), "--row", "0"])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3:5] == ["<|im_start|>user", "hello world 0 and the weather<|im_end|>"]
