"""anymail's tracking webhook URLs, answering only for the ESPs Muster is configured to send through.

anymail.urls mounts a view for every ESP it knows, tracking and inbound; each one not in use
answered 500 (Amazon SES without boto3, Mailgun without its signing key). Here only tracking
URLs are mounted (Muster receives no inbound mail), and each answers 404 unless its ESP is one
of the configured backends (EMAIL_BACKEND, MAILINGS_BULK_EMAIL_BACKEND,
MAILINGS_TRANSACTIONAL_EMAIL_BACKEND), checked per request from the settings. A configured ESP
whose webhook settings are missing answers 404 as well, logged as an error for the operator,
and a payload anymail cannot read is a 400, rather than a 500 to the ESP.
"""

import logging
from functools import wraps
from pathlib import Path

import anymail
from anymail import urls as anymail_urls
from anymail.exceptions import AnymailError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponseBadRequest
from django.urls import URLPattern, path, re_path
from django.urls.resolvers import RegexPattern

from mailings.esp import esp_name

logger = logging.getLogger(__name__)

_ANYMAIL_DIR = str(Path(anymail.__file__).parent)
# Mandrill's one URL carries tracking events (its "inbound" events are not used).
_TRACKING_NAMES = ("_tracking_webhook", "mandrill_webhook")


def configured_esps() -> set[str]:
    """The anymail ESPs of the configured backends: {"postmark"} for anymail.backends.postmark."""
    paths = (settings.EMAIL_BACKEND, settings.MAILINGS_BULK_EMAIL_BACKEND, settings.MAILINGS_TRANSACTIONAL_EMAIL_BACKEND)
    return {esp_name(backend) for backend in paths if backend and backend.startswith("anymail.backends.")}


def _raised_in_anymail(error: BaseException) -> bool:
    """Did anymail itself raise this (reading a payload), rather than Muster's signal receiver?"""
    trace = error.__traceback__
    while trace.tb_next is not None:
        trace = trace.tb_next
    return trace.tb_frame.f_code.co_filename.startswith(_ANYMAIL_DIR)


def _for_configured_esp(esp: str, view):
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if esp not in configured_esps():
            raise Http404
        try:
            return view(request, *args, **kwargs)
        except (ImproperlyConfigured, ImportError):
            # anymail's views read their keys (and import boto3) when called, not at start-up.
            logger.exception("The %s webhook is not configured: see anymail's settings for it.", esp)
            raise Http404 from None
        except AnymailError:
            logger.warning("The %s webhook could not read an event.", esp, exc_info=True)
            return HttpResponseBadRequest()
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
            if not _raised_in_anymail(error):
                raise
            logger.warning("The %s webhook could not read an event.", esp, exc_info=True)
            return HttpResponseBadRequest()

    return guarded


def _esp_of(pattern: URLPattern) -> str:
    return str(pattern.pattern).lstrip("^").split("/", 1)[0]


def _guarded(pattern: URLPattern) -> URLPattern:
    route = re_path if isinstance(pattern.pattern, RegexPattern) else path
    return route(str(pattern.pattern), _for_configured_esp(_esp_of(pattern), pattern.callback), name=pattern.name)


app_name = "anymail"
urlpatterns = [
    _guarded(pattern) for pattern in anymail_urls.urlpatterns if pattern.name and pattern.name.endswith(_TRACKING_NAMES)
]
