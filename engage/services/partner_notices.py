"""Telling partners when someone they received withdraws consent or is erased
(docs/design.md, "Partners hear about withdrawals and erasures").

A notice is written in the same transaction as the opt-out or the erasure, for each organisation
that could have received the person, and holds the address only until the partner has it: read
from its change feed, or its webhook delivered, or at most ADDRESS_KEPT later.

Webhook deliveries follow the house rules for outgoing calls: the row is the queue, a conditional
UPDATE claims it, the attempt is recorded before the call, no transaction is open during the
call, and a claim whose worker died is taken back after CLAIM_TIMEOUT.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from engage.models import (
    Consent,
    Organisation,
    PartnerApiKey,
    PartnerNotice,
    PartnerWebhook,
    PartnerWebhookAttempt,
    Supporter,
)

logger = logging.getLogger(__name__)

# UK GDPR art. 5(1)(e): the address is kept for the notice no longer than it is needed to tell
# the partner, and never for more than 30 days, whether or not the partner ever asks.
ADDRESS_KEPT = timedelta(days=30)
WEBHOOK_MAX_ATTEMPTS = 10
WEBHOOK_TIMEOUT_SECONDS = 10
# Far longer than one call (WEBHOOK_TIMEOUT_SECONDS for connect plus read): a claim this old
# belongs to a worker that died during the call.
CLAIM_TIMEOUT = timedelta(minutes=5)
# The sweep leaves a due delivery this long to the task queued for it before queuing another.
SWEEP_GRACE = timedelta(minutes=2)
SWEEP_BATCH = 1000
SECRET_PREFIX = "mwh_"
SIGNATURE_HEADER = "Muster-Signature"
EVENT_ID_HEADER = "Muster-Event-Id"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


# --- Registering a webhook ---------------------------------------------------------------------


def _local_try_out(parts) -> bool:
    """Plain http to this machine, only while DEBUG, to try a receiver out."""
    return parts.scheme == "http" and settings.DEBUG and parts.hostname in LOCAL_HOSTS


def _address_public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_global
    except ValueError:
        return False


def webhook_url_allowed(url: str) -> bool:
    """https only (the body carries an address), and not to a private network: a webhook must
    not make Muster post into its own network (the database, Redis, a cloud's metadata service),
    whoever registered it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        return False
    if not parts.hostname:
        return False
    if _local_try_out(parts):
        return True
    if parts.scheme != "https":
        return False
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return True  # a name: where it points is checked before each delivery
    return _address_public(host)


def webhook_host_public(url: str) -> bool:
    """Whether every address the webhook's host name resolves to now is a public one (checked
    before each delivery: a name can be pointed at a private address after it is registered)."""
    parts = urlsplit(url)
    if _local_try_out(parts):
        return True
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return bool(found) and all(_address_public(info[4][0]) for info in found)


def _secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def partner_webhook_register(*, organisation: Organisation, url: str) -> tuple[PartnerWebhook, str]:
    """Register (or move) an organisation's webhook and give it a fresh secret, returned to be
    shown once."""
    if not webhook_url_allowed(url):
        raise ValueError("webhook URLs must be https")
    secret = _secret_new()
    webhook, _ = PartnerWebhook.objects.update_or_create(
        organisation=organisation,
        defaults={"url": url, "secret": secret, "active": True, "secret_created_at": timezone.now()},
    )
    return webhook, secret


def partner_webhook_secret_replace(*, webhook: PartnerWebhook) -> str:
    """A new secret, returned to be shown once; the old one stops verifying at once."""
    webhook.secret, webhook.secret_created_at = _secret_new(), timezone.now()
    webhook.save(update_fields=["secret", "secret_created_at"])
    return webhook.secret


# --- Writing notices -----------------------------------------------------------------------------


def _recipients(organisation_ids) -> list[Organisation]:
    """Of these organisations, those that can have received people from Muster: through an API
    key (live or since revoked) or a webhook. Others get no notice, so no address is kept for them."""
    return list(
        Organisation.objects.filter(pk__in=organisation_ids)
        .filter(Q(Exists(PartnerApiKey.objects.filter(organisation=OuterRef("pk")))) | Q(webhook__isnull=False))
        .select_related("webhook")
    )


def _notices_create(*, organisations: list[Organisation], kind: str, email: str) -> list[PartnerNotice]:
    now = timezone.now()
    notices = []
    for organisation in organisations:
        webhook = getattr(organisation, "webhook", None)
        wanted = webhook is not None and webhook.active
        notices.append(
            PartnerNotice(
                organisation=organisation, kind=kind, email=email, occurred_at=now,
                webhook_status=PartnerNotice.Webhook.PENDING if wanted else PartnerNotice.Webhook.NONE,
                webhook_next_at=now if wanted else None,
            )
        )
    created = PartnerNotice.objects.bulk_create(notices)
    to_deliver = [n.pk for n in created if n.webhook_status == PartnerNotice.Webhook.PENDING]
    if to_deliver:
        from engage import tasks

        transaction.on_commit(lambda: [_queue(tasks.partner_notice_deliver, pk) for pk in to_deliver])
    return created


def partner_notice_withdrawal(*, supporter: Supporter, organisation: Organisation) -> list[PartnerNotice]:
    """The person withdrew the consent this organisation received them by. Call in the
    transaction that writes the opt-out, only when their consent was current until then."""
    return _notices_create(
        organisations=_recipients([organisation.pk]), kind=PartnerNotice.Kind.WITHDRAWN, email=supporter.email
    )


def partner_notices_erasure(*, supporter: Supporter) -> list[PartnerNotice]:
    """The person is being erased: tell every organisation they ever opted in to (it may have
    received them then, and must erase its copy too: UK GDPR art. 19). Call before the
    supporter row, and its consent ledger, are deleted."""
    opted_in = Consent.objects.filter(supporter=supporter, given=True).values("organisation_id")
    return _notices_create(organisations=_recipients(opted_in), kind=PartnerNotice.Kind.ERASED, email=supporter.email)


# --- The feed ------------------------------------------------------------------------------------


def partner_notices_fetched(*, notice_ids: list[int]) -> int:
    """The partner has read these notices from its feed: forget their addresses, and call off
    any webhook delivery not yet under way (a delivery under way finishes; see _attempt_record)."""
    now = timezone.now()
    notices = PartnerNotice.objects.filter(pk__in=notice_ids)
    notices.filter(fetched_at__isnull=True).update(fetched_at=now)
    notices.filter(webhook_status=PartnerNotice.Webhook.PENDING, webhook_claimed_at__isnull=True).update(
        webhook_status=PartnerNotice.Webhook.FETCHED, webhook_next_at=None
    )
    return notices.exclude(email="").update(email="", email_cleared_at=now)


def partner_notices_purge() -> int:
    """Beat: forget every address held longer than ADDRESS_KEPT, fetched or not."""
    now = timezone.now()
    return (
        PartnerNotice.objects.filter(occurred_at__lt=now - ADDRESS_KEPT)
        .exclude(email="")
        .update(email="", email_cleared_at=now)
    )


# --- Webhook deliveries --------------------------------------------------------------------------


def notice_payload(notice: PartnerNotice) -> dict:
    """An event as the feed lists it and the webhook posts it (docs: petitions.openapi)."""
    return {
        "id": str(notice.event_id),
        "kind": notice.kind,
        "occurred_at": notice.occurred_at.isoformat(),
        "email": notice.email or None,
    }


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The Muster-Signature header: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>. Signing
    the time with the body lets a receiver refuse an old request replayed."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 1, 2, 4 … minutes, at most 6 hours."""
    return timedelta(minutes=min(2 ** (attempts - 1), 360))


@dataclass
class DeliveryOutcome:
    status: str  # "delivered", "retry", "failed", "fetched" (read from the feed meanwhile), "not_due"
    retry_in: float | None = None


def _claim(notice_id: int, now) -> PartnerNotice | None:
    claimed = (
        PartnerNotice.objects.filter(pk=notice_id, webhook_status=PartnerNotice.Webhook.PENDING, webhook_next_at__lte=now)
        .filter(Q(webhook_claimed_at__isnull=True) | Q(webhook_claimed_at__lt=now - CLAIM_TIMEOUT))
        .update(webhook_claimed_at=now, webhook_attempts=F("webhook_attempts") + 1)
    )
    if not claimed:
        return None
    return PartnerNotice.objects.select_related("organisation__webhook").get(pk=notice_id)


def _attempt_record(*, notice: PartnerNotice, attempt: PartnerWebhookAttempt, claimed_at, status_code, error) -> DeliveryOutcome:
    now = timezone.now()
    attempt.finished_at, attempt.status_code, attempt.error = now, status_code, error[:200]
    attempt.save(update_fields=["finished_at", "status_code", "error"])
    mine = PartnerNotice.objects.filter(pk=notice.pk, webhook_claimed_at=claimed_at)
    if status_code is not None and 200 <= status_code < 300:
        mine.update(
            webhook_status=PartnerNotice.Webhook.DELIVERED, webhook_claimed_at=None, webhook_next_at=None,
            delivered_at=now, email="", email_cleared_at=now,
        )
        return DeliveryOutcome("delivered")
    fetched = PartnerNotice.objects.filter(pk=notice.pk, fetched_at__isnull=False).exists()
    if fetched:
        mine.update(webhook_status=PartnerNotice.Webhook.FETCHED, webhook_claimed_at=None, webhook_next_at=None)
        return DeliveryOutcome("fetched")
    if notice.webhook_attempts >= WEBHOOK_MAX_ATTEMPTS:
        mine.update(webhook_status=PartnerNotice.Webhook.FAILED, webhook_claimed_at=None, webhook_next_at=None)
        logger.warning("webhook for notice %s failed %s times; giving up", notice.event_id, notice.webhook_attempts)
        return DeliveryOutcome("failed")
    wait = webhook_backoff(notice.webhook_attempts)
    mine.update(webhook_claimed_at=None, webhook_next_at=now + wait)
    return DeliveryOutcome("retry", retry_in=wait.total_seconds())


def partner_notice_deliver(*, notice_id: int) -> DeliveryOutcome:
    """Make one attempt to POST this notice to its partner's webhook, if one is due and nobody
    else is making it. Safe to run twice: the claim lets one caller through, and a delivered
    notice is never claimed again. Every attempt carries the same event id."""
    now = timezone.now()
    notice = _claim(notice_id, now)
    if notice is None:
        return DeliveryOutcome("not_due")
    attempt = PartnerWebhookAttempt.objects.create(notice=notice, number=notice.webhook_attempts, started_at=now)
    webhook = getattr(notice.organisation, "webhook", None)
    if webhook is None or not webhook.active or not webhook_url_allowed(webhook.url):
        # Not worth retrying: nothing will change until an organiser fixes the webhook.
        notice.webhook_attempts = WEBHOOK_MAX_ATTEMPTS
        return _attempt_record(notice=notice, attempt=attempt, claimed_at=now, status_code=None, error="no usable webhook")
    body = json.dumps({**notice_payload(notice), "organisation": notice.organisation.slug}).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Muster-Webhook/1",
        EVENT_ID_HEADER: str(notice.event_id),
        SIGNATURE_HEADER: webhook_signature(secret=webhook.secret, timestamp=int(time.time()), body=body),
    }
    if not webhook_host_public(webhook.url):
        # Retried as any failed connection: the name may not resolve for a while.
        return _attempt_record(
            notice=notice, attempt=attempt, claimed_at=now, status_code=None, error="host not found or not public"
        )
    try:
        # No redirects: the signed body must reach only the URL the organisers registered.
        response = requests.post(webhook.url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False)
        status_code, error = response.status_code, ""
    except requests.RequestException as exc:
        status_code, error = None, type(exc).__name__
    return _attempt_record(notice=notice, attempt=attempt, claimed_at=now, status_code=status_code, error=error)


def partner_notices_sweep() -> int:
    """Beat: queue the deliveries that are due but whose task seems lost (the broker was down,
    or its worker died mid-call and its claim has run out). Returns how many were queued."""
    from engage import tasks

    now = timezone.now()
    owed = (
        PartnerNotice.objects.filter(webhook_status=PartnerNotice.Webhook.PENDING, webhook_next_at__lte=now - SWEEP_GRACE)
        .filter(Q(webhook_claimed_at__isnull=True) | Q(webhook_claimed_at__lt=now - CLAIM_TIMEOUT))
        .order_by("webhook_next_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    ids = list(owed)
    for pk in ids:
        _queue(tasks.partner_notice_deliver, pk)
    return len(ids)


def _queue(task, notice_id: int, countdown: float | None = None) -> None:
    # As engage.queueing.queue, with a countdown: a broker outage is covered by the sweep. Redis
    # may deliver a long countdown twice (its visibility timeout); the claim makes that harmless.
    try:
        task.apply_async(args=(notice_id,), countdown=countdown, retry=True,
                         retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
    except Exception:
        logger.exception("could not queue the webhook for notice %s; the sweep will", notice_id)


def partner_notice_retry_queue(*, notice_id: int, retry_in: float) -> None:
    from engage import tasks

    _queue(tasks.partner_notice_deliver, notice_id, countdown=retry_in)
