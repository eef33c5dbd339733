"""Problems found in data, collected rather than raised, then summarised."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(slots=True, frozen=True)
class Problem:
    source: str
    line: int  # 1-based line (JSON Lines, CSV) or 1-based row (JSON array, Parquet, Arrow)
    path: str  # field path inside the row, "" for the row as a whole
    message: str
    code: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        field = f" {self.path}:" if self.path else ""
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{where}:{field} {tag}{self.message} [{self.code}]"

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "code": self.code,
            "severity": self.severity,
        }


class ProblemLog:
    """Counts every problem by code; keeps the first ``max_kept`` for display."""

    def __init__(self, max_kept: int = 50):
        self.max_kept = max_kept
        self.kept: list[Problem] = []
        self.counts: Counter[str] = Counter()
        self.errors = 0
        self.warnings = 0

    def add(self, problem: Problem) -> None:
        self.counts[problem.code] += 1
        if problem.severity == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.kept) < self.max_kept:
            self.kept.append(problem)

    def __len__(self) -> int:
        return self.errors + self.warnings
