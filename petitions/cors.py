"""The Origin check and CORS headers of the endpoints partners' pages call.

Signing from a partner's page cannot rely on a session or CSRF cookie: in a third-party context
browsers block them. What a browser cannot forge is the Origin header of a cross-origin request,
so those endpoints accept a POST only from an origin the partner registered (or from this site
itself), and tell the browser which origin may read the answer.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.cache import patch_vary_headers

from engage.models import Organisation
from engage.partners import organisation_origins

PREFLIGHT_MAX_AGE = 3600


def request_origin(request) -> str:
    return request.headers.get("Origin", "").strip().lower()


def site_origin() -> str:
    parts = urlsplit(settings.SITE_URL)
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origin(request) -> str:
    """This site's origin as the request reached it (the host is checked against ALLOWED_HOSTS)."""
    return f"{request.scheme}://{request.get_host()}".lower()


def origin_allowed(request, *, organisations: list[Organisation]) -> bool:
    """True if the request's Origin is one the organisations registered, or this site's own.
    A missing Origin, or the opaque "null" of a sandboxed frame or a file, is refused."""
    origin = request_origin(request)
    if not origin or origin == "null":
        return False
    if origin in (site_origin(), own_origin(request)):
        return True
    return any(origin in organisation_origins(organisation) for organisation in organisations)


def cors_allow(response, request, *, preflight: bool = False):
    """Let the request's origin (already checked) read this response. No credentials: nothing
    here uses cookies."""
    response["Access-Control-Allow-Origin"] = request_origin(request)
    patch_vary_headers(response, ["Origin"])
    if preflight:
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return response
