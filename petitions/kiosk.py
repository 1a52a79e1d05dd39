"""Kiosk links: one device (a phone at a street stall, a tablet at a meeting) on which many
people sign one petition in a row.

An organiser makes the link in the admin: a signed, expiring token naming the petition and the
stall. Signatures made through it record the stall as their source and are not limited per IP,
since every signer shares the device's address; the per-petition limit, the honeypot and the
emailed confirmation still apply (docs/design.md, "Kiosk mode").
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from engage.forms import clean_source
from engage.tokens import TokenExpired, TokenInvalid
from petitions.models import Petition

SALT = "muster.kiosk"


def kiosk_stall_clean(label: str) -> str:
    """A stall label as recorded in Signature.source: short and plain ("market-square"), or ""."""
    return clean_source((label or "").strip().lower().replace(" ", "-"))


def kiosk_url(*, petition: Petition, stall: str) -> str:
    token = signing.dumps({"petition": petition.pk, "stall": stall}, salt=SALT)
    return settings.SITE_URL + reverse("petitions:kiosk", kwargs={"token": token})


def kiosk_read(token: str) -> tuple[int, str]:
    """The petition id and stall a kiosk token names; TokenInvalid or TokenExpired."""
    try:
        value = signing.loads(token, salt=SALT, max_age=settings.KIOSK_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise TokenExpired from None
    except signing.BadSignature:
        raise TokenInvalid from None
    if not isinstance(value, dict) or not isinstance(value.get("petition"), int):
        raise TokenInvalid
    stall = kiosk_stall_clean(str(value.get("stall", "")))
    if not stall:
        raise TokenInvalid
    return value["petition"], stall
