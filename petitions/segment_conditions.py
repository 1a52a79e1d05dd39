"""The segment conditions petitions contributes to mailings' registry (mailings never imports
petitions): who signed which petition, through which partner or link, and when. Only
confirmed signatures count, as on the petition's own count."""

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mailings.selectors.segments import (
    CHOICE,
    DATE,
    SIGNATURES,
    Option,
    Param,
    SegmentError,
    condition_register,
    options_cached,
    organisation_options,
    param_date_range,
    param_organisation,
    param_str,
)
from petitions.models import Petition, Signature

SOURCE_OPTIONS = 500  # the most used


def petition_options() -> list[Option]:
    # Drafts have no signers; the open ones first, as organisers mostly pick those.
    rows = Petition.objects.exclude(status=Petition.Status.DRAFT).order_by("status", "title").values_list(
        "slug", "title", "status"
    )
    labels = dict(Petition.Status.choices)
    return [Option(slug, title, labels.get(status, status)) for slug, title, status in rows]


def _sources() -> list[str]:
    # A scan of the confirmed signatures (on a million, a second): kept in the cache like the
    # postcode areas (mailings.selectors.segments.options_cached).
    from django.db.models import Count

    rows = (
        Signature.objects.filter(status=Signature.Status.CONFIRMED).exclude(source="")
        .values("source").annotate(n=Count("id")).order_by("-n", "source").values_list("source", flat=True)
    )
    return sorted(rows[:SOURCE_OPTIONS])


def source_options() -> list[Option]:
    return [Option(source, source) for source in options_cached("segments:options:sources", _sources)]


def _signed(node: dict, extra: Q) -> Q:
    signatures = Signature.objects.filter(extra, supporter=OuterRef("pk"), status=Signature.Status.CONFIRMED)
    if node.get("petition"):
        slug = param_str(node, "petition")
        petition = Petition.objects.filter(slug=slug).first()
        if petition is None:
            raise SegmentError(_("No petition with the slug %(slug)r.") % {"slug": slug})
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
    petition = Param(kind=CHOICE, label=gettext_lazy("Petition"), options=petition_options)
    any_petition = Param(
        kind=CHOICE, label=gettext_lazy("Petition"), options=petition_options, required=False,
        blank_label=gettext_lazy("any petition"),
    )
    condition_register(
        name="signed_petition", label=gettext_lazy("Signed a petition"), group=SIGNATURES,
        params={"petition": petition}, build=_signed_petition,
    )
    condition_register(
        name="signed_via_partner", label=gettext_lazy("Signed through a partner"), group=SIGNATURES,
        params={"partner": Param(kind=CHOICE, label=gettext_lazy("Partner"), options=organisation_options),
                "petition": any_petition},
        build=_signed_via_partner,
    )
    condition_register(
        name="signed_with_source", label=gettext_lazy("Signed through a source code (?source=)"), group=SIGNATURES,
        params={"source": Param(kind=CHOICE, label=gettext_lazy("Source code"), options=source_options),
                "petition": any_petition},
        build=_signed_with_source,
    )
    condition_register(
        name="signed_between", label=gettext_lazy("Signed between dates"), group=SIGNATURES,
        params={"from": Param(kind=DATE, label=gettext_lazy("From"), required=False),
                "to": Param(kind=DATE, label=gettext_lazy("To"), required=False),
                "petition": any_petition},
        build=_signed_between,
    )
