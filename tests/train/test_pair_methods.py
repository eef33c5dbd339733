"""`train orpo`, `train simpo` and `train reward` refuse what `train dpo` refuses (data of
another kind, a tokenizer that is not the data's), and `train check` knows them."""

from __future__ import annotations

import pytest

from train.cli import main

METHODS = ["orpo", "simpo", "reward"]


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    return exited.value.code, capsys.readouterr()


@pytest.mark.parametrize("command", METHODS)
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("sft_data", "this is SFT data; train it with `train sft` (or prepare DPO data for `train {}`)"),
        ("kto_data", "this is KTO data; train it with `train kto` (or prepare DPO data for `train {}`)"),
    ],
)  # fmt: skip
def test_data_of_another_kind_is_a_usage_error(
    request, tmp_path, tiny_model, tiny_tokenizer, capsys, command, data, message
):
    path = request.getfixturevalue(data)
    argv = [command, path, "--model", tiny_model, "--tokenizer", tiny_tokenizer]
    code, out = run_cli([*argv, "-o", tmp_path / "run"], capsys)
    assert code == 2
    assert message.format(command) in out.err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", METHODS)
def test_a_model_with_another_tokenizer_is_refused(
    tmp_path, dpo_data, tiny_model, tiny_tokenizer, capsys, command
):
    from transformers import AutoTokenizer

    other = AutoTokenizer.from_pretrained(str(tiny_tokenizer))
    other.add_tokens(["<tool_call>"], special_tokens=True)
    other.save_pretrained(str(tmp_path / "other"))
    argv = [command, dpo_data, "--model", tiny_model, "--tokenizer", tmp_path / "other"]
    code, out = run_cli([*argv, "-o", tmp_path / "run"], capsys)
    assert code == 1
    assert f"is not the one {dpo_data} was prepared with" in out.err
    assert not (tmp_path / "run").exists()


def test_simpo_keeps_its_loss(tmp_path, dpo_data, tiny_model, tiny_tokenizer, capsys):
    argv = ["simpo", dpo_data, "--model", tiny_model, "--tokenizer", tiny_tokenizer]
    argv += ["-o", tmp_path / "run", "--set", "loss_type=hinge"]
    code, out = run_cli(argv, capsys)
    assert code == 2
    assert "--set: loss_type: `train simpo` trains the simpo loss, not 'hinge'" in out.err


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("orpo", "ok: train orpo, lora, learning_rate 8e-05, ORPOConfig accepts every key"),
        ("simpo", "ok: train simpo, lora, learning_rate 5e-05, CPOConfig accepts every key"),
        ("reward", "ok: train reward, lora, learning_rate 0.0001, RewardConfig accepts every key"),
    ],
)
def test_check_knows_the_methods(tmp_path, dpo_data, capsys, kind, expected):
    config = tmp_path / "run.yaml"
    config.write_text("max_steps: 3\n")
    code, out = run_cli(["check", config, "--kind", kind, "--data", dpo_data], capsys)
    assert code == 0 and expected in out.out
    code, out = run_cli(["check", config, "--kind", kind], capsys)
    assert code == 0 and expected in out.out
    # A config that says its kind is taken with the data it trains on.
    config.write_text(f"kind: {kind}\nmax_steps: 3\n")
    code, out = run_cli(["check", config, "--data", dpo_data], capsys)
    assert code == 0 and expected in out.out
