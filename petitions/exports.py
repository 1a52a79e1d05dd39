from collections.abc import Iterator

from engage.csvfiles import csv_stream
from petitions.models import Petition, Signature

HANDIN_HEADER = ["petition", "first_name", "last_name", "postcode", "country", "confirmed_at", "source"]


def signatures_handin_count(*, petitions: list[Petition]) -> int:
    """How many rows signatures_handin_csv streams (for the audit log, counted first)."""
    return Signature.objects.filter(petition__in=petitions, status=Signature.Status.CONFIRMED).count()


def signatures_handin_csv(*, petitions: list[Petition]) -> Iterator[str]:
    """Confirmed signatures for a hand-in, streamed row by row. No email addresses: the
    petition's target needs names and places, not contact details."""
    rows = (
        Signature.objects.filter(petition__in=petitions, status=Signature.Status.CONFIRMED)
        .order_by("petition_id", "confirmed_at", "id")
        .values_list(
            "petition__slug",
            "supporter__first_name",
            "supporter__last_name",
            "supporter__postcode",
            "supporter__country",
            "confirmed_at",
            "source",
        )
    )
    return csv_stream(
        HANDIN_HEADER,
        (
            (slug, first, last, postcode, country, confirmed_at.isoformat(), source)
            for slug, first, last, postcode, country, confirmed_at, source in rows.iterator(chunk_size=2000)
        ),
    )
