"""Reading a JSON request body within limits, before anything else looks at it.

Python's json module recurses once per nesting level (a deep enough array is a RecursionError),
turns a 5,000-digit number into a ValueError that is not a JSONDecodeError, and accepts NaN. Each
of those was a 500; here each is a JsonBodyError that a view answers with a 4xx.
"""

import json
import re

from django.utils.translation import gettext as _

MAX_DEPTH = 20
MAX_NUMBER_CHARACTERS = 30

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(rb"[\[\]{}]")


class JsonBodyError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest, counted without parsing (brackets inside strings skipped)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub(b'""', raw)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _number(text: str, convert):
    if len(text) > MAX_NUMBER_CHARACTERS:
        raise JsonBodyError(400, "invalid_json", _("A number in the body is too long."))
    return convert(text)


def _refuse_constant(name: str):
    raise JsonBodyError(400, "invalid_json", _("%(name)s is not a JSON value.") % {"name": name})


def json_body_parse(raw: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH):
    """The JSON value `raw` holds (None if empty). Raises JsonBodyError (a 400) if it is longer
    than `max_bytes`, nests deeper than `max_depth`, holds an over-long number or is not JSON."""
    if len(raw) > max_bytes:
        # 400, not 413, as the API has always answered an over-long Content-Length.
        raise JsonBodyError(400, "too_large", _("The body is too large."))
    if not raw.strip():
        return None
    if _nesting_depth(raw) > max_depth:
        raise JsonBodyError(400, "invalid_json", _("The body nests deeper than %(depth)d levels.") % {"depth": max_depth})
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_int=lambda text: _number(text, int),
            parse_float=lambda text: _number(text, float),
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise JsonBodyError(400, "invalid_json", _("The body is not valid JSON.")) from None
