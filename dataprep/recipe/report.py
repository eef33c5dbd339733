"""What became of each key of a peer's config: the mapping report.

Every key seen is one ``KeyUse``: ``mapped`` (to what of ours), ``ignored`` (harmless
here, and why), ``not-honoured`` (we cannot do what it asks), or ``refused`` (data we do
not support, such as media, which is never dropped silently). A not-honoured or refused
key that changes what is trained makes the report fail: the caller exits 1.

>>> r = Report()
>>> r.mapped("a.yaml:3", "datasets[0].type", "format alpaca")
>>> r.not_honoured("a.yaml:4", "datasets[0].shards", "we take every row", changes_training=True)
>>> r.fails, [u.status for u in r.uses]
(True, ['mapped', 'not-honoured'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dataprep.errors import DataprepError

Status = Literal["mapped", "ignored", "not-honoured", "refused", "note"]


@dataclass(frozen=True)
class KeyUse:
    where: str  # file:line
    key: str  # the key path in the config: datasets[0].type
    status: Status
    detail: str  # mapped: to what; otherwise why
    changes_training: bool = False

    def line(self) -> str:
        flag = " (changes training)" if self.changes_training else ""
        return f"{self.where}: {self.key}: {self.status}{flag}: {self.detail}"


@dataclass
class Report:
    uses: list[KeyUse] = field(default_factory=list)

    def mapped(self, where: str, key: str, detail: str) -> None:
        self.uses.append(KeyUse(where, key, "mapped", detail))

    def ignored(self, where: str, key: str, why: str) -> None:
        self.uses.append(KeyUse(where, key, "ignored", why))

    def note(self, where: str, key: str, what: str) -> None:
        """Honoured, with a difference the user should know of (that we accept)."""
        self.uses.append(KeyUse(where, key, "note", what))

    def not_honoured(self, where: str, key: str, why: str, *, changes_training: bool) -> None:
        self.uses.append(KeyUse(where, key, "not-honoured", why, changes_training))

    def refused(self, where: str, key: str, why: str) -> None:
        self.uses.append(KeyUse(where, key, "refused", why, True))

    @property
    def fails(self) -> bool:
        """True when something that changes training cannot be honoured."""
        return any(
            u.changes_training and u.status in ("not-honoured", "refused") for u in self.uses
        )

    def lines(self) -> list[str]:
        return [u.line() for u in self.uses]


class NotHonoured(DataprepError):
    """A config asks for something that changes training and that we cannot do: prepare
    stops before any work (exit 1). ``report`` is the whole mapping report."""

    def __init__(self, origin: str, report: Report):
        failing = [
            u for u in report.uses if u.changes_training and u.status in ("not-honoured", "refused")
        ]
        super().__init__(
            f"{origin}: {len(failing)} key{'s' if len(failing) != 1 else ''} that "
            f"change{'s' if len(failing) == 1 else ''} training cannot be honoured (see the mapping report above); nothing was prepared"
        )
        self.report = report
