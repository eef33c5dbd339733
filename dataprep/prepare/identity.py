"""What a prepare run is made of, as hashes: its inputs, its tokenizer's files and its
chat template. Their fingerprint decides whether an existing output is up to date, and
``train`` compares tokenizers by the same hashes.

    >>> identity = tokenizer_identity("samples/tiny-tokenizer")
    >>> sorted(identity["files"])
    ['chat_template.jinja', 'tokenizer.json', 'tokenizer_config.json']
    >>> identity["sha256"] == fingerprint_of(identity["files"])
    True
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import dataprep
from dataprep.contract import fingerprint_of, tokenizer_files
from dataprep.prepare.options import PrepareOptions, option_record
from dataprep.reading.records import shown_path
from dataprep.validate.rows import ROW_ERROR_CODES, ROW_WARNING_CODES


@dataclass
class Input:
    path: str  # as the user gave it, made printable (see ``shown_path``; rejects name it)
    read_from: str  # where it is read: the path, or a spooled copy of stdin or a pipe
    sha256: str
    size: int
    lines: int | None  # newline count of a plain .jsonl (for the progress bar)
    hub: dict[str, Any] | None = None  # a Hub file: the manifest's HubInput record


def gather_inputs(options: PrepareOptions, spool: Path) -> list[Input]:
    """The run's inputs as hashed files: Hub ids become the files of their split in the
    Hugging Face cache (``dataprep.reading.inputs``), named by their exact URL
    (``hf://datasets/ORG/NAME@SHA/PATH``, the same on every machine) and hashed like
    local files; stdin and pipes are spooled (``spool_input``)."""
    from dataprep.reading.inputs import expand_inputs

    files = expand_inputs(
        options.inputs, split=options.split, subset=options.subset, revision=options.revision
    )
    inputs = []
    for f in files:
        item = hash_input(f.url, spool_input(f.path, spool))
        if f.hub is not None:
            item.hub = {
                "repo_id": f.hub.repo_id,
                "revision": f.hub.revision,
                "subset": f.hub.subset,
                "split": f.hub.split,
                "path": f.repo_file,
            }
        inputs.append(item)
    return inputs


def hash_input(path: str, read_from: str) -> Input:
    """The sha256 of an input: a file's bytes, or for a folder saved with
    ``save_to_disk`` its ``state.json`` and data files (names and bytes, in order)."""
    if os.path.isdir(read_from):
        return _hash_folder(path, read_from)
    digest = hashlib.sha256()
    count_lines = read_from.endswith(".jsonl")
    lines = size = 0
    with open(read_from, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
            if count_lines:
                lines += block.count(b"\n")
    return Input(
        shown_path(path), read_from, digest.hexdigest(), size, lines if count_lines else None
    )


def _hash_folder(path: str, folder: str) -> Input:
    from dataprep.reading import sniff_input

    info = sniff_input(folder)  # a folder that is no saved dataset is an InputError here
    digest = hashlib.sha256()
    size = 0
    for name in [os.path.join(folder, "state.json"), *info.files]:
        digest.update(os.path.relpath(name, folder).encode("utf-8", "surrogateescape") + b"\0")
        with open(name, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
                size += len(block)
    return Input(shown_path(path), folder, digest.hexdigest(), size, None)


def spool_input(path: str, folder: Path) -> str:
    """Where to read ``path`` from: itself, or for stdin (``-``) and a pipe (a named
    pipe, bash's ``<(...)``), which can be read only once, a copy in ``folder``: it is
    hashed (the cache key), then read for the format, then for the rows."""
    if path == "-":
        return spool_stdin(folder)
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
        with open(path, "rb") as stream:
            return _spool(stream, folder, os.path.basename(path))
    return path


def spool_stdin(folder: Path) -> str:
    """stdin, copied to a file so it can be hashed (the cache key) and then read."""
    import sys

    return _spool(sys.stdin.buffer, folder, "stdin")


def _spool(stream: BinaryIO, folder: Path, name: str) -> str:
    """Copy ``stream`` into ``folder``. The copy is named by the original's extension
    when it says a kind (``data.json`` through a pipe), else by its first bytes."""
    head = b""
    while len(head) < 4:
        block = stream.read(4 - len(head))
        if not block:
            break
        head += block
    suffix = _suffix_of_name(name) or _suffix_of_head(head)
    fd, spooled = tempfile.mkstemp(prefix="input-", suffix=suffix, dir=folder)
    with os.fdopen(fd, "wb") as out:
        out.write(head)
        shutil.copyfileobj(stream, out, 1 << 20)
    return spooled


def _suffix_of_name(name: str) -> str:
    from dataprep.reading.sniffing import kind_suffix

    return kind_suffix(name)


def _suffix_of_head(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return ".jsonl.gz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return ".jsonl.zst"
    if head.startswith(b"PAR1"):
        return ".parquet"
    if head.lstrip()[:1] == b"[":
        return ".json"
    return ".jsonl"


def tokenizer_identity(name_or_path: str) -> dict[str, Any]:
    """What the manifest says about a tokenizer: where, and the sha256 of its files.

    ``sha256`` is over the (file name, file sha256) pairs, so ``train`` can compare the
    tokenizer it is given with the one the data was prepared with.
    """
    folder, files = tokenizer_files(name_or_path)
    return {
        "name_or_path": name_or_path,
        "folder": str(folder.resolve()) if folder is not None else None,
        "files": files,
        "sha256": fingerprint_of(files) if files else None,
    }


def _template_identity(chat_template: str | None) -> dict[str, Any]:
    """What decides the template, without loading anything: a file's bytes, or a name."""
    if chat_template is None:
        return {"from": "tokenizer"}  # its files are in the tokenizer's hash
    path = Path(chat_template)
    if path.is_file():
        from dataprep.contract import sha256_file

        return {"file": chat_template, "sha256": sha256_file(path)}
    return {"builtin": chat_template, "trl": _trl_version()}


def _trl_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trl")
    except PackageNotFoundError:
        return None


def fingerprint_inputs(
    options: PrepareOptions, inputs: list[Input], tokenizer: dict[str, Any]
) -> dict[str, Any]:
    from dataprep.reading.limits import DEFAULT_MAX_ROW_BYTES, max_row_bytes

    identity = {
        "dataprep": dataprep.__version__,
        # A Hub input's record (its commit sha) is named only where there is one, so
        # fingerprints of local inputs are what they always were.
        "inputs": [
            {"path": i.path, "sha256": i.sha256, **({"hub": i.hub} if i.hub else {})}
            for i in inputs
        ],
        "tokenizer": tokenizer["sha256"] or tokenizer["name_or_path"],
        "chat_template": _template_identity(options.chat_template),
        # Which rows are trained: the row checks that exist decide it (a new check must
        # rebuild), with the codes --accept keeps (in the options record).
        "row_checks": [ROW_ERROR_CODES, ROW_WARNING_CODES],
        "options": option_record(options),
    }
    # Which rows are read depends on it (row-too-large); only a changed limit is named,
    # so fingerprints taken before the option existed still match.
    if max_row_bytes() != DEFAULT_MAX_ROW_BYTES:
        identity["max_row_bytes"] = max_row_bytes()
    return identity
