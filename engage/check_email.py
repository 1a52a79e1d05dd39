"""The "check your email" pages: which address the confirmation went to, and asking for it again.

After a form is stored, its view remembers the address typed in a cookie holding a signed value
that names what was asked for ("signature" and the petition's id, or "signup"). A cookie, not
the session: the sign form is the hot path, and a session row per signer would grow a table
nobody reads. The page shows that
address and a button that posts the signed value back: the address to send to is never taken
from a parameter anyone can write, so the button cannot be pointed at somebody else's inbox.

Asking again answers the same whether the address is known, pending, confirmed, held or
suppressed, so the page cannot be used to learn who signed (docs/design.md, "What each
suppression stops"); each app's resend service decides quietly whether anything is sent.

    check_email_remember(response, email=..., what="signature", ref=petition.pk)
    check_email_address(request, what="signature", ref=petition.pk) -> the address, or ""
    check_email_token(request) -> the signed value for the page's button
    check_email_read(token, what=..., ref=...) -> the address; TokenInvalid / TokenExpired
    resend_over_limit(request, email=...) -> True if this request is over a limit
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing

from engage.abuse import client_ip, over_limits
from engage.tokens import TokenExpired, TokenInvalid

COOKIE = "muster_check_email"
SALT = "muster.check-email"
# Long enough to wait for a slow email and ask again; a person who comes back later signs again.
MAX_AGE = timedelta(hours=24)


def check_email_remember(response, *, email: str, what: str, ref: int | None = None):
    token = signing.dumps({"email": email, "what": what, "ref": ref}, salt=SALT, compress=True)
    response.set_cookie(
        COOKIE, token, max_age=int(MAX_AGE.total_seconds()), httponly=True, samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


def check_email_token(request) -> str:
    return request.COOKIES.get(COOKIE, "")


def check_email_read(token: str, *, what: str, ref: int | None = None) -> str:
    """The address a signed value names, if it was made for this page (`what`, `ref`)."""
    try:
        value = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.SignatureExpired:
        raise TokenExpired from None
    except signing.BadSignature:
        raise TokenInvalid from None
    if not isinstance(value, dict) or value.get("what") != what or value.get("ref") != ref or not value.get("email"):
        raise TokenInvalid
    return str(value["email"])


def check_email_address(request, *, what: str, ref: int | None = None) -> str:
    """The address this browser's last form sent a confirmation to, for this page; "" if none."""
    try:
        return check_email_read(check_email_token(request), what=what, ref=ref)
    except (TokenInvalid, TokenExpired):
        return ""


def resend_over_limit(request, *, email: str) -> bool:
    """Per IP and per address, counted before anything is looked up, so a limit says nothing
    about whether the address is known."""
    checks = [(f"confirm-resend-ip:{rate}", client_ip(request), rate) for rate in settings.CONFIRM_RESEND_RATE_PER_IP]
    checks.append(("confirm-resend-address", email, settings.CONFIRM_RESEND_RATE_PER_ADDRESS))
    return over_limits(request, checks=checks)
