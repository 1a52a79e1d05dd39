"""A partner's own opted-in supporters, and the withdrawals and erasures among them, read with
the partner's API key.

A key reads only its own organisation's supporters, and of those only the people whose latest
consent row for that organisation is an opt-in (engage.selectors.partner_opt_ins_current). Keys
belong on a partner's server, not in a browser, so these endpoints send no CORS headers.
"""

import base64
import binascii
from datetime import datetime
from functools import wraps

from django.http import JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from engage.csvfiles import csv_stream
from engage.models import Consent
from engage.query_params import parse_moment, parse_whole_number
from engage.selectors import partner_notices_feed, partner_opt_ins_current
from engage.services.partner_keys import partner_api_key_authenticate
from engage.services.partner_notices import notice_payload, partner_notices_fetched

PAGE_SIZE = 100
PAGE_SIZE_MAX = 500
CSV_HEADER = ["email", "first_name", "last_name", "country", "postcode", "opted_in_at", "wording", "source"]


class _BadQuery(Exception):
    def __init__(self, field: str, message: str):
        self.field, self.message = field, message


def _json(body: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


def _bad_query(error: _BadQuery) -> JsonResponse:
    return _json(
        {"error": "invalid", "message": "Some parameters are not valid.", "fields": {error.field: [error.message]}}, 400
    )


def _unauthorized() -> JsonResponse:
    response = _json(
        {"error": "unauthorized", "message": "Send a live partner API key as 'Authorization: Bearer <key>'."}, 401
    )
    response["WWW-Authenticate"] = 'Bearer realm="muster partner API"'
    return response


def _authenticated_organisation(request):
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    api_key = partner_api_key_authenticate(plain=key.strip())
    return api_key.organisation if api_key else None


def _partner_key_required(view):
    """401 without a live key, 400 for a bad query parameter; else view(request, organisation)."""

    @wraps(view)
    def authenticated(request):
        organisation = _authenticated_organisation(request)
        if organisation is None:
            return _unauthorized()
        try:
            return view(request, organisation)
        except _BadQuery as error:
            return _bad_query(error)

    return authenticated


def _since(request) -> datetime | None:
    """`since` as a date (midnight, local time) or an ISO 8601 date-time (local time if no offset).
    Parsed strictly and in full before any response starts: the CSV is streamed, and a value the
    database refuses would otherwise break it off mid-stream behind a 200."""
    value = request.GET.get("since", "").strip(" ")  # a newline or other control character is refused
    if not value:
        return None
    moment = parse_moment(value)
    if moment is None:
        raise _BadQuery("since", _("Give a date (2026-01-31) or an ISO 8601 date-time (2026-01-31T09:00:00Z)."))
    return moment


def _cursor_encode(moment: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{pk}".encode()).decode().rstrip("=")


def _cursor_decode(value: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raw = ""
    stamp, _separator, pk = raw.partition("|")
    moment, after_pk = parse_moment(stamp), parse_whole_number(pk)
    if moment is None or after_pk is None:
        raise _BadQuery("cursor", _("Use the cursor from the previous page's `next` link."))
    return moment, after_pk


def _limit(request) -> int:
    value = request.GET.get("limit", "")
    if not value:
        return PAGE_SIZE
    limit = parse_whole_number(value, minimum=1, maximum=PAGE_SIZE_MAX)
    if limit is None:
        raise _BadQuery("limit", _("A whole number from 1 to %(maximum)d.") % {"maximum": PAGE_SIZE_MAX})
    return limit


def _page(request, rows, *, stamp: str) -> tuple[list, str | None]:
    """One page of `rows` (ordered by `stamp`, then id) after the request's cursor, and the
    absolute URL of the next page (None on the last): the feeds' one way of paging."""
    limit = _limit(request)
    cursor = request.GET.get("cursor", "").strip()
    if cursor:
        after, after_pk = _cursor_decode(cursor)
        rows = rows.filter(**{f"{stamp}__gte": after}).exclude(**{stamp: after, "pk__lte": after_pk})
    page = list(rows[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    query = request.GET.copy()
    query["cursor"] = _cursor_encode(getattr(page[-1], stamp), page[-1].pk)
    return page, request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _supporter_fields(row: Consent) -> dict:
    supporter = row.supporter
    return {
        "email": supporter.email,
        "first_name": supporter.first_name,
        "last_name": supporter.last_name,
        "country": str(supporter.country),
        "postcode": supporter.postcode,
        "opted_in_at": row.created_at.isoformat(),
        "wording": row.wording,
        "source": row.source,
    }


@require_GET
@_partner_key_required
def partner_supporters_api(request, organisation):
    """One page of the key's organisation's opted-in supporters, oldest opt-in first."""
    rows = partner_opt_ins_current(organisation=organisation, since=_since(request))
    page, next_url = _page(request, rows, stamp="created_at")
    return _json(
        {"organisation": organisation.slug, "results": [_supporter_fields(row) for row in page], "next": next_url}
    )


@require_GET
@_partner_key_required
def partner_supporters_csv(request, organisation):
    """Every opted-in supporter of the key's organisation (or those since a date) as CSV, streamed."""
    rows = partner_opt_ins_current(organisation=organisation, since=_since(request))

    lines = csv_stream(
        CSV_HEADER,
        ([fields[name] for name in CSV_HEADER] for fields in map(_supporter_fields, rows.iterator(chunk_size=2000))),
    )
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="supporters-{organisation.slug}-{timezone.now():%Y%m%d}.csv"'
    )
    response["Cache-Control"] = "private, no-store"
    return response


# --- The change feed: withdrawals and erasures of people the partner received -------------------
# (docs/design.md, "Partners hear about withdrawals and erasures"). Reading a notice is what lets
# Muster forget its address, so these GETs write: each notice served is marked fetched and loses
# its address. A partner stores what it read before acting on it.

CHANGES_CSV_HEADER = ["id", "kind", "occurred_at", "email"]
CHANGES_FETCH_BATCH = 500
# ISO 8601 as Python reads it, in ASCII digits only (isdigit() and int() accept other scripts'
# digits, the regex module's \d too): a date, or a date-time with an optional offset.


@require_GET
@_partner_key_required
def partner_changes_api(request, organisation):
    """One page of the withdrawals and erasures of people this organisation received, oldest
    first. Each notice's address is given once: it is forgotten as it is served."""
    rows = partner_notices_feed(organisation=organisation, since=_since(request))
    page, next_url = _page(request, rows, stamp="occurred_at")
    body = {"organisation": organisation.slug, "results": [notice_payload(n) for n in page], "next": next_url}
    partner_notices_fetched(notice_ids=[n.pk for n in page])
    return _json(body)


def _changes_csv_rows(rows):
    served: list[int] = []
    for notice in rows.iterator(chunk_size=CHANGES_FETCH_BATCH):
        payload = notice_payload(notice)
        yield [payload[name] for name in CHANGES_CSV_HEADER]
        served.append(notice.pk)
        if len(served) >= CHANGES_FETCH_BATCH:
            partner_notices_fetched(notice_ids=served)
            served = []
    if served:
        partner_notices_fetched(notice_ids=served)


@require_GET
@_partner_key_required
def partner_changes_csv(request, organisation):
    """Every notice (or those since a moment) as CSV, streamed; `since` is checked before the
    first byte, so a bad one is a 400, never a 200 cut short."""
    rows = partner_notices_feed(organisation=organisation, since=_since(request))
    lines = csv_stream(CHANGES_CSV_HEADER, _changes_csv_rows(rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="changes-{organisation.slug}-{timezone.now():%Y%m%d}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
