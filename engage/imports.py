"""The file of a subscriber import (for example a Mailchimp export): its columns and its rows.
engage.services.imports stores the rows.

Every good row is imported and every bad one reported by its line number, never by its
content (the report outlives the file, and an address in it would outlive its erasure):
bad encoding, no address, an invalid address, a duplicate of an earlier line, a suppressed or
erased address, or a person who had unsubscribed from the list or withdrawn consent from its
organisation (an import never overrides what a person told us).
"""

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django_countries import countries

from engage.csvfiles import csv_lines, has_undecodable
from engage.normalise import email_valid_normalised, normalise_postcode, validate_person_name

BATCH_SIZE = 5000
FIELDS = ["email", "first_name", "last_name", "postcode", "country"]
FIELD_LABELS = {
    "email": "Email address",
    "first_name": "First name",
    "last_name": "Last name",
    "postcode": "Postcode",
    "country": "Country",
}
# Header spellings matched automatically, compared without case, spaces or punctuation.
# Mailchimp's export: "Email Address", "First Name", "Last Name", ..., "CC" (country code).
HEADER_ALIASES = {
    "email": {"emailaddress", "email", "emailaddr", "mail", "e-mail"},
    "first_name": {"firstname", "fname", "givenname", "forename", "first"},
    "last_name": {"lastname", "lname", "surname", "familyname", "last"},
    "postcode": {"postcode", "postalcode", "zip", "zipcode", "postcodezip", "post"},
    "country": {"country", "countrycode", "cc"},
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ImportFileError(Exception):
    """The file as a whole cannot be read (empty, no header, no email column)."""


def _header_key(value: str) -> str:
    return re.sub(r"[^a-z]", "", value.lower())


def columns_guess(columns: list[str]) -> dict[str, str]:
    """{Muster field: column} for the headers that match a known spelling."""
    guessed: dict[str, str] = {}
    for column in columns:
        key = _header_key(column)
        for name, aliases in HEADER_ALIASES.items():
            if name not in guessed and key in {_header_key(alias) for alias in aliases}:
                guessed[name] = column
    return guessed


def file_columns(data: bytes, encoding: str) -> list[str]:
    """The header row: the file's first non-blank line."""
    for _, row in csv_lines(data, encoding):
        if row is None or has_undecodable(row):
            raise ImportFileError(f"The first line is not readable CSV in {encoding}: try the other encoding.")
        return [cell.strip() for cell in row]
    raise ImportFileError("The file is empty.")


@dataclass
class Row:
    line: int
    email: str
    first_name: str
    last_name: str
    postcode: str
    country: str


@dataclass
class Report:
    total_rows: int = 0
    processed_rows: int = 0
    new_supporters: int = 0
    subscribed: int = 0
    already_subscribed: int = 0
    skipped: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def problem(self, line: int, message: str, *, skipped: bool = True) -> None:
        self.problems.append((line, message))
        self.skipped += skipped


@functools.lru_cache(maxsize=1024)
def _country(value: str) -> str | None:
    """A country code from a code or a name; a file repeats a few values many times."""
    value = value.strip()
    if not value:
        return "GB"
    if value.upper() in countries:
        return value.upper()
    return countries.by_name(value) or None


def _name(value: str) -> str | None:
    # Line breaks and runs of spaces inside a spreadsheet cell become one space.
    value = " ".join(_CONTROL.sub("", value).split())[:100]
    try:
        validate_person_name(value)
    except ValidationError:
        return None
    return value


def _email_valid(email: str) -> str | None:
    """The address as stored (normalised, then checked), or None if it is not one."""
    try:
        return email_valid_normalised(email)
    except ValidationError:
        return None


def _cell_reader(header: list[str] | None, column_map: dict[str, str]) -> Callable[[list[str], str], str]:
    """cell(cells, field): the value of a Muster field in a row, "" when the row is short."""
    header = [cell.strip() for cell in header or []]
    if not column_map.get("email") or column_map["email"] not in header:
        raise ImportFileError("Choose which column holds the email address.")
    index = {name: header.index(column) for name, column in column_map.items() if column in header}

    def cell(cells: list[str], name: str) -> str:
        position = index.get(name)
        return cells[position] if position is not None and position < len(cells) else ""

    return cell


def rows_read(data: bytes, *, encoding: str, column_map: dict[str, str], report: Report) -> list[Row]:
    """The file's good rows, deduplicated on the normalised address; every other row reported."""
    lines = csv_lines(data, encoding)
    try:
        _, header = next(lines)
    except StopIteration:
        raise ImportFileError("The file is empty.") from None
    cell = _cell_reader(header, column_map)
    seen: dict[str, int] = {}
    rows = []
    for line, cells in lines:
        report.total_rows += 1
        if cells is None:
            report.problem(line, "not readable as CSV: skipped")
            continue
        if has_undecodable(cells):
            report.problem(line, f"not valid {encoding} text (bad encoding): skipped")
            continue
        email = _email_valid(cell(cells, "email"))
        if not cell(cells, "email").strip():
            report.problem(line, "no email address: skipped")
        elif email is None:
            report.problem(line, "not a valid email address: skipped")
        elif email in seen:
            report.problem(line, f"the same address as line {seen[email]}: skipped")
        else:
            seen[email] = line
            rows.append(_row(line, email, cells, cell=cell, report=report))
    return rows


def _row(line: int, email: str, cells: list[str], *, cell: Callable[[list[str], str], str], report: Report) -> Row:
    """A row with a good address: details that do not pass are reported and left out."""
    first_name, last_name = _name(cell(cells, "first_name")), _name(cell(cells, "last_name"))
    if first_name is None or last_name is None:
        report.problem(line, "a name looked like a web address or a formula: imported without it", skipped=False)
    country = _country(cell(cells, "country"))
    if country is None:
        report.problem(line, "country not recognised: imported as United Kingdom", skipped=False)
        country = "GB"
    postcode = cell(cells, "postcode")
    if postcode.strip():
        try:
            postcode = normalise_postcode(_CONTROL.sub("", postcode), country)[:16]
        except ValidationError:
            report.problem(line, "postcode not recognised: imported without it", skipped=False)
            postcode = ""
    return Row(line, email, first_name or "", last_name or "", postcode.strip(), country)


def rows_batched(rows: list[Row]) -> Iterator[list[Row]]:
    """The rows BATCH_SIZE at a time: each batch is stored in one transaction."""
    for start in range(0, len(rows), BATCH_SIZE):
        yield rows[start : start + BATCH_SIZE]
