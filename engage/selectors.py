from django.db.models.functions import Lower

from engage.models import Consent, MailingList, Organisation, Subscription, Supporter
from engage.normalise import normalise_email


def supporters_by_email(email: str):
    """The supporter with this address (as a queryset), found through the unique index on
    lower(email): a plain `email = …` cannot use that index and reads the whole table."""
    return Supporter.objects.alias(email_lower=Lower("email")).filter(email_lower=normalise_email(email))


def consent_current(*, supporter: Supporter, organisation: Organisation) -> bool:
    """True when the latest ledger row for this pair is an opt-in."""
    latest = (
        Consent.objects.filter(supporter=supporter, organisation=organisation)
        .order_by("-created_at", "-id")
        .values_list("given", flat=True)
        .first()
    )
    return bool(latest)


def consents_current(*, supporter: Supporter) -> dict[int, bool]:
    """{organisation id: whether the latest row is an opt-in}, for every organisation this
    person has a ledger row for. One person's ledger is short: read it whole."""
    current: dict[int, bool] = {}
    rows = Consent.objects.filter(supporter=supporter).order_by("created_at", "id").values_list("organisation_id", "given")
    for organisation_id, given in rows:
        current[organisation_id] = given
    return current


def host_organisations():
    return Organisation.objects.filter(kind=Organisation.Kind.HOST)


def host_organisation() -> Organisation | None:
    """The coalition that runs this site: the join form joins it."""
    return host_organisations().order_by("pk").first()


def public_lists():
    return MailingList.objects.filter(public=True).select_related("organisation").order_by("organisation__name", "name")


def subscription_statuses(*, supporter: Supporter) -> dict[int, str]:
    """{list id: status} for every list this person has a subscription row for."""
    return dict(Subscription.objects.filter(supporter=supporter).values_list("mailing_list_id", "status"))


def preference_lists(*, supporter: Supporter) -> list[MailingList]:
    """The lists a person can switch on or off: the public ones, and any hidden one they are on."""
    own = Subscription.objects.filter(supporter=supporter).values("mailing_list_id")
    return list(
        (MailingList.objects.filter(public=True) | MailingList.objects.filter(pk__in=own))
        .select_related("organisation")
        .order_by("organisation__name", "name")
    )


def preference_organisations(*, supporter: Supporter, consents: dict[int, bool]) -> list[Organisation]:
    """The organisations whose consent a person can give or withdraw: the host, and any other
    they have ever given or withdrawn consent to."""
    return list(
        (host_organisations() | Organisation.objects.filter(pk__in=list(consents))).distinct().order_by("kind", "name")
    )


def is_unsubscribed(*, supporter: Supporter, mailing_list: MailingList | None) -> bool:
    """Whether an unsubscribe link has nothing left to do: the list is off, or (None) every
    list of the host is off and no consent to the host is in force."""
    active = Subscription.objects.filter(
        supporter=supporter, status__in=[Subscription.Status.SUBSCRIBED, Subscription.Status.PENDING]
    )
    if mailing_list is not None:
        return not active.filter(mailing_list=mailing_list).exists()
    hosts = list(host_organisations())
    if active.filter(mailing_list__organisation__in=hosts).exists():
        return False
    current = consents_current(supporter=supporter)
    return not any(current.get(host.pk) for host in hosts)
