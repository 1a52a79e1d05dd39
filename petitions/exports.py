import csv
from collections.abc import Iterator

from engage.csvsafe import csv_safe
from petitions.models import Petition, Signature

HANDIN_HEADER = ["petition", "first_name", "last_name", "postcode", "country", "confirmed_at", "source"]


class Echo:
    """A file for csv.writer that hands each row back, so rows can be streamed as they are written."""

    def write(self, value):
        return value


def signatures_handin_csv(*, petitions: list[Petition]) -> Iterator[str]:
    """Confirmed signatures for a hand-in, streamed row by row. No email addresses: the
    petition's target needs names and places, not contact details."""
    writer = csv.writer(Echo())
    yield writer.writerow(HANDIN_HEADER)
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
    for row in rows.iterator(chunk_size=2000):
        slug, first, last, postcode, country, confirmed_at, source = row
        yield writer.writerow(
            [csv_safe(v) for v in (slug, first, last, postcode, country, confirmed_at.isoformat(), source)]
        )
