"""Reads for the organisers' pages: live segment counts, a mailing's progress and statistics."""

from django.db.models import Count, Q

from engage.models import MailingList, Organisation
from mailings.models import Delivery, Mailing
from mailings.recipients import recipients_eligible
from mailings.segments import segment_supporters


def segment_count(*, definition, organisation: Organisation | None = None, mailing_list: MailingList | None = None) -> dict:
    """How many supporters the definition matches, and how many of them this organisation may
    email on this list (the exclusion rule). Raises SegmentError for a bad definition."""
    supporters = segment_supporters(definition)
    counts = {"matching": supporters.count()}
    if organisation is not None:
        counts["eligible"] = recipients_eligible(
            supporters, organisation=organisation, mailing_list=mailing_list, many=True
        ).count()
    return counts


def mailing_progress(*, mailing: Mailing) -> dict:
    """Counts per status and per outcome in one grouped query over the mailing's index."""
    by_status = dict(
        Delivery.objects.filter(mailing=mailing).values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    outcomes = Delivery.objects.filter(mailing=mailing).aggregate(
        delivered=Count("id", filter=Q(outcome=Delivery.Outcome.DELIVERED)),
        bounced=Count("id", filter=Q(outcome=Delivery.Outcome.BOUNCED)),
        deferred=Count("id", filter=Q(outcome=Delivery.Outcome.DEFERRED)),
        complained=Count("id", filter=Q(outcome=Delivery.Outcome.COMPLAINED)),
        rejected=Count("id", filter=Q(outcome=Delivery.Outcome.REJECTED)),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        unsubscribed=Count("id", filter=Q(unsubscribed_at__isnull=False)),
    )
    total = sum(by_status.values())
    sent = by_status.get(Delivery.Status.SENT, 0)
    in_flight = by_status.get(Delivery.Status.CLAIMED, 0) + by_status.get(Delivery.Status.SENDING, 0)
    return {
        "status": mailing.status,
        "status_label": mailing.get_status_display(),
        "total": total,
        "sent": sent,
        "queued": by_status.get(Delivery.Status.QUEUED, 0),
        "in_flight": in_flight,
        "failed": by_status.get(Delivery.Status.FAILED, 0),
        "unknown": by_status.get(Delivery.Status.UNKNOWN, 0),
        "skipped": by_status.get(Delivery.Status.SKIPPED, 0),
        "dropped": by_status.get(Delivery.Status.DROPPED, 0),
        "cancelled": by_status.get(Delivery.Status.CANCELLED, 0),
        "percent": round(100 * (total - by_status.get(Delivery.Status.QUEUED, 0) - in_flight) / total, 1) if total else 0,
        **outcomes,
    }
