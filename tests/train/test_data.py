"""Prepared data and its manifest: the tokenizer hash, and the refusals that keep a run
from training on data made for another model or for the other trainer."""

from __future__ import annotations

import json
import shutil

import pytest

from dataprep.errors import TrainError, UsageError
from train.cli import main
from train.data import (
    check_tokenizer,
    load_prepared,
    template_note,
    tokenizer_sha256,
    vocab_sha256,
)


def resaved(folder, tiny_tokenizer):
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(tiny_tokenizer)).save_pretrained(str(folder))


def pad_changed(folder, tiny_tokenizer):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer))
    tokenizer.pad_token, tokenizer.padding_side = "<|im_end|>", "left"
    tokenizer.save_pretrained(str(folder))


def edit_json(change, indent=None):
    def edit(folder, tiny_tokenizer):
        shutil.copytree(tiny_tokenizer, folder)
        spec = json.loads((folder / "tokenizer.json").read_text())
        change(spec)
        (folder / "tokenizer.json").write_text(json.dumps(spec, indent=indent))

    return edit


def token_added(folder, tiny_tokenizer):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer))
    tokenizer.add_tokens(["<tool_call>"], special_tokens=True)
    tokenizer.save_pretrained(str(folder))


@pytest.mark.parametrize(
    ("make", "accepted"),
    [
        (resaved, True),  # a save_pretrained round trip: other config bytes, same vocabulary
        (pad_changed, True),  # tokenizer_config.json settings do not change ids
        (edit_json(lambda spec: None, indent=4), True),  # reformatted
        (token_added, False),
        (edit_json(lambda spec: spec["model"]["vocab"].update({"zzz": 99999})), False),
        (edit_json(lambda spec: spec["model"]["vocab"].update({"<|im_end|>": 5})), False),
    ],
)
def test_the_same_tokenizer_is_the_same_files_or_the_same_vocabulary(
    tmp_path, sft_packed, tiny_tokenizer, make, accepted
):
    from transformers import AutoTokenizer

    make(tmp_path / "tok", tiny_tokenizer)
    data = load_prepared(sft_packed, kind="sft")
    candidate = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    if accepted:
        check_tokenizer(data, tmp_path / "tok", candidate)
    else:
        with pytest.raises(TrainError, match="its vocabulary differs"):
            check_tokenizer(data, tmp_path / "tok", candidate)


def test_hashes_agree_with_what_prepare_records(sft_packed, tiny_tokenizer, tokenizer):
    recorded = json.loads((sft_packed / "dataprep.json").read_text())["tokenizer"]
    assert tokenizer_sha256(tiny_tokenizer) == recorded["sha256"]
    assert vocab_sha256(tokenizer) == recorded["vocab_sha256"]


def manifest_edit(path, **changes):
    manifest = json.loads((path / "dataprep.json").read_text())
    manifest.update(changes)
    (path / "dataprep.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("setup", "kind", "error", "message"),
    [
        (
            "sft",
            "dpo",
            UsageError,
            "this is SFT data; train it with `train sft` (or prepare DPO data for `train dpo`)",
        ),
        ("dpo", "sft", UsageError, "this is DPO data; train it with `train dpo`"),
        (
            "no-manifest",
            "sft",
            TrainError,
            "not a prepared folder (no dataprep.json); make one with `dataprep prepare`",
        ),
        (
            "packed-without-lengths",
            "sft",
            TrainError,
            "the manifest says the data is packed but there is no seq_lengths column",
        ),
        (
            "kind-contradicts-columns",
            "sft",
            TrainError,
            "the manifest says dpo but the columns (input_ids, labels) are sft data",
        ),
        ("missing-labels", "sft", TrainError, "the train split has no column labels"),
        ("nowhere", "sft", UsageError, "no such folder"),
    ],
)
def test_prepared_data_refusals(
    tmp_path, make_by_hand, sft_data, dpo_data, setup, kind, error, message
):
    path = tmp_path / "data"
    rows = {"input_ids": [[1, 5, 6, 2], [1, 7, 2]], "labels": [[-100, 5, 6, 2], [-100, 7, 2]]}
    if setup == "dpo":
        path = dpo_data
    elif setup == "sft":
        path = sft_data
    elif setup == "missing-labels":
        make_by_hand(path, "sft", {"input_ids": rows["input_ids"]})
    elif setup != "nowhere":
        make_by_hand(path, "sft", rows)
    if setup == "no-manifest":
        (path / "dataprep.json").unlink()
    if setup == "packed-without-lengths":
        manifest_edit(path, packing=True)
    if setup == "kind-contradicts-columns":
        manifest_edit(path, kind="dpo")
    with pytest.raises(error) as caught:
        load_prepared(path, kind=kind)
    assert message in str(caught.value)


def test_a_split_dataset_opens_with_its_eval_split(sft_with_eval):
    data = load_prepared(sft_with_eval, kind="sft")
    assert (len(data.train) + len(data.eval), data.packed) == (64, False)
    assert 0 < len(data.eval) < len(data.train)


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    return exited.value.code, capsys.readouterr().err


def test_a_model_with_another_tokenizer_is_refused(
    tmp_path, sft_packed, tiny_model, tiny_tokenizer, capsys
):
    token_added(tmp_path / "other", tiny_tokenizer)
    code, err = run_cli(
        [
            "sft",
            sft_packed,
            "--model",
            tiny_model,
            "--tokenizer",
            tmp_path / "other",
            "-o",
            tmp_path / "run",
        ],
        capsys,
    )
    assert code == 1
    assert "its vocabulary differs" in err
    assert (
        f"error: the tokenizer in {tmp_path / 'other'} is not the one {sft_packed} was prepared with"
        in err
    )
    assert (
        "Prepare the data with this model's tokenizer, or pass the right one with --tokenizer"
        in err
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("command", "data"), [("dpo", "sft_packed"), ("sft", "dpo_data")])
def test_the_wrong_trainer_is_a_usage_error(
    request, tmp_path, tiny_model, tiny_tokenizer, capsys, command, data
):
    path = request.getfixturevalue(data)
    code, err = run_cli(
        [
            command,
            path,
            "--model",
            tiny_model,
            "--tokenizer",
            tiny_tokenizer,
            "-o",
            tmp_path / "run",
        ],
        capsys,
    )
    assert code == 2
    assert "train it with `train" in err


@pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)  # peft, on wrapping
def test_a_model_folder_without_tokenizer_uses_the_datas(tmp_path, sft_packed, tiny_model, capsys):
    code, err = run_cli(
        ["sft", sft_packed, "--model", tiny_model, "-o", tmp_path / "run", "--set", "max_steps=1"],
        capsys,
    )
    assert code == 0, err
    assert "has no tokenizer; using" in err and (tmp_path / "run" / "tokenizer.json").is_file()


def test_a_model_too_small_for_the_tokenizer_is_refused(
    tmp_path, sft_packed, tiny_model, tiny_tokenizer, capsys
):
    shutil.copytree(tiny_model, tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["vocab_size"] = 100
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    code, err = run_cli(
        [
            "sft",
            sft_packed,
            "--model",
            tmp_path / "model",
            "--tokenizer",
            tiny_tokenizer,
            "-o",
            tmp_path / "run",
        ],
        capsys,
    )
    assert code == 1
    assert "embeds 100 tokens but the tokenizer has" in err


@pytest.mark.parametrize(("template", "noted"), [(None, False), ("chatml", True)])
def test_a_template_other_than_the_tokenizers_is_noted(
    tmp_path, prepare_conversations, tokenizer, template, noted
):
    folder = prepare_conversations(tmp_path / "data", 4, chat_template=template)
    note = template_note(load_prepared(folder, kind="sft"), tokenizer)
    assert (note is not None) is noted
    if noted:
        assert "rendered with the chat template 'chatml', not the tokenizer's own" in note
