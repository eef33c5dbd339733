"""Prepare trains only rows that pass ``validate``'s row checks (``dataprep.validate.rows``).

The checks run on the canonical example the worker has already built
(``dataprep.validate.rows.check_converted``), behind the same fast path ``validate`` uses
(``dataprep._fast.clean.FAST_CLEAN``): nothing is converted twice. A
row's errors reject it under the first one's code, as ``validate`` reports it; codes the
user passed to ``--accept`` keep it, and are recorded. Warnings keep it and are counted.
Duplicates across a file are ``--dedup``'s business, not the gate's.

>>> from dataprep.formats.mapping import Mapping
>>> gate = RowGate(("empty-content",), Mapping())
>>> row = {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "A"}]}
>>> from dataprep.formats import FORMATS
>>> gate.check(row, "messages", FORMATS["messages"].to_canonical(row))
(('empty-content',), ())
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dataprep.canonical import Example
from dataprep.errors import RowError, UsageError
from dataprep.formats.mapping import Mapping
from dataprep.validate.rows import (
    ROW_ERROR_CODES,
    ROW_WARNING_CODES,
    Finding,
    check_converted,
)

Verdict = tuple[tuple[str, ...], tuple[str, ...]]  # (accepted error codes, warning codes)
_CLEAN: Verdict = ((), ())

# Row-check errors whose rows leave nothing to train whatever the user says (the
# adapters refuse them, or the encoder does), and why.
_UNTRAINABLE = {
    "schema": "it does not have its format's shape",
    "no-messages": "it holds no messages",
    "unknown-role": "it is not read as its format; map the role with --role",
    "non-string-content": "it is not read as its format",
    "prompt-mismatch": "no prompt is continued by both answers",
}
# The codes --accept takes.
ACCEPTABLE_CODES = tuple(sorted(c for c in ROW_ERROR_CODES if c not in _UNTRAINABLE))


def check_accept(codes: Iterable[str]) -> None:
    """Refuse an ``--accept`` code that names no error a kept row could have (a usage
    error).

    >>> check_accept(["orphan-tool-result"])
    >>> check_accept(["orphan-tool-results"])
    Traceback (most recent call last):
    ...
    dataprep.errors.UsageError: unknown code 'orphan-tool-results' for --accept (known: bad-tool-arguments, chosen-equals-rejected, consecutive-roles, empty-content, leaked-control-token, missing-tool-argument, no-final-assistant, null-content, orphan-tool-result, system-not-first, tool-args-double-encoded, undeclared-tool, wrong-tool-argument-type)
    """
    for code in codes:
        if code in ACCEPTABLE_CODES:
            continue
        if code in _UNTRAINABLE:
            raise UsageError(
                f"--accept {code}: a row with {code} cannot be trained at all "
                f"({_UNTRAINABLE[code]})"
            )
        if code in ROW_WARNING_CODES:
            raise UsageError(
                f"--accept {code}: {code} is a warning, and rows with it are kept already"
            )
        raise UsageError(
            f"unknown code {code!r} for --accept (known: {', '.join(ACCEPTABLE_CODES)})"
        )


class RowGate:
    """Holds the accepted codes and the field mapping (paths are named in the file's own
    terms, as ``validate`` names them)."""

    def __init__(self, accept: Iterable[str], mapping: Mapping):
        # Imported here: dataprep._fast.clean is built on dataprep.validate.rows.
        from dataprep._fast.clean import FAST_CLEAN

        self.accept = frozenset(accept)
        self.mapping = mapping if not mapping.is_identity else None
        self.clean = FAST_CLEAN  # rows it vouches for skip the full check

    def check(self, row: Any, fmt: str, example: Example) -> Verdict:
        """The codes a kept row was accepted with, and its warnings; raises ``RowError``
        (the first error not accepted) for a row that must not be trained."""
        clean = self.clean.get(fmt)
        if clean is not None and clean(row):
            return _CLEAN
        findings = check_converted(row, fmt, example)
        if not findings:
            return _CLEAN
        accepted: dict[str, None] = {}
        warnings: dict[str, None] = {}
        for f in findings:
            if f.severity == "warning":
                warnings[f.code] = None
            elif f.code in self.accept:
                accepted[f.code] = None
            else:
                raise self._error(f)
        return tuple(accepted), tuple(warnings)

    def _error(self, f: Finding) -> RowError:
        path = f.path
        if self.mapping is not None and path:
            from dataprep.validate.files import user_path

            path = user_path(path, self.mapping)
        return RowError(path, f.message, f.code)
