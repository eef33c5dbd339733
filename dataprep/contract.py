"""The prepare -> train contract, in one place: what ``dataprep prepare`` writes and what
``train``, ``inspect`` and ``stats`` read.

- the kinds of data (``sft``, ``dpo``, ``kto``), the mask and length policies;
- the columns of each kind, the ignore index in ``labels``, the file names of a folder;
- the manifest (``dataprep.json``) as frozen dataclasses: ``Manifest.from_json`` reads
  it (unknown keys ignored, a missing required key or a value of the wrong JSON type is
  a ``ManifestDamaged`` naming the key), ``to_json`` gives back the dict ``prepare``
  writes, key for key;
- ``read_manifest(folder)``, and the two tokenizer hashes ``train`` compares with the
  manifest's (``tokenizer_sha256`` over the files, ``vocab_sha256`` over the vocabulary);
- ``restore_added_tokens``: the special tokens ``prepare`` added, added again.

Light on purpose (standard library and orjson; nothing heavy is imported until a hash or
a tokenizer asks for it): ``train`` and the light commands both import it.

>>> m = Manifest.from_json({"kind": "sft", "tokenizer": {"name_or_path": "tok"}, "x": 1})
>>> m.kind, m.tokenizer.name_or_path, m.counts
('sft', 'tok', None)
>>> Manifest.from_json({"kind": "sft"})
Traceback (most recent call last):
dataprep.contract.ManifestDamaged: no tokenizer entry, so the model's tokenizer cannot be checked against the data
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataprep.errors import DataprepError, PrepareError

# --- kinds, policies, columns, files ----------------------------------------------------

KINDS = ("sft", "dpo", "kto")
# Which tokens of an SFT row are trained: every assistant turn, the last one, every
# token, or (prompt-completion data) the completion.
MASK_POLICIES = ("assistant", "last", "all", "completion")
# What happens to a row longer than --max-length.
OVERLONG_POLICIES = ("drop", "truncate", "split")
# Where prepare encodes the rows (``prepare --engine``); the output is the same bytes.
ENGINES = ("local", "ray")

# The label of a token that is not trained (PyTorch's cross-entropy ignore_index).
IGNORE_INDEX = -100

SFT_COLUMNS = ("input_ids", "labels")
PACKED_COLUMNS = ("input_ids", "labels", "seq_lengths")
DPO_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids")
# TRL's KTOTrainer reads prompt_ids, completion_ids (without the prompt) and a boolean
# label per row (trl 1.16, DataCollatorForUnpairedPreference).
KTO_COLUMNS = ("prompt_ids", "completion_ids", "label")
COLUMNS = {"sft": SFT_COLUMNS, "dpo": DPO_COLUMNS, "kto": KTO_COLUMNS}
# The column that tells each kind's data apart (DPO and KTO both have prompt_ids).
KIND_COLUMN = {"sft": "input_ids", "dpo": "chosen_ids", "kto": "completion_ids"}

MANIFEST = "dataprep.json"
REJECTS = "rejects.jsonl"
# int32 numpy array (``.npy``), one entry a document: which source it came from.
DOCUMENT_SOURCES = "document_sources.npy"
DATASET_INFO = "dataset_info.json"
DATASET_DICT = "dataset_dict.json"

# The version of the manifest schema the classes below describe. Not written into
# dataprep.json (its keys stay as they have always been); bump it, and start writing it,
# when a change would mislead an older reader.
MANIFEST_VERSION = 1


# --- errors -------------------------------------------------------------------------------


class ManifestMissing(DataprepError):
    """The folder has no ``dataprep.json``: it is not a prepared folder."""

    def __init__(self, folder: Path):
        super().__init__(f"{folder}: not a prepared folder (no {MANIFEST})")
        self.folder = folder


class ManifestDamaged(DataprepError):
    """The manifest cannot be read, or an entry is missing or of the wrong JSON type.

    ``key`` is the entry's path (``tokenizer``, ``counts.rows_in``; None when the file
    as a whole is unreadable or not an object), ``problem`` the words without the file."""

    def __init__(self, problem: str, key: str | None = None, file: Path | None = None):
        super().__init__(f"{file}: {problem}" if file is not None else problem)
        self.problem = problem
        self.key = key
        self.file = file


# --- the manifest ------------------------------------------------------------------------
#
# Field order is the order of the keys in dataprep.json. A field with a default may be
# absent (manifests written by older versions, or by hand in tests); one without is
# required. Fields in a class's OMIT_WHEN_NONE are left out of the JSON when None, as
# prepare leaves them out today.


class Record:
    """``from_json`` and ``to_json`` for the manifest's dataclasses."""

    @classmethod
    def from_json(cls, value: Any) -> Any:
        """The record of a parsed JSON value. Unknown keys are ignored (a newer prepare
        may add some); a missing required entry or a value of the wrong JSON type is a
        ``ManifestDamaged`` that names the entry."""
        return _decode(cls, value, "")

    def to_json(self) -> dict[str, Any]:
        """The dict ``prepare`` writes, keys in field order."""
        return _encode(self)


@dataclass(frozen=True)
class HubInput(Record):
    """Where an input file came from on the Hugging Face Hub: the dataset, the commit it
    resolved to (the whole sha: the same sha is the same bytes), the subset and split
    chosen (None where the dataset declares none, or a path in the id chose the file),
    and the file's path inside the repo."""

    repo_id: str
    revision: str
    subset: str | None = None
    split: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class InputRecord(Record):
    path: str
    sha256: str | None = None
    bytes: int | None = None
    format: str | None = None
    detected: str | None = None
    formats: dict[str, int] = field(default_factory=dict)
    mask: str | None = None
    # Only for an input read from the Hub; manifests before it, and local inputs, have none.
    hub: HubInput | None = None

    OMIT_WHEN_NONE: typing.ClassVar[frozenset[str]] = frozenset({"hub"})


@dataclass(frozen=True)
class AddedToken(Record):
    content: str
    id: int


@dataclass(frozen=True)
class TokenizerRecord(Record):
    name_or_path: str | None = None
    folder: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    sha256: str | None = None
    vocab_size: int | None = None
    vocab_sha256: str | None = None
    added_tokens: tuple[AddedToken, ...] = ()

    OMIT_WHEN_NONE: typing.ClassVar[frozenset[str]] = frozenset({"vocab_size", "vocab_sha256"})


@dataclass(frozen=True)
class MaskCheck(Record):
    """How the trained spans are found, and how they were verified."""

    method: str | None = None
    verified_against: str | None = None
    probes: int | None = None
    agreeing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatTemplateRecord(Record):
    name: str | None = None
    sha256: str | None = None
    has_generation: bool | None = None
    masks: MaskCheck | None = None
    thinking: str | None = None
    template_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitRecord(Record):
    rows: int
    documents: int | None = None
    tokens: int | None = None
    trainable_tokens: int | None = None
    packing_efficiency: float | None = None
    desirable: int | None = None  # KTO only
    undesirable: int | None = None  # KTO only

    OMIT_WHEN_NONE: typing.ClassVar[frozenset[str]] = frozenset({"desirable", "undesirable"})


@dataclass(frozen=True)
class LabelCounts(Record):
    desirable: int
    undesirable: int


@dataclass(frozen=True)
class Counts(Record):
    rows_in: int
    rows_out: int
    rejected: dict[str, int] = field(default_factory=dict)
    rows_rejected: int = 0
    truncated: int = 0
    split: int = 0
    pieces_dropped: int = 0
    deduplicated: int = 0
    rows_accepted: int = 0
    accepted: dict[str, int] = field(default_factory=dict)
    rows_warned: int = 0
    warnings: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LengthStats(Record):
    """Percentiles of lengths; only ``count`` when there are none."""

    count: int
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: int | None = None

    OMIT_WHEN_NONE: typing.ClassVar[frozenset[str]] = frozenset(
        {"mean", "p50", "p90", "p99", "max"}
    )


@dataclass(frozen=True)
class TokenCounts(Record):
    total: int
    trainable: int
    document_length: LengthStats | None = None
    row_length: LengthStats | None = None


@dataclass(frozen=True)
class SourceRecord(Record):
    """One source of a recipe or a peer's config: what it gave the run (issue 10).

    ``rows_read`` rows were read from it, the mix selected ``rows_selected`` of them (a
    row taken twice counts twice), of which ``rows_out`` were written and
    ``rows_rejected`` rejected (``rejected`` by reason): ``rows_selected = rows_out +
    rows_rejected``. ``tokens``/``trainable_tokens`` are its written documents' tokens;
    ``share`` and ``token_share`` its part of all rows and tokens written."""

    name: str
    path: str | None = None
    format: str | None = None
    amount: str | None = None  # weight 3 / 500 rows / fraction 0.25 / every row
    eval: bool = False  # an eval-only source
    mask: str | None = None
    rows_read: int = 0
    rows_selected: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    trainable_tokens: int = 0
    share: float = 0.0
    token_share: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Manifest(Record):
    """``dataprep.json``: what was prepared, from what, with what. Only ``tokenizer`` is
    required: without it train cannot check the model's tokenizer against the data."""

    dataprep_version: str | None = None
    fingerprint: str | None = None
    kind: str | None = None
    inputs: tuple[InputRecord, ...] = ()
    # Per source, for a run of a recipe or a peer's config (None otherwise, and left out).
    sources: tuple[SourceRecord, ...] | None = None
    tokenizer: TokenizerRecord
    chat_template: ChatTemplateRecord | None = None
    mask: str | None = None
    max_length: int | None = None
    length_policy: str | None = None
    packing: bool = False
    eval_fraction: float | None = None
    seed: int | None = None
    dedup: bool | None = None
    accept: tuple[str, ...] = ()
    system: str | None = None
    columns: tuple[str, ...] = ()
    splits: dict[str, SplitRecord] = field(default_factory=dict)
    # KTO: how many answers are labelled desirable and undesirable (TRL weighs the two
    # losses by desirable_weight / undesirable_weight to balance them).
    labels: LabelCounts | None = None
    counts: Counts | None = None
    tokens: TokenCounts | None = None
    # Tokens a row of max_length holds / max_length (for DPO: prompt + longer answer).
    packing_efficiency: float | None = None
    notes: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    # When more than one source fed the run: each split folder holds DOCUMENT_SOURCES,
    # every document's index (in the order the rows hold them) into this list: "sources"
    # (a recipe's) or "inputs".
    document_sources: str | None = None
    # Where the rows were encoded: "local" or "ray" (the same output either way; older
    # manifests have none).
    engine: str | None = None

    OMIT_WHEN_NONE: typing.ClassVar[frozenset[str]] = frozenset(
        {"sources", "document_sources", "engine"}
    )

    @classmethod
    def from_json(cls, value: Any) -> Manifest:
        return _decode(cls, value, "")


# Why a required entry matters, said when it is missing.
_REQUIRED_WHY = {"tokenizer": "so the model's tokenizer cannot be checked against the data"}
_JSON_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "an object",
    tuple: "a list",
    type(None): "null",
}


def _decode(tp: Any, value: Any, key: str) -> Any:
    """``value`` (parsed JSON) as type ``tp``; ``key`` is its path, for the error."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        (inner,) = [t for t in options if t is not type(None)]
        return _decode(inner, value, key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _wrong_type(key, dict, value)
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            where = f"{key}.{f.name}" if key else f.name
            if f.name in value:
                kwargs[f.name] = _decode(hints[f.name], value[f.name], where)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                why = _REQUIRED_WHY.get(where)
                raise ManifestDamaged(f"no {where} entry" + (f", {why}" if why else ""), where)
        return tp(**kwargs)
    if origin is dict:
        if not isinstance(value, dict):
            raise _wrong_type(key, dict, value)
        item_type = typing.get_args(tp)[1]
        return {k: _decode(item_type, v, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list):
            raise _wrong_type(key, tuple, value)
        item_type = typing.get_args(tp)[0]
        return tuple(_decode(item_type, v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is Any:
        return value
    # JSON's true is not a number, and an integer is a fine float (0 is written as 0).
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if not ok:
        raise _wrong_type(key, tp, value)
    return value


def _wrong_type(key: str, expected: Any, value: Any) -> ManifestDamaged:
    got = json.dumps(value)[:60]
    return ManifestDamaged(f"{key}: expected {_JSON_NAMES[expected]}, got {got}", key)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        omit = getattr(value, "OMIT_WHEN_NONE", frozenset())
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and f.name in omit:
                continue
            out[f.name] = _encode(item)
        return out
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def read_manifest(folder: str | os.PathLike) -> Manifest:
    """The manifest of a prepared folder. ``ManifestMissing`` when the folder has none,
    ``ManifestDamaged`` when it is unreadable, not a JSON object, or has a missing or
    mistyped entry (the error names it)."""
    file = Path(folder) / MANIFEST
    if not file.exists():
        raise ManifestMissing(Path(folder))
    try:
        value = json.loads(file.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise ManifestDamaged(f"unreadable manifest: {e}", file=file) from None
    if not isinstance(value, dict):
        raise ManifestDamaged("the manifest is not a JSON object", file=file)
    try:
        return Manifest.from_json(value)
    except ManifestDamaged as e:
        raise ManifestDamaged(e.problem, e.key, file) from None


def read_document_sources(folder: str | os.PathLike, split: str) -> Any:
    """``split``'s DOCUMENT_SOURCES in the prepared ``folder`` (a numpy int32 array), or
    None where prepare wrote none (one source fed it, or an older dataprep)."""
    import numpy as np

    folder = Path(folder)
    path = (folder / split if (folder / DATASET_DICT).exists() else folder) / DOCUMENT_SOURCES
    if not path.is_file():
        return None
    return np.load(path, allow_pickle=False)


# --- hashes -------------------------------------------------------------------------------


def fingerprint_of(value: Any) -> str:
    """sha256 of a JSON-able value, independent of dict order.

    >>> fingerprint_of({"a": 1, "b": [2]}) == fingerprint_of({"b": [2], "a": 1})
    True
    """
    import orjson

    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, read in 1 MiB chunks (disk speed, constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# The files that decide how a tokenizer tokenizes (and renders chats): by name prefix and
# by suffix. Weights and model configs beside them do not count.
TOKENIZER_FILE_PREFIXES = (
    "tokenizer",
    "special_tokens_map",
    "added_tokens",
    "chat_template",
    "vocab",
    "merges",
    "spiece",
    "config.json",
)
TOKENIZER_FILE_SUFFIXES = (".tiktoken", ".model", ".jinja")


def tokenizer_files(name_or_path: str) -> tuple[Path | None, dict[str, str]]:
    """The tokenizer's folder (a local folder, or a Hub name found in the local cache) and
    the sha256 of each file that decides its behaviour; ``(None, {})`` when not found."""
    folder = Path(name_or_path)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(name_or_path, local_files_only=True))
        except Exception:  # not in the local cache: load_tokenizer will say so properly
            return None, {}
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        name = path.name
        if not path.is_file() or rel.startswith("."):
            continue
        if name.startswith(TOKENIZER_FILE_PREFIXES) or name.endswith(TOKENIZER_FILE_SUFFIXES):
            files[rel] = sha256_file(path)
    return folder, files


def tokenizer_sha256(name_or_path: str | os.PathLike) -> str | None:
    """The manifest's ``tokenizer.sha256``: over the (file name, file sha256) pairs of the
    tokenizer's files; None when there are none."""
    _, files = tokenizer_files(str(name_or_path))
    return fingerprint_of(files) if files else None


def vocab_sha256(tokenizer: Any) -> str:
    """The manifest's ``tokenizer.vocab_sha256``: the sha256 of the vocabulary itself
    (token -> id pairs, by id, as compact JSON). Equal for two tokenizer folders that give
    every token the same id, whichever library version saved them."""
    import orjson

    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(orjson.dumps(vocab)).hexdigest()


# --- added tokens -------------------------------------------------------------------------


def restore_added_tokens(tokenizer: Any, recorded: Any) -> int:
    """Add the tokens a manifest records (``tokenizer.added_tokens``: ``AddedToken``s or
    ``{"content", "id"}`` dicts) to ``tokenizer`` (a transformers tokenizer or a
    ``tokenizers.Tokenizer``), in order; returns how many were added. A token the
    tokenizer already has must have the recorded id; one added must get it: otherwise the
    data's ids mean other tokens here, which is a PrepareError.
    """
    if not recorded:
        return 0
    pairs = [
        (t.content, t.id) if isinstance(t, AddedToken) else (t["content"], t["id"])
        for t in recorded
    ]
    # A transformers tokenizer, or a bare ``tokenizers.Tokenizer`` (inspect's).
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    to_add = [content for content, _ in pairs if backend.token_to_id(content) is None]
    if to_add:
        _add_special(tokenizer, to_add)
    for content, wanted in pairs:
        got = backend.token_to_id(content)
        if got != wanted:
            raise PrepareError(
                f"the data was prepared with {content!r} added as token "
                f"{wanted}, but this tokenizer gives it id {got}: it is not the "
                "tokenizer the data was prepared with"
            )
    return len(to_add)


def _add_special(tokenizer: Any, contents: list[str]) -> None:
    from tokenizers import AddedToken as Token

    tokens = [Token(c, special=True, normalized=False) for c in contents]
    if hasattr(tokenizer, "backend_tokenizer"):
        tokenizer.add_tokens(tokens, special_tokens=True)  # keeps transformers' view in step
    else:
        tokenizer.add_special_tokens(tokens)
