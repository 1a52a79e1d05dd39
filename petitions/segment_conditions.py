"""The segment conditions petitions contributes to mailings' registry (mailings never imports
petitions): who signed which petition, through which partner or link, and when. Only
confirmed signatures count, as on the petition's own count."""

from django.db.models import Exists, OuterRef, Q

from mailings.selectors.segments import (
    SegmentError,
    condition_register,
    param_date_range,
    param_organisation,
    param_str,
)
from petitions.models import Petition, Signature


def _signed(node: dict, extra: Q) -> Q:
    signatures = Signature.objects.filter(extra, supporter=OuterRef("pk"), status=Signature.Status.CONFIRMED)
    if node.get("petition"):
        slug = param_str(node, "petition")
        petition = Petition.objects.filter(slug=slug).first()
        if petition is None:
            raise SegmentError(f"No petition with the slug {slug!r}.")
        signatures = signatures.filter(petition=petition)
    return Q(Exists(signatures))


def _signed_petition(node: dict) -> Q:
    param_str(node, "petition")
    return _signed(node, Q())


def _signed_via_partner(node: dict) -> Q:
    return _signed(node, Q(partner=param_organisation(node, "partner")))


def _signed_with_source(node: dict) -> Q:
    return _signed(node, Q(source=param_str(node, "source")))


def _signed_between(node: dict) -> Q:
    return _signed(node, param_date_range(node, "created_at"))


def register() -> None:
    condition_register(
        name="signed_petition", label="Signed a petition (confirmed)", params={"petition": "petition slug"},
        build=_signed_petition,
    )
    condition_register(
        name="signed_via_partner", label="Signed through a partner",
        params={"partner": "organisation slug", "petition": "petition slug (optional)"}, build=_signed_via_partner,
    )
    condition_register(
        name="signed_with_source", label="Signed through a source code (?source=)",
        params={"source": "source code", "petition": "petition slug (optional)"}, build=_signed_with_source,
    )
    condition_register(
        name="signed_between", label="Signed between dates",
        params={"from": "YYYY-MM-DD", "to": "YYYY-MM-DD", "petition": "petition slug (optional)"}, build=_signed_between,
    )
