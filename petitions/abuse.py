"""Rate limits on signing. Over a limit the signature is held, not refused: a real person
behind a shared address (a university, a hospital) loses nothing, and nothing is counted
until an organiser releases it."""

from django.conf import settings

# client_ip lives in engage, the lower layer, so its forms can use it too.
from engage.abuse import client_ip, over_limits

__all__ = ["client_ip", "sign_over_limit"]


def sign_over_limit(request, *, petition_id: int) -> bool:
    """Count this submission against every limit; True if any is exceeded.

    If the cache is down the limits cannot be counted; the signature is accepted rather than
    held, since storing it matters more than the limit (DESIGN rule 6).
    """
    ip = client_ip(request)
    checks = [(f"sign-ip-petition:{rate}", f"{ip}:{petition_id}", rate) for rate in settings.SIGN_RATE_PER_IP_PETITION]
    checks.append(("sign-petition", str(petition_id), settings.SIGN_RATE_PER_PETITION))
    return over_limits(request, checks=checks)
