"""A prepared row as tokens, each with its text and whether it is trained: what
``dataprep inspect`` prints and ``dataprep ui`` highlights.

``TokenText`` turns ids back into text with the lightest tool that can; ``documents``
cuts a row into its documents (SFT, at ``seq_lengths``) or parts (DPO, KTO).

>>> class Chars:
...     def decode(self, ids):
...         return "".join(chr(i) for i in ids)
>>> row = {"input_ids": [72, 105, 33, 79, 75], "labels": [-100, 105, 33, -100, 75],
...        "seq_lengths": [3, 2]}
>>> [[(t["text"], t["trained"]) for t in d["tokens"]] for d in documents(row, Chars())]
[[('H', False), ('i', True), ('!', True)], [('O', False), ('K', True)]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataprep.contract import IGNORE_INDEX as IGNORE


class TokenText:
    """Token ids -> text, with the lightest tool that can: the ``tokenizers`` library on a
    tokenizer.json (milliseconds), transformers only for folders without one."""

    def __init__(
        self,
        name_or_path: str,
        fallback: str | None = None,
        added: Any = None,
    ):
        # ``added``: the special tokens prepare added for its chat template (the manifest's
        # tokenizer.added_tokens), added here again so that their ids read back.
        from dataprep.contract import restore_added_tokens

        for candidate in (name_or_path, fallback):
            if candidate and (Path(candidate) / "tokenizer.json").is_file():
                from tokenizers import Tokenizer

                self._tok = Tokenizer.from_file(str(Path(candidate) / "tokenizer.json"))
                restore_added_tokens(self._tok, added)
                self._decode = lambda ids: self._tok.decode(ids, skip_special_tokens=False)
                return
        from dataprep.prepare.template.choice import load_tokenizer

        tokenizer = load_tokenizer(name_or_path)
        restore_added_tokens(tokenizer, added)
        self._decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self._decode(list(ids)) if ids else ""


def documents(row: dict[str, list[int]], text: TokenText) -> list[dict[str, Any]]:
    """The row as documents of tokens: ``[{"doc", "tokens": [{"id", "text", "trained"}]}]``.

    SFT rows are cut at ``seq_lengths`` (one document when unpacked); a DPO row gives its
    prompt (not trained), chosen and rejected (trained) as three parts; a KTO row its
    prompt and its completion, named with its label.
    """
    if "completion_ids" in row:
        judged = "desirable" if row["label"] else "undesirable"
        parts = [("prompt", row["prompt_ids"], False),
                 (f"completion ({judged})", row["completion_ids"], True)]  # fmt: skip
    elif "prompt_ids" in row:
        parts = [("prompt", row["prompt_ids"], False), ("chosen", row["chosen_ids"], True),
                 ("rejected", row["rejected_ids"], True)]  # fmt: skip
    if "prompt_ids" in row:
        return [
            {
                "doc": i,
                "part": name,
                "tokens": [{"id": t, "text": text.decode([t]), "trained": trained} for t in ids],
            }
            for i, (name, ids, trained) in enumerate(parts)
        ]
    ids, labels = row["input_ids"], row["labels"]
    lengths = row.get("seq_lengths") or [len(ids)]
    out, start = [], 0
    for i, n in enumerate(lengths):
        tokens = [
            # The first label of a document is never a target (labels are shifted).
            {
                "id": ids[j],
                "text": text.decode([ids[j]]),
                "trained": labels[j] != IGNORE and j > start,
            }
            for j in range(start, start + n)
        ]
        out.append({"doc": i, "tokens": tokens})
        start += n
    return out
