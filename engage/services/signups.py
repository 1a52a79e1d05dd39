"""Sign-ups: the subscribe and join forms, confirmed by email. Nothing a sign-up asks for takes
effect until the emailed link is confirmed."""

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from engage.emails import email_send
from engage.links import signup_confirm_url
from engage.models import Affiliate, MailingList, Membership, Organisation, Signup, Subscription, Supporter
from engage.queueing import confirmations_owed_queue, queue
from engage.selectors import supporters_by_email
from engage.services.consent import consent_record, organisation_opt_in_wording
from engage.services.erasure import supporters_delete_unattached
from engage.services.subscriptions import subscription_set
from engage.services.supporters import supporter_get_or_create
from engage.services.suppression import suppression_erased_lift
from engage.suppression import requested_email_blocked


class SignupRefused(Exception):
    """The address is suppressed for a reason that stops even a confirmation it asks for (a
    bounce, an organiser): nothing is stored and nothing is sent."""


def signup_create(
    *,
    kind: str,
    email: str,
    first_name: str,
    last_name: str,
    country: str,
    postcode: str,
    mailing_lists: list[MailingList],
    organisation: Organisation | None = None,
    opt_in: bool = False,
    affiliate: dict | None = None,
    source: str = "",
    hold_reason: str = "",
) -> Signup:
    """Store a sign-up (and the supporter it needs) in one transaction; after it commits,
    queue the confirmation email. Nothing takes effect until the emailed link is confirmed.

    `opt_in` is the join form's box for `organisation`; `affiliate` holds the name, kind and
    website of an organisation registering as affiliated. A held sign-up (rate limit,
    honeypot) is stored but sent nothing until an organiser releases it. An address suppressed
    after a bounce or by an organiser raises SignupRefused (the caller answers as for any
    other); an erased person may come back as new, and is sent the confirmation they asked for.
    """
    from engage import tasks

    if requested_email_blocked(email):
        raise SignupRefused
    with transaction.atomic(durable=True):
        supporter, _ = supporter_get_or_create(
            email=email, first_name=first_name, last_name=last_name, country=country, postcode=postcode
        )
        affiliate_row = None
        if kind == Signup.Kind.AFFILIATE and affiliate:
            affiliate_row = _affiliate_create(organisation=organisation, contact=supporter, affiliate=affiliate)
        signup = Signup.objects.create(
            supporter=supporter,
            kind=kind,
            organisation=organisation,
            affiliate=affiliate_row,
            consent_wordings=_consent_wordings(mailing_lists=mailing_lists, organisation=organisation if opt_in else None),
            status=Signup.Status.HELD if hold_reason else Signup.Status.PENDING,
            hold_reason=hold_reason,
            source=source,
        )
        signup.mailing_lists.set(mailing_lists)
        _subscriptions_pending(supporter=supporter, mailing_lists=mailing_lists, source=f"{kind}-form")
        if not hold_reason:
            transaction.on_commit(lambda: queue(tasks.signup_confirmation_send, signup.pk))
    return signup


def _consent_wordings(*, mailing_lists: list[MailingList], organisation: Organisation | None) -> dict[str, dict[str, str]]:
    """The wording of every box the form showed ticked, kept until the link is confirmed."""
    return {
        "lists": {str(each.pk): each.opt_in_wording for each in mailing_lists},
        "organisations": {str(organisation.pk): organisation_opt_in_wording(organisation)} if organisation else {},
    }


def _affiliate_create(*, organisation: Organisation | None, contact: Supporter, affiliate: dict) -> Affiliate:
    return Affiliate.objects.create(
        organisation=organisation, contact=contact, name=affiliate["name"], kind=affiliate["kind"],
        website=affiliate.get("website", ""),
    )


def _subscriptions_pending(*, supporter: Supporter, mailing_lists: list[MailingList], source: str) -> None:
    for each in mailing_lists:
        # An existing row (subscribed, or unsubscribed by the person) stays as it is until
        # the link is confirmed.
        Subscription.objects.get_or_create(
            supporter=supporter, mailing_list=each, defaults={"status": Subscription.Status.PENDING, "source": source},
        )


def signup_confirmation_send(*, signup_id: int) -> bool:
    """Send the confirmation email a pending sign-up owes, once."""
    signup = Signup.objects.select_related("supporter", "organisation", "affiliate").filter(pk=signup_id).first()
    if signup is None or signup.status != Signup.Status.PENDING or signup.confirmation_sent_at:
        return False
    sent = _confirmation_send(signup, dedupe_key=f"signup-confirm:{signup.pk}")
    Signup.objects.filter(pk=signup.pk, confirmation_sent_at__isnull=True).update(confirmation_sent_at=timezone.now())
    return sent


def signup_confirmation_resend(*, email: str) -> bool:
    """Send the confirmation of this address's latest pending sign-up again, asked for on the
    page after subscribing or joining. Nothing if there is none: the caller answers the same."""
    from engage import tasks

    signup = (
        Signup.objects.filter(supporter__in=supporters_by_email(email), status=Signup.Status.PENDING)
        .order_by("-created_at").first()
    )
    if signup is None:
        return False
    queue(tasks.signup_confirmation_resend_send, signup.pk)
    return True


def signup_confirmation_resend_send(*, signup_id: int) -> bool:
    """One more copy of the confirmation, up to CONFIRM_RESENDS_MAX per sign-up, each under its
    own dedupe key (the first not yet sent: a retry takes the same one)."""
    signup = Signup.objects.select_related("supporter", "organisation", "affiliate").filter(pk=signup_id).first()
    if signup is None or signup.status != Signup.Status.PENDING:
        return False
    for resend in range(1, settings.CONFIRM_RESENDS_MAX + 1):
        if _confirmation_send(signup, dedupe_key=f"signup-confirm:{signup.pk}:resend:{resend}"):
            return True
    return False


def _confirmation_send(signup: Signup, *, dedupe_key: str) -> bool:
    return email_send(
        dedupe_key=dedupe_key,
        kind=f"signup_confirm_{signup.kind}",
        supporter=signup.supporter,
        template="engage/email/signup_confirm",
        context={
            "signup": signup,
            "lists": list(signup.mailing_lists.select_related("organisation")),
            "confirm_url": signup_confirm_url(signup),
        },
        requested=True,
    )


def signup_confirm(*, signup: Signup) -> bool:
    """Confirm a pending sign-up: subscribe its lists, record the membership or affiliation,
    and write the exact wording of every box ticked to the ledgers. True if this call did it;
    a second POST of the same link changes nothing."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        if not Signup.objects.filter(pk=signup.pk, status=Signup.Status.PENDING).update(
            status=Signup.Status.CONFIRMED, confirmed_at=now
        ):
            return False
        supporter = signup.supporter
        suppression_erased_lift(email=supporter.email)
        source = f"{signup.kind}-form" + (f":{signup.source}" if signup.source else "")
        list_wordings = signup.consent_wordings.get("lists", {})
        for each in signup.mailing_lists.select_related("organisation"):
            wording = list_wordings.get(str(each.pk), each.opt_in_wording)
            # Consent to this list alone: not to the organisation's other mail (docs/design.md, "One recipient filter").
            subscription_set(supporter=supporter, mailing_list=each, subscribed=True, wording=wording, source=source)
        organisations = Organisation.objects.in_bulk([int(pk) for pk in signup.consent_wordings.get("organisations", {})])
        for pk, wording in signup.consent_wordings.get("organisations", {}).items():
            if int(pk) in organisations:
                consent_record(supporter=supporter, organisation=organisations[int(pk)], given=True, wording=wording, source=source)
        if signup.kind == Signup.Kind.JOIN and signup.organisation_id:
            Membership.objects.get_or_create(
                supporter=supporter, organisation_id=signup.organisation_id, defaults={"joined_at": now, "source": source[:200]}
            )
        if signup.affiliate_id:
            Affiliate.objects.filter(pk=signup.affiliate_id, status=Affiliate.Status.PENDING).update(
                status=Affiliate.Status.CONFIRMED, confirmed_at=now
            )
    signup.refresh_from_db(fields=["status", "confirmed_at"])
    return True


def signups_release(*, signup_ids: list[int]) -> int:
    """Release held sign-ups: they become pending and are sent their confirmation email."""
    from engage import tasks

    with transaction.atomic(durable=True):
        ids = list(
            Signup.objects.select_for_update().filter(pk__in=signup_ids, status=Signup.Status.HELD).values_list("pk", flat=True)
        )
        Signup.objects.filter(pk__in=ids).update(status=Signup.Status.PENDING)
        transaction.on_commit(lambda: [queue(tasks.signup_confirmation_send, pk) for pk in ids])
    return len(ids)


def signups_confirmation_owed_send() -> int:
    """Queue confirmation emails never sent, e.g. because the broker was down at sign-up."""
    from engage import tasks

    return confirmations_owed_queue(
        rows=Signup.objects.filter(status=Signup.Status.PENDING), task=tasks.signup_confirmation_send
    )


def signups_unconfirmed_purge() -> int:
    """Delete sign-ups left unconfirmed for UNCONFIRMED_PURGE_AFTER with what they asked for
    (pending subscriptions, pending affiliations), and the people who have nothing else here.
    Held sign-ups wait for an organiser instead."""
    cutoff = timezone.now() - settings.UNCONFIRMED_PURGE_AFTER
    purged = 0
    while True:
        batch = list(
            Signup.objects.filter(status=Signup.Status.PENDING, created_at__lt=cutoff).values_list("pk", "supporter_id", "affiliate_id")[:1000]
        )
        if not batch:
            return purged
        signup_ids = [pk for pk, _, _ in batch]
        supporter_ids = sorted({supporter_id for _, supporter_id, _ in batch})
        through = Signup.mailing_lists.through.objects
        asked_by_these = through.filter(
            signup_id__in=signup_ids, signup__supporter_id=OuterRef("supporter_id"), mailinglist_id=OuterRef("mailing_list_id")
        )
        asked_again_since = through.filter(
            signup__supporter_id=OuterRef("supporter_id"),
            mailinglist_id=OuterRef("mailing_list_id"),
            signup__status__in=[Signup.Status.PENDING, Signup.Status.HELD],
            signup__created_at__gte=cutoff,
        )
        with transaction.atomic():
            Subscription.objects.filter(supporter_id__in=supporter_ids, status=Subscription.Status.PENDING).filter(
                Exists(asked_by_these)
            ).exclude(Exists(asked_again_since)).delete()
            Affiliate.objects.filter(pk__in=[a for _, _, a in batch if a], status=Affiliate.Status.PENDING).delete()
            Signup.objects.filter(pk__in=signup_ids).delete()
        supporters_delete_unattached(supporter_ids=supporter_ids)
        purged += len(batch)
