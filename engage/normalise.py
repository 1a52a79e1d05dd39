"""Normalising what people type, so one person is one row and one postcode one spelling."""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# The UK's postcode shapes (outward code, then a digit and two letters); BFPO and GIR 0AA too.
_GB_POSTCODE = re.compile(
    r"^(GIR ?0AA|[A-PR-UWYZ][0-9][0-9A-HJKPS-UW]? ?[0-9][ABD-HJLNP-UW-Z]{2}"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][0-9ABEHMNPRV-Y]? ?[0-9][ABD-HJLNP-UW-Z]{2}"
    r"|BFPO ?[0-9]{1,4})$"
)
_URL_LIKE = re.compile(r"(https?:|www\.|://|\b[\w-]+\.(com|net|org|uk|io|ru|info|biz|xyz|co)\b)", re.I)
_FORMULA_START = ("=", "+", "-", "@")


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased: addresses are compared case-insensitively."""
    return value.strip().lower()


def normalise_postcode(value: str, country: str) -> str:
    """Upper case with one space before the inward code for GB; trimmed elsewhere."""
    compact = re.sub(r"\s+", "", value).upper()
    if country == "GB":
        if not compact:
            raise ValidationError("Enter your postcode.", code="required")
        if not _GB_POSTCODE.match(compact):
            raise ValidationError("Enter a valid UK postcode, like SW1A 1AA.", code="invalid")
        if compact.startswith("BFPO"):
            return f"BFPO {compact[4:]}"
        return f"{compact[:-3]} {compact[-3:]}"
    return re.sub(r"\s+", " ", value.strip().upper())


def postcode_area(postcode: str, country: str) -> str:
    """A UK postcode's area, the letters before the first digit: "S70 2AB" -> "S". Other
    countries' postcodes have no such area ("PARIS" is a whole postcode), so they keep none."""
    if country != "GB":
        return ""
    match = re.match(r"^[A-Z]+", postcode.strip().upper())
    return match.group(0) if match else ""


# Format characters that names need: zero-width (non-)joiners in Persian and Indic scripts.
_ALLOWED_FORMAT = {"\u200c", "\u200d"}


# Characters a multi-line field (a textarea) may hold among the controls: browsers send CR LF.
_MULTILINE_CONTROLS = {"\t", "\n", "\r"}


def _is_noncharacter(char: str) -> bool:
    point = ord(char)
    return 0xFDD0 <= point <= 0xFDEF or (point & 0xFFFE) == 0xFFFE


def validate_text(value: str, *, multiline: bool = False) -> None:
    """Refuse what no text field can store or show: lone surrogates (JSON's "\\ud800" decodes
    to one, and the database cannot encode it), Unicode non-characters (U+FFFE, U+FFFF…), NUL
    and the other control characters, less tab and newlines in a multi-line field."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs" or _is_noncharacter(char):
            raise ValidationError(
                _("Remove the characters that are not text (a lone surrogate or a non-character)."),
                code="not_text",
            )
        if category == "Cc" and not (multiline and char in _MULTILINE_CONTROLS):
            raise ValidationError(_("Remove the invisible control characters."), code="control_characters")


def validate_multiline_text(value: str) -> None:
    validate_text(value, multiline=True)


# What Python's email package and mail clients treat as the end of a line.
_LINE_BREAKS = {"\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}


def validate_header_text(value: str) -> None:
    """For what goes in an email header (a sender's name, a subject, a list's name): a line break
    there makes every send fail (Django refuses the header), so it is refused when saved."""
    if any(char in _LINE_BREAKS for char in value):
        raise ValidationError(
            _("Put this on one line: an email header can't contain a line break."), code="line_break"
        )
    validate_text(value)


def validate_no_control_characters(value: str) -> None:
    """validate_text, and refuse the invisible format characters too (bidi overrides that
    disguise text), which no name, address or postcode needs."""
    validate_text(value)
    for char in value:
        if unicodedata.category(char) == "Cf" and char not in _ALLOWED_FORMAT:
            raise ValidationError(_("Remove the invisible control characters."), code="control_characters")


def validate_person_name(value: str) -> None:
    validate_no_control_characters(value)
    if _URL_LIKE.search(value):
        raise ValidationError("A name can't contain a web address.", code="url_in_name")
    if value.startswith(_FORMULA_START):
        raise ValidationError("A name can't start with = + - or @.", code="formula_start")


# The validators that already include validate_text (PublicForm adds it to every other text field).
TEXT_VALIDATORS = (validate_text, validate_multiline_text, validate_no_control_characters, validate_person_name)
