"""petitions' part of erasing a person (engage.services.erasure.supporters_delete calls
signatures_anonymise through the registry in engage.personal_data, which petitions.personal_data.register
fills), and the anonymising the retention rule shares.

Erasing a person keeps each signature's petition, status, dates, source, country and postcode
area, so counts and geography totals survive; the link to the person (supporter), the hash of
their IP address and the partner boxes they ticked go.
"""

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from petitions.models import Signature
from petitions.services.tallies import TALLY_FIELDS, tallies_opt_ins_remove


def signatures_strip(signatures: QuerySet) -> int:
    """Keep what the statistics need (petition, status, dates, source, country, postcode area)
    and drop what leads back to the person: used by erasure and by the retention rule. The boxes
    ticked leave the opt-in tallies with them (docs/design.md, "Figures come from tallies")."""
    with transaction.atomic():
        # Locked, whatever their status, so one confirmed meanwhile is seen confirmed with its boxes.
        ids = list(Signature.objects.filter(pk__in=signatures.values("pk")).select_for_update().order_by("pk").values_list("pk", flat=True))
        rows = Signature.objects.filter(pk__in=ids, status=Signature.Status.CONFIRMED).values(*TALLY_FIELDS)
        boxed = [row for row in rows if row["opt_ins_pending"]]
        stripped = Signature.objects.filter(pk__in=ids).update(
            supporter=None, ip_hash="", opt_ins_pending=[], anonymised_at=timezone.now()
        )
        tallies_opt_ins_remove(rows=boxed)
    return stripped


def signatures_anonymise(supporters: QuerySet) -> None:
    """Anonymise the signatures of the people being erased."""
    signatures_strip(Signature.objects.filter(supporter__in=supporters))
