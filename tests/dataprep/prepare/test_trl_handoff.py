"""A prepared folder goes to TRL 1.16's SFTTrainer as it is, and the loss is computed on
exactly the tokens whose labels we trained: nothing more, nothing less.

The reference losses are computed here from the model's logits (labels shifted as
transformers shifts them), and for packed rows from each document run on its own, so the
test also fails if documents in a packed row saw each other.
"""

from __future__ import annotations

import orjson
import pytest

from dataprep.prepare.pipeline import PrepareOptions, prepare

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tok_dir):
    """The same conversations prepared packed and unpacked."""
    folder = tmp_path_factory.mktemp("prepared")
    src = folder / "in.jsonl"
    with open(src, "wb") as f:
        for i in range(24):
            messages = [{"role": "system", "content": "be brief"}] if i % 3 == 0 else []
            for t in range(1 + i % 3):
                messages += [
                    {"role": "user", "content": f"question {i} {t} about the weather in paris"},
                    {"role": "assistant", "content": f"answer {i} {t}: sure here is a reply"},
                ]
            f.write(orjson.dumps({"messages": messages}) + b"\n")
    out = {}
    for pack in (True, False):
        options = PrepareOptions(
            inputs=[str(src)],
            tokenizer=tok_dir,
            max_length=192,
            output=str(folder / f"p{pack}"),
            pack=pack,
        )
        prepare(options)
        out[pack] = str(folder / f"p{pack}")
    return out


def tiny_model(vocab_size):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).float()


def make_trainer(tmp_path, folder, tok_dir, *, padding_free, dataset=None):
    import datasets
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    args = SFTConfig(
        output_dir=str(tmp_path / "run"),
        dataset_kwargs={"skip_prepare_dataset": True},
        padding_free=padding_free,
        max_length=None,
        use_cpu=True,
        report_to=[],
        per_device_train_batch_size=2,
        max_steps=2,
        logging_steps=1,
        save_strategy="no",
        seed=0,
        dataloader_num_workers=0,
        activation_checkpointing=False,  # SFTConfig's default sets the deprecated alias (a FutureWarning)
    )
    train = dataset if dataset is not None else datasets.load_from_disk(folder)
    model = tiny_model(len(tokenizer))
    return SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)


def first_batch(trainer):
    batch = next(iter(trainer.get_train_dataloader()))
    return {k: v.to("cpu") if hasattr(v, "to") else v for k, v in batch.items()}


def masked_loss(logits, labels):
    """Mean cross-entropy over positions whose (shifted) label is not -100."""
    logits = logits[..., :-1, :].reshape(-1, logits.size(-1)).float()
    targets = labels[..., 1:].reshape(-1)
    keep = targets != -100
    return torch.nn.functional.cross_entropy(
        logits[keep], targets[keep].long(), reduction="sum"
    ), int(keep.sum())


def trainer_loss(trainer, batch):
    trainer.model.eval()  # no dropout; same maths
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, dict(batch)))


def test_packed_rows_train_exactly_the_labelled_tokens_of_each_document(
    tmp_path, prepared, tok_dir
):
    import datasets

    trainer = make_trainer(tmp_path, prepared[True], tok_dir, padding_free=True)
    batch = first_batch(trainer)
    assert batch["input_ids"].shape[0] == 1 and "position_ids" in batch  # padding-free
    got = trainer_loss(trainer, batch)

    # Reference: every document of the batch's rows run ALONE, loss over its own labels.
    ds = list(datasets.load_from_disk(prepared[True]))
    flat_ids = batch["input_ids"][0].tolist()
    rows = []
    while flat_ids:  # the sampler shuffles: find which rows were flattened into the batch
        row = next(r for r in ds if flat_ids[: len(r["input_ids"])] == r["input_ids"])
        rows.append(row)
        flat_ids = flat_ids[len(row["input_ids"]) :]
    assert len(rows) == 2
    total, count = torch.zeros(()), 0
    with torch.no_grad():
        for row in rows:
            start = 0
            for n in row["seq_lengths"]:
                ids = torch.tensor([row["input_ids"][start : start + n]])
                labels = torch.tensor([row["labels"][start : start + n]])
                s, c = masked_loss(trainer.model(input_ids=ids).logits, labels)
                total, count = total + s, count + c
                start += n
    assert count == sum(sum(1 for x in r["labels"][1:] if x != -100) for r in rows)
    assert got == pytest.approx(float(total / count), abs=1e-5)


def test_loss_over_exactly_k_labelled_positions(tmp_path, prepared, tok_dir):
    import datasets

    ds = datasets.load_from_disk(prepared[True]).select(range(2))
    k_positions = [[5, 17, 40], [3, 9]]

    def keep_k(row, idx):
        labels = [-100] * len(row["input_ids"])
        for p in k_positions[idx]:
            labels[p] = row["input_ids"][p]
        return {"labels": labels}

    for row, positions in zip(ds, k_positions, strict=True):
        starts = {sum(row["seq_lengths"][:i]) for i in range(len(row["seq_lengths"]))}
        assert not starts & set(positions)  # the collator masks document starts itself

    only_k = ds.map(keep_k, with_indices=True)
    trainer = make_trainer(tmp_path, None, tok_dir, padding_free=True, dataset=only_k)
    batch = first_batch(trainer)
    got = trainer_loss(trainer, batch)
    with torch.no_grad():
        logits = (
            trainer.model(input_ids=batch["input_ids"], position_ids=batch["position_ids"])
            .logits[0]
            .float()
        )
    flat = batch["input_ids"][0]
    first, second = (
        (0, 1) if flat[: len(ds[0]["input_ids"])].tolist() == ds[0]["input_ids"] else (1, 0)
    )
    offsets = {first: 0, second: len(ds[first]["input_ids"])}
    # Position p of a row is predicted by the logits one position before it.
    terms = []
    for idx, positions in enumerate(k_positions):
        for p in positions:
            row_offset = offsets[idx]
            at = row_offset + p
            terms.append(
                torch.nn.functional.cross_entropy(logits[at - 1][None], flat[at][None].long())
            )
    assert len(terms) == 5
    assert got == pytest.approx(float(torch.stack(terms).mean()), abs=1e-5)


def test_unpacked_rows_padded_batch(tmp_path, prepared, tok_dir):
    trainer = make_trainer(tmp_path, prepared[False], tok_dir, padding_free=False)
    batch = first_batch(trainer)
    assert batch["input_ids"].shape[0] == 2 and "attention_mask" in batch
    got = trainer_loss(trainer, batch)
    with torch.no_grad():
        logits = trainer.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
    # Padding carries label -100: only our labels count.
    s, c = masked_loss(logits, batch["labels"])
    assert c > 0 and got == pytest.approx(float(s / c), abs=1e-5)


@pytest.mark.parametrize("pack", [True, False])
def test_trainer_runs_two_steps_on_int32_columns(tmp_path, prepared, tok_dir, pack):
    import datasets

    assert (
        str(datasets.load_from_disk(prepared[pack]).features["input_ids"].feature.dtype) == "int32"
    )
    trainer = make_trainer(tmp_path, prepared[pack], tok_dir, padding_free=pack)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(0 < x < 100 for x in losses)
