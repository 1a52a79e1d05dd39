"""The project's error handler: a database outage answers 503 with Retry-After, never a bare 500.

Django calls handler500 for any exception left uncaught, in a view or in a middleware (sessions,
auth), with the exception still in sys.exc_info(); it logs the error with its traceback after
the handler returns, whatever the status. Nothing here may touch the database: the pages are
rendered from a plain dict, without the context processors.
"""

import sys

from django.db.utils import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from django.views import defaults

# The 503 pages say "try again in a minute": keep the two together.
RETRY_AFTER_SECONDS = 60
# petitions.urls and engage.urls: the JSON APIs, and the pages shown in partners' iframes.
API_PREFIX = "/api/"
EMBED_PREFIX = "/embed/"


def database_unavailable(exc: BaseException | None) -> bool:
    """True if the exception, or one it was raised from or while handling, says the database
    cannot be reached or the connection dropped (refused, closed, restarted, timed out)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OperationalError | InterfaceError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _unavailable(request) -> HttpResponse:
    # A safe method only asked to see something; anything else sent something, now lost.
    sent = request.method not in ("GET", "HEAD", "OPTIONS")
    path = request.path_info
    if path.startswith(API_PREFIX):
        message = (
            _("We couldn't record that just now: what you sent has not been saved. Please try again in a minute.")
            if sent
            else _("This is not available just now. Please try again in a minute.")
        )
        response = JsonResponse(
            {"error": "unavailable", "message": message, "retry_after": RETRY_AFTER_SECONDS}, status=503
        )
        # The origins allowed to read the real answer are in the database; this one holds no data.
        response["Access-Control-Allow-Origin"] = "*"
    elif path.startswith(EMBED_PREFIX):
        body = loader.render_to_string("503_embed.html", {"sent": sent})
        response = HttpResponse(body, status=503)
        # The embed's pages are framable by the origins its partner registered, which are in the
        # database. This page has nothing to click and shows no data, so any page may frame it.
        response.xframe_options_exempt = True
        response["Content-Security-Policy"] = "frame-ancestors *"
    else:
        response = HttpResponse(loader.render_to_string("503.html", {"sent": sent}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request):
    """handler500: 503 while the database is unavailable, otherwise Django's own 500 page."""
    if database_unavailable(sys.exc_info()[1]):
        return _unavailable(request)
    return defaults.server_error(request)
