"""ESP tracking events applied: what anymail's views at /anymail/<esp>/tracking/ (basic auth
with WEBHOOK_SECRET) receive, through its `tracking` signal (mailings.webhooks).

ESPs deliver a webhook at least once, so each event is recorded by (esp, event id) in the
same transaction that applies it: a replay finds the row and changes nothing. A hard bounce
or a complaint suppresses the address for every later send, bulk and transactional; soft
bounces are counted and suppress at MAILINGS_SOFT_BOUNCE_LIMIT.
"""

import hashlib
import logging
from datetime import datetime

from anymail.signals import AnymailTrackingEvent
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from engage.models import Suppression
from engage.services.subscriptions import unsubscribe
from engage.services.suppression import suppression_add
from engage.suppression import email_hash
from mailings.models import Delivery, SoftBounceCount, WebhookEvent
from mailings.selectors.emails import outbound_email_exists
from mailings.selectors.mailings import delivery_for_event

logger = logging.getLogger(__name__)

# anymail's event types that settle what happened to a message, in the Delivery.outcome terms.
_OUTCOMES = {
    "delivered": Delivery.Outcome.DELIVERED,
    "deferred": Delivery.Outcome.DEFERRED,
    "bounced": Delivery.Outcome.BOUNCED,
    "rejected": Delivery.Outcome.REJECTED,
    "complained": Delivery.Outcome.COMPLAINED,
}
# A later event never replaces a final one (a "deferred" arriving after "delivered").
_FINAL = {Delivery.Outcome.DELIVERED, Delivery.Outcome.BOUNCED, Delivery.Outcome.COMPLAINED, Delivery.Outcome.REJECTED}

ESP_UNSUBSCRIBE_WORDING = "Unsubscribed with the email provider's own unsubscribe link."


def _event_id(esp: str, event: AnymailTrackingEvent) -> str:
    if event.event_id:
        return str(event.event_id)[:200]
    # Some ESPs give no id: the same event delivered twice still has the same content.
    raw = f"{event.event_type}|{event.message_id}|{event.recipient}|{event.timestamp}|{event.metadata}"
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# Links that carry a recipient's signed token (engage.links): kept as their path without it.
_TOKEN_PATHS = ("/unsubscribe/", "/preferences/")
_URL_MAX = WebhookEvent._meta.get_field("url").max_length


def _click_url(event: AnymailTrackingEvent) -> str:
    """The link a click followed, as the links ranked show it: a per-recipient link of Muster's
    (unsubscribe, preferences) without the token that would let an organiser act as them."""
    url = event.click_url if isinstance(event.click_url, str) else ""
    url = "".join(ch for ch in url.strip() if ch.isprintable())
    site = settings.SITE_URL.rstrip("/")
    for path in _TOKEN_PATHS:
        if url.startswith(site + path) and len(url) > len(site + path):
            return site + path + "…"
    return url[:_URL_MAX]


def tracking_event_apply(*, esp: str, event: AnymailTrackingEvent) -> bool:
    """Apply one tracking event once. False if it was seen before (a replay)."""
    metadata = event.metadata or {}
    delivery = delivery_for_event(delivery_id=_int(metadata.get("delivery_id")), mailing_id=metadata.get("mailing_id"))
    outbound_id = _int(metadata.get("outbound_email_id"))
    when: datetime = event.timestamp or timezone.now()
    event_type = _event_type(event)
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                esp=esp[:40], event_id=_event_id(esp, event), event_type=event_type[:40],
                delivery=delivery, outbound_email_id=outbound_id if outbound_email_exists(outbound_id) else None,
                occurred_at=when, url=_click_url(event) if event_type == "clicked" else "",
            )
            if delivery is not None:
                _delivery_update(delivery, event_type, when)
            if event.recipient:
                _suppression_update(event, event_type)
    except IntegrityError:
        return False
    if event_type == "unsubscribed" and delivery is not None and delivery.supporter is not None:
        # Without a list the mailing was sent as its organisation: withdraw consent to it.
        unsubscribe(
            supporter=delivery.supporter, mailing_list=delivery.mailing.mailing_list,
            organisation=delivery.mailing.organisation, wording=ESP_UNSUBSCRIBE_WORDING, source=f"esp:{esp}"[:200],
        )
    return True


def _delivery_update(delivery: Delivery, event_type: str, when: datetime) -> None:
    rows = Delivery.objects.filter(pk=delivery.pk)
    if event_type in _OUTCOMES:
        outcome = _OUTCOMES[event_type]
        if outcome in _FINAL:
            # A complaint outranks the delivery it follows; nothing outranks a complaint.
            rows.exclude(outcome=Delivery.Outcome.COMPLAINED).update(outcome=outcome, outcome_at=when)
        else:
            rows.exclude(outcome__in=_FINAL).update(outcome=outcome, outcome_at=when)
    elif event_type == "opened":
        rows.filter(opened_at__isnull=True).update(opened_at=when)
    elif event_type == "clicked":
        rows.filter(clicked_at__isnull=True).update(clicked_at=when)
        rows.filter(opened_at__isnull=True).update(opened_at=when)  # a click implies an open
    elif event_type == "unsubscribed":
        rows.filter(unsubscribed_at__isnull=True).update(unsubscribed_at=when)


# Postmark's bounce types that are temporary; anymail reports them as "bounced" too.
_SOFT_BOUNCE_TYPES = {"SoftBounce", "Transient", "DnsError"}


def _event_type(event: AnymailTrackingEvent) -> str:
    """anymail's event type, with a temporary bounce reported as "deferred" for every ESP."""
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    if event.event_type == "bounced" and (raw.get("Type") in _SOFT_BOUNCE_TYPES or raw.get("severity") == "temporary"):
        return "deferred"
    return str(event.event_type)


def _suppression_update(event: AnymailTrackingEvent, event_type: str) -> None:
    address = event.recipient
    if event_type == "bounced" or (event.event_type == "rejected" and event.reject_reason in ("bounced", "invalid")):
        suppression_add(email=address, reason=Suppression.Reason.HARD_BOUNCE)
    elif event_type == "complained" or (event.event_type == "rejected" and event.reject_reason == "spam"):
        suppression_add(email=address, reason=Suppression.Reason.COMPLAINT)
    elif event_type == "deferred":
        key = email_hash(address)
        counter, _ = SoftBounceCount.objects.get_or_create(email_hash=key)
        SoftBounceCount.objects.filter(pk=counter.pk).update(count=F("count") + 1)
        counter.refresh_from_db(fields=["count"])
        if counter.count >= settings.MAILINGS_SOFT_BOUNCE_LIMIT:
            suppression_add(email=address, reason=Suppression.Reason.SOFT_BOUNCES)
    elif event_type == "delivered":
        SoftBounceCount.objects.filter(email_hash=email_hash(address)).update(count=0)
