"""`train eval`: the figures equal an independent computation (the model's own loss per
document, TRL's own eval of the same run), answers are greedy continuations of the
data's own prompts, and data made for another tokenizer is refused."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from dataprep.contract import Manifest
from train.cli import main
from train.config import RunConfig
from train.evaluate import evaluate, format_report, split_sources

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def split_of(folder, name):
    loaded = datasets.load_from_disk(str(folder))
    return loaded[name] if isinstance(loaded, datasets.DatasetDict) else loaded


def documents_of(split):
    """(ids, labels) of every document, cut from the rows by seq_lengths."""
    for row in split:
        lengths = row.get("seq_lengths") or [len(row["input_ids"])]
        start = 0
        for length in lengths:
            yield (
                row["input_ids"][start : start + length],
                row["labels"][start : start + length],
            )
            start += length


def loss_by_hand(model, pieces):
    """Token-weighted mean of the model's own loss (transformers shifts the labels)."""
    total, tokens = 0.0, 0
    with torch.no_grad():
        for ids, labels in pieces:
            count = sum(1 for label in labels[1:] if label != -100)
            if count == 0:
                continue
            out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
            total += out.loss.item() * count
            tokens += count
    return total / tokens, tokens


@pytest.mark.parametrize(("data", "split"), [("sft_packed", "train"), ("sft_with_eval", "eval")])
def test_sft_loss_is_the_models_own_loss_per_document(request, tiny_model, data, split):
    folder = request.getfixturevalue(data)
    report = evaluate(str(tiny_model), folder, split=split, batch_size=3)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    expected, tokens = loss_by_hand(model, documents_of(split_of(folder, split)))
    figures = report["splits"][split]
    assert figures["tokens"] == tokens
    # Tight: the random tiny model is near uniform, so a wrong attention mask moves the
    # loss by about 1e-5 relative (the control below).
    assert figures["loss"] == pytest.approx(expected, rel=1e-6)
    assert figures["perplexity"] == pytest.approx(math.exp(expected), rel=1e-6)


def test_control_whole_packed_rows_give_another_loss(sft_packed, tiny_model):
    # The check above can fail: letting packed documents see each other changes the loss.
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    rows = [(r["input_ids"], r["labels"]) for r in split_of(sft_packed, "train")]
    per_document, _ = loss_by_hand(model, documents_of(split_of(sft_packed, "train")))
    whole_rows, _ = loss_by_hand(model, rows)
    assert abs(whole_rows - per_document) > 10 * 1e-6 * per_document


def test_an_adapter_is_scored_on_its_base(finished_run, sft_packed, tiny_model):
    report = evaluate(str(finished_run), sft_packed, batch_size=4)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    tuned = PeftModel.from_pretrained(base, str(finished_run)).eval()
    expected, _ = loss_by_hand(tuned, documents_of(split_of(sft_packed, "train")))
    assert report["adapter"] == str(finished_run)
    assert report["splits"]["train"]["loss"] == pytest.approx(expected, rel=1e-6)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model))  # peft changed the other
    plain, _ = loss_by_hand(base, documents_of(split_of(sft_packed, "train")))
    assert abs(plain - expected) > 1e-4  # the adapter was applied


ROOT = Path(__file__).resolve().parents[2]
# A few steps at a large rate: the adapter moves away from its base, checkpoints none.
SHORT = {
    "max_steps": 3,
    "learning_rate": 5e-3,
    "save_strategy": "no",
    "eval_strategy": "no",
    "logging_steps": 1,
    "disable_tqdm": True,
}


def short_run(**trl):
    return RunConfig(
        model=str(ROOT / "samples" / "tiny-model"),
        tokenizer=str(ROOT / "samples" / "tiny-tokenizer"),
        trl={**SHORT, **trl},
    )


def test_dpo_figures_equal_trls_own_eval_of_the_run(tmp_path, dpo_with_eval):
    from train.dpo import run_dpo

    trainer = run_dpo(dpo_with_eval, short_run(per_device_eval_batch_size=64), tmp_path / "run")
    theirs = trainer.evaluate()
    report = evaluate(str(tmp_path / "run"), dpo_with_eval, batch_size=5)
    ours = report["splits"]["eval"]
    assert "adapter switched off" in report["reference"]
    for key in (
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "logps/chosen",
        "logps/rejected",
    ):
        assert ours[key] == pytest.approx(theirs[f"eval_{key}"], rel=1e-4, abs=1e-6), key
    assert ours["loss"] == pytest.approx(theirs["eval_loss"], rel=1e-4)
    assert abs(ours["rewards/margins"]) > 1e-4  # the run moved away from its reference


def test_kto_figures_equal_trls_own_eval_of_the_run(tmp_path, kto_with_eval):
    from train.kto import run_kto

    eval_rows = len(split_of(kto_with_eval, "eval"))
    run = short_run(per_device_train_batch_size=eval_rows, per_device_eval_batch_size=eval_rows)
    trainer = run_kto(kto_with_eval, run, tmp_path / "run")
    theirs = trainer.evaluate()
    ours = evaluate(str(tmp_path / "run"), kto_with_eval, batch_size=eval_rows)["splits"]["eval"]
    for key in ("logps/chosen", "logps/rejected", "rewards/chosen", "rewards/rejected", "kl"):
        assert ours[key] == pytest.approx(theirs[f"eval_{key}"], rel=1e-4, abs=1e-6), key
    assert ours["desirable"] + ours["undesirable"] == eval_rows


def greedy_pairs(model, prompt, steps):
    """The model's likeliest and unlikeliest continuation of ``prompt``, token by token."""
    best, worst = [], []
    with torch.no_grad():
        for chosen, pick in ((best, torch.argmax), (worst, torch.argmin)):
            for _ in range(steps):
                logits = model(input_ids=torch.tensor([prompt + chosen])).logits[0, -1]
                chosen.append(int(pick(logits)))
    return best, worst


@pytest.mark.parametrize(("swap", "accuracy"), [(False, 1.0), (True, 0.0)])
def test_preference_accuracy_where_the_chosen_answer_is_likelier(
    tmp_path, tiny_model, make_by_hand, swap, accuracy
):
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    prompts = [[1, 87, 85, 290, 201], [1, 919, 201, 42], [1, 75, 291, 262, 2, 201]]
    columns = {"prompt_ids": [], "chosen_ids": [], "rejected_ids": []}
    for prompt in prompts:
        likely, unlikely = greedy_pairs(model, prompt, 6)
        if swap:
            likely, unlikely = unlikely, likely
        columns["prompt_ids"].append(prompt)
        columns["chosen_ids"].append(likely)
        columns["rejected_ids"].append(unlikely)
    folder = make_by_hand(tmp_path / "pairs", "dpo", columns)
    figures = evaluate(str(tiny_model), folder)["splits"]["train"]
    assert figures["logps/accuracy"] == accuracy
    assert "rewards/margins" not in figures  # a plain model: no reference, no rewards


def test_generations_are_greedy_continuations_of_the_datas_prompts(
    tmp_path, sft_with_eval, tiny_model, tokenizer
):
    out = tmp_path / "answers.jsonl"
    evaluate(
        str(tiny_model),
        sft_with_eval,
        generate=3,
        max_new_tokens=5,
        batch_size=2,  # prompts of other lengths in one batch: left padding
        generate_out=out,
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    stop = tokenizer.eos_token_id
    for record in records:
        assert set(record) == {"prompt", "reference", "generated", "source"}
        question = record["prompt"].split("what is ")[1].split("?")[0]
        a, b = (int(x) for x in question.split(" plus "))
        assert record["reference"].strip() == f"{a} plus {b} is {a + b}."
        assert record["prompt"].endswith("<|im_start|>assistant\n")
        ids = tokenizer(record["prompt"], add_special_tokens=False)["input_ids"]
        made = []
        with torch.no_grad():
            for _ in range(5):
                token = int(model(input_ids=torch.tensor([ids + made])).logits[0, -1].argmax())
                if token == stop:
                    break
                made.append(token)
        assert record["generated"] == tokenizer.decode(made, skip_special_tokens=True)
        assert record["source"].endswith("sft-eval.jsonl")


def manifest(sources=None, inputs=("a.jsonl",), eval_fraction=None):
    return Manifest.from_json(
        {
            "tokenizer": {},
            "inputs": [{"path": p} for p in inputs],
            "sources": sources,
            "eval_fraction": eval_fraction,
        }
    )


def source(name, rows=3, eval=False):
    return {"name": name, "rows_out": rows, "eval": eval}


@pytest.mark.parametrize(
    ("recorded", "split", "expected"),
    [
        (manifest(), "train", ["a.jsonl"]),
        (manifest(inputs=("a.jsonl", "b.jsonl")), "train", ["a.jsonl", "b.jsonl"]),
        (manifest([source("a"), source("b")]), "train", ["a", "b"]),
        (manifest([source("a"), source("held", eval=True)]), "train", ["a"]),
        (manifest([source("a"), source("held", eval=True)]), "eval", ["held"]),
        (manifest([source("a"), source("h", eval=True)], eval_fraction=0.1), "eval", ["h", "a"]),
        (manifest([source("a"), source("empty", rows=0)]), "train", ["a"]),
    ],
)
def test_which_sources_fed_a_split(recorded, split, expected):
    assert split_sources(recorded, split) == expected


def _two_sources(folder, kind):
    paths = []
    for name in ("one", "two"):
        if kind == "sft":
            rows = [
                {"messages": [{"role": "user", "content": f"{name} {i}?"},
                              {"role": "assistant", "content": f"{i} {name} " * (i + 1)}]}
                for i in range(6 if name == "one" else 9)
            ]  # fmt: skip
        else:
            rows = [
                {"prompt": [{"role": "user", "content": f"{name} {i}?"}],
                 "chosen": [{"role": "assistant", "content": f"{i} {name}."}],
                 "rejected": [{"role": "assistant", "content": f"no {name} {i * 7}"}]}
                for i in range(5 if name == "one" else 7)
            ]  # fmt: skip
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(str(path))
    return paths


def _prepare(inputs, tokenizer, folder, kind):
    from dataprep.prepare.pipeline import PrepareOptions, prepare

    options = {"pack": True} if kind == "sft" else {"kind": "dpo"}
    prepare(
        PrepareOptions(
            inputs=inputs, tokenizer=str(tokenizer), output=str(folder), max_length=256, **options
        )
    )
    return folder


@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_each_source_is_scored_apart(tmp_path, tiny_model, tiny_tokenizer, kind):
    """Two inputs prepared together (packed, for SFT: their documents share rows): each
    input's figures equal those of the same input prepared and evaluated alone."""
    inputs = _two_sources(tmp_path, kind)
    together = _prepare(inputs, tiny_tokenizer, tmp_path / "together", kind)
    report = evaluate(str(tiny_model), together)
    by_source = report["by_source"]["train"]
    assert set(by_source) == set(inputs)
    for i, path in enumerate(inputs):
        alone = _prepare([path], tiny_tokenizer, tmp_path / f"alone{i}", kind)
        want = evaluate(str(tiny_model), alone)["splits"]["train"]
        got = by_source[path]
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-5), (path, key)
    # The split's own figures count every document of both.
    counted = "documents" if kind == "sft" else "pairs"
    assert report["splits"]["train"][counted] == sum(f[counted] for f in by_source.values())
    table = format_report(report)
    assert all(f"train, source {path}" in table for path in inputs)


def test_data_without_document_sources_is_reported_per_split_and_says_why(
    tmp_path, tiny_model, tiny_tokenizer
):
    from dataprep.contract import DOCUMENT_SOURCES

    folder = _prepare(_two_sources(tmp_path, "sft"), tiny_tokenizer, tmp_path / "p", "sft")
    (folder / DOCUMENT_SOURCES).unlink()  # as prepared by an older dataprep
    report = evaluate(str(tiny_model), folder)
    assert report["by_source"] == {}
    assert any(
        "2 sources fed this split" in n and "records no document's source" in n
        for n in report["notes"]
    )


def test_cli_prints_the_table_and_writes_json(tmp_path, finished_run, sft_packed, capsys):
    out = tmp_path / "metrics.json"
    with pytest.raises(SystemExit) as exited:
        main(["eval", str(finished_run), "--data", str(sft_packed), "-o", str(out)])
    captured = capsys.readouterr()
    assert exited.value.code == 0, captured.err
    written = json.loads(out.read_text())
    figures = written["splits"]["train"]
    assert f"loss                 {figures['loss']:.4f}" in captured.out
    assert "perplexity" in captured.out
    assert figures["perplexity"] == pytest.approx(math.exp(figures["loss"]))
    assert "eval train" in captured.err  # the progress bar


@pytest.mark.parametrize(
    ("setup", "argv", "code", "message"),
    [
        ("none", ["--split", "eval"], 2, "has no eval split: pass --split train"),
        ("none", ["--batch-size", "0"], 2, "--batch-size 0: expected 1 or more"),
        ("other-tokenizer", [], 1, "is not the one"),
        ("empty-folder", [], 2, "neither an adapter (adapter_config.json) nor a model"),
        ("reward-model", [], 2, "is a reward model (`train reward`): train eval scores"),
    ],
)
def test_eval_refusals(
    tmp_path, sft_packed, tiny_model, tiny_tokenizer, capsys, setup, argv, code, message
):
    target = tiny_model
    if setup == "other-tokenizer":
        from transformers import AutoTokenizer

        target = tmp_path / "model"
        shutil.copytree(tiny_model, target)
        other = AutoTokenizer.from_pretrained(str(tiny_tokenizer))
        other.add_tokens(["<tool_call>"], special_tokens=True)
        other.save_pretrained(str(target))
    elif setup == "empty-folder":
        target = tmp_path / "nothing"
        target.mkdir()
    elif setup == "reward-model":
        target = tmp_path / "rm"
        shutil.copytree(tiny_model, target)
        (target / "train_config.yaml").write_text("# train reward d\nkind: reward\nmode: full\n")
    with pytest.raises(SystemExit) as exited:
        main(["eval", str(target), "--data", str(sft_packed), *argv])
    assert exited.value.code == code
    assert message in capsys.readouterr().err


def test_sft_runs_log_eval_perplexity(tmp_path, sft_with_eval):
    from train.sft import run_sft

    trainer = run_sft(
        sft_with_eval,
        short_run(max_steps=2, eval_strategy="steps", eval_steps=1),
        tmp_path / "run",
    )
    evals = [e for e in trainer.state.log_history if "eval_loss" in e]
    assert len(evals) == 2
    for entry in evals:
        assert entry["eval_perplexity"] == pytest.approx(math.exp(entry["eval_loss"]))


def test_nll_of_a_document_without_trained_tokens_is_not_counted():
    from train.evaluate import nll_metrics

    figures = nll_metrics(np.array([-3.0, 0.0]), np.array([2, 0]))
    assert (figures["documents"], figures["tokens"], figures["loss"]) == (2, 2, 1.5)
