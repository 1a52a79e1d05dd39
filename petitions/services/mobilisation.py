"""Mobilisation: from a petition, a draft mailing to its confirmed signers. The mailing's
recipient filter (mailings.selectors.recipients) keeps only those who opted in to hear from the
petition's organisation and are not suppressed."""

from django.conf import settings

from mailings.models import Mailing, Sender
from mailings.services.compose import mailing_draft_create
from petitions.models import Petition

BODY = """Hello {{ first_name|default:"friend" }},

Thank you for signing **{{ petition_title }}**.

[Write what you are asking signers to do: the rally, the date, the place.]

[See the petition]({{ petition_url }}) and share it with friends.
"""


class NoSender(Exception):
    pass


def mobilisation_create(*, petition: Petition, created_by=None) -> Mailing:
    """A draft mailing "to the signers of <petition>", written from the petition's sender."""
    sender = Sender.objects.filter(organisation=petition.organisation).order_by("pk").first()
    if sender is None:
        raise NoSender(f"{petition.organisation} has no sender yet: add one under Mailings › Senders.")
    return mailing_draft_create(
        name=f"To the signers of {petition.title}"[:200],
        sender=sender,
        subject=f"{petition.title}: what happens next"[:200],
        body=BODY,
        merge_values={"petition_title": petition.title, "petition_url": settings.SITE_URL + petition.get_absolute_url()},
        segment_name=f"Confirmed signers of {petition.title}"[:200],
        definition={"condition": "signed_petition", "petition": petition.slug},
        created_by=created_by,
    )
