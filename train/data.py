"""Prepared data: the folder ``dataprep prepare`` wrote, its manifest, and the checks that
keep a run from training on data made for another model or another trainer.

A prepared folder is what ``datasets.load_from_disk`` opens (a Dataset, or a DatasetDict
with ``train`` and ``eval``) plus ``dataprep.json``. SFT data has ``input_ids`` and
``labels`` (and ``seq_lengths`` when packed); DPO data has ``prompt_ids``, ``chosen_ids``
and ``rejected_ids``.

``tokenizer_sha256`` is the one definition of "the same tokenizer" that ``prepare`` (which
writes the hash) and ``train`` (which compares it) share. It is light: no torch, no
datasets.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataprep.errors import TrainError, UsageError

MANIFEST = "dataprep.json"
COLUMNS = {
    "sft": ("input_ids", "labels"),
    "dpo": ("prompt_ids", "chosen_ids", "rejected_ids"),
}
COMMAND_FOR = {"sft": "train sft", "dpo": "train dpo"}

# What decides token ids when a tokenizer has no tokenizer.json (slow-only tokenizers),
# hashed in this order with their names.
VOCABULARY_FILES = (
    "tokenizer.model",
    "spiece.model",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "added_tokens.json",
    "special_tokens_map.json",
)
# Runtime settings that tokenizer.json carries but that never change a token id.
RUNTIME_KEYS = ("padding", "truncation")


def tokenizer_sha256(directory: str | Path) -> str:
    """The sha256 of what decides a tokenizer's ids, in hex.

    For a fast tokenizer that is ``tokenizer.json`` (vocabulary, merges, added and
    special tokens, normalizer, pre-tokenizer), hashed as canonical JSON (sorted keys, no
    whitespace, UTF-8) without its ``padding`` and ``truncation`` runtime settings: the
    hash survives a ``save_pretrained`` round trip and any reformatting of the file. The
    chat template and ``tokenizer_config.json`` are not part of it (the template has its
    own hash in the manifest). Without ``tokenizer.json`` the vocabulary files
    (``VOCABULARY_FILES``, then ``*.tiktoken``) are hashed as bytes, each with its name.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}, "padding": null}')
    >>> tokenizer_sha256(d) == hashlib.sha256(b'{"model":{"vocab":{"a":0}}}').hexdigest()
    True
    """
    directory = Path(directory)
    digest = hashlib.sha256()
    fast = directory / "tokenizer.json"
    if fast.is_file():
        try:
            spec = json.loads(fast.read_bytes())
        except (OSError, ValueError) as e:
            raise TrainError(f"{fast}: not a readable tokenizer.json: {e}") from None
        for key in RUNTIME_KEYS:
            spec.pop(key, None)
        canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest.update(canonical.encode("utf-8"))
        return digest.hexdigest()
    files = [directory / name for name in VOCABULARY_FILES] + sorted(directory.glob("*.tiktoken"))
    files = [f for f in files if f.is_file()]
    if not files:
        raise UsageError(
            f"{directory}: no tokenizer files (tokenizer.json, tokenizer.model, vocab.json, ...)"
        )
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def has_tokenizer(directory: str | Path) -> bool:
    directory = Path(directory)
    return directory.is_dir() and (
        (directory / "tokenizer.json").is_file()
        or any((directory / name).is_file() for name in VOCABULARY_FILES[:5])
    )


@dataclass
class PreparedData:
    """A prepared folder, opened: the splits and what the manifest says about them."""

    path: Path
    manifest: dict[str, Any]
    kind: str  # "sft" or "dpo"
    train: Any  # datasets.Dataset
    eval: Any | None  # datasets.Dataset, when prepare made an eval split
    packed: bool

    @property
    def tokenizer_name(self) -> str | None:
        return (self.manifest.get("tokenizer") or {}).get("name_or_path")

    @property
    def tokenizer_hash(self) -> str | None:
        return (self.manifest.get("tokenizer") or {}).get("sha256")

    @property
    def chat_template_hash(self) -> str | None:
        return (self.manifest.get("chat_template") or {}).get("sha256")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """``dataprep.json`` of a prepared folder."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such folder")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise TrainError(
            f"{path}: not a prepared folder (no {MANIFEST}); make one with `dataprep prepare`"
        )
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (OSError, ValueError) as e:
        raise TrainError(f"{manifest_path}: unreadable manifest: {e}") from None
    if not isinstance(manifest, dict):
        raise TrainError(f"{manifest_path}: the manifest is not a JSON object")
    return manifest


def load_prepared(path: str | Path, *, kind: str) -> PreparedData:
    """Open a prepared folder for ``train <kind>``; refuse data made for the other trainer.

    Raises UsageError for a DPO run on SFT data and the reverse (the command was wrong),
    TrainError for a folder that is not complete prepared data.
    """
    import datasets

    path = Path(path)
    manifest = read_manifest(path)
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as e:
        raise TrainError(f"{path}: the prepared data cannot be opened: {e}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            raise TrainError(
                f"{path}: the prepared data has splits {sorted(loaded)} but no 'train'"
            )
        train, evaluation = loaded["train"], loaded.get("eval")
    else:
        train, evaluation = loaded, None

    data_kind = _kind_of(path, manifest, train.column_names)
    if data_kind != kind:
        raise UsageError(
            f"{path}: this is {data_kind.upper()} data; train it with `{COMMAND_FOR[data_kind]}` "
            f"(or prepare {kind.upper()} data for `{COMMAND_FOR[kind]}`)"
        )
    for name, split in (("train", train), ("eval", evaluation)):
        if split is None:
            continue
        missing = [c for c in COLUMNS[kind] if c not in split.column_names]
        if missing:
            raise TrainError(f"{path}: the {name} split has no column {', '.join(missing)}")
        if len(split) == 0:
            raise TrainError(f"{path}: the {name} split is empty")
    packed = bool(manifest.get("packing")) or "seq_lengths" in train.column_names
    if kind == "sft" and packed and "seq_lengths" not in train.column_names:
        raise TrainError(
            f"{path}: the manifest says the data is packed but there is no seq_lengths column; "
            "without it packed documents would attend to each other"
        )
    return PreparedData(path, manifest, kind, train, evaluation, packed)


def _kind_of(path: Path, manifest: dict[str, Any], columns: list[str]) -> str:
    from_columns = next((k for k, needed in COLUMNS.items() if needed[0] in columns), None)
    stated = manifest.get("kind")
    if stated is not None and stated not in COLUMNS:
        raise TrainError(f"{path / MANIFEST}: kind {stated!r} is not one of {', '.join(COLUMNS)}")
    if stated and from_columns and stated != from_columns:
        raise TrainError(
            f"{path}: the manifest says {stated} but the columns ({', '.join(columns)}) are {from_columns} data"
        )
    kind = stated or from_columns
    if kind is None:
        raise TrainError(f"{path}: neither SFT nor DPO columns ({', '.join(columns)})")
    return kind


def check_tokenizer(data: PreparedData, tokenizer_dir: str | Path) -> None:
    """Refuse a tokenizer other than the one the data was tokenized with."""
    expected = data.tokenizer_hash
    if not expected:
        raise TrainError(
            f"{data.path / MANIFEST}: no tokenizer.sha256, so the model's tokenizer cannot be "
            "checked against the data; prepare the data again"
        )
    actual = tokenizer_sha256(tokenizer_dir)
    if actual != expected:
        raise TrainError(
            f"the tokenizer in {tokenizer_dir} is not the one {data.path} was prepared with "
            f"({data.tokenizer_name or 'unnamed'}; sha256 {expected[:12]}… here {actual[:12]}…): "
            "its token ids would mean other words to this model. Prepare the data with this "
            "model's tokenizer, or pass the right one with --tokenizer"
        )


def copy_manifest(data: PreparedData, output_dir: str | Path) -> None:
    """Keep the data's manifest beside the trained weights, so a run can be reproduced."""
    shutil.copyfile(data.path / MANIFEST, Path(output_dir) / MANIFEST)
