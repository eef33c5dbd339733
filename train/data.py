"""Prepared data: the folder ``dataprep prepare`` wrote, its manifest, and the checks that
keep a run from training on data made for another model or another trainer.

A prepared folder is what ``datasets.load_from_disk`` opens (a Dataset, or a DatasetDict
with ``train`` and ``eval``) plus ``dataprep.json``. SFT data has ``input_ids`` and
``labels`` (and ``seq_lengths`` when packed); DPO data has ``prompt_ids``, ``chosen_ids``
and ``rejected_ids``; KTO data ``prompt_ids``, ``completion_ids`` and a boolean ``label``.

"The same tokenizer" is what ``prepare`` records and ``train`` compares: the same files,
or failing that the same vocabulary (``tokenizer_sha256``, ``vocab_sha256``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataprep import contract
from dataprep.contract import (
    COLUMNS,
    DATASET_DICT,
    KIND_COLUMN,
    MANIFEST,
    Manifest,
    tokenizer_sha256,
    vocab_sha256,
)
from dataprep.errors import PrepareError, TrainError, UsageError

COMMAND_FOR = {"sft": "train sft", "dpo": "train dpo", "kto": "train kto"}
# Commands that train on another command's kind of data: ORPO, SimPO and reward models
# learn from the same pairs as DPO.
DATA_KIND = {"orpo": "dpo", "simpo": "dpo", "reward": "dpo"}

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt")


def has_tokenizer(directory: str | Path) -> bool:
    directory = Path(directory)
    return directory.is_dir() and (
        (directory / "tokenizer.json").is_file()
        or any((directory / name).is_file() for name in TOKENIZER_FILES)
        or any(directory.glob("*.tiktoken"))
    )


@dataclass
class PreparedData:
    """A prepared folder, opened: the splits and what the manifest says about them."""

    path: Path
    manifest: Manifest
    kind: str  # "sft", "dpo" or "kto"
    train: Any  # datasets.Dataset
    eval: Any | None  # datasets.Dataset, when prepare made an eval split
    packed: bool

    @property
    def tokenizer_name(self) -> str | None:
        return self.manifest.tokenizer.name_or_path

    @property
    def added_tokens(self) -> list[dict[str, Any]]:
        """The special tokens prepare added to the tokenizer for its chat template
        (``[{"content", "id"}]``): train adds them again and grows the embeddings."""
        return [{"content": t.content, "id": t.id} for t in self.manifest.tokenizer.added_tokens]


def read_manifest(path: str | Path) -> Manifest:
    """``dataprep.json`` of a prepared folder (``dataprep.contract.read_manifest``), its
    problems said as train says them: a damaged or hand-edited manifest is refused here,
    not met later as an AttributeError."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such folder")
    try:
        return contract.read_manifest(path)
    except contract.ManifestMissing:
        raise TrainError(
            f"{path}: not a prepared folder (no {MANIFEST}); make one with `dataprep prepare`"
        ) from None
    except contract.ManifestDamaged as e:
        if e.key is None:  # the file as a whole
            raise TrainError(str(e)) from None
        raise TrainError(f"{e}; the folder is damaged: prepare it again") from None


def split_problem(path: Path) -> str | None:
    """What is wrong with ``dataset_dict.json`` (a split dataset's index) and the split
    folders it names, or None. ``datasets.load_from_disk`` meets the same damage as a
    KeyError or TypeError."""
    index = path / DATASET_DICT
    if not index.is_file():
        return None
    try:
        content = json.loads(index.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        return f"{index.name}: unreadable ({e})"
    if not isinstance(content, dict):
        return f"{index.name}: not a JSON object"
    splits = content.get("splits")
    if not isinstance(splits, list) or not all(isinstance(n, str) and n for n in splits):
        return f"{index.name}: no list of split names (splits)"
    for name in splits:
        if not (path / name).is_dir():
            return f"{index.name} names the split {name!r} but there is no folder {name}/"
    return None


def load_prepared(path: str | Path, *, kind: str | None) -> PreparedData:
    """Open a prepared folder for ``train <kind>``; refuse data made for the other trainer.
    ``kind`` is a command (``orpo`` takes DPO data: ``DATA_KIND``); the result's ``kind``
    is the data's. ``kind`` None takes the data as whatever kind it is (``train eval``).

    Raises UsageError for a DPO run on SFT data and the like (the command was wrong),
    TrainError for a folder that is not complete prepared data.
    """
    import datasets

    path = Path(path)
    manifest = read_manifest(path)
    if problem := split_problem(path):
        raise TrainError(f"{path}: {problem}; the folder is damaged: prepare it again")
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as e:  # any failure to open is the folder's damage, never a traceback
        detail = str(e) or type(e).__name__
        raise TrainError(
            f"{path}: the prepared data cannot be opened ({detail}); the folder is damaged: "
            "prepare it again"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            raise TrainError(
                f"{path}: the prepared data has splits {sorted(loaded)} but no 'train'"
            )
        train, evaluation = loaded["train"], loaded.get("eval")
    else:
        train, evaluation = loaded, None

    data_kind = _kind_of(path, manifest, train.column_names)
    kind = kind or data_kind
    command, kind = f"train {kind}", DATA_KIND.get(kind, kind)
    if data_kind != kind:
        raise UsageError(
            f"{path}: this is {data_kind.upper()} data; train it with `{COMMAND_FOR[data_kind]}` "
            f"(or prepare {kind.upper()} data for `{command}`)"
        )
    for name, split in (("train", train), ("eval", evaluation)):
        if split is None:
            continue
        missing = [c for c in COLUMNS[kind] if c not in split.column_names]
        if missing:
            raise TrainError(f"{path}: the {name} split has no column {', '.join(missing)}")
        for column in [*COLUMNS[kind], "seq_lengths"]:
            if column == "label" or column not in split.column_names:
                continue  # KTO's label is a boolean per row
            if not _is_token_list(split.features[column]):
                raise TrainError(
                    f"{path}: the {name} split's column {column} holds {split.features[column]}, "
                    "not lists of integers; the folder is damaged: prepare it again"
                )
        if len(split) == 0:
            raise TrainError(f"{path}: the {name} split is empty")
    packed = manifest.packing or "seq_lengths" in train.column_names
    if kind == "sft" and packed and "seq_lengths" not in train.column_names:
        raise TrainError(
            f"{path}: the manifest says the data is packed but there is no seq_lengths column; "
            "without it packed documents would attend to each other"
        )
    return PreparedData(path, manifest, kind, train, evaluation, packed)


def _is_token_list(feature: Any) -> bool:
    """A column of integer lists (``List(Value('int32'))`` as prepare writes it)."""
    dtype = getattr(getattr(feature, "feature", None), "dtype", "")
    return isinstance(dtype, str) and dtype.startswith(("int", "uint"))


def _kind_of(path: Path, manifest: Manifest, columns: list[str]) -> str:
    from_columns = next((k for k, column in KIND_COLUMN.items() if column in columns), None)
    stated = manifest.kind
    if stated is not None and stated not in COLUMNS:
        raise TrainError(f"{path / MANIFEST}: kind {stated!r} is not one of {', '.join(COLUMNS)}")
    if stated and from_columns and stated != from_columns:
        raise TrainError(
            f"{path}: the manifest says {stated} but the columns ({', '.join(columns)}) are {from_columns} data"
        )
    kind = stated or from_columns
    if kind is None:
        raise TrainError(f"{path}: neither SFT, DPO nor KTO columns ({', '.join(columns)})")
    return kind


def restore_tokens(data: PreparedData, tokenizer: Any) -> int:
    """Add to ``tokenizer`` the special tokens prepare added for the data's chat template
    (``tokenizer.added_tokens`` in the manifest), with the same ids; returns how many
    were added. A tokenizer that would give them other ids is not the data's: TrainError.
    """
    try:
        return contract.restore_added_tokens(tokenizer, data.manifest.tokenizer.added_tokens)
    except PrepareError as e:
        raise TrainError(f"{data.path}: {e}") from None


def check_tokenizer(data: PreparedData, tokenizer_dir: str | Path, tokenizer: Any) -> None:
    """Refuse a tokenizer other than the one the data was tokenized with.

    The same files (``tokenizer.sha256``) or, failing that, the same vocabulary
    (``tokenizer.vocab_sha256``: the folder was saved again, by another library version,
    with other settings) is the same tokenizer; anything else is not.
    """
    recorded = data.manifest.tokenizer
    files, vocab = recorded.sha256, recorded.vocab_sha256
    if not files and not vocab:
        raise TrainError(
            f"{data.path / MANIFEST}: no tokenizer hash, so the model's tokenizer cannot be "
            "checked against the data; prepare the data again"
        )
    if files and tokenizer_sha256(tokenizer_dir) == files:
        return
    if vocab and vocab_sha256(tokenizer) == vocab:
        return
    raise TrainError(
        f"the tokenizer in {tokenizer_dir} is not the one {data.path} was prepared with "
        f"({data.tokenizer_name or 'unnamed'}): its vocabulary differs, so the data's token "
        "ids would mean other words to this model. Prepare the data with this model's "
        "tokenizer, or pass the right one with --tokenizer"
    )


def template_note(data: PreparedData, tokenizer: Any) -> str | None:
    """A note when the tokenizer's chat template is not the one the data was rendered
    with: training is unaffected (the data is tokens), but prompts at inference should be
    rendered the way the data was."""
    recorded = data.manifest.chat_template
    own = getattr(tokenizer, "chat_template", None)
    if recorded is None or not recorded.sha256 or not isinstance(own, str):
        return None
    if hashlib.sha256(own.encode("utf-8")).hexdigest() == recorded.sha256:
        return None
    return (
        f"note: the data was rendered with the chat template {recorded.name or '?'!r}, "
        "not the tokenizer's own; render prompts the same way at inference"
    )


def copy_manifest(data: PreparedData, output_dir: str | Path) -> None:
    """Keep the data's manifest beside the trained weights, so a run can be reproduced."""
    shutil.copyfile(data.path / MANIFEST, Path(output_dir) / MANIFEST)
