"""LLaMA-Factory dataset_info stanzas of every kind, read as a recipe: configs we write in
LLaMA-Factory's shapes (its data/README.md), local files and Hub ids alike."""

from __future__ import annotations

import json

import pytest

from dataprep.errors import UsageError
from dataprep.recipe.llamafactory import read_dataset_info

SHAREGPT_OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                        "assistant_tag": "assistant", "system_tag": "system"}  # fmt: skip
CASES = {
    # name: (stanza, kind, format, fields, roles, hub, fails)
    "alpaca_default": ({"file_name": "a.json"}, "sft", "alpaca", {}, {}, False, False),
    "alpaca_columns": (
        {
            "file_name": "a.json",
            "columns": {
                "prompt": "q",
                "query": "ctx",
                "response": "a",
                "history": "hist",
                "system": "sys",
            },
        },
        "sft",
        "alpaca",
        {"instruction": "q", "input": "ctx", "output": "a", "history": "hist", "system": "sys"},
        {},
        False,
        False,
    ),
    "pretrain": (
        {"file_name": "c.jsonl", "columns": {"prompt": "body"}},
        "sft",
        "text",
        {"text": "body"},
        {},
        False,
        False,
    ),
    "alpaca_ranking": (
        {
            "file_name": "p.json",
            "ranking": True,
            "columns": {"prompt": "instruction", "chosen": "good", "rejected": "bad"},
        },
        "dpo",
        "preference",
        {"prompt": "instruction", "chosen": "good", "rejected": "bad"},
        {},
        False,
        False,
    ),
    "alpaca_ranking_query": (
        {
            "file_name": "p.json",
            "ranking": True,
            "columns": {
                "prompt": "instruction",
                "query": "input",
                "chosen": "chosen",
                "rejected": "rejected",
            },
        },
        "dpo",
        "preference",
        {"prompt": "instruction"},
        {},
        False,
        True,
    ),
    "alpaca_kto": (
        {
            "file_name": "k.json",
            "columns": {"prompt": "instruction", "response": "output", "kto_tag": "thumb"},
        },
        "kto",
        "kto",
        {"label": "thumb"},
        {},
        False,
        False,
    ),
    "alpaca_tools": (
        {"file_name": "a.json", "columns": {"tools": "tools"}},
        "sft",
        "alpaca",
        {},
        {},
        False,
        True,
    ),
    "sharegpt": (
        {
            "file_name": "s.json",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "sys", "tools": "tools"},
        },
        "sft",
        "sharegpt",
        {"system": "sys"},
        {},
        False,
        False,
    ),
    "sharegpt_tags": (
        {
            "hf_hub_url": "org/chats",
            "split": "train_sft",
            "subset": "en",
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": SHAREGPT_OPENAI_TAGS,
        },
        "sft",
        "sharegpt",
        {"conversations": "messages", "from": "role", "value": "content"},
        {"user": "human", "assistant": "gpt"},
        True,
        False,
    ),
    "sharegpt_all_tags": (
        {
            "file_name": "s.json",
            "formatting": "sharegpt",
            "tags": {
                "role_tag": "who",
                "content_tag": "said",
                "user_tag": "me",
                "assistant_tag": "ai",
                "observation_tag": "result",
                "function_tag": "call",
                "system_tag": "sys",
            },
        },
        "sft",
        "sharegpt",
        {"from": "who", "value": "said"},
        {
            "me": "human",
            "ai": "gpt",
            "result": "observation",
            "call": "function_call",
            "sys": "system",
        },
        False,
        False,
    ),
    "openai": (
        {"file_name": "o.json", "formatting": "openai", "columns": {"messages": "messages"}},
        "sft",
        "sharegpt",
        {"conversations": "messages", "from": "role", "value": "content"},
        {"user": "human", "assistant": "gpt", "tool": "observation", "function": "function_call"},
        False,
        False,
    ),
    "sharegpt_ranking": (
        {
            "file_name": "d.json",
            "ranking": True,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
        },
        "dpo",
        "preference",
        {},
        {},
        False,
        False,
    ),
    "sharegpt_kto": (
        {
            "file_name": "k.json",
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "kto_tag": "label"},
            "tags": SHAREGPT_OPENAI_TAGS,
        },
        "kto",
        "kto",
        {"conversations": "messages", "from": "role", "value": "content"},
        {"user": "human", "assistant": "gpt"},
        False,
        False,
    ),
    "media_images": (
        {
            "file_name": "m.json",
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": SHAREGPT_OPENAI_TAGS,
        },
        "sft",
        "sharegpt",
        {"conversations": "messages", "from": "role", "value": "content"},
        {"user": "human", "assistant": "gpt"},
        False,
        True,
    ),
    "media_videos": (
        {"file_name": "v.json", "columns": {"videos": "videos"}},
        "sft",
        "alpaca",
        {},
        {},
        False,
        True,
    ),
    "media_audios": (
        {"hf_hub_url": "org/a", "columns": {"audios": "a"}},
        "sft",
        "alpaca",
        {},
        {},
        True,
        True,
    ),
    "ms_only": ({"ms_hub_url": "AI-ModelScope/x"}, "sft", "alpaca", {}, {}, True, True),
    "ms_beside_hf": (
        {"hf_hub_url": "org/x", "ms_hub_url": "AI-ModelScope/x", "om_hub_url": "o/x"},
        "sft",
        "alpaca",
        {},
        {},
        True,
        False,
    ),
    "script": ({"script_url": "my_script"}, "sft", "alpaca", {}, {}, True, True),
    "cloud": ({"cloud_file_name": "s3://b/x.json"}, "sft", "alpaca", {}, {}, True, True),
}


@pytest.fixture
def info_path(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_text(json.dumps({name: stanza for name, (stanza, *_) in CASES.items()}, indent=2))
    return str(path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_stanza(info_path, tmp_path, name):
    _stanza, kind, fmt, fields, roles, hub, fails = CASES[name]
    recipe, report = read_dataset_info(info_path, [name])
    (s,) = recipe.sources
    assert (recipe.kind, s.format, dict(s.fields), dict(s.roles), s.is_hub) == (
        kind,
        fmt,
        fields,
        roles,
        hub,
    )
    assert report.fails is fails, report.lines()
    if not hub:
        assert s.path.startswith(str(tmp_path))


def test_hub_stanza_keeps_split_subset_and_num_samples(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_text(
        json.dumps(
            {
                "x": {
                    "hf_hub_url": "org/x",
                    "split": "dev",
                    "subset": "en",
                    "folder": "data",
                    "num_samples": 500,
                    "revision": "v1",
                }
            }
        )
    )
    recipe, report = read_dataset_info(str(path), ["x"])
    (s,) = recipe.sources
    assert (s.path, s.split, s.subset, s.rows, s.revision) == (
        "hf://datasets/org/x/data",
        "dev",
        "en",
        500,
        "v1",
    )
    assert not report.fails


def test_media_is_refused_with_its_line(info_path):
    _, report = read_dataset_info(info_path, ["media_images"])
    (refused,) = [u for u in report.uses if u.status == "refused"]
    with open(info_path) as f:
        line = f.read().splitlines().index('      "images": "images"') + 1
    assert (refused.where, refused.key) == (f"{info_path}:{line}", "media_images.columns.images")


def test_every_key_of_a_stanza_is_in_the_report(info_path):
    _, report = read_dataset_info(info_path, ["sharegpt_all_tags"])
    keys = {u.key for u in report.uses}
    assert {f"sharegpt_all_tags.tags.{t}" for t in CASES["sharegpt_all_tags"][0]["tags"]} <= keys
    assert {"sharegpt_all_tags.file_name", "sharegpt_all_tags.formatting"} <= keys


def test_several_datasets_of_one_kind_and_of_two(info_path):
    recipe, report = read_dataset_info(info_path, ["alpaca_default", "sharegpt"])
    assert (len(recipe.sources), recipe.kind, report.fails) == (2, "sft", False)
    recipe, report = read_dataset_info(info_path, ["alpaca_default", "sharegpt_ranking"])
    assert (recipe.kind, report.fails) == (None, True)


@pytest.mark.parametrize(
    ("names", "message"), [(["nope"], "no dataset named 'nope'"), ([], "--dataset")]
)
def test_unknown_or_missing_dataset_is_a_usage_error(info_path, names, message):
    with pytest.raises(UsageError, match=message):
        read_dataset_info(info_path, names)
