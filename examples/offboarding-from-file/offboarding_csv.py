"""Read offboarding.csv: one registration to revoke per line, with whose it is, why and the ticket.

The file is the request: a pull request that adds a line asks for that registration to be
revoked, and the owner, reason and ticket stay in the file, next to the ID, for the reviewer
and for the record::

    registration_id,owner,reason,ticket
    f174e90a-fafe-4643-bbbc-4a0ed4fc8415,alice@example.com,left the company,IT-1042

The four columns are required, in any order; more columns are allowed and ignored. Blank
lines and lines starting with ``#`` are skipped. IDs must be UUIDs (every Cloudflare
registration ID is one), which catches an ID truncated by a copy and paste. Every problem in
the file is reported at once, as ``FILE:LINE: reason``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["COLUMNS", "Offboarding", "OffboardingFileError", "Problem", "load"]

COLUMNS = ("registration_id", "owner", "reason", "ticket")
EXAMPLE_ID = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# What each column is for, said when it is left empty.
_PURPOSE = {
    "owner": "whose device this is",
    "reason": "why it is revoked",
    "ticket": "the ticket that asked for it",
}


@dataclass(frozen=True)
class Offboarding:
    """One line of the file: a registration to revoke, and why."""

    registration_id: str
    owner: str
    reason: str
    ticket: str
    line: int


@dataclass(frozen=True)
class Problem:
    """What is wrong on one line (line 0: the file as a whole)."""

    line: int
    reason: str


class OffboardingFileError(ValueError):
    """The file cannot be used; ``problems`` says where and why, one per line."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(
            "\n".join(
                f"{path}:{p.line}: {p.reason}" if p.line else f"{path}: {p.reason}"
                for p in problems
            )
        )


def load(path: Path) -> list[Offboarding]:
    """Every line of the file, in file order; ``OffboardingFileError`` if anything is wrong."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise OffboardingFileError(path, [Problem(0, "no such file")]) from None
    rows = [
        (number, row)
        for number, row in _rows(text)
        if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")
    ]
    if not rows:
        expected = ",".join(COLUMNS)
        raise OffboardingFileError(path, [Problem(0, f"the file is empty: expected `{expected}`")])
    (header_line, header), body = rows[0], rows[1:]
    columns = [cell.strip().lower() for cell in header]
    problems = _header_problems(header_line, columns)
    if problems:
        raise OffboardingFileError(path, problems)
    if not body:
        problems.append(Problem(header_line, "no registrations listed below the header"))
    entries: list[Offboarding] = []
    first_seen: dict[str, int] = {}
    for number, row in body:
        if len(row) != len(columns):
            problems.append(
                Problem(
                    number,
                    f"expected {len(columns)} fields ({', '.join(columns)}), found {len(row)}",
                )
            )
            continue
        fields = {column: cell.strip() for column, cell in zip(columns, row, strict=True)}
        row_problems = _row_problems(fields)
        reg_id = fields["registration_id"].lower()
        if not row_problems and reg_id in first_seen:
            row_problems.append(f"{reg_id} is already listed on line {first_seen[reg_id]}")
        problems += [Problem(number, reason) for reason in row_problems]
        if not row_problems:
            first_seen[reg_id] = number
            entries.append(
                Offboarding(reg_id, fields["owner"], fields["reason"], fields["ticket"], number)
            )
    if problems:
        raise OffboardingFileError(path, problems)
    return entries


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted field may span lines)."""
    reader = csv.reader(text.splitlines(keepends=True))
    records: list[tuple[int, list[str]]] = []
    start = 1
    for row in reader:
        records.append((start, row))
        start = reader.line_num + 1
    return records


def _header_problems(line: int, columns: list[str]) -> list[Problem]:
    problems = [
        Problem(line, f"column {column!r} appears more than once")
        for column in sorted({c for c in columns if columns.count(c) > 1})
    ]
    missing = [column for column in COLUMNS if column not in columns]
    if missing:
        problems.append(
            Problem(
                line,
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}: the "
                f"header must name {', '.join(COLUMNS)}",
            )
        )
    return problems


def _row_problems(fields: dict[str, str]) -> list[str]:
    problems: list[str] = []
    reg_id = fields["registration_id"]
    if not reg_id:
        problems.append("registration_id is empty")
    elif not _UUID.match(reg_id.lower()):
        problems.append(
            f"registration_id {reg_id!r} is not a registration ID: expected a UUID such as "
            f"{EXAMPLE_ID}"
        )
    problems += [
        f"{column} is empty: say {purpose}"
        for column, purpose in _PURPOSE.items()
        if not fields[column]
    ]
    return problems
