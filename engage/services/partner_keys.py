"""Coalition partners' API keys: created with a plain value shown once, stored only as a hash,
revoked rather than deleted."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from engage.audit import audit_record
from engage.models import Organisation, PartnerApiKey

KEY_PREFIX = "mpk_"
# last_used_at is a convenience for organisers, not an audit log: write it at most this often,
# so a partner paging through thousands of supporters does not update the key row per request.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def partner_api_key_hash(plain: str) -> str:
    # A plain SHA-256 is enough: the key is 256 random bits, so there is nothing to guess and no
    # need for a slow password hash, and a lookup by hash stays one indexed query.
    return hashlib.sha256(plain.encode()).hexdigest()


def partner_api_key_create(
    *, organisation: Organisation, name: str, request_or_actor=None
) -> tuple[PartnerApiKey, str]:
    """Create a key and return it with its plain value, which is shown once and never stored.
    Audited with whoever made it (`request_or_actor`, as engage.audit.audit_record takes it)."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        key = PartnerApiKey.objects.create(
            organisation=organisation, name=name, prefix=plain[:12], key_hash=partner_api_key_hash(plain)
        )
        audit_record(request_or_actor=request_or_actor, organisation=organisation, action="api_key.created",
                     target=key, details={"prefix": key.prefix})
    return key, plain


def partner_api_key_revoke(*, key: PartnerApiKey, request_or_actor=None) -> bool:
    """Revoke a key at once. True if this call revoked it (and only then is it audited)."""
    now = timezone.now()
    with transaction.atomic():
        revoked = PartnerApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now)
        if revoked:
            key.revoked_at = now
            audit_record(request_or_actor=request_or_actor, organisation=key.organisation, action="api_key.revoked",
                         target=key, details={"prefix": key.prefix})
    return bool(revoked)


def partner_api_key_authenticate(*, plain: str) -> PartnerApiKey | None:
    """The live key with this value (its organisation loaded), or None if unknown or revoked;
    notes when it was used (a write, hence here rather than in selectors)."""
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
