"""One row to the canonical model: the single place where a row becomes an example.

``validate``, ``convert``, ``prepare`` and ``stats`` all read a row the same way: the
``--field``/``--role`` mapping, the choice of format (forced, the file's own when it
claims the row, else the first that does), the format's adapter, then the refusal of
media. A row that cannot make it raises one ``RowError`` whose code and message are the
ones ``validate`` reports for that row (its first error), so the same bad row reads the
same in every command: validate's problem, convert's and prepare's rejects, stats' count.

Each caller keeps only its own part: validate collects every problem of a row (it runs
the checks itself, and uses ``unknown_format`` for rows of no format); convert writes
rejects; prepare rejects rows and gates the rest; stats counts.

It lives beside the row checks, not in ``formats``, because the error it raises for a
row its adapter refuses is the row checks' verdict (schema first), and format choice is
``detect``'s: both sit above the adapters.

>>> to_canonical({"instruction": "Add 2 and 2", "output": "4"}, None).format
'alpaca'
>>> to_canonical({"question": "Hi"}, None)
Traceback (most recent call last):
...
dataprep.errors.RowError: row fits no format (keys: question); pass --format to read it as one, or map its fields with --field
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from dataprep.detect import row_formats
from dataprep.errors import RowError
from dataprep.formats import FORMATS
from dataprep.formats.media import refuse_media

if TYPE_CHECKING:
    from dataprep.canonical import Example
    from dataprep.formats.mapping import Mapping


class CanonicalRow(NamedTuple):
    """A row read: its example, the format it was read as, the row after mapping (what
    the row checks look at), and every format that claimed it when its shape chose (empty
    when the format was forced or the file's own claimed it)."""

    example: Example
    format: str
    row: dict[str, Any]
    claimed: tuple[str, ...] = ()


# CanonicalRow(...) goes through a __new__ of Python code; tuple's own is called directly
# on this path, which every row of every command takes.
_new_row = tuple.__new__


def to_canonical(
    row: Any, fmt: str | None, mapping: Mapping | None = None, *, forced: bool = False
) -> CanonicalRow:
    """Read one row as the canonical model.

    ``fmt`` is the file's format, tried first (with ``forced``, the only one: no
    detection); ``mapping`` the ``--field``/``--role`` mapping. Raises ``RowError`` with
    the code and message ``validate`` gives the row: a field path in the file's own names.
    """
    if type(row) is not dict:
        from dataprep.reading.records import non_object

        p = non_object("", 0, row).problem
        raise RowError("", p.message, p.code)  # type: ignore[union-attr]
    if mapping is not None and not mapping.is_identity:
        row = mapping.apply(row)  # RowError mapping-conflict, path in the file's names
    else:
        mapping = None
    claimed: tuple[str, ...] = ()
    if forced or (fmt is not None and FORMATS[fmt].detect(row)):
        name = fmt
    else:
        claimed = row_formats(row)
        if not claimed:
            raise unknown_format(row)
        name = claimed[0]
    assert name is not None  # forced comes with a format
    try:
        example = FORMATS[name].to_canonical(row)
        refuse_media(row, example)
    except RowError as e:
        raise first_error(row, name, e, mapping) from None
    return _new_row(CanonicalRow, (example, name, row, claimed))


def unknown_format(row: Any) -> RowError:
    """The error for a row no format claims, naming its first keys as the file has them.

    >>> unknown_format({"q": 1, "a": 2}).code
    'unknown-format'
    """
    keys = ", ".join(list(row)[:8]) if type(row) is dict else ""
    return RowError(
        "",
        f"row fits no format (keys: {keys or 'none'}); pass --format to read it as one, "
        "or map its fields with --field",
        "unknown-format",
    )


def first_error(row: Any, fmt: str, error: RowError, mapping: Mapping | None = None) -> RowError:
    """The error to give for a row whose adapter (or media check) failed: ``validate``'s
    first error for it (a schema error comes before the adapter's), its path named in the
    file's own terms. The failure path only: it costs nothing on rows that convert."""
    from dataprep.validate.rows import check_row

    for f in check_row(row, fmt):
        if f.severity == "error":
            return RowError(user_path(f.path, mapping), f.message, f.code)
    return RowError(user_path(error.path, mapping), error.message, error.code)


def user_path(path: str, mapping: Mapping | None) -> str:
    """``path`` with the fields ``--field`` renamed named back (``dataprep.validate.files.user_path``)."""
    if mapping is None or not path:
        return path
    from dataprep.validate.files import user_path as named_back

    return named_back(path, mapping)
