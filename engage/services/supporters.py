"""The supporter row: one person per normalised address."""

from django.db import transaction

from engage.models import Supporter, SupporterChange
from engage.normalise import normalise_email
from engage.selectors import supporters_by_email
from engage.sql import supporter_insert

PREFERENCES_SOURCE = "preferences"


def supporter_get_or_create(*, email: str, first_name: str, last_name: str, country: str, postcode: str) -> tuple[Supporter, bool]:
    """The one supporter for this address, created if new.

    An existing supporter's details are not overwritten here: anyone can type anyone's address
    into a form, so unconfirmed input must not change a real person's record.
    Safe under concurrency: the unique index decides, and the loser reads the winner's row.
    """
    email = normalise_email(email)
    supporter = supporters_by_email(email).first()
    if supporter is not None:
        return supporter, False
    details = {"email": email, "first_name": first_name, "last_name": last_name, "country": country, "postcode": postcode}
    supporter = supporter_insert(details)
    if supporter is None:
        return supporters_by_email(email).get(), False
    return supporter, True


def supporter_details_update(
    *, supporter: Supporter, first_name: str, last_name: str, country: str, postcode: str, source: str = PREFERENCES_SOURCE
) -> list[str]:
    """Correct a person's name and place; records which fields changed (not the old values)."""
    wanted = {"first_name": first_name, "last_name": last_name, "country": country, "postcode": postcode}
    changed = [name for name, value in wanted.items() if str(getattr(supporter, name)) != value]
    if not changed:
        return []
    with transaction.atomic():
        for name in changed:
            setattr(supporter, name, wanted[name])
        supporter.save(update_fields=[*changed, "updated_at"])
        SupporterChange.objects.create(supporter=supporter, fields=",".join(changed), source=source)
    return changed
