"""Rate limits on signing. Over a limit the signature is held, not refused: a real person
behind a shared address (a university, a hospital) loses nothing, and nothing is counted
until an organiser releases it."""

import logging

from django.conf import settings
from django_ratelimit.core import is_ratelimited

logger = logging.getLogger(__name__)


def client_ip(request) -> str:
    """REMOTE_ADDR, or the address the trusted proxy appended to CLIENT_IP_HEADER."""
    if settings.CLIENT_IP_HEADER:
        forwarded = request.META.get(settings.CLIENT_IP_HEADER, "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def sign_over_limit(request, *, petition_id: int) -> bool:
    """Count this submission against every limit; True if any is exceeded.

    If the cache is down the limits cannot be counted; the signature is accepted rather than
    held, since storing it matters more than the limit (DESIGN rule 6).
    """
    ip = client_ip(request)
    checks = [(f"sign-ip-petition:{rate}", f"{ip}:{petition_id}", rate) for rate in settings.SIGN_RATE_PER_IP_PETITION]
    checks.append(("sign-petition", str(petition_id), settings.SIGN_RATE_PER_PETITION))
    limited = False
    try:
        for group, value, rate in checks:
            limited |= is_ratelimited(
                request, group=group, key=lambda _group, _request, value=value: value, rate=rate, increment=True
            )
    except Exception:
        logger.warning("rate-limit cache unavailable; accepting the signature unheld", exc_info=True)
        return False
    return limited
