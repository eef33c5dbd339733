"""``train eval RUN_OR_MODEL --data DIR``: what a model makes of prepared data, beyond
the training loss.

    train eval run/ --data prepared/ [--split eval|train|all] [-o metrics.json]
                    [--generate N [--max-new-tokens 256] [--generate-out FILE]]

RUN_OR_MODEL is a ``train`` output (an adapter folder: its base with the adapter; a
full model folder) or any model folder or cached model. The data's tokenizer is checked
against the model's as ``train sft`` checks it (``train.run.load_data_and_tokenizer``).

- SFT data: the token-level negative log-likelihood over the trained tokens (labels not
  -100), each packed document scored on its own (attention never crosses documents),
  as loss and perplexity per split, and per source where the data says the source.
- DPO data: the summed log-probability of each answer after its prompt; preference
  accuracy (chosen likelier than rejected) and, with a reference model, TRL's implicit
  rewards (``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``,
  ``rewards/accuracies``) and the sigmoid DPO loss. The reference of an adapter is its
  base with the adapter switched off; of a full DPO run, the model it started from
  (``train_config.yaml``), or ``--reference``.
- KTO data: log-probabilities of desirable and undesirable answers; with a reference,
  their rewards and the KL estimate (each prompt with its neighbour's answer, as KTO
  pairs them; ``train.kto.kl_sources``, in batches of ``--batch-size``).

Every figure is a mean over the split's pairs or answers (the SFT loss over its trained
tokens). TRL's eval log averages per-batch means instead, which differs when batches
hold unequal token counts or unequal numbers of each KTO label; with the whole split in
one batch the two agree (``tests/train/test_eval.py`` holds them equal).

Per source: where more than one source fed the data, prepare records each document's
source beside the rows (``document_sources.npy``, indexes into the manifest's sources or
inputs), and every figure is also given for each source apart; data with one source is
that source's; data prepared before that record existed is reported per split, saying so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dataprep.contract import DOCUMENT_SOURCES, IGNORE_INDEX, Manifest
from dataprep.errors import UsageError
from train import say
from train.card import read_run_config
from train.data import PreparedData, has_tokenizer
from train.generation import progress
from train.machine import local_folder

# DPO's beta when the run's config does not say it (TRL 1.16's DPOConfig and KTOConfig).
DEFAULT_BETA = 0.1
PREFERENCE_KINDS = ("dpo", "kto")
Sequences = list[tuple[np.ndarray, np.ndarray]]  # (token ids, which positions are scored)


@dataclass
class Target:
    """What ``train eval`` was pointed at, resolved: the model that loads (for an adapter,
    its base), the adapter, the tokenizer folder, the run's config and a reference."""

    name: str
    model: str
    adapter: Path | None = None
    tokenizer: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    reference: str | None = None


def resolve_target(name: str, *, base: str | None = None, reference: str | None = None) -> Target:
    """The model ``name`` names: an adapter folder (``adapter_config.json``), a model
    folder (``config.json``) or a cached model. Raises UsageError for anything else."""
    folder = local_folder(name)
    if folder is None:
        raise UsageError(f"{name}: no such folder, and not a cached model")
    config, _ = read_run_config(folder)
    if config.get("kind") == "reward":
        raise UsageError(
            f"{name} is a reward model (`train reward`): train eval scores language models; "
            "a reward model's own eval (accuracy of its scores) is in its training log"
        )
    tokenizer = str(folder) if has_tokenizer(folder) else None
    adapter_config = folder / "adapter_config.json"
    if adapter_config.is_file():
        try:
            settings = json.loads(adapter_config.read_bytes())
        except (OSError, ValueError, RecursionError) as e:
            raise UsageError(f"{adapter_config}: unreadable: {e}") from None
        found = settings.get("base_model_name_or_path") if isinstance(settings, dict) else None
        base = base or found or config.get("model")
        if not isinstance(base, str) or not base:
            raise UsageError(f"{adapter_config} does not name its base model: pass --base PATH")
        return Target(name, base, folder, tokenizer, config, reference)
    if not (folder / "config.json").is_file():
        raise UsageError(
            f"{name}: neither an adapter (adapter_config.json) nor a model (config.json)"
        )
    started_from = config.get("model")
    if (
        reference is None
        and config.get("mode") == "full"
        and config.get("kind") in PREFERENCE_KINDS
        and isinstance(started_from, str)
        and local_folder(started_from) is not None
    ):
        reference = started_from  # the frozen copy a full DPO/KTO run compared against
    return Target(name, str(folder), None, tokenizer, config, reference)


def load_eval_model(target: Target, tokenizer: Any, device: str) -> Any:
    """The target's model, in eval mode on ``device``, in the compute dtype (bf16 on a
    GPU that has it, fp32 on the CPU); an adapter loaded onto its base (a QLoRA adapter
    onto the unquantized base)."""
    from train.models import compute_dtype

    model = load_causal_lm(target.model, compute_dtype(device), len(tokenizer))
    if target.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(target.adapter))
    return model.to(device).eval()


def load_causal_lm(name: str, dtype: Any, vocab_size: int) -> Any:
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
    except (OSError, ValueError) as e:
        raise UsageError(f"{name}: cannot load a causal language model: {e}") from None
    if vocab_size > model.get_input_embeddings().num_embeddings:
        # Tokens prepare added for the chat template: the adapter holds their rows.
        model.resize_token_embeddings(vocab_size)
    return model


# --- scoring ---------------------------------------------------------------------------


def score(
    model: Any,
    lengths: np.ndarray,
    fetch: Callable[[np.ndarray], Sequences],
    *,
    batch_size: int,
    device: str,
    desc: str,
) -> tuple[np.ndarray, np.ndarray]:
    """For each sequence, the sum of ``log p(token | the tokens before it)`` over its
    scored positions, and how many there are (the first token of a sequence has nothing
    before it and is never scored).

    Sequences are batched longest first (less padding), padded on the right; the
    log-softmax is taken in fp32 on the scored positions only.
    """
    import torch

    count = len(lengths)
    sums = np.zeros(count, dtype=np.float64)
    counts = np.zeros(count, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    batches = range(0, count, batch_size)
    with progress(len(batches), desc) as bar, torch.no_grad():
        for start in batches:
            index = order[start : start + batch_size]
            sequences = fetch(index)
            width = max(len(ids) for ids, _ in sequences)
            ids = torch.zeros((len(sequences), width), dtype=torch.long)
            attention = torch.zeros((len(sequences), width), dtype=torch.long)
            scored = torch.zeros((len(sequences), width), dtype=torch.bool)
            for row, (tokens, mask) in enumerate(sequences):
                ids[row, : len(tokens)] = torch.as_tensor(tokens, dtype=torch.long)
                attention[row, : len(tokens)] = 1
                scored[row, : len(tokens)] = torch.as_tensor(mask, dtype=torch.bool)
            ids, attention, scored = ids.to(device), attention.to(device), scored.to(device)
            logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1]
            targets, where = ids[:, 1:], scored[:, 1:]
            picked = torch.log_softmax(logits[where].float(), dim=-1)
            token_logps = picked.gather(1, targets[where].unsqueeze(1)).squeeze(1)
            rows = where.nonzero()[:, 0]
            per_row = torch.zeros(len(sequences), dtype=torch.float64, device=device)
            per_row.index_add_(0, rows, token_logps.double())
            sums[index] = per_row.cpu().numpy()
            counts[index] = where.sum(dim=1).cpu().numpy()
            bar.update(1)
    return sums, counts


def sft_documents(split: Any) -> np.ndarray:
    """One row per document of an SFT split: (row, start, length); a packed row holds
    several (``seq_lengths``)."""
    import pyarrow.compute as pc

    table = split.with_format("arrow")
    if "seq_lengths" in split.column_names:
        per_row = table["seq_lengths"].to_pylist()
    else:
        per_row = [[n] for n in pc.list_value_length(table["input_ids"]).to_pylist()]
    documents = []
    for row, lengths in enumerate(per_row):
        start = 0
        for length in lengths:
            documents.append((row, start, length))
            start += length
    return np.asarray(documents, dtype=np.int64).reshape(-1, 3)


def sft_fetch(split: Any, documents: np.ndarray) -> Callable[[np.ndarray], Sequences]:
    columns = split.select_columns(["input_ids", "labels"])

    def fetch(index: np.ndarray) -> Sequences:
        rows = sorted({int(r) for r in documents[index, 0]})
        got = columns[rows]
        where = {row: i for i, row in enumerate(rows)}
        out = []
        for row, start, length in documents[index]:
            i = where[int(row)]
            ids = np.asarray(got["input_ids"][i][start : start + length])
            labels = np.asarray(got["labels"][i][start : start + length])
            out.append((ids, labels != IGNORE_INDEX))
        return out

    return fetch


def answer_fetch(
    split: Any, answers: list[str], sources: list[np.ndarray]
) -> Callable[[np.ndarray], Sequences]:
    """Sequences prompt + answer, scored on the answer: sequence ``k`` of answer column
    ``k // n`` (``answers``) with the prompt of row ``k % n`` and the answer of row
    ``sources[k // n][k % n]``."""
    n = len(split)

    def fetch(index: np.ndarray) -> Sequences:
        out = []
        for k in index:
            column, row = divmod(int(k), n)
            prompt = split[row]["prompt_ids"]
            answer = split[int(sources[column][row])][answers[column]]
            ids = np.asarray(prompt + answer)
            out.append((ids, np.arange(len(ids)) >= len(prompt)))
        return out

    return fetch


def answer_lengths(split: Any, answers: list[str], sources: list[np.ndarray]) -> np.ndarray:
    import pyarrow.compute as pc

    table = split.with_format("arrow")
    prompt = pc.list_value_length(table["prompt_ids"]).to_numpy()
    parts = []
    for column, source in zip(answers, sources, strict=True):
        parts.append(prompt + pc.list_value_length(table[column]).to_numpy()[source])
    return np.concatenate(parts)


# --- metrics ---------------------------------------------------------------------------


def nll_metrics(sums: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
    """Loss (mean NLL per scored token) and perplexity of a set of documents.

    >>> nll_metrics(np.array([-2.0, -4.0]), np.array([1, 3]))
    {'documents': 2, 'tokens': 4, 'loss': 1.5, 'perplexity': 4.4816890703380645}
    """
    tokens = int(counts.sum())
    loss = float(-sums.sum() / tokens) if tokens else math.nan
    return {
        "documents": len(sums),
        "tokens": tokens,
        "loss": loss,
        "perplexity": math.exp(loss) if math.isfinite(loss) and loss < 700 else math.inf,
    }


def dpo_metrics(
    chosen: np.ndarray,
    rejected: np.ndarray,
    ref_chosen: np.ndarray | None,
    ref_rejected: np.ndarray | None,
    beta: float,
) -> dict[str, Any]:
    """Preference figures of pairs from summed log-probabilities, named as TRL names them.

    >>> m = dpo_metrics(np.array([-1.0, -5.0]), np.array([-3.0, -4.0]), None, None, 0.1)
    >>> m["logps/accuracy"], m["logps/chosen"]
    (0.5, -3.0)
    """
    out: dict[str, Any] = {
        "pairs": len(chosen),
        "logps/accuracy": float(np.mean(chosen > rejected)),
        "logps/chosen": float(np.mean(chosen)),
        "logps/rejected": float(np.mean(rejected)),
    }
    if ref_chosen is None or ref_rejected is None:
        return out
    chosen_rewards = beta * (chosen - ref_chosen)
    rejected_rewards = beta * (rejected - ref_rejected)
    margins = chosen_rewards - rejected_rewards
    out.update(
        {
            "rewards/chosen": float(np.mean(chosen_rewards)),
            "rewards/rejected": float(np.mean(rejected_rewards)),
            "rewards/margins": float(np.mean(margins)),
            "rewards/accuracies": float(np.mean(chosen_rewards > rejected_rewards)),
            "loss": float(np.mean(np.logaddexp(0.0, -margins))),  # -log sigmoid(margin)
        }
    )
    return out


def kto_metrics(
    logps: np.ndarray,
    labels: np.ndarray,
    ref_logps: np.ndarray | None,
    kl_logps: np.ndarray | None,
    ref_kl_logps: np.ndarray | None,
    beta: float,
) -> dict[str, Any]:
    """KTO's figures, named as TRL names them: ``chosen`` is desirable, ``rejected``
    undesirable; ``kl`` the clamped mean log-ratio on mismatched prompt/answer pairs."""
    desirable, undesirable = labels, ~labels

    def mean(values: np.ndarray) -> float | None:
        return float(np.mean(values)) if len(values) else None

    out: dict[str, Any] = {
        "answers": len(logps),
        "desirable": int(desirable.sum()),
        "undesirable": int(undesirable.sum()),
        "logps/chosen": mean(logps[desirable]),
        "logps/rejected": mean(logps[undesirable]),
    }
    if ref_logps is None or kl_logps is None or ref_kl_logps is None:
        return out
    rewards = beta * (logps - ref_logps)
    chosen, rejected = mean(rewards[desirable]), mean(rewards[undesirable])
    out.update(
        {
            "rewards/chosen": chosen,
            "rewards/rejected": rejected,
            "rewards/margins": chosen - rejected
            if chosen is not None and rejected is not None
            else None,
            "kl": max(float(np.mean(kl_logps - ref_kl_logps)), 0.0),
        }
    )
    return out


# --- per split -------------------------------------------------------------------------


@dataclass
class Scorer:
    """Scores sequences with the model, and with its reference when there is one."""

    model: Any
    reference: Any | None  # a second model; None with an adapter (its base is the reference)
    has_reference: bool
    batch_size: int
    device: str

    def policy(
        self, lengths: np.ndarray, fetch: Callable, desc: str
    ) -> tuple[np.ndarray, np.ndarray]:
        return score(
            self.model, lengths, fetch, batch_size=self.batch_size, device=self.device, desc=desc
        )

    def ref(self, lengths: np.ndarray, fetch: Callable, desc: str) -> np.ndarray | None:
        if not self.has_reference:
            return None
        if self.reference is not None:
            model, context = self.reference, _nothing()
        else:
            model, context = self.model, self.model.disable_adapter()
        with context:
            sums, _ = score(
                model, lengths, fetch, batch_size=self.batch_size, device=self.device, desc=desc
            )
        return sums


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def evaluate_split(
    kind: str,
    split: Any,
    name: str,
    scorer: Scorer,
    beta: float,
    groups: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """The split's figures, and with ``groups`` (each document's source index, in the
    order the rows hold the documents) the same figures for each source apart."""
    if kind == "sft":
        documents = sft_documents(split)
        sums, counts = scorer.policy(documents[:, 2], sft_fetch(split, documents), f"eval {name}")

        def figures(keep: Any) -> dict[str, Any]:
            return nll_metrics(sums[keep], counts[keep])

    elif kind == "dpo":
        n = len(split)
        same = np.arange(n)
        answers, sources = ["chosen_ids", "rejected_ids"], [same, same]
        lengths = answer_lengths(split, answers, sources)
        fetch = answer_fetch(split, answers, sources)
        sums, _ = scorer.policy(lengths, fetch, f"eval {name}")
        ref = scorer.ref(lengths, fetch, f"reference {name}")

        def figures(keep: Any) -> dict[str, Any]:
            return dpo_metrics(
                sums[:n][keep],
                sums[n:][keep],
                None if ref is None else ref[:n][keep],
                None if ref is None else ref[n:][keep],
                beta,
            )

    else:
        from train.kto import kl_sources

        # Each prompt with its neighbour's answer, rotated within batches as KTO pairs them.
        n = len(split)
        answers = ["completion_ids", "completion_ids"]
        sources = [np.arange(n), kl_sources(n, scorer.batch_size)]
        if not scorer.has_reference:
            answers, sources = answers[:1], sources[:1]
        lengths = answer_lengths(split, answers, sources)
        fetch = answer_fetch(split, answers, sources)
        sums, _ = scorer.policy(lengths, fetch, f"eval {name}")
        ref = scorer.ref(lengths, fetch, f"reference {name}")
        labels = np.asarray(split.with_format("arrow")["label"].to_pylist(), dtype=bool)

        def figures(keep: Any) -> dict[str, Any]:
            return kto_metrics(
                sums[:n][keep],
                labels[keep],
                None if ref is None else ref[:n][keep],
                sums[n:][keep] if ref is not None else None,
                None if ref is None else ref[n:][keep],
                beta,
            )

    by_group: dict[int, dict[str, Any]] = {}
    documents = len(sums) if kind == "sft" else n
    if groups is not None and len(groups) == documents:  # else damaged: not used
        for group in np.unique(groups):
            by_group[int(group)] = figures(groups == group)
    return figures(slice(None)), by_group


def document_sources(data: PreparedData, split: str) -> tuple[np.ndarray | None, list[str]]:
    """Each document's source index in ``split`` (as its rows hold the documents), and the
    names the indexes stand for; (None, []) where prepare recorded none (one source)."""
    from dataprep.contract import read_document_sources

    manifest = data.manifest
    if manifest.document_sources is None:
        return None, []
    groups = read_document_sources(data.path, split)
    if manifest.document_sources == "sources":
        names = [s.name for s in manifest.sources or ()]
    else:
        names = [item.path for item in manifest.inputs]
    if groups is None or (len(groups) and int(groups.max()) >= len(names)):
        return None, []
    return groups, names


def split_sources(manifest: Manifest, split: str) -> list[str]:
    """The sources that fed ``split``, as far as the manifest tells: a recipe's sources
    (eval-only ones feed only the eval split; the others feed train, and eval when an
    eval fraction was held out), else the input files."""
    if manifest.sources:
        eval_only = [s.name for s in manifest.sources if s.eval and s.rows_out]
        regular = [s.name for s in manifest.sources if not s.eval and s.rows_out]
        if split == "train":
            return regular
        return eval_only + (regular if manifest.eval_fraction else [])
    return list(dict.fromkeys(item.path for item in manifest.inputs))


def choose_splits(data: PreparedData, split: str | None) -> dict[str, Any]:
    if split == "all":
        return {"train": data.train, **({"eval": data.eval} if data.eval is not None else {})}
    if split == "eval" or (split is None and data.eval is not None):
        if data.eval is None:
            raise UsageError(f"{data.path} has no eval split: pass --split train")
        return {"eval": data.eval}
    return {"train": data.train}


# --- the command -----------------------------------------------------------------------


def evaluate(
    target_name: str,
    data_dir: str | Path,
    *,
    split: str | None = None,
    batch_size: int = 8,
    base: str | None = None,
    reference: str | None = None,
    generate: int = 0,
    max_new_tokens: int = 256,
    generate_out: str | Path | None = None,
    output: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate ``target_name`` on the prepared data in ``data_dir``; returns the report
    (what ``-o`` writes as JSON) and writes the generations when ``generate``."""
    from train import machine
    from train.config import RunConfig
    from train.data import load_prepared
    from train.run import load_data_and_tokenizer

    if batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: expected 1 or more")
    target = resolve_target(target_name, base=base, reference=reference)
    kind = load_prepared(data_dir, kind=None).kind
    run = RunConfig(model=target.model, tokenizer=target.tokenizer)
    data, tokenizer = load_data_and_tokenizer(data_dir, run, kind=kind)
    splits = choose_splits(data, split)
    device = machine.device_type()
    model = load_eval_model(target, tokenizer, device)
    notes: list[str] = []
    beta = DEFAULT_BETA
    reference_model, reference_name = None, None
    if kind in PREFERENCE_KINDS:
        if isinstance(target.config.get("beta"), (int, float)):
            beta = float(target.config["beta"])
            notes.append(f"beta {beta:g}, from the run's train_config.yaml")
        else:
            notes.append(f"beta {beta:g} (TRL's default; the target records none)")
        loss_type = target.config.get("loss_type")
        if kind == "dpo" and loss_type not in (None, "sigmoid", ["sigmoid"]):
            notes.append(
                f"the run trained with loss_type {loss_type}; the loss here is DPO's sigmoid "
                "loss (the rewards and accuracies do not depend on it)"
            )
        if target.reference is not None:
            from train.models import compute_dtype

            reference_model = (
                load_causal_lm(target.reference, compute_dtype(device), len(tokenizer))
                .to(device)
                .eval()
            )
            reference_name = target.reference
        elif target.adapter is not None:
            reference_name = f"{target.model} (the base, adapter switched off)"
        else:
            notes.append(
                "no reference model (pass --reference MODEL): rewards and KL are not computed"
            )
    scorer = Scorer(model, reference_model, reference_name is not None, batch_size, device)
    say(
        f"eval of {target_name} on {data.path} ({kind}, {' and '.join(splits)} split"
        f"{'s' if len(splits) > 1 else ''}), {device}"
    )
    report: dict[str, Any] = {
        "target": target_name,
        "model": target.model,
        "adapter": str(target.adapter) if target.adapter else None,
        "reference": reference_name,
        "data": str(data.path),
        "kind": kind,
        "splits": {},
        "by_source": {},
        "notes": notes,
        "manifest_sources": [
            {
                "name": s.name,
                "eval": s.eval,
                "rows": s.rows_out,
                "tokens": s.tokens,
                "trainable_tokens": s.trainable_tokens,
            }
            for s in data.manifest.sources or ()
        ],
    }
    for name, rows in splits.items():
        groups, names = document_sources(data, name)
        metrics, by_group = evaluate_split(kind, rows, name, scorer, beta, groups)
        report["splits"][name] = metrics
        fed_by = split_sources(data.manifest, name)
        if by_group:
            report["by_source"][name] = {names[g]: figures for g, figures in by_group.items()}
        elif len(fed_by) == 1:
            report["by_source"][name] = {fed_by[0]: metrics}
        else:
            notes.append(
                f"{name}: {len(fed_by)} sources fed this split ({', '.join(fed_by)}) and the "
                f"prepared data records no document's source ({DOCUMENT_SOURCES}: prepared "
                "by an older dataprep), so its figures are per split only"
            )
    if generate:
        from train.generation import run_generation

        where = generations_path(generate_out, output)
        report["generations"] = str(
            run_generation(
                model,
                tokenizer,
                data,
                count=generate,
                max_new_tokens=max_new_tokens,
                batch_size=batch_size,
                device=device,
                path=where,
                source=lambda split_name: _only(split_sources(data.manifest, split_name)),
            )
        )
    if output is not None:
        write_report(report, Path(output))
    return report


def _only(names: list[str]) -> str | None:
    return names[0] if len(names) == 1 else None


def generations_path(generate_out: str | Path | None, output: str | Path | None) -> Path:
    """``--generate-out``, else beside ``-o`` (``metrics.json`` ->
    ``metrics.generations.jsonl``), else ``generations.jsonl`` here."""
    if generate_out is not None:
        return Path(generate_out)
    if output is not None:
        output = Path(output)
        return output.with_name(f"{output.stem}.generations.jsonl")
    return Path("generations.jsonl")


def write_report(report: dict[str, Any], path: Path) -> None:
    from train.outputs import writing_errors

    with writing_errors(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n", encoding="utf-8")


def format_report(report: dict[str, Any]) -> str:
    """The table said on stdout: one block per split, one line per figure; then, where
    several sources fed a split, one block per source."""
    lines = [
        f"{report['target']} on {report['data']} ({report['kind']})",
    ]
    if report.get("reference"):
        lines.append(f"reference: {report['reference']}")
    for name, metrics in report["splits"].items():
        sources = report["by_source"].get(name) or {}
        blocks = [(name, metrics)]
        if len(sources) == 1:
            blocks = [(f"{name}, source {next(iter(sources))}", metrics)]
        elif sources:
            blocks += [(f"{name}, source {source}", figures) for source, figures in sources.items()]
        for title, figures in blocks:
            lines.append(title)
            lines += [f"  {key:<20} {_figure(value)}" for key, value in figures.items()]
    lines += [f"note: {note}" for note in report["notes"]]
    if report.get("generations"):
        lines.append(f"generations: {report['generations']}")
    return "\n".join(lines)


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)
