"""Strict parsers for numbers and moments that arrive as text (query strings, form choices).

Python is lenient where the database is not: str.isdigit() accepts "²", int() accepts "١٠" and
any length, and an ISO 8601 offset of +23:59 parses although PostgreSQL refuses more than 15
hours. So only ASCII digits within bounds are numbers here, and every moment is converted to UTC
before it reaches a query.
"""

import re
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

BIGINT_MAX = 2**63 - 1  # a BigAutoField's largest id

_DIGITS = re.compile(r"[0-9]{1,19}")
_DATE = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})")
_DATETIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)


def parse_whole_number(value: str, *, minimum: int = 0, maximum: int = BIGINT_MAX) -> int | None:
    """`value` as an int if it is ASCII digits only and within [minimum, maximum], else None."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if minimum <= number <= maximum else None


def parse_ids(values: list[str]) -> set[int]:
    """The ids among submitted choices; anything that is not a positive id is ignored."""
    return {number for value in values if (number := parse_whole_number(value, minimum=1)) is not None}


def _date(value: str) -> date | None:
    match = _DATE.fullmatch(value)
    if not match:
        return None
    try:
        return date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return None


def _offset(text: str | None) -> timedelta | None:
    if not text or text in "Zz":
        return timedelta(0)
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return -offset if text[0] == "-" else offset


def parse_moment(value: str) -> datetime | None:
    """A date (midnight, local time) or an ISO 8601 date-time with any valid offset (local time
    if none), as an aware UTC datetime; None if it is not one or falls outside the calendar."""
    if not isinstance(value, str):
        return None
    day = _date(value)
    naive_offset = None
    if day is not None:
        moment = datetime.combine(day, time.min)
    else:
        match = _DATETIME.fullmatch(value)
        day = _date(match["date"]) if match else None
        if day is None:
            return None
        try:
            moment = datetime.combine(
                day,
                time(int(match["hour"]), int(match["minute"]), int(match["second"] or 0),
                     int((match["fraction"] or "0")[:6].ljust(6, "0"))),
            )
        except ValueError:
            return None
        if match["offset"]:
            naive_offset = _offset(match["offset"])
            if naive_offset is None:
                return None
    try:
        if naive_offset is None:
            return timezone.make_aware(moment).astimezone(UTC)
        return (moment - naive_offset).replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        # Beyond year 1 or 9999 once moved to UTC; or a local time that does not exist.
        return None
