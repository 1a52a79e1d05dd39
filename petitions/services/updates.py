"""Petition updates: organisers post, edit and withdraw news of a petition (shown on its page),
and email one, once, to the signers who asked for updates (docs/design.md, "Petition updates").

Asking is the sign form's box "Email me updates about this petition". Like every box there it
waits on the signature until the emailed link confirms it (`Signature.opt_ins_pending`); then
the person is subscribed to the petition's hidden list "Updates on <title>" through the list
ledger, so an update is a mailing on that list and its unsubscribe link leaves that list only.
"""

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from engage.audit import audit_record
from engage.markdown import render_markdown
from engage.models import MailingList, Supporter
from engage.services.subscriptions import subscription_set
from mailings.models import Mailing, Sender
from mailings.rendering import MergeFieldError, merge_fields_check
from mailings.selectors.recipients import recipients_eligible
from mailings.selectors.segments import segment_supporters
from mailings.services.compose import mailing_draft_create, mailing_send_now
from petitions.models import Petition, PetitionUpdate, PetitionUpdatesList

# What the box says, and so what both ledgers record, word for word.
UPDATES_WORDING = gettext_lazy("Email me updates about this petition")
# Marks the box in Signature.opt_ins_pending, beside the organisation's own boxes.
PENDING_KIND = "petition_updates"


class UpdateError(Exception):
    """What an organiser is told when an update cannot be emailed (a sentence to show)."""


class UpdateAlreadyEmailed(UpdateError):
    pass


class RecipientsChanged(UpdateError):
    """The number of recipients is not the one the organiser confirmed: they must confirm again."""

    def __init__(self, count: int):
        self.count = count
        super().__init__(
            gettext("The number of recipients has changed to %(count)s: check it and confirm again.") % {"count": count}
        )


def updates_wording() -> str:
    """The box's wording in the language the signer saw the form in."""
    return str(UPDATES_WORDING)


def updates_opt_in_pending(*, petition: Petition, ledger_source: str) -> dict:
    """The ticked box as it waits on the signature: on confirmation, a subscription to the
    petition's updates list with this wording (`updates_subscribe`), and no consent to the
    organisation's other mail (docs/design.md, "One recipient filter")."""
    return {
        "organisation_id": petition.organisation_id,
        "wording": updates_wording(),
        "source": ledger_source,
        "kind": PENDING_KIND,
    }


# --- the list -------------------------------------------------------------------------------


def updates_list(*, petition: Petition, create: bool = True) -> MailingList | None:
    """The petition's hidden updates list, made if need be (and `create`). Never public: it is
    not offered on the subscribe page, and the preference page shows it only to people on it."""
    link = PetitionUpdatesList.objects.select_related("mailing_list").filter(petition=petition).first()
    if link is not None or not create:
        return link.mailing_list if link else None
    name = " ".join((gettext("Updates on %(title)s") % {"title": petition.title}).split())[:200]
    try:
        with transaction.atomic():
            mailing_list = MailingList.objects.create(
                organisation_id=petition.organisation_id,
                name=name,
                slug=f"petition-{petition.pk}-updates",
                description=gettext("News of the petition “%(title)s”, for its signers who asked for it.")
                % {"title": petition.title},
                public=False,
                consent_wording=updates_wording(),
            )
            PetitionUpdatesList.objects.create(petition=petition, mailing_list=mailing_list)
    except IntegrityError:
        # Made at the same moment by another confirmation.
        return PetitionUpdatesList.objects.select_related("mailing_list").get(petition=petition).mailing_list
    return mailing_list


def updates_subscribe(*, petition: Petition, supporter: Supporter, wording: str, source: str) -> bool:
    """Subscribe a confirmed signer to the petition's updates list, with its ledger row. Called
    by signature_confirm in its transaction, with the wording the box showed."""
    mailing_list = updates_list(petition=petition)
    return subscription_set(
        supporter=supporter, mailing_list=mailing_list, subscribed=True, wording=wording, source=source
    )


def _audience_definition(*, petition: Petition, mailing_list: MailingList) -> dict:
    # Confirmed signers (an invalidated signature drops out) on the list (those who left it drop out).
    return {
        "all": [
            {"condition": "signed_petition", "petition": petition.slug},
            {"condition": "subscribed_to_list", "list": mailing_list.slug},
        ]
    }


def updates_recipients(*, petition: Petition) -> QuerySet[Supporter]:
    """Who an emailed update would reach now: through the one recipient filter, as the
    mailing's snapshot will be."""
    mailing_list = updates_list(petition=petition, create=False)
    if mailing_list is None:
        return Supporter.objects.none()
    supporters = segment_supporters(_audience_definition(petition=petition, mailing_list=mailing_list))
    return recipients_eligible(supporters, organisation=petition.organisation, mailing_list=mailing_list, many=True)


# --- updates --------------------------------------------------------------------------------


def _update_audit(request_or_actor, update: PetitionUpdate, action: str, **details) -> None:
    # An organiser's call (the workspace's) is audited; a fixture's or a script's names nobody.
    if request_or_actor is not None:
        audit_record(request_or_actor=request_or_actor, organisation=update.petition.organisation, action=action,
                     target=update, details={"petition": update.petition.slug, **details})


def petition_update_publish(
    *, petition: Petition, kind: str, title: str, body: str, created_by=None, published_at: datetime | None = None,
    request_or_actor=None,
) -> PetitionUpdate:
    """Post an update: it shows on the petition's page at once."""
    with transaction.atomic():
        update = PetitionUpdate.objects.create(
            petition=petition,
            kind=kind,
            title=title,
            body=body,
            body_html=render_markdown(body),
            published_at=published_at or timezone.now(),
            created_by=created_by,
        )
        _update_audit(request_or_actor, update, "petition_update.published", kind=kind)
    return update


def petition_update_edit(*, update: PetitionUpdate, kind: str, title: str, body: str) -> PetitionUpdate:
    """Correct an update. One already emailed keeps its mailing as sent; the page shows the edit."""
    update.kind, update.title, update.body, update.body_html = kind, title, body, render_markdown(body)
    update.save(update_fields=["kind", "title", "body", "body_html", "updated_at"])
    return update


def petition_update_withdraw(*, update: PetitionUpdate, request_or_actor=None) -> PetitionUpdate:
    """Take an update off the petition's page; it stays on record for the organisers."""
    with transaction.atomic():
        if PetitionUpdate.objects.filter(pk=update.pk, withdrawn_at__isnull=True).update(
            withdrawn_at=timezone.now(), updated_at=timezone.now()
        ):
            _update_audit(request_or_actor, update, "petition_update.withdrawn")
    update.refresh_from_db(fields=["withdrawn_at", "updated_at"])
    return update


def petition_update_restore(*, update: PetitionUpdate, request_or_actor=None) -> PetitionUpdate:
    """Put a withdrawn update back on the page."""
    with transaction.atomic():
        if PetitionUpdate.objects.filter(pk=update.pk, withdrawn_at__isnull=False).update(
            withdrawn_at=None, updated_at=timezone.now()
        ):
            _update_audit(request_or_actor, update, "petition_update.restored")
    update.refresh_from_db(fields=["withdrawn_at", "updated_at"])
    return update


EMAIL_BODY = """{body}

[{see}]({{{{ petition_url }}}})
"""


def petition_update_email(*, update: PetitionUpdate, expected: int, created_by=None, request_or_actor=None) -> Mailing:
    """Email an update to the signers who asked for updates, once: a message from the petition's
    organisation's sender, a segment and a mailing on the petition's updates list, started now.

    `expected` is the number the organiser confirmed; if it is no longer true nothing is made
    (RecipientsChanged carries the new one). A second call, even a concurrent one, makes
    nothing: the update row is locked and already names its mailing (UpdateAlreadyEmailed)."""
    with transaction.atomic(durable=True):
        update = PetitionUpdate.objects.select_for_update().select_related("petition__organisation").get(pk=update.pk)
        petition = update.petition
        if update.mailing_id is not None:
            raise UpdateAlreadyEmailed(gettext("This update has already been emailed."))
        if update.withdrawn_at is not None:
            raise UpdateError(gettext("This update is withdrawn: restore it before emailing it."))
        try:
            # The form refuses merge fields; this catches an update written some other way
            # before it can fail every send.
            merge_fields_check(text=update.title + "\n" + update.body, merge_values={})
        except MergeFieldError as error:
            raise UpdateError(str(error)) from error
        sender = Sender.objects.filter(organisation_id=petition.organisation_id).order_by("pk").first()
        if sender is None:
            raise UpdateError(
                gettext("%(organisation)s has no sender yet: add one before emailing updates.")
                % {"organisation": petition.organisation.name}
            )
        count = updates_recipients(petition=petition).count()
        if count != expected:
            raise RecipientsChanged(count)
        if count == 0:
            raise UpdateError(gettext("Nobody has asked for updates on this petition yet."))
        mailing_list = updates_list(petition=petition, create=False)
        mailing = mailing_draft_create(
            name=(gettext("Update: %(title)s") % {"title": update.title})[:200],
            sender=sender,
            subject=update.title,
            body=EMAIL_BODY.format(body=update.body.strip(), see=gettext("See the petition")),
            merge_values={"petition_url": settings.SITE_URL + petition.get_absolute_url()},
            segment_name=(gettext("Asked for updates on %(title)s") % {"title": petition.title})[:200],
            definition=_audience_definition(petition=petition, mailing_list=mailing_list),
            mailing_list=mailing_list,
            created_by=created_by,
        )
        # Conditional, so that even without the row lock (SQLite) only one press wins; the
        # loser's mailing is rolled back with its transaction, before anything is queued.
        if not PetitionUpdate.objects.filter(pk=update.pk, mailing__isnull=True).update(
            mailing=mailing, updated_at=timezone.now()
        ):
            raise UpdateAlreadyEmailed(gettext("This update has already been emailed."))
        mailing_send_now(mailing=mailing, request_or_actor=request_or_actor)
        _update_audit(request_or_actor, update, "petition_update.emailed", mailing=mailing.pk, recipients=count)
    return mailing


def petition_updates_public(*, petition: Petition) -> QuerySet[PetitionUpdate]:
    """The updates a petition's page shows, newest first."""
    return petition.updates.filter(withdrawn_at__isnull=True).order_by("-published_at", "-id")
