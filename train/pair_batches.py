"""Batches of prepared preference pairs in the shapes TRL's ORPO, CPO (SimPO) and reward
trainers take, made at collation from the prepared columns: nothing is tokenized again
and no column is written.

A prepared DPO row holds ``prompt_ids``, ``chosen_ids`` and ``rejected_ids`` (the answers
without the prompt; ``dataprep prepare`` made ``prompt + chosen`` equal to the rendering
of the whole conversation, its end-of-turn token included, or for plain text the text
with EOS appended). From it:

- ORPO and CPO (``PairCollator``): ``chosen_input_ids`` = prompt + chosen, its
  ``chosen_labels`` the same with the prompt's positions -100, likewise for rejected,
  and the prompt alone; then TRL's own ``DPODataCollatorWithPadding`` pads them. TRL's
  ``tokenize_row`` (which is skipped) would also add a BOS where the tokenizer has one
  and the prompt lacks it, and an EOS after an answer that does not end with one (after a
  chat template's end-of-turn token, a second stop); the data is trained as prepared, as
  ``train dpo`` trains it.
- a reward model (``RewardCollator``): ``chosen_ids`` = prompt + chosen and
  ``rejected_ids`` = prompt + rejected, exactly what ``RewardTrainer``'s own tokenization
  makes (the conversation through the chat template; plain text with EOS appended);
  then TRL's ``DataCollatorForPreference`` pads them.

>>> row = PairCollator.columns({"prompt_ids": [5, 6], "chosen_ids": [7], "rejected_ids": [8, 9]})
>>> row["chosen_input_ids"], row["chosen_labels"], row["rejected_attention_mask"]
([5, 6, 7], [-100, -100, 7], [1, 1, 1, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataprep.contract import IGNORE_INDEX


@dataclass
class PairCollator:
    """Prepared DPO rows to the padded batch of trl.experimental's ORPO and CPO trainers."""

    pad_token_id: int

    @staticmethod
    def columns(row: dict[str, Any]) -> dict[str, list[int]]:
        """One row's columns as TRL's ``tokenize_row`` names them."""
        prompt = list(row["prompt_ids"])
        out = {"prompt_input_ids": prompt, "prompt_attention_mask": [1] * len(prompt)}
        for name in ("chosen", "rejected"):
            answer = list(row[f"{name}_ids"])
            out[f"{name}_input_ids"] = prompt + answer
            out[f"{name}_attention_mask"] = [1] * (len(prompt) + len(answer))
            out[f"{name}_labels"] = [IGNORE_INDEX] * len(prompt) + answer
        return out

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        from train._upstream import trl_experimental

        pad = trl_experimental("utils").DPODataCollatorWithPadding(pad_token_id=self.pad_token_id)
        return pad([self.columns(row) for row in rows])


@dataclass
class RewardCollator:
    """Prepared DPO rows to the padded batch of TRL's ``RewardTrainer``: the chosen
    sequences, then the rejected ones."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        from trl.trainer.reward_trainer import DataCollatorForPreference

        pad = DataCollatorForPreference(
            pad_token_id=self.pad_token_id, pad_to_multiple_of=self.pad_to_multiple_of
        )
        return pad(
            [
                {
                    "chosen_ids": [*row["prompt_ids"], *row["chosen_ids"]],
                    "rejected_ids": [*row["prompt_ids"], *row["rejected_ids"]],
                }
                for row in rows
            ]
        )


class CountsTokens:
    """Put before TRL's ORPO or CPO trainer: logs ``num_tokens``, the real (non-padding)
    tokens trained on so far over every process, the prompt counted with each of its
    two answers, as TRL's ``DPOTrainer`` and ``RewardTrainer`` log it; those two
    trainers do not."""

    _num_tokens = 0

    def compute_loss(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # TRL calls compute_loss for training steps only (evaluation: prediction_step).
        tokens = inputs["chosen_attention_mask"].sum() + inputs["rejected_attention_mask"].sum()
        self._num_tokens += int(self.accelerator.gather_for_metrics(tokens.reshape(1)).sum())
        return super().compute_loss(model, inputs, *args, **kwargs)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            logs["num_tokens"] = float(self._num_tokens)
        super().log(logs, start_time)
