"""Retention: SIGNATURE_RETENTION_MONTHS (6 by default) after a petition closes, its signatures
are anonymised.

An anonymised signature keeps its petition, status, dates, source, country and postcode area,
so counts and the geography of support survive; it loses the person (supporter set null), the
IP hash and the partner boxes ticked. The person is then deleted too if nothing else of theirs
is held (engage.services.erasure.supporters_delete_unattached): no other signature, no
subscription, no consent row (an opt-in they rely on to hear from us, or an opt-out we must
keep honouring), no membership, affiliation, sign-up or data export under way.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from engage.services.erasure import supporters_delete_unattached
from petitions.models import Signature
from petitions.selectors import petitions_past_retention
from petitions.services.erasure import signatures_strip

BATCH_SIZE = 2000


def signatures_anonymise_due() -> int:
    """Anonymise every signature now due, in batches, then delete the people left with nothing
    here. Safe to run twice or concurrently: a batch touches only rows not yet anonymised."""
    due = Signature.objects.filter(petition__in=petitions_past_retention(now=timezone.now())).filter(
        Q(anonymised_at__isnull=True) | Q(supporter__isnull=False)
    )
    anonymised = 0
    while True:
        batch = list(due.values_list("pk", "supporter_id")[:BATCH_SIZE])
        if not batch:
            return anonymised
        with transaction.atomic():
            signatures_strip(Signature.objects.filter(pk__in=[pk for pk, _ in batch]))
        supporters_delete_unattached(supporter_ids=sorted({sid for _, sid in batch if sid}))
        anonymised += len(batch)
