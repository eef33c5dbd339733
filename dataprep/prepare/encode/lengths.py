"""The length policy: what happens to an example longer than ``--max-length``.

``drop`` rejects it (counted, with its reason), ``truncate`` cuts it at the maximum length
keeping labels aligned with their tokens, ``split`` (SFT only) cuts it into pieces of at
most the maximum length; only pieces that keep a trained token survive.

Labels follow the transformers convention: ``labels[i]`` is the target of position ``i``
and the model shifts them, so the first label of a sequence is never a target. A sequence
"has a trained token" when some label after the first is not -100; in a packed row TRL's
collator masks the first label of every document anyway.

>>> import numpy as np
>>> ids = np.arange(10, dtype=np.int32)
>>> labels = np.where(ids >= 6, ids, -100).astype(np.int32)
>>> [p[0].tolist() for p in fit_sft(ids, labels, 4, "split").pieces]
[[4, 5, 6, 7], [8, 9]]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dataprep.contract import IGNORE_INDEX as IGNORE
from dataprep.contract import OVERLONG_POLICIES
from dataprep.errors import RowError


def count_trained(labels: np.ndarray) -> int:
    """Labels that are a target: not -100, and not the first (the model shifts labels)."""
    return int(np.count_nonzero(labels[1:] != IGNORE))


@dataclass
class FittedSFT:
    """What the length policy kept of one SFT example."""

    pieces: list[tuple[np.ndarray, np.ndarray]]  # (input_ids, labels), each <= max length
    truncated: bool = False  # tokens were cut off and thrown away
    split: bool = False  # the example became more than one piece
    dropped_pieces: int = 0  # split pieces thrown away for having no trained token
    dropped_tokens: int = 0  # tokens thrown away by truncation or dropped pieces


@dataclass
class FittedDPO:
    prompt_ids: np.ndarray
    chosen_ids: np.ndarray
    rejected_ids: np.ndarray
    truncated: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class FittedKTO:
    prompt_ids: np.ndarray
    completion_ids: np.ndarray
    truncated: bool = False


def fit_sft(input_ids: np.ndarray, labels: np.ndarray, max_length: int, policy: str) -> FittedSFT:
    """Apply ``policy`` to one encoded SFT example; raises RowError when nothing is left.

    Reason codes: ``too-long`` (drop), ``no-trained-token`` (nothing to learn from, before
    or after the policy).
    """
    n = len(input_ids)
    if n <= max_length:
        if count_trained(labels) == 0:
            raise RowError(
                "", "no trained token (check the mask policy and the roles)", "no-trained-token"
            )
        return FittedSFT(pieces=[(input_ids, labels)])
    if policy == "drop":
        raise RowError(
            "",
            f"{n} tokens, longer than --max-length {max_length} (use --overlong truncate or split to keep it)",
            "too-long",
        )
    if policy == "truncate":
        cut_ids, cut_labels = input_ids[:max_length], labels[:max_length]
        if count_trained(cut_labels) == 0:
            raise RowError(
                "",
                f"no trained token left after truncating {n} tokens to {max_length}",
                "no-trained-token",
            )
        return FittedSFT(
            pieces=[(cut_ids, cut_labels)], truncated=True, dropped_tokens=n - max_length
        )
    if policy == "split":
        pieces = []
        dropped = dropped_tokens = 0
        for start in range(0, n, max_length):
            piece_labels = labels[start : start + max_length]
            if count_trained(piece_labels) == 0:
                dropped += 1
                dropped_tokens += len(piece_labels)
                continue
            pieces.append((input_ids[start : start + max_length], piece_labels))
        if not pieces:
            raise RowError(
                "",
                f"no piece of {max_length} tokens keeps a trained token ({n} tokens in all)",
                "no-trained-token",
            )
        return FittedSFT(
            pieces=pieces,
            split=True,
            dropped_pieces=dropped,
            dropped_tokens=dropped_tokens,
            truncated=dropped_tokens > 0,
        )
    raise ValueError(f"unknown length policy {policy!r}; expected one of {OVERLONG_POLICIES}")


def fit_dpo(
    prompt_ids: np.ndarray,
    chosen_ids: np.ndarray,
    rejected_ids: np.ndarray,
    max_length: int,
    policy: str,
) -> FittedDPO:
    """Apply ``policy`` to one preference pair: prompt + the longer continuation must fit.

    ``truncate`` keeps the end of the prompt (the part next to the answer) and cuts the
    continuations at their end; the prompt keeps at least half of the budget when it is the
    long part. ``split`` makes no sense for a pair and is refused by the caller.
    Reason codes: ``too-long``, ``empty-completion``.
    """
    if len(chosen_ids) == 0 or len(rejected_ids) == 0:
        which = "chosen" if len(chosen_ids) == 0 else "rejected"
        raise RowError(which, f"{which} has no tokens", "empty-completion")
    longest = max(len(chosen_ids), len(rejected_ids))
    total = len(prompt_ids) + longest
    if total <= max_length:
        return FittedDPO(prompt_ids, chosen_ids, rejected_ids)
    if policy != "truncate":
        raise RowError(
            "",
            f"prompt + longest answer is {total} tokens, longer than --max-length {max_length} "
            "(use --overlong truncate to keep it)",
            "too-long",
        )
    prompt_budget = max(max_length - longest, max_length // 2)
    if len(prompt_ids) > prompt_budget:
        prompt_ids = prompt_ids[len(prompt_ids) - prompt_budget :]
    room = max_length - len(prompt_ids)
    return FittedDPO(prompt_ids, chosen_ids[:room], rejected_ids[:room], truncated=True)


def fit_kto(
    prompt_ids: np.ndarray, completion_ids: np.ndarray, max_length: int, policy: str
) -> FittedKTO:
    """Apply ``policy`` to one KTO example: prompt + completion must fit, as for a pair
    (``fit_dpo``: ``truncate`` keeps the end of the prompt, at least half the budget when
    the prompt is the long part, and cuts the completion at its end).
    Reason codes: ``too-long``, ``empty-completion``.

    >>> fit_kto(np.arange(6), np.arange(3), 6, "truncate").prompt_ids.tolist()
    [3, 4, 5]
    """
    if len(completion_ids) == 0:
        raise RowError("completion", "completion has no tokens", "empty-completion")
    total = len(prompt_ids) + len(completion_ids)
    if total <= max_length:
        return FittedKTO(prompt_ids, completion_ids)
    if policy != "truncate":
        raise RowError(
            "",
            f"prompt + completion is {total} tokens, longer than --max-length {max_length} "
            "(use --overlong truncate to keep it)",
            "too-long",
        )
    prompt_budget = max(max_length - len(completion_ids), max_length // 2)
    if len(prompt_ids) > prompt_budget:
        prompt_ids = prompt_ids[len(prompt_ids) - prompt_budget :]
    room = max_length - len(prompt_ids)
    return FittedKTO(prompt_ids, completion_ids[:room], truncated=True)
