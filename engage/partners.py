"""Coalition partners: the sites they embed from, their API keys, and the supporters they may receive.

A partner only ever receives supporters whose latest consent row for that partner is an opt-in
(DESIGN rule 3): the selector reads the ledger's latest row each time, so a withdrawal written
by the preference centre takes effect on the very next request.
"""

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone

from engage.models import Consent, Organisation, PartnerApiKey

# An origin as browsers send it in the Origin header: scheme, lower-case host, optional port, no
# path. Anything else in allowed_origins is ignored, because the list is copied into a
# Content-Security-Policy header and must not be able to add directives to it.
_ORIGIN = re.compile(r"^https?://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$")

KEY_PREFIX = "mpk_"
# last_used_at is a convenience for organisers, not an audit log: write it at most this often,
# so a partner paging through thousands of supporters does not update the key row per request.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def origin_valid(value: str) -> bool:
    return bool(_ORIGIN.match(value))


def organisation_origins(organisation: Organisation) -> list[str]:
    """The well-formed origins an organisation may embed from, lower-cased as browsers send them."""
    return [origin for origin in (o.lower() for o in organisation.origins) if origin_valid(origin)]


# --- API keys -----------------------------------------------------------------------------------


def partner_api_key_hash(plain: str) -> str:
    # A plain SHA-256 is enough: the key is 256 random bits, so there is nothing to guess and no
    # need for a slow password hash, and a lookup by hash stays one indexed query.
    return hashlib.sha256(plain.encode()).hexdigest()


def partner_api_key_create(*, organisation: Organisation, name: str) -> tuple[PartnerApiKey, str]:
    """Create a key and return it with its plain value, which is shown once and never stored."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = PartnerApiKey.objects.create(
        organisation=organisation, name=name, prefix=plain[:12], key_hash=partner_api_key_hash(plain)
    )
    return key, plain


def partner_api_key_revoke(*, key: PartnerApiKey) -> bool:
    """Revoke a key at once. True if this call revoked it."""
    now = timezone.now()
    revoked = PartnerApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
    if revoked:
        key.revoked_at = now
    return bool(revoked)


def partner_api_key_authenticate(*, plain: str) -> PartnerApiKey | None:
    """The live key with this value (its organisation loaded), or None if unknown or revoked."""
    if not plain.startswith(KEY_PREFIX) or len(plain) > 100:
        return None
    key = (
        PartnerApiKey.objects.select_related("organisation")
        .filter(key_hash=partner_api_key_hash(plain), revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        PartnerApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# --- supporters a partner may receive -----------------------------------------------------------


def consent_latest(*, organisation: Organisation, supporter_ref: str = "supporter_id") -> QuerySet[Consent]:
    """For a subquery: the outer row's supporter's ledger rows for this organisation, latest first.
    Served by the index on (supporter, organisation, -created_at, -id)."""
    return Consent.objects.filter(supporter=OuterRef(supporter_ref), organisation=organisation).order_by(
        "-created_at", "-id"
    )


def partner_opt_ins_current(*, organisation: Organisation, since: datetime | None = None) -> QuerySet[Consent]:
    """The supporters whose latest consent row for this organisation is an opt-in, one row each:
    that latest row, with its supporter loaded, oldest first by (created_at, id).

    Ordering by (created_at, id) makes keyset pagination stable while new rows arrive. `since`
    keeps only opt-ins whose latest row is at or after it. A later opt-out row, or a later row of
    any kind, replaces the earlier one, so a withdrawal removes the person at once.
    """
    rows = (
        Consent.objects.filter(organisation=organisation, given=True)
        .annotate(latest_pk=Subquery(consent_latest(organisation=organisation).values("pk")[:1]))
        .filter(pk=F("latest_pk"))
        .select_related("supporter")
        .order_by("created_at", "id")
    )
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return rows
