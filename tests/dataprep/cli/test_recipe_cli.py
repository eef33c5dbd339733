"""``dataprep recipe``: our YAML, a LLaMA-Factory dataset_info and an Axolotl config,
checked on local files written here; exit codes."""

from __future__ import annotations

import json

import orjson
import pytest

MSG = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}
DIALOG = {"dialog": [{"speaker": "human", "text": "Hi"}, {"speaker": "bot", "text": "Yo"}]}


def jsonl(path, *rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


@pytest.mark.parametrize(
    ("source", "rows", "code", "says"),
    [
        ("  - path: a.jsonl\n    weight: 1\n", [MSG], 0, "check: ok, the first 1 rows read as messages"),
        ("  - path: a.jsonl\n    fields: {messages: dialog, role: speaker, content: text}\n"
         "    roles: {human: user, bot: assistant}\n", [DIALOG], 0, "read as messages"),
        ("  - path: a.jsonl\n", [DIALOG], 1, "check: FAILED"),
        ("  - path: a.jsonl\n    format: sharegpt\n", [MSG], 1, "cannot be read as sharegpt"),
        ("  - path: nowhere.jsonl\n", [], 1, "check: FAILED"),
    ],
)  # fmt: skip
def test_our_recipe(tmp_path, dataprep_cli, source, rows, code, says):
    jsonl(tmp_path / "a.jsonl", *rows)
    (tmp_path / "mix.yaml").write_text("seed: 1\nsources:\n" + source)
    r = dataprep_cli("recipe", str(tmp_path / "mix.yaml"))
    assert r.code == code, r.out + r.err
    assert says in r.out


def test_a_wrong_recipe_is_exit_2_with_file_and_line(tmp_path, dataprep_cli):
    path = tmp_path / "mix.yaml"
    path.write_text("sources:\n  - path: a.jsonl\n    wieght: 1\n")
    r = dataprep_cli("recipe", str(path))
    assert r.code == 2
    assert r.err.startswith(f"error: {path}:3: sources[0].wieght: unknown key")


@pytest.mark.parametrize(
    ("stanza", "rows", "code", "says"),
    [
        ({"file_name": "k.json", "formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "label"},
          "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}},
         [{**MSG, "label": True}], 0, "read as kto"),
        ({"file_name": "k.json", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
          "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}},
         [{**MSG, "images": ["a.png"]}], 1, "refused (changes training)"),
        ({"file_name": "k.json", "columns": {"prompt": "q", "response": "a"}}, [{"q": "Hi", "a": "Yo"}], 0,
         "read as alpaca"),
    ],
)  # fmt: skip
def test_llamafactory_dataset_info(tmp_path, dataprep_cli, stanza, rows, code, says):
    (tmp_path / "k.json").write_text(json.dumps(rows))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"d": stanza}))
    r = dataprep_cli("recipe", str(tmp_path / "dataset_info.json"), "--dataset", "d")
    assert r.code == code, r.out + r.err
    assert says in r.out


def test_axolotl_config(tmp_path, dataprep_cli):
    jsonl(tmp_path / "chats.jsonl", DIALOG)
    (tmp_path / "axolotl.yaml").write_text(
        "sequence_len: 512\ndatasets:\n  - path: chats.jsonl\n    type: chat_template\n"
        "    field_messages: dialog\n    message_property_mappings: {role: speaker, content: text}\n"
        "    roles: {user: [human], assistant: [bot]}\n"
        "  - path: org/more\n    type: alpaca\n    shards: 3\n"
    )
    r = dataprep_cli("recipe", str(tmp_path / "axolotl.yaml"))
    assert r.code == 1, r.out
    assert "options: max_length=512" in r.out
    assert "check: ok, the first 1 rows read as messages" in r.out
    assert "datasets[1].shards: not-honoured (changes training)" in r.out
