"""The public JSON API: a petition's summary with its live count (polled by widgets), signing
from a partner's page, and the OpenAPI document of both and of the partner API."""

import hashlib
import json
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, ValidationError
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from engage.json_body import JsonBodyError, json_body_parse
from engage.normalise import validate_text
from petitions.cors import cors_allow, origin_allowed
from petitions.models import Petition
from petitions.openapi import openapi_document
from petitions.selectors import cosponsorships_active, petition_partner_or_host, petition_summary, signature_count_live
from petitions.views.submission import NOT_OPEN, body_too_large, sign_form, sign_submitted

# Each process keeps its latest answer per (host, petition) for COUNT_MEMO_SECONDS: widgets on every
# partner page poll this endpoint, and a surge should not reach Redis on every request. Clients are
# already told to reuse the answer for COUNT_CACHE_SECONDS, so a shorter memo is no staler than they accept.
_MEMO_MAX_ENTRIES = 1000
_memo: dict[tuple[str, str, str], tuple[float, bytes, str]] = {}


def _summary_body(request, slug: str) -> tuple[bytes, str] | None:
    """(JSON body, ETag) of a published petition's summary with the live count, or None."""
    memo_seconds = settings.COUNT_MEMO_SECONDS
    # The raw Host header is enough for the key: an entry is stored only after build_absolute_uri
    # below has checked that host against ALLOWED_HOSTS.
    key = (request.scheme, request.META.get("HTTP_HOST") or request.get_host(), slug)
    if memo_seconds > 0:
        hit = _memo.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1], hit[2]
    summary = petition_summary(slug=slug)
    if summary is None:
        return None
    count = signature_count_live(petition_id=summary["id"], fallback=summary["reconciled_count"])
    body = json.dumps(
        {
            "slug": summary["slug"],
            "title": summary["title"],
            "target": summary["target"],
            "signature_count": count,
            "goal": summary["goal"],
            "status": summary["status"],
            "closes_at": summary["closes_at"],
            "url": request.build_absolute_uri(summary["url"]),
        },
        separators=(",", ":"),
    ).encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    if memo_seconds > 0:
        if len(_memo) >= _MEMO_MAX_ENTRIES:
            _memo.clear()
        _memo[key] = (time.monotonic() + memo_seconds, body, etag)
    return body, etag


@require_GET
def petition_summary_api(request, slug):
    """The public summary with the live count: no COUNT(*), no database query when warm."""
    answer = _summary_body(request, slug)
    if answer is None:
        return JsonResponse({"error": "not_found", "message": "No such petition."}, status=404)
    body, etag = answer
    # META, not request.headers: this is the hottest path, and headers builds a dict of them all.
    if etag in [tag.strip() for tag in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = (
        f"public, max-age={settings.COUNT_CACHE_SECONDS}, stale-while-revalidate=60, stale-if-error=600"
    )
    response["Access-Control-Allow-Origin"] = "*"
    return response


# --- signing -------------------------------------------------------------------------------------

_TEXT_FIELDS = ("first_name", "last_name", "email", "country", "postcode", "source", "partner", "website")


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    body = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return JsonResponse(body, status=status)


def _submitted_data(request) -> tuple[dict | None, JsonResponse | None]:
    """The submitted fields from a JSON object or a form body, or a 400 saying what is wrong."""
    content_type = request.content_type or ""
    try:
        if body_too_large(request):
            raise RequestDataTooBig
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return request.POST, None
        if content_type != "application/json":
            return None, _error(
                400, "unsupported_media_type", "Send the fields as JSON (application/json) or as a form."
            )
        try:
            data = json_body_parse(request.body, max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        except JsonBodyError as error:
            return None, _error(error.status, error.code, error.message)
    except (RequestDataTooBig, TooManyFieldsSent):
        return None, _error(400, "too_large", "The body is too large.")
    if not isinstance(data, dict):
        return None, _error(400, "invalid_json", "The body must be a JSON object of fields.")
    # A form takes whatever type it is given (a list becomes its repr), so JSON types are checked here.
    fields = {name: ["Must be a string."] for name in _TEXT_FIELDS if not isinstance(data.get(name, ""), str)}
    if not isinstance(data.get("opt_in", False), bool | str):
        fields["opt_in"] = ["Must be true or false."]
    # New, so strict from the start: only true or false (opt_in's strings are kept for old callers).
    if not isinstance(data.get("updates_opt_in", False), bool):
        fields["updates_opt_in"] = ["Must be true or false."]
    opt_ins = data.get("partner_opt_in", [])
    if not isinstance(opt_ins, list) or not all(isinstance(slug, str) for slug in opt_ins):
        fields["partner_opt_in"] = ["Must be a list of organisation slugs."]
    # Before the partner is looked up by its slug: a lone surrogate cannot even be sent to the database.
    for name in (*_TEXT_FIELDS, "partner_opt_in"):
        values = data.get(name)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and name not in fields:
                try:
                    validate_text(value)
                except ValidationError as error:
                    fields[name] = error.messages
    if fields:
        return None, _error(400, "invalid", "Some fields are not valid.", fields)
    return data, None


@csrf_exempt  # third-party contexts carry no CSRF cookie; the Origin check below stands in for it
@require_http_methods(["POST", "OPTIONS"])
def petition_signatures_api(request, slug):
    """Sign from a partner's page. POST the form's fields (plus `partner` and `source`) as JSON or a
    form; the Origin must be one the partner registered. Answers 201 whether the address is new,
    has signed before or was held, like the form; the emailed link confirms."""
    petition = (
        Petition.objects.select_related("organisation").exclude(status=Petition.Status.DRAFT).filter(slug=slug).first()
    )
    if petition is None:
        return _error(404, "not_found", "No such petition.")
    cosponsorships = cosponsorships_active(petition=petition)
    if request.method == "OPTIONS":
        # The preflight carries no body, so no partner yet: any origin of the host or of an active
        # co-sponsor may ask; the POST itself is checked against the partner it names.
        organisations = [petition.organisation, *(c.organisation for c in cosponsorships)]
        if not origin_allowed(request, organisations=organisations):
            return _error(403, "origin_not_allowed", "This origin may not sign this petition.")
        return cors_allow(HttpResponse(status=204), request, preflight=True)

    data, problem = _submitted_data(request)
    if problem is not None:
        return problem
    partner_slug = (data.get("partner") or "").strip()
    partner = petition_partner_or_host(petition=petition, slug=partner_slug, cosponsorships=cosponsorships)
    if partner is None:
        return _error(403, "unknown_partner", "No active co-sponsor of this petition has that slug.")
    if not origin_allowed(request, organisations=[partner]):
        return _error(403, "origin_not_allowed", f"This origin is not registered by {partner.name}.")

    form = sign_form(petition, cosponsorships, data)
    if not form.is_valid():
        fields = {
            ("form" if name == "__all__" else name): [str(m) for m in messages]
            for name, messages in form.errors.items()
        }
        return cors_allow(_error(400, "invalid", "Some fields are not valid.", fields), request)
    if not sign_submitted(request, petition=petition, form=form, partner=partner, via="api"):
        return cors_allow(_error(409, "not_open", NOT_OPEN), request)
    return cors_allow(
        JsonResponse(
            {
                "status": "received",
                "message": "Thank you. Check your email and press the link to confirm your signature.",
            },
            status=201,
        ),
        request,
    )


@require_GET
def openapi_schema(request):
    """The OpenAPI document of these endpoints and the partner API (petitions.openapi)."""
    response = JsonResponse(openapi_document(base_url=request.build_absolute_uri("/")))
    response["Access-Control-Allow-Origin"] = "*"
    return response
