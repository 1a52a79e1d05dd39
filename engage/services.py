from django.db import IntegrityError, transaction

from engage.models import Consent, Organisation, Supporter
from engage.normalise import normalise_email


def supporter_get_or_create(*, email: str, first_name: str, last_name: str, country: str, postcode: str) -> tuple[Supporter, bool]:
    """The one supporter for this address, created if new.

    An existing supporter's details are not overwritten here: anyone can type anyone's address
    into a form, so unconfirmed input must not change a real person's record.
    Safe under concurrency: the unique index decides, and the loser reads the winner's row.
    """
    email = normalise_email(email)
    supporter = Supporter.objects.filter(email=email).first()
    if supporter is not None:
        return supporter, False
    try:
        with transaction.atomic():
            supporter = Supporter.objects.create(
                email=email, first_name=first_name, last_name=last_name, country=country, postcode=postcode
            )
        return supporter, True
    except IntegrityError:
        return Supporter.objects.get(email=email), False


def consent_record(*, supporter: Supporter, organisation: Organisation, given: bool, wording: str, source: str) -> Consent:
    """Append one opt-in or opt-out to the ledger."""
    return Consent.objects.create(
        supporter=supporter, organisation=organisation, given=given, wording=wording, source=source[:200]
    )
