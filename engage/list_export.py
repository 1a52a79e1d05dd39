"""A mailing list's subscribers as CSV for organisers, safe to open in a spreadsheet."""

from collections.abc import Iterator

from engage.csvfiles import csv_stream
from engage.models import MailingList, Subscription, Suppression
from engage.suppression import email_hash

SUBSCRIBERS_HEADER = ["list", "email", "first_name", "last_name", "country", "postcode", "subscribed_at", "source"]


def subscribers_csv(*, mailing_lists: list[MailingList]) -> Iterator[str]:
    return csv_stream(SUBSCRIBERS_HEADER, _subscribers_rows(mailing_lists=mailing_lists))


def _subscribers_rows(*, mailing_lists: list[MailingList]) -> Iterator[tuple]:
    """The subscribed people of these lists, streamed row by row. Suppressed addresses (bounced,
    complained, erased) are left out: a file handed to another tool must not bring them back."""
    suppressed = set(Suppression.objects.values_list("email_hash", flat=True))
    rows = (
        Subscription.objects.filter(mailing_list__in=mailing_lists, status=Subscription.Status.SUBSCRIBED)
        .order_by("mailing_list_id", "id")
        .values_list(
            "mailing_list__slug", "supporter__email", "supporter__first_name", "supporter__last_name",
            "supporter__country", "supporter__postcode", "subscribed_at", "source",
        )
    )
    for slug, email, first, last, country, postcode, subscribed_at, source in rows.iterator(chunk_size=2000):
        if suppressed and email_hash(email) in suppressed:
            continue
        yield slug, email, first, last, country, postcode, subscribed_at.isoformat() if subscribed_at else "", source
