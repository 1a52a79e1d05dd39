"""petitions' part of a person's data: their signatures (engage.personal_data).

Erasing a person keeps each signature's petition, status, dates, source, country and postcode
area, so counts and geography totals survive; the link to the person (supporter), the hash of
their IP address and the partner boxes they ticked go.
"""

from django.db.models import QuerySet
from django.utils import timezone

from engage import personal_data
from engage.models import Supporter
from petitions.models import Signature


def signatures_of(supporter: Supporter) -> dict:
    signatures = supporter.signatures.select_related("petition", "partner").order_by("created_at", "id")
    return {
        "signatures": [
            {
                "petition": s.petition.title,
                "petition_url": s.petition.get_absolute_url(),
                "status": s.status,
                "country": s.country,
                "postcode_area": s.postcode_area,
                "source": s.source,
                "through_partner": s.partner.name if s.partner else None,
                "opt_in_boxes_ticked": [box.get("wording", "") for box in s.opt_ins_pending],
                "signed_at": s.created_at.isoformat(),
                "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
            }
            for s in signatures
        ]
    }


def signatures_strip(signatures: QuerySet) -> int:
    """Keep what the statistics need (petition, status, dates, source, country, postcode area)
    and drop what leads back to the person: used by erasure and by the retention rule."""
    return signatures.update(supporter=None, ip_hash="", opt_ins_pending=[], anonymised_at=timezone.now())


def signatures_anonymise(supporters: QuerySet) -> None:
    signatures_strip(Signature.objects.filter(supporter__in=supporters))


def signers_among(supporter_ids: list[int]) -> set[int]:
    return set(
        Signature.objects.filter(supporter_id__in=supporter_ids).values_list("supporter_id", flat=True).distinct()
    )


def register() -> None:
    personal_data.source_register(
        name="petitions", export=signatures_of, erase=signatures_anonymise, holds=signers_among
    )
