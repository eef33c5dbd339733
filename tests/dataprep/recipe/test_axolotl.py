"""Axolotl configs of every dataset type we read, written in Axolotl's shapes (its
docs/dataset-formats and examples), local files and Hub ids alike."""

from __future__ import annotations

import pytest
import yaml

from dataprep.recipe.axolotl import read_axolotl

CASES = [
    # (id, top-level extra, stanza, format, fields, roles, fails)
    (
        "chat_template",
        {},
        {
            "path": "org/chats",
            "type": "chat_template",
            "field_messages": "conversations",
            "message_property_mappings": {"role": "from", "content": "value"},
            "roles": {"user": ["human"], "assistant": ["gpt"]},
            "roles_to_train": ["assistant"],
            "train_on_eos": "turn",
            "message_field_training": "trainable",
        },
        "messages",
        {"messages": "conversations", "role": "from", "content": "value", "train": "trainable"},
        {"human": "user", "gpt": "assistant"},
        False,
    ),
    (
        "chat_template_legacy",
        {},
        {
            "path": "org/c",
            "type": "chat_template",
            "message_field_role": "speaker",
            "message_field_content": "text",
        },
        "messages",
        {"role": "speaker", "content": "text"},
        {},
        False,
    ),
    (
        "roles_to_train_user",
        {},
        {"path": "org/c", "type": "chat_template", "roles_to_train": ["user", "assistant"]},
        "messages",
        {},
        {},
        True,
    ),
    (
        "train_on_eos_all",
        {},
        {"path": "org/c", "type": "chat_template", "train_on_eos": "all"},
        "messages",
        {},
        {},
        True,
    ),
    (
        "training_detail",
        {},
        {"path": "org/c", "type": "chat_template", "message_field_training_detail": "d"},
        "messages",
        {},
        {},
        True,
    ),
    ("alpaca", {}, {"path": "tatsu-lab/alpaca", "type": "alpaca"}, "alpaca", {}, {}, False),
    (
        "sharegpt",
        {},
        {
            "path": "org/s",
            "type": "sharegpt",
            "conversation": "chatml",
            "field_human": "me",
            "field_model": "bot",
        },
        "sharegpt",
        {},
        {"me": "human", "bot": "gpt"},
        False,
    ),
    (
        "completion",
        {},
        {"path": "org/t", "type": "completion", "field": "body"},
        "text",
        {"text": "body"},
        {},
        False,
    ),
    ("input_output", {}, {"path": "org/io", "type": "input_output"}, None, {}, {}, True),
    ("shards", {}, {"path": "org/a", "type": "alpaca", "shards": 4}, "alpaca", {}, {}, True),
    (
        "dpo_intel",
        {"rl": "dpo"},
        {"path": "Intel/orca_dpo_pairs", "type": "chatml.intel"},
        "preference",
        {"prompt": "question"},
        {},
        False,
    ),
    (
        "dpo_argilla",
        {"rl": "dpo"},
        {"path": "org/p", "type": "llama3.argilla"},
        "preference",
        {"prompt": "instruction"},
        {},
        False,
    ),
    (
        "dpo_prompt_pairs",
        {"rl": "dpo"},
        {"path": "org/p", "type": "chatml.prompt_pairs"},
        "preference",
        {},
        {},
        False,
    ),
    (
        "dpo_argilla_chat",
        {"rl": "dpo"},
        {"path": "org/p", "type": "chatml.argilla_chat"},
        "preference",
        {},
        {},
        False,
    ),
    (
        "dpo_chat_template",
        {"rl": "dpo"},
        {
            "path": "org/p",
            "type": "chat_template.default",
            "field_messages": "msgs",
            "field_chosen": "good",
            "field_rejected": "bad",
        },
        "preference",
        {
            "conversations": "msgs",
            "chosen": "good",
            "rejected": "bad",
            "from": "role",
            "value": "content",
        },
        {},
        False,
    ),
    ("dpo_ultra", {"rl": "dpo"}, {"path": "org/p", "type": "chatml.ultra"}, None, {}, {}, True),
    (
        "kto_intel",
        {"rl": "kto"},
        {"path": "org/k", "type": "chatml.intel"},
        "kto",
        {"prompt": "question"},
        {},
        False,
    ),
    (
        "kto_argilla_chat",
        {"rl": "kto"},
        {"path": "org/k", "type": "llama3.argilla_chat"},
        "kto",
        {"messages": "completion"},
        {},
        False,
    ),
    (
        "dpo_user_defined",
        {"rl": "dpo"},
        {
            "path": "org/p",
            "type": {"field_prompt": "q", "field_chosen": "c", "field_rejected": "r"},
        },
        "preference",
        {"prompt": "q", "chosen": "c", "rejected": "r"},
        {},
        False,
    ),
    (
        "dpo_user_format",
        {"rl": "dpo"},
        {"path": "org/p", "type": {"field_prompt": "q", "prompt_format": "Q: {prompt}"}},
        "preference",
        {"prompt": "q"},
        {},
        True,
    ),
    ("grpo", {"rl": "grpo"}, {"path": "org/g", "type": "x"}, None, {}, {}, True),
]


def write(tmp_path, cfg, name="axolotl.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


@pytest.mark.parametrize(("top", "stanza", "fmt", "fields", "roles", "fails"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_dataset_type(tmp_path, top, stanza, fmt, fields, roles, fails):
    recipe, report = read_axolotl(write(tmp_path, {**top, "datasets": [stanza]}))
    (s,) = recipe.sources
    assert (s.format, dict(s.fields), dict(s.roles), s.is_hub) == (fmt, fields, roles, True)
    assert report.fails is fails, report.lines()


def test_top_level_keys_map_to_prepare_options(tmp_path):
    cfg = {"base_model": "Qwen/Qwen2.5-0.5B", "learning_rate": 2e-4, "chat_template": "chatml", "sequence_len": 1024,
           "sample_packing": False, "val_set_size": 0.1, "dataset_prepared_path": "prepared", "train_on_inputs": True,
           "datasets": [{"path": "org/a", "type": "alpaca"}]}  # fmt: skip
    recipe, report = read_axolotl(write(tmp_path, cfg))
    got = (recipe.tokenizer, recipe.chat_template, recipe.max_length, recipe.pack, recipe.eval_fraction,
           recipe.output, recipe.mask)  # fmt: skip
    assert got == ("Qwen/Qwen2.5-0.5B", "chatml", 1024, False, 0.1, "prepared", "all")
    statuses = {u.key: u.status for u in report.uses}
    assert statuses["learning_rate"] == "ignored"
    assert not report.fails


@pytest.mark.parametrize(
    ("top", "fails"),
    [({"val_set_size": 500}, True), ({"chat_template": "no_such_template"}, True),
     ({"chat_template": "jinja", "chat_template_jinja": "{{ messages }}"}, True),
     ({"chat_template": "tokenizer_default"}, False)],
)  # fmt: skip
def test_top_level_keys_not_honoured(tmp_path, top, fails):
    _, report = read_axolotl(
        write(tmp_path, {**top, "datasets": [{"path": "org/a", "type": "alpaca"}]})
    )
    assert report.fails is fails, report.lines()


def test_local_files_test_datasets_and_data_files(tmp_path):
    (tmp_path / "train.jsonl").write_text("")
    cfg = {"datasets": [{"path": "train.jsonl", "type": "alpaca", "ds_type": "json"},
                        {"path": "org/hub", "data_files": ["a.jsonl", "b.jsonl"], "type": "alpaca"}],
           "test_datasets": [{"path": "missing/held.jsonl", "type": "alpaca", "split": "train"}]}  # fmt: skip
    recipe, report = read_axolotl(write(tmp_path, cfg))
    got = [(s.path, s.is_hub, s.eval) for s in recipe.sources]
    assert got == [
        (str(tmp_path / "train.jsonl"), False, False),
        ("hf://datasets/org/hub/a.jsonl", True, False),
        ("hf://datasets/org/hub/b.jsonl", True, False),
        (str(tmp_path / "missing/held.jsonl"), False, True),
    ]
    assert {u.key: u.status for u in report.uses}["datasets[0].ds_type"] == "ignored"


def test_report_lines_name_the_line_of_each_key(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("datasets:\n  - path: org/a\n    type: alpaca\n    shards: 2\n")
    _, report = read_axolotl(str(path))
    (bad,) = [u for u in report.uses if u.status == "not-honoured"]
    assert (
        bad.line()
        == f"{path}:4: datasets[0].shards: not-honoured (changes training): every row is taken: sharding is not done here"
    )
