"""A damaged prepared folder (its split index, its manifest, its Arrow files) is refused
by `train sft` and `train check --data` with a message naming the folder and what is
wrong, exit 1: never a traceback, and before a model loads."""

from __future__ import annotations

import json
import shutil

import pytest

from train.cli import main

DAMAGED = "; the folder is damaged: prepare it again"


def write_json(path, value):
    path.write_text(value if isinstance(value, str) else json.dumps(value))


def edit_manifest(folder, **changes):
    manifest = json.loads((folder / "dataprep.json").read_text())
    manifest.update(changes)
    write_json(folder / "dataprep.json", manifest)


def drop_tokenizer(folder):
    manifest = json.loads((folder / "dataprep.json").read_text())
    del manifest["tokenizer"]
    write_json(folder / "dataprep.json", manifest)


def string_tokens(folder):
    import datasets

    shutil.rmtree(folder)
    datasets.Dataset.from_dict({"input_ids": [["a", "b"]], "labels": [[1, 2]]}).save_to_disk(
        str(folder)
    )
    shutil.copy(folder.parent / "source" / "dataprep.json", folder / "dataprep.json")


# (source fixture, damage, message after "{folder}": exact, or a prefix ending in "...")
CASES = {
    "index-not-json": (
        "sft_with_eval",
        lambda d: write_json(d / "dataset_dict.json", "{not json"),
        ": dataset_dict.json: unreadable (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))" + DAMAGED,
    ),
    "index-a-list": (
        "sft_with_eval",
        lambda d: write_json(d / "dataset_dict.json", ["train"]),
        ": dataset_dict.json: not a JSON object" + DAMAGED,
    ),
    "index-without-splits": (
        "sft_with_eval",
        lambda d: write_json(d / "dataset_dict.json", {}),
        ": dataset_dict.json: no list of split names (splits)" + DAMAGED,
    ),
    "split-folder-gone": (
        "sft_with_eval",
        lambda d: shutil.rmtree(d / "eval"),
        ": dataset_dict.json names the split 'eval' but there is no folder eval/" + DAMAGED,
    ),
    "manifest-a-list": (
        "sft_data",
        lambda d: write_json(d / "dataprep.json", []),
        "/dataprep.json: the manifest is not a JSON object",
    ),
    "manifest-not-json": (
        "sft_data",
        lambda d: write_json(d / "dataprep.json", "{"),
        "/dataprep.json: unreadable manifest: ...",
    ),
    "manifest-without-tokenizer": (
        "sft_data",
        drop_tokenizer,
        "/dataprep.json: no tokenizer entry, so the model's tokenizer cannot be checked "
        "against the data" + DAMAGED,
    ),
    "manifest-tokenizer-a-string": (
        "sft_data",
        lambda d: edit_manifest(d, tokenizer="tiny"),
        '/dataprep.json: tokenizer: expected an object, got "tiny"' + DAMAGED,
    ),
    "manifest-template-a-string": (
        "sft_data",
        lambda d: edit_manifest(d, chat_template="chatml"),
        '/dataprep.json: chat_template: expected an object, got "chatml"' + DAMAGED,
    ),
    "manifest-packing-a-string": (
        "sft_data",
        lambda d: edit_manifest(d, packing="yes"),
        '/dataprep.json: packing: expected true or false, got "yes"' + DAMAGED,
    ),
    "manifest-kind-a-list": (
        "sft_data",
        lambda d: edit_manifest(d, kind=["sft"]),
        '/dataprep.json: kind: expected a string, got ["sft"]' + DAMAGED,
    ),
    "arrow-cut-short": (
        "sft_data",
        lambda d: next(d.glob("*.arrow")).write_bytes(b"ARROW1"),
        ": the prepared data cannot be opened (...",
    ),
    "state-not-json": (
        "sft_data",
        lambda d: write_json(d / "state.json", "{"),
        ": the prepared data cannot be opened (...",
    ),
    "tokens-are-strings": (
        "sft_data",
        string_tokens,
        ": the train split's column input_ids holds List(Value('string')), not lists of "
        "integers" + DAMAGED,
    ),
}


@pytest.fixture(params=sorted(CASES))
def damaged(request, tmp_path):
    source_fixture, damage, message = CASES[request.param]
    source = tmp_path / "source"
    shutil.copytree(request.getfixturevalue(source_fixture), source)
    folder = tmp_path / "data"
    shutil.copytree(source, folder)
    damage(folder)
    return folder, message


def expect(err, folder, message):
    line = err.strip().splitlines()[-1]
    if message.endswith("..."):
        assert line.startswith(f"error: {folder}{message[:-3]}"), line
        if "cannot be opened" in message:
            assert line.endswith(DAMAGED), line
    else:
        assert line == f"error: {folder}{message}"


@pytest.mark.parametrize("command", ["sft", "check"])
def test_a_damaged_folder_is_named_with_what_is_wrong(
    damaged, command, tmp_path, tiny_model, tiny_tokenizer, capsys
):
    folder, message = damaged
    if command == "sft":
        argv = ["sft", folder, "--model", tiny_model, "--tokenizer", tiny_tokenizer]
        argv += ["-o", tmp_path / "run"]
    else:
        config = tmp_path / "run.yaml"
        config.write_text("kind: sft\n")
        argv = ["check", config, "--data", folder]
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exited.value.code == 1, err
    expect(err, folder, message)
    assert not (tmp_path / "run").exists()
