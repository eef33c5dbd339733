"""The byte streams the row readers read: gzip and zstd decoding that hands over what it
decoded before it reports damage or a stream cut short (as a ``StreamError``, which the
readers turn into a final problem Record), UTF-16 decoded to UTF-8 as it streams, a head
put back after sniffing, and a byte range of a file.

Each has only ``read(n)`` and ``close()``, so a reader does not know which it holds.
``BLOCK`` is how much a reader asks a stream for at once; ``HEAD``, how much a sniff looks at.
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from typing import Any, BinaryIO, Protocol

from dataprep.reading.records import InputInfo

# Large reads and one bytes.split per block are what make JSON Lines fast: far fewer
# Python-level steps than iterating a file line by line.
BLOCK = 1 << 18
HEAD = 1 << 16


class _Readable(Protocol):
    def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


class StreamError(Exception):
    """Raised by a decoding stream mid-file; becomes a final problem Record."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Prefixed:
    """A stream whose first bytes were already read for sniffing."""

    def __init__(self, head: bytes, stream: Any, close_stream: bool = True):
        self.head = head
        self.stream = stream
        self.close_stream = close_stream

    def read(self, n: int) -> bytes:
        if self.head:
            out, self.head = self.head[:n], self.head[n:]
            return out
        return self.stream.read(n)

    def close(self) -> None:
        if self.close_stream:
            self.stream.close()


class Range:
    """At most ``size`` bytes of a file, then EOF."""

    def __init__(self, f: BinaryIO, size: int):
        self.f = f
        self.left = size

    def read(self, n: int) -> bytes:
        if self.left <= 0:
            return b""
        data = self.f.read(min(n, self.left))
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.f.close()


class _Gzip:
    """gzip decoding that hands over what it decoded before reporting damage.

    ``GzipFile.read`` loses the data of a call that ends in an error; ``read1`` in a loop
    keeps it, and the error is raised on the next call.
    """

    def __init__(self, raw: Any, close_raw: bool = True):
        self.raw = raw
        self.close_raw = close_raw
        self.z = gzip.GzipFile(fileobj=raw, mode="rb")
        self.error: StreamError | None = None

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < n and self.error is None:
            try:
                data = self.z.read1(n - size)
            except EOFError:
                self.error = StreamError(
                    "truncated-file", "the gzip stream ends early (file cut short?)"
                )
                break
            except (OSError, zlib.error) as e:
                self.error = StreamError("corrupt-file", f"the gzip data is damaged: {e}")
                break
            if not data:
                break
            parts.append(data)
            size += len(data)
        if not parts and self.error is not None:
            error, self.error = self.error, None
            raise error
        return b"".join(parts)

    def close(self) -> None:
        self.z.close()
        if self.close_raw:
            self.raw.close()


class _Zstd:
    """zstd decoding that notices a stream cut short, and hands over at most ``n`` bytes.

    zstandard's stream_reader returns a clean EOF for a truncated frame; a
    decompressobj tells (``eof`` stays False). Frames one after another are all read.
    A decompressobj has no output limit, so compressed input is fed in pieces sized from
    the ratio seen so far: a few KB of zstd can hold gigabytes (one byte can decode to
    about 32 KB), and what one piece decodes to must stay small.
    """

    def __init__(self, raw: Any, close_raw: bool = True):
        import zstandard

        self.zstandard = zstandard
        self.raw = raw
        self.close_raw = close_raw
        self.d = zstandard.ZstdDecompressor().decompressobj()
        self.fed = False
        self.done = False
        self.pending = b""  # decoded, not handed over yet
        self.unfed = b""  # read from ``raw``, not fed yet
        self.piece = 1 << 10  # compressed bytes per feed; adapts to the ratio
        self.error: StreamError | None = None

    def read(self, n: int) -> bytes:
        while len(self.pending) < n and not self.done and self.error is None:
            self._feed(n)
        if not self.pending and self.error is not None:
            error, self.error = self.error, None
            self.done = True
            raise error
        out = self.pending[:n]
        self.pending = self.pending[n:]
        return out

    def _feed(self, n: int) -> None:
        if not self.unfed:
            self.unfed = self.raw.read(1 << 17)
            if not self.unfed:
                self.done = True
                if self.fed and not self.d.eof:
                    self.error = StreamError(
                        "truncated-file", "the zstd stream ends early (file cut short?)"
                    )
                return
        data, self.unfed = self.unfed[: self.piece], self.unfed[self.piece :]
        size = len(data)
        out = []
        while data:
            self.fed = True
            try:
                out.append(self.d.decompress(data))
            except self.zstandard.ZstdError as e:
                self.error = StreamError("corrupt-file", f"the zstd data is damaged: {e}")
                break
            data = b""
            if self.d.eof:
                data = self.d.unused_data
                self.d = self.zstandard.ZstdDecompressor().decompressobj()
                self.fed = bool(data)
        decoded = b"".join(out)
        # The next piece: about n bytes of output at the ratio of this one.
        ratio = max(1, len(decoded) // size)
        self.piece = max(64, min(1 << 17, n // ratio))
        self.pending = self.pending + decoded if self.pending else decoded

    def close(self) -> None:
        if self.close_raw:
            self.raw.close()


class _Utf16:
    """UTF-16 in, UTF-8 out, decoded as it streams."""

    def __init__(self, stream: Any, encoding: str):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder(encoding)("surrogatepass")
        self.done = False

    def read(self, n: int) -> bytes:
        while not self.done:
            data = self.stream.read(n)
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError:
                # An odd trailing byte: an invalid UTF-8 byte makes the last row a problem.
                self.done = True
                return b"\xff"
            if not data:
                self.done = True
            # Lone surrogates stay invalid UTF-8, so the row reports them.
            out = text.encode("utf-8", "surrogatepass")
            if out:
                return out
        return b""

    def close(self) -> None:
        self.stream.close()


def decompressor(compression: str, raw: Any, close_raw: bool = True) -> _Readable:
    return _Gzip(raw, close_raw) if compression == "gzip" else _Zstd(raw, close_raw)


def read_head(stream: _Readable, path: str) -> bytes:
    parts, size = [], 0
    while size < HEAD:
        try:
            data = stream.read(HEAD - size)
        except StreamError:
            break  # reported as a row problem when the rows are read
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)


def open_decoded(info: InputInfo) -> _Readable:
    """The file's bytes, decompressed, BOM skipped, as UTF-8."""
    # Unbuffered: the readers ask for large blocks, a buffer would only copy them.
    f: Any = open(info.path, "rb", buffering=0)  # noqa: SIM115 (closed by the row generator)
    if info.compression:
        f = decompressor(info.compression, f)
    return text_layer(f, info)


def text_layer(stream: Any, info: InputInfo) -> Any:
    if info.bom:
        skip = 2 if info.encoding.startswith("utf-16") else 3
        while skip > 0:
            got = stream.read(skip)
            if not got:
                break
            skip -= len(got)
    if info.encoding != "utf-8":
        return _Utf16(stream, info.encoding)
    return stream


def read_head_plain(stream: BinaryIO) -> bytes:
    parts, size = [], 0
    while size < HEAD:
        data = stream.read(HEAD - size)
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)
