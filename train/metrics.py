"""Figures a run logs beyond TRL's own: the eval perplexity of an SFT run, and the
tokens a run trained on.

Both hook the trainer through methods ``transformers.Trainer`` documents as the ones to
override (``log``, ``training_step``; transformers 5.24), wrapped on the instance so
that every recipe's trainer class gets them unchanged:

- ``log_perplexity``: ``exp(eval_loss)`` added to the logs before they reach
  ``state.log_history``, the console and the ``report_to`` backends (a callback's
  ``on_log`` comes too late: the history is written and the backends have run).
- ``TokenCount``: counts, per optimizer micro-batch, the tokens in the batch and the
  tokens the loss is taken on, as device tensors (no host sync in the loop).
"""

from __future__ import annotations

import math
from typing import Any

from dataprep.contract import IGNORE_INDEX


def perplexity(loss: float) -> float:
    """``exp(loss)``, infinite past what a float holds.

    >>> perplexity(0.0), perplexity(1e6)
    (1.0, inf)
    """
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def log_perplexity(trainer: Any) -> None:
    """Log ``eval_perplexity`` (``exp(eval_loss)``) beside every ``eval_loss`` of
    ``trainer``: meaningful where the loss is a mean token NLL (SFT)."""
    log = trainer.log

    def log_with_perplexity(logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        loss = logs.get("eval_loss")
        if isinstance(loss, (int, float)):
            logs["eval_perplexity"] = perplexity(float(loss))
        log(logs, *args, **kwargs)

    trainer.log = log_with_perplexity


def batch_tokens(inputs: dict[str, Any]) -> tuple[Any, Any]:
    """(tokens in the batch, tokens the loss is taken on) of one collated batch, as
    tensors: SFT's ``labels`` other than ``IGNORE_INDEX``, DPO's and KTO's
    ``completion_mask`` (TRL 1.16's collators), ORPO's and SimPO's ``chosen_labels`` and
    ``rejected_labels`` (``train.pair_batches``); padding excluded by the attention masks
    (absent with padding-free collation, where every position is a token). A reward
    model's batch has no such mask: every token counts as trained.

    >>> import torch
    >>> ids = torch.tensor([[5, 6, 0]]); labels = torch.tensor([[-100, 6, -100]])
    >>> [int(n) for n in batch_tokens({"input_ids": ids, "labels": labels})]
    [3, 1]
    >>> pair = {"chosen_attention_mask": torch.tensor([[1, 1, 0]]), "chosen_labels": labels,
    ...         "rejected_attention_mask": torch.tensor([[1, 1, 1]]), "rejected_labels": labels}
    >>> [int(n) for n in batch_tokens(pair)]
    [5, 2]
    """
    import torch

    if "chosen_labels" in inputs:  # prompt + answer, twice
        seen = inputs["chosen_attention_mask"].sum() + inputs["rejected_attention_mask"].sum()
        trained = (inputs["chosen_labels"] != IGNORE_INDEX).sum()
        return seen, trained + (inputs["rejected_labels"] != IGNORE_INDEX).sum()
    mask = inputs.get("attention_mask")
    ids = inputs.get("input_ids")
    count = ids.numel() if ids is not None else 0
    # Padding-free rows carry no attention mask: every token is real, counted on the
    # batch's own device (a CPU count beside CUDA sums could not be stacked).
    seen = mask.sum() if mask is not None else torch.tensor(count, device=_device(ids))
    if "labels" in inputs:
        trained = (inputs["labels"] != IGNORE_INDEX).sum()
    elif "completion_mask" in inputs:
        trained = inputs["completion_mask"].sum()
    else:
        trained = seen
    return seen, trained


def _device(tensor: Any) -> Any:
    return tensor.device if tensor is not None else None


class TokenCount:
    """Counts the tokens ``trainer`` trains on, from the batches its training step
    receives (this process's share; ``totals`` sums the processes).

    >>> import torch
    >>> class T:
    ...     def training_step(self, model, inputs, *rest): return 0
    >>> t = T(); count = TokenCount(t)
    >>> _ = t.training_step(None, {"input_ids": torch.ones(2, 3), "labels": torch.tensor([[-100, 5, 6]] * 2)})
    >>> count.totals()
    (6, 4)
    """

    def __init__(self, trainer: Any):
        self.trainer = trainer
        self.seen: Any = 0
        self.trained: Any = 0
        step = trainer.training_step

        def counting_step(model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            seen, trained = batch_tokens(inputs)
            self.seen = self.seen + seen
            self.trained = self.trained + trained
            return step(model, inputs, *args, **kwargs)

        trainer.training_step = counting_step

    def totals(self) -> tuple[int, int]:
        """(tokens seen, tokens trained) over every process of the run."""
        import torch

        # Once, at the end: each count to the host (a sync), whatever device it grew on.
        values = torch.stack([torch.as_tensor(v).cpu() for v in (self.seen, self.trained)])
        accelerator = getattr(self.trainer, "accelerator", None)
        if accelerator is not None and accelerator.num_processes > 1:
            values = accelerator.reduce(values.to(accelerator.device), reduction="sum")
        seen, trained = (int(v) for v in values.tolist())
        return seen, trained
