"""Reading dataset files into rows, streaming, each row with its place in the file.

CONTRACT (implemented by the reading helper; other modules rely on exactly this):

    @dataclass(slots=True)
    class Record:
        source: str          # the path as the user gave it ("-" for stdin)
        line: int            # 1-based line (jsonl, csv) or 1-based row (json array,
                             # parquet, arrow folder)
        value: Any           # the parsed row (a dict for a good row); None with a problem
        raw: bytes | None    # the row's bytes as read (jsonl), else None
        problem: Problem | None   # set when the row could not be read (invalid JSON,
                                  # invalid UTF-8, NUL byte, truncated last line,
                                  # non-object row); value is then None

    def read_records(path: str) -> Iterator[Record]
        Streams any supported input; memory does not grow with the file.
        Raises InputError for a file that cannot be read at all (missing -> UsageError).
"""
