"""Who is asking, and how often: the client address and the rate limits on public forms.

Over a limit a submission is held, not refused (the sign form does the same): a real person
behind a shared address (a university, a hospital) loses nothing, and nothing is sent until an
organiser releases it.
"""

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


def over_limits(request, *, checks: list[tuple[str, str, str]]) -> bool:
    """Count this request against every (group, key value, rate); True if any is exceeded.

    If the cache is down the limits cannot be counted; the submission is accepted rather than
    held, since storing it matters more than the limit (docs/design.md, "Stored first, sent when the service is back").
    """
    limited = False
    try:
        for group, value, rate in checks:
            limited |= is_ratelimited(
                request, group=group, key=lambda _group, _request, value=value: value, rate=rate, increment=True
            )
    except Exception:
        logger.warning("rate-limit cache unavailable; accepting the submission unheld", exc_info=True)
        return False
    return limited


def signup_over_limit(request, *, form: str, email: str) -> bool:
    """The subscribe, join and preference-link forms: per IP, per address, and per form
    across all IPs. `email` is the normalised address typed into the form."""
    ip = client_ip(request)
    checks = [(f"{form}-ip:{rate}", ip, rate) for rate in settings.SIGNUP_RATE_PER_IP]
    checks.append((f"{form}-address", email, settings.SIGNUP_RATE_PER_ADDRESS))
    checks.append((f"{form}-all", form, settings.SIGNUP_RATE_PER_FORM))
    return over_limits(request, checks=checks)
