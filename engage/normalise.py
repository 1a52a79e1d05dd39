"""Normalising what people type, so one person is one row and one postcode one spelling."""

import re
import unicodedata

from django.core.exceptions import ValidationError

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


def validate_no_control_characters(value: str) -> None:
    """Refuse control characters and the other invisible format characters (bidi overrides
    that disguise text, NUL), which no name, address or postcode needs."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc" or (category == "Cf" and char not in _ALLOWED_FORMAT):
            raise ValidationError("Remove the invisible control characters.", code="control_characters")


def validate_person_name(value: str) -> None:
    validate_no_control_characters(value)
    if _URL_LIKE.search(value):
        raise ValidationError("A name can't contain a web address.", code="url_in_name")
    if value.startswith(_FORMULA_START):
        raise ValidationError("A name can't start with = + - or @.", code="formula_start")
