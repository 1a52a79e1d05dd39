from engage.models import Consent, Organisation, Supporter


def consent_current(*, supporter: Supporter, organisation: Organisation) -> bool:
    """True when the latest ledger row for this pair is an opt-in."""
    latest = (
        Consent.objects.filter(supporter=supporter, organisation=organisation)
        .order_by("-created_at", "-id")
        .values_list("given", flat=True)
        .first()
    )
    return bool(latest)
