"""What a file is, from its name and its first bytes: compression, encoding, and kind
(JSON Lines, a JSON array, JSON values, CSV, Parquet, Arrow); for a folder, the files of a
dataset saved with ``save_to_disk``.

The decisions are made on a head of bytes that the caller has read, so a file and a pipe
(which can be read only once) are decided by the same code. Nothing here reads rows.
"""

from __future__ import annotations

import codecs
import os

import orjson

from dataprep.errors import InputError
from dataprep.reading.records import InputInfo

SUPPORTED = (
    ".jsonl/.ndjson, .json (array), .csv/.tsv, .txt (a document a line), .parquet, .arrow, "
    "any of the text kinds "
    "compressed as .gz or .zst, a folder written by datasets' save_to_disk, or - for stdin"
)

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_OTHER_COMPRESSION = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"7z\xbc\xaf\x27\x1c": "7z",
}
_COMPRESSED_SUFFIXES = (".gz", ".gzip", ".zst", ".zstd")
_EXT_KIND = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".txt": "text",
}
ARROW_FILE = b"ARROW1"
ARROW_STREAM = b"\xff\xff\xff\xff"


def compression_of(path: str, head: bytes) -> str | None:
    if head.startswith(_GZIP):
        return "gzip"
    if head.startswith(_ZSTD):
        return "zstd"
    for magic, name in _OTHER_COMPRESSION.items():
        if head.startswith(magic):
            raise InputError(
                path,
                f"compressed as {name}, which is not supported: decompress it, or use gzip or zstd",
                "unsupported-compression",
            )
    return None


def _split_name(path: str) -> tuple[str, str | None]:
    """The extension that says the kind (after any compression suffix), and that suffix."""
    name = os.path.basename(path).lower()
    for suffix in _COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return os.path.splitext(name[: -len(suffix)])[1], suffix
    return os.path.splitext(name)[1], None


def kind_suffix(name: str) -> str:
    """The extension(s) of ``name`` that say its kind, or "" (for a copy of a pipe).

    >>> kind_suffix("data.json.gz"), kind_suffix("63"), kind_suffix("x.txt"), kind_suffix("x.doc")
    ('.json.gz', '', '.txt', '')
    """
    ext, compressed = _split_name(name)
    if ext not in _EXT_KIND:
        return ""
    return ext + (compressed or "")


def encoding_of(path: str, head: bytes) -> tuple[str, int]:
    """The encoding of the text in ``head`` and the length of its BOM."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise InputError(
            path, "is UTF-32, which is not supported: convert it to UTF-8", "unsupported-encoding"
        )
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    # Without a BOM, UTF-16 of mostly-ASCII text (JSON, CSV headers) has a NUL in every
    # other byte: at odd offsets for little-endian, at even ones for big-endian.
    sample = head[:64]
    pairs = len(sample) // 2
    if pairs >= 2:
        odd = sum(1 for i in range(pairs) if sample[2 * i + 1] == 0 and sample[2 * i] != 0)
        even = sum(1 for i in range(pairs) if sample[2 * i] == 0 and sample[2 * i + 1] != 0)
        if odd * 4 >= pairs * 3:
            return "utf-16-le", 0
        if even * 4 >= pairs * 3:
            return "utf-16-be", 0
    return "utf-8", 0


def decide(path: str, head: bytes, compression: str | None) -> InputInfo:
    ext, suffix = _split_name(path)
    info = InputInfo(path, "jsonl", compression)
    if compression and suffix is None:
        info.notes.append(f"compressed with {compression} (found from its content)")
    elif suffix and not compression:
        info.notes.append(f"named {suffix} but not compressed: read as it is")
    by_name = _EXT_KIND.get(ext)

    if head.startswith(b"PAR1"):
        if compression:
            raise InputError(
                path,
                "a compressed Parquet file cannot be streamed: decompress it (Parquet compresses inside)",
                "unsupported-compression",
            )
        info.kind = "parquet"
        _check_parquet(path)
        if by_name != "parquet":
            info.notes.append("a Parquet file (found from its content)")
        return info
    if by_name == "arrow" or head.startswith(ARROW_FILE):
        if compression:
            raise InputError(
                path,
                "a compressed Arrow file cannot be read: decompress it",
                "unsupported-compression",
            )
        info.kind = "arrow"
        info.files = [path]
        return info

    info.encoding, bom = encoding_of(path, head)
    info.bom = bom > 0
    text = head_as_utf8(head[bom:], info.encoding)
    if info.encoding != "utf-8":
        endian = "little" if info.encoding.endswith("le") else "big"
        info.notes.append(f"read as UTF-16 ({endian}-endian)")
    first = text.lstrip()[:1]

    if by_name == "text":
        # LLaMA-Factory's (and datasets') plain text: a document a line. A .txt file that
        # holds JSON Lines is read as rows, with a note: its lines are objects, not prose.
        if (
            first == b"{"
            and json_kind(text, prefer_lines=True) == "jsonl"
            and _first_line_is_json(text)
        ):
            info.kind = "jsonl"
            info.notes.append("a .txt file holding JSON Lines: read as JSON Lines")
        else:
            info.kind = "text"
        return info
    if by_name == "csv":
        info.kind = "csv"
        info.delimiter = "\t" if ext == ".tsv" else _csv_delimiter(text)
        return info
    if by_name in ("jsonl", "json") or first in (b"[", b"{"):
        info.kind = json_kind(text, prefer_lines=by_name == "jsonl")
    elif not first:
        info.kind = "jsonl"  # empty: no rows
    elif by_name is None and _looks_like_text(text) and _csv_delimiter(text, default=""):
        info.kind = "csv"
        info.delimiter = _csv_delimiter(text)
    elif by_name == "parquet":
        raise InputError(path, "is not a Parquet file (no PAR1 magic bytes)", "unreadable")
    else:
        raise InputError(
            path, f"cannot tell what kind of file this is; supported: {SUPPORTED}", "unknown-kind"
        )
    if by_name is None:
        info.notes.append(
            f"unknown extension {ext or '(none)'}: read as {_KIND_WORDS[info.kind]} from its content"
        )
    elif info.kind == "json-values":
        info.notes.append(
            f"a {ext} file holding JSON values one after another, not an array: each is read as a row"
        )
    elif by_name != info.kind:
        words = _KIND_WORDS[info.kind]
        info.notes.append(f"a {ext} file holding {words}: read as {words}")
    return info


_KIND_WORDS = {
    "jsonl": "JSON Lines",
    "text": "plain text, a document a line",
    "json": "a JSON array",
    "json-values": "JSON values one after another",
    "csv": "CSV",
    "parquet": "Parquet",
    "arrow": "Arrow",
}


def json_kind(text: bytes, prefer_lines: bool) -> str:
    """JSON Lines, a JSON array, or JSON values one after another, from the first bytes.

    A first line that is complete JSON means JSON Lines (except that an array wins in a
    file not named as JSON Lines); one that is not means a pretty-printed document. In a
    file named as JSON Lines only an unmistakable document start (a line ``[`` or ``{``)
    overrides the name: a broken first row must be reported as that, at line 1.
    """
    first_line = _first_line(text)
    first = first_line[:1]
    complete = _first_line_is_json(text)
    if prefer_lines:
        if complete or not _starts_document(first_line):
            return "jsonl"
        return "json" if first == b"[" else "json-values"
    if first == b"[":
        return "json"
    if first == b"{":
        return "jsonl" if complete else "json-values"
    return "json-values"


def _first_line(text: bytes) -> bytes:
    for line in text.split(b"\n", 64):
        if line.strip():
            return line.strip()
    return b""


def _starts_document(line: bytes) -> bool:
    """Does this first line open a pretty-printed array or object (not a row of its own)?"""
    return line in (b"[", b"{", b"[{") or (line[:1] == b"[" and line.endswith(b","))


def head_as_utf8(head: bytes, encoding: str) -> bytes:
    if encoding == "utf-8":
        return head
    # An odd byte count cuts a code unit: drop it, this is only a sniff.
    text = head[: len(head) // 2 * 2].decode(encoding, "replace")
    return text.encode("utf-8", "replace")


def _first_line_is_json(text: bytes) -> bool:
    """Is the first non-blank line of ``text`` a complete JSON value?

    A head with no newline at all is one long line: JSON Lines rows can be long, a
    pretty-printed document breaks its first line early.
    """
    for line in text.split(b"\n")[:-1]:
        if line.strip():
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                return False
            return True
    return b"\n" not in text.rstrip(b"\r\n \t")


def _looks_like_text(text: bytes) -> bool:
    sample = text[:4096]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start > len(sample) - 4  # a character cut by the end of the sample
    return True


def _csv_delimiter(text: bytes, default: str = ",") -> str:
    # From the header line only: cells below may hold JSON full of commas and colons.
    header = text.split(b"\n", 1)[0]
    counts = {d: header.count(d.encode()) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else default


def _check_parquet(path: str) -> None:
    import pyarrow.parquet as pq

    try:
        pq.ParquetFile(path).close()
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise InputError(path, f"is not a readable Parquet file: {e}", "unreadable") from e


def sniff_folder(path: str) -> InputInfo:
    state = os.path.join(path, "state.json")
    if os.path.isfile(state):
        try:
            with open(state, "rb") as f:
                files = [entry["filename"] for entry in orjson.loads(f.read())["_data_files"]]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
            raise InputError(
                path, f"has a state.json that cannot be read: {e}", "unreadable"
            ) from e
        bad = [
            name
            for name in files
            if type(name) is not str
            or not name
            or "\0" in name
            or os.path.isabs(name)
            or ".." in name.replace("\\", "/").split("/")
        ]
        if bad or not files:
            what = f"file names that are not names ({bad[0]!r})" if bad else "no data files"
            raise InputError(
                path,
                f"has a state.json with {what}: save the dataset again with save_to_disk",
                "unreadable",
            )
        full = [os.path.join(path, name) for name in files]
        missing = [name for name in files if not os.path.isfile(os.path.join(path, name))]
        if missing:
            raise InputError(path, f"saved dataset is missing {', '.join(missing)}", "unreadable")
        return InputInfo(path, "arrow", files=full)
    splits_file = os.path.join(path, "dataset_dict.json")
    if os.path.isfile(splits_file):
        try:
            with open(splits_file, "rb") as f:
                splits = [str(s) for s in orjson.loads(f.read())["splits"]]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            splits = []
        example = os.path.join(path, splits[0] if splits else "train")
        raise InputError(
            path,
            f"is a DatasetDict with splits {', '.join(splits) or '(unknown)'}: pass one split's folder, e.g. {example}",
            "not-a-dataset",
        )
    raise InputError(
        path,
        "is a folder, not a dataset saved with datasets' save_to_disk (it has no state.json)",
        "not-a-dataset",
    )
