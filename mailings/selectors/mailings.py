"""Reads of mailings and their deliveries: for the organisers' pages (live segment counts, a
message's preview, a mailing's progress and statistics) and for the send (who is still a
recipient, what is due, what is left)."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower, TruncHour
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from engage.models import MailingList, Organisation, Supporter
from engage.sql import ids_q
from mailings import esp, rendering
from mailings.models import Delivery, Mailing, Message, WebhookEvent
from mailings.rendering import RenderedEmail
from mailings.selectors.recipients import list_reason, recipients_eligible, recipients_reasons
from mailings.selectors.segments import segment_supporters

IN_FLIGHT = [Delivery.Status.CLAIMED, Delivery.Status.SENDING]


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
    starting = mailing_starting(mailing)
    return {
        "status": mailing.status,
        "starting": starting,
        "status_label": gettext("Starting…") if starting else mailing.get_status_display(),
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
        "unknown_reason": unknown_reason(by_status.get(Delivery.Status.UNKNOWN, 0)),
        **outcomes,
    }


def mailing_starting(mailing: Mailing) -> bool:
    """Sent now (or due): its start is queued and no delivery is snapshotted yet."""
    return mailing.status == Mailing.Status.SCHEDULED and mailing.scheduled_at is not None and (
        mailing.scheduled_at <= timezone.now()
    )


def unknown_reason(unknown: int) -> str:
    """Why `unknown` deliveries keep a mailing open, and what happens next ("" for none)."""
    if not unknown:
        return ""
    if esp.has_lookup():
        minutes = max(1, round(esp.search_delay().total_seconds() / 60))
        return ngettext(
            "%(count)d delivery awaits reconciliation: the connection was lost while the ESP was taking it. "
            "Muster asks the ESP's own records once its search has caught up (%(minutes)d minutes after), "
            "and sends again only what the ESP never received. The mailing finishes after that.",
            "%(count)d deliveries await reconciliation: the connection was lost while the ESP was taking them. "
            "Muster asks the ESP's own records once its search has caught up (%(minutes)d minutes after), "
            "and sends again only what the ESP never received. The mailing finishes after that.",
            unknown,
        ) % {"count": unknown, "minutes": minutes}
    return ngettext(
        "%(count)d delivery has an unknown outcome: the connection was lost while the ESP was taking it, and this "
        "ESP's records cannot be asked. The mailing stays open until you decide: resending may give some people "
        "two copies; dropping sends them nothing.",
        "%(count)d deliveries have an unknown outcome: the connection was lost while the ESP was taking them, and "
        "this ESP's records cannot be asked. The mailing stays open until you decide: resending may give some "
        "people two copies; dropping sends them nothing.",
        unknown,
    ) % {"count": unknown}


def mailing_pace(*, mailing: Mailing, progress: dict) -> dict:
    """The mean rate since the start (settled deliveries a minute) and, while sending, the
    seconds left at that rate; None where there is nothing to go on. No query: a page polling
    every second must not scan a million deliveries for a rate."""
    done = progress["total"] - progress["queued"] - progress["in_flight"]
    if mailing.started_at is None or done <= 0:
        return {"rate_per_minute": None, "seconds_left": None}
    end = mailing.finished_at if mailing.status in (Mailing.Status.SENT, Mailing.Status.CANCELLED) else None
    elapsed = ((end or timezone.now()) - mailing.started_at).total_seconds()
    if elapsed <= 0:
        return {"rate_per_minute": None, "seconds_left": None}
    per_second = done / elapsed
    left = progress["queued"] + progress["in_flight"]
    return {
        "rate_per_minute": round(per_second * 60, 1),
        "seconds_left": round(left / per_second) if mailing.status == Mailing.Status.SENDING else None,
    }


def mailing_problems(*, mailing: Mailing, limit: int = 10) -> list[dict]:
    """The latest deliveries that failed or whose outcome is unknown, newest first, for the page
    to show as they happen (the claim index on (mailing, status, id) serves it)."""
    rows = (
        Delivery.objects.filter(mailing=mailing, status__in=[Delivery.Status.FAILED, Delivery.Status.UNKNOWN])
        .select_related("supporter")
        .only("id", "status", "last_error", "supporter__email")
        .order_by("-id")[:limit]
    )
    return [
        {
            "id": d.pk,
            "status": d.status,
            "status_label": d.get_status_display(),
            "email": d.supporter.email if d.supporter else gettext("(erased)"),
            "error": d.last_error,
        }
        for d in rows
    ]


# What the results chart counts per hour: (column, the delivery field whose time it is, filter).
HOURLY_SERIES = [
    ("sent", "sent_at", Q(status=Delivery.Status.SENT)),
    ("delivered", "outcome_at", Q(outcome=Delivery.Outcome.DELIVERED)),
    ("bounced", "outcome_at", Q(outcome=Delivery.Outcome.BOUNCED)),
    ("opened", "opened_at", Q()),
    ("clicked", "clicked_at", Q()),
    ("unsubscribed", "unsubscribed_at", Q()),
    ("complained", "outcome_at", Q(outcome=Delivery.Outcome.COMPLAINED)),
]


def mailing_hourly(*, mailing: Mailing, hours_max: int = 14 * 24) -> tuple[list[tuple], bool]:
    """([(hour, sent, delivered, bounced, opened, clicked, unsubscribed, complained)], cut short)
    for every hour from the start to the last event, at most `hours_max` of them. Each delivery
    counts once per column, in the hour of its own time (its outcome, first open, first click),
    so the columns add up to the totals of mailing_progress."""
    tz = timezone.get_current_timezone()
    counts: dict[str, dict[datetime, int]] = {}
    deliveries = Delivery.objects.filter(mailing=mailing)
    for name, field, condition in HOURLY_SERIES:
        grouped = (
            deliveries.filter(condition, **{f"{field}__isnull": False})
            .annotate(hour=TruncHour(field, tzinfo=tz))
            .values("hour")
            .annotate(n=Count("id"))
            .values_list("hour", "n")
        )
        counts[name] = {hour.astimezone(UTC): n for hour, n in grouped}  # one key per instant
    hours = {hour for series in counts.values() for hour in series}
    if mailing.started_at is not None:
        local = mailing.started_at.astimezone(tz).replace(minute=0, second=0, microsecond=0)
        hours.add(local.astimezone(UTC))
    if not hours:
        return [], False
    first, last = min(hours), max(hours)
    span = int((last - first).total_seconds() // 3600) + 1
    rows = []
    for i in range(min(span, hours_max)):
        hour = first + timedelta(hours=i)
        label = hour.astimezone(tz).strftime("%Y-%m-%d %H:00")
        rows.append((label, *(counts[name].get(hour, 0) for name, _, _ in HOURLY_SERIES)))
    return rows, span > hours_max


def mailing_links_clicked(*, mailing: Mailing, limit: int = 50) -> list[tuple[str, int, int]]:
    """[(url, recipients who clicked it, clicks)] ranked by recipients: from the click events
    the ESP sent, each delivery (one recipient) counted once per link however often it clicked."""
    return list(
        WebhookEvent.objects.filter(delivery__mailing=mailing, event_type="clicked")
        .exclude(url="")
        .values("url")
        .annotate(recipients=Count("delivery", distinct=True), clicks=Count("id"))
        .order_by("-recipients", "-clicks", "url")
        .values_list("url", "recipients", "clicks")[:limit]
    )


def audience_search(
    *, definition, organisation: Organisation, mailing_list: MailingList | None, query: str, limit: int = 10
) -> list[Supporter]:
    """Up to `limit` of the mailing's recipients whose address starts with `query` (the exact
    address first), for "preview as". Raises SegmentError for a bad definition."""
    query = "".join(ch for ch in query.strip() if ch.isprintable())[:254].lower()
    if not query:
        return []
    audience = recipients_eligible(segment_supporters(definition), organisation=organisation, mailing_list=mailing_list)
    matches = list(
        audience.alias(email_lower=Lower("email")).filter(email_lower__startswith=query)
        .only("id", "email", "first_name", "last_name").order_by("email")[:limit]
    )
    matches.sort(key=lambda s: s.email.lower() != query)
    return matches


def audience_member(
    *, definition, organisation: Organisation, mailing_list: MailingList | None, supporter_id: int
) -> Supporter | None:
    """The supporter if they are among the mailing's recipients now, else None."""
    audience = recipients_eligible(segment_supporters(definition), organisation=organisation, mailing_list=mailing_list)
    return audience.filter(pk=supporter_id).first()


# --- Compose ---------------------------------------------------------------------------------


def _sample_values(supporter: Supporter | None, mailing_list: MailingList | None, organisation: Organisation) -> dict[str, str]:
    if supporter is not None:
        reasons = recipients_reasons(organisation=organisation, mailing_list=mailing_list, supporter_ids=[supporter.pk])
        return rendering.recipient_values(
            supporter=supporter, mailing_list=mailing_list, organisation=organisation,
            # Someone never opted in would not be a recipient: show what a recipient's footer says.
            reason=reasons.get(supporter.pk) or sample_reason(organisation=organisation, mailing_list=mailing_list),
        )
    return {
        "first_name": "",
        "last_name": "",
        "preferences_url": f"{settings.SITE_URL}/preferences/example/",
        "unsubscribe_url": f"{settings.SITE_URL}/unsubscribe/example/",
        rendering.REASON: sample_reason(organisation=organisation, mailing_list=mailing_list),
    }


def sample_reason(*, organisation: Organisation, mailing_list: MailingList | None) -> str:
    """The footer's reason in a preview without a real recipient."""
    if mailing_list is not None:
        return list_reason(mailing_list)
    return gettext(
        "[Here each recipient reads where they asked %(organisation)s to keep them updated, for example the "
        "petition they signed.]"
    ) % {"organisation": organisation.name}


def message_preview(
    *, message: Message, supporter: Supporter | None = None, mailing_list: MailingList | None = None
) -> RenderedEmail:
    """The message as `supporter` would get it (without one: a recipient with no name)."""
    compiled = rendering.message_compile(
        subject=message.subject, preheader=message.preheader, body=message.body, merge_values=message.merge_values,
        list_name=mailing_list.name if mailing_list else "",
    )
    return rendering.compiled_render(compiled, _sample_values(supporter, mailing_list, message.sender.organisation))


# --- The send --------------------------------------------------------------------------------


def mailing_for_start(*, mailing_id: int) -> Mailing:
    return Mailing.objects.select_related("segment", "mailing_list", "message__sender__organisation").get(pk=mailing_id)


def mailing_sending_get(*, mailing_id: int) -> Mailing | None:
    """The mailing with all a chunk's messages need, if it is still sending."""
    return (
        Mailing.objects.select_related("message__sender__organisation", "mailing_list", "segment")
        .filter(pk=mailing_id, status=Mailing.Status.SENDING)
        .first()
    )


def mailing_recipient_ids(*, mailing: Mailing) -> QuerySet[Supporter]:
    """The ids of everyone the mailing's segment matches and the rule lets it reach (the snapshot)."""
    return recipients_eligible(
        segment_supporters(mailing.segment.definition),
        organisation=mailing.organisation,
        mailing_list=mailing.mailing_list,
        many=True,
    ).values("pk")


def chunk_supporters_eligible(*, mailing: Mailing, supporter_ids: list[int]) -> dict[int, Supporter]:
    """Those of a claimed chunk's supporters who are still recipients (someone may have
    unsubscribed since the snapshot), with the fields their messages use. The caller stores
    the chunk's missing suppression hashes first; a supporter still without one (rewritten by
    another program in between) is left out rather than sent on an unchecked address."""
    return {
        s.pk: s
        for s in recipients_eligible(
            Supporter.objects.filter(ids_q(Supporter, supporter_ids), email_hash__isnull=False), organisation=mailing.organisation,
            mailing_list=mailing.mailing_list,
        ).only("id", "email", "first_name", "last_name", "link_nonce")
    }


def delivery_count(*, mailing: Mailing) -> int:
    return Delivery.objects.filter(mailing=mailing).count()


def deliveries_pending_exist(*, mailing_id: int) -> bool:
    """Anything of the mailing not yet settled: queued, in flight, or awaiting reconciliation."""
    return Delivery.objects.filter(
        mailing_id=mailing_id, status__in=[Delivery.Status.QUEUED, *IN_FLIGHT, Delivery.Status.UNKNOWN]
    ).exists()


def deliveries_queued_exist(*, mailing_id: int) -> bool:
    return Delivery.objects.filter(mailing_id=mailing_id, status=Delivery.Status.QUEUED).exists()


def deliveries_unknown_due(*, before, limit: int) -> list[tuple[int, int, object]]:
    """(id, mailing id, claim token) of deliveries unknown since before `before` (a time or a
    database expression), oldest first."""
    return list(
        Delivery.objects.filter(status=Delivery.Status.UNKNOWN, claimed_at__lt=before)
        .order_by("id")
        .values_list("id", "mailing_id", "claim_token")[:limit]
    )


def mailing_bulk_from_email(*, mailing_id: int) -> str:
    """The address a mailing's messages come from (an ESP's search may be per sending domain)."""
    return Mailing.objects.filter(pk=mailing_id).values_list("message__sender__bulk_email", flat=True).first() or ""


def mailings_scheduled_due(*, now: datetime) -> list[int]:
    return list(Mailing.objects.filter(status=Mailing.Status.SCHEDULED, scheduled_at__lte=now).values_list("pk", flat=True))


def mailings_sending_activity() -> list[tuple[int, datetime | None]]:
    """(id, last activity) of every mailing sending now."""
    return list(Mailing.objects.filter(status=Mailing.Status.SENDING).values_list("pk", "last_activity_at"))


def delivery_for_event(*, delivery_id: int | None, mailing_id: str | None) -> Delivery | None:
    """The delivery a tracking event names, or None when it names another mailing's (a forged
    or foreign id: someone else's delivery is never touched)."""
    if delivery_id is None:
        return None
    delivery = Delivery.objects.select_related("mailing__mailing_list", "supporter").filter(pk=delivery_id).first()
    if delivery and mailing_id and str(delivery.mailing_id) != str(mailing_id):
        return None
    return delivery
