from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from engage.emails import email_send
from engage.links import preferences_url
from engage.models import (
    Affiliate,
    Consent,
    MailingList,
    Membership,
    Organisation,
    Signup,
    Subscription,
    SubscriptionEvent,
    Supporter,
    SupporterChange,
)
from engage.normalise import normalise_email
from engage.queueing import queue
from engage.selectors import (
    consents_current,
    host_organisations,
    preference_lists,
    preference_organisations,
    subscription_statuses,
    supporters_by_email,
)
from engage.sql import supporter_insert
from engage.suppression import is_suppressed
from engage.tokens import token_make

SIGNUP_CONFIRM_PURPOSE = "signup-confirm"


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


def consent_record(*, supporter: Supporter, organisation: Organisation, given: bool, wording: str, source: str) -> Consent:
    """Append one opt-in or opt-out to the ledger."""
    return Consent.objects.create(
        supporter=supporter, organisation=organisation, given=given, wording=wording, source=source[:200]
    )


# --- Wording the forms show, and the ledgers record word for word ----------------------------


def organisation_opt_in_wording(organisation: Organisation) -> str:
    return f"Keep me updated by email by {organisation.name} about its campaigns. I can unsubscribe at any time."


def organisation_opt_out_wording(organisation: Organisation) -> str:
    return f"Stop all emails from {organisation.name}."


ONE_CLICK_WORDING = "One-click unsubscribe from the email's List-Unsubscribe header (RFC 8058)."


# --- Subscriptions ------------------------------------------------------------------------------


def subscription_set(
    *, supporter: Supporter, mailing_list: MailingList, subscribed: bool, wording: str, source: str
) -> bool:
    """Switch one list on or off for one person, with a ledger row. True if it changed.

    Takes effect for every later send at once: sends read Subscription.status.
    """
    now = timezone.now()
    status = Subscription.Status.SUBSCRIBED if subscribed else Subscription.Status.UNSUBSCRIBED
    stamp = "subscribed_at" if subscribed else "unsubscribed_at"
    subscription, created = Subscription.objects.get_or_create(
        supporter=supporter, mailing_list=mailing_list, defaults={"status": status, "source": source[:200], stamp: now}
    )
    if not created:
        if subscription.status == status:
            return False
        subscription.status = status
        setattr(subscription, stamp, now)
        subscription.save(update_fields=["status", stamp])
    SubscriptionEvent.objects.create(
        supporter=supporter, mailing_list=mailing_list, status=status, wording=wording, source=source[:200]
    )
    return True


def unsubscribe(*, supporter: Supporter, mailing_list: MailingList | None, wording: str, source: str) -> int:
    """Unsubscribe from one list, or (mailing_list None) from every list of the host
    coalition, withdrawing consent to it too. Safe to repeat: a second call writes nothing.
    Returns the number of changes."""
    with transaction.atomic(durable=True):
        if mailing_list is not None:
            return int(subscription_set(supporter=supporter, mailing_list=mailing_list, subscribed=False, wording=wording, source=source))
        hosts = list(host_organisations())
        changes = 0
        lists = MailingList.objects.filter(
            organisation__in=hosts,
            subscriptions__supporter=supporter,
            subscriptions__status__in=[Subscription.Status.SUBSCRIBED, Subscription.Status.PENDING],
        )
        for each in lists:
            changes += subscription_set(supporter=supporter, mailing_list=each, subscribed=False, wording=wording, source=source)
        current = consents_current(supporter=supporter)
        for host in hosts:
            if current.get(host.pk):
                consent_record(supporter=supporter, organisation=host, given=False, wording=wording, source=source)
                changes += 1
        return changes


# --- Sign-ups: the subscribe and join forms, confirmed by email ---------------------------------


class SignupRefused(Exception):
    """The address is suppressed: nothing is stored and nothing is sent."""


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
    honeypot) is stored but sent nothing until an organiser releases it. A suppressed address
    raises SignupRefused: it is never subscribed again (the caller answers as for any other).
    """
    from engage import tasks

    if is_suppressed(email):
        raise SignupRefused
    wordings: dict[str, dict[str, str]] = {
        "lists": {str(each.pk): each.opt_in_wording for each in mailing_lists},
        "organisations": {str(organisation.pk): organisation_opt_in_wording(organisation)} if opt_in and organisation else {},
    }
    with transaction.atomic(durable=True):
        supporter, _ = supporter_get_or_create(
            email=email, first_name=first_name, last_name=last_name, country=country, postcode=postcode
        )
        affiliate_row = None
        if kind == Signup.Kind.AFFILIATE and affiliate:
            affiliate_row = Affiliate.objects.create(
                organisation=organisation, contact=supporter, name=affiliate["name"], kind=affiliate["kind"],
                website=affiliate.get("website", ""),
            )
        signup = Signup.objects.create(
            supporter=supporter,
            kind=kind,
            organisation=organisation,
            affiliate=affiliate_row,
            consent_wordings=wordings,
            status=Signup.Status.HELD if hold_reason else Signup.Status.PENDING,
            hold_reason=hold_reason,
            source=source,
        )
        signup.mailing_lists.set(mailing_lists)
        for each in mailing_lists:
            # An existing row (subscribed, or unsubscribed by the person) stays as it is until
            # the link is confirmed.
            Subscription.objects.get_or_create(
                supporter=supporter, mailing_list=each,
                defaults={"status": Subscription.Status.PENDING, "source": f"{kind}-form"},
            )
        if not hold_reason:
            transaction.on_commit(lambda: queue(tasks.signup_confirmation_send, signup.pk))
    return signup


def signup_confirm_url(signup: Signup) -> str:
    token = token_make(purpose=SIGNUP_CONFIRM_PURPOSE, nonce=signup.confirm_nonce)
    return settings.SITE_URL + reverse("engage:signup-confirm", kwargs={"token": token})


def signup_confirmation_send(*, signup_id: int) -> bool:
    """Send the confirmation email a pending sign-up owes, once."""
    signup = Signup.objects.select_related("supporter", "organisation", "affiliate").filter(pk=signup_id).first()
    if signup is None or signup.status != Signup.Status.PENDING or signup.confirmation_sent_at:
        return False
    sent = email_send(
        dedupe_key=f"signup-confirm:{signup.pk}",
        kind=f"signup_confirm_{signup.kind}",
        supporter=signup.supporter,
        template="engage/email/signup_confirm",
        context={
            "signup": signup,
            "lists": list(signup.mailing_lists.select_related("organisation")),
            "confirm_url": signup_confirm_url(signup),
        },
    )
    Signup.objects.filter(pk=signup.pk, confirmation_sent_at__isnull=True).update(confirmation_sent_at=timezone.now())
    return sent


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
        source = f"{signup.kind}-form" + (f":{signup.source}" if signup.source else "")
        list_wordings = signup.consent_wordings.get("lists", {})
        for each in signup.mailing_lists.select_related("organisation"):
            wording = list_wordings.get(str(each.pk), each.opt_in_wording)
            subscription_set(supporter=supporter, mailing_list=each, subscribed=True, wording=wording, source=source)
            consent_record(supporter=supporter, organisation=each.organisation, given=True, wording=wording, source=source)
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

    now = timezone.now()
    owed = Signup.objects.filter(
        status=Signup.Status.PENDING,
        confirmation_sent_at__isnull=True,
        created_at__lte=now - settings.CONFIRM_OWED_AFTER,
        created_at__gte=now - settings.UNCONFIRMED_PURGE_AFTER,
    ).values_list("pk", flat=True)
    count = 0
    for signup_id in owed.iterator():
        tasks.signup_confirmation_send.delay(signup_id)
        count += 1
    return count


def signups_unconfirmed_purge() -> int:
    """Delete sign-ups left unconfirmed for UNCONFIRMED_PURGE_AFTER with what they asked for
    (pending subscriptions, pending affiliations), and the people who have nothing else here.
    Held sign-ups wait for an organiser instead."""
    from engage.personal_data import supporters_delete_unattached

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


# --- The preference page --------------------------------------------------------------------------

PREFERENCES_SOURCE = "preferences"
# At most one "here is your preferences link" email per address per interval.
PREFERENCES_LINK_INTERVAL = timedelta(minutes=15)


def preferences_update(
    *, supporter: Supporter, list_ids_on: set[int], organisation_ids_on: set[int], source: str = PREFERENCES_SOURCE
) -> int:
    """Apply the preference page's boxes; only what changed writes ledger rows.

    Only lists and organisations the page shows can change. Switching a list on records the
    consent its box's wording gives; withdrawing consent from an organisation also switches
    off all its lists, and wins over a list switched on in the same form (the more protective
    reading). Returns the number of changes.
    """
    changes = 0
    with transaction.atomic(durable=True):
        consents = consents_current(supporter=supporter)
        statuses = subscription_statuses(supporter=supporter)
        organisations = preference_organisations(supporter=supporter, consents=consents)
        withdrawn = {org.pk for org in organisations if consents.get(org.pk) and org.pk not in organisation_ids_on}
        for org in organisations:
            wanted, current = org.pk in organisation_ids_on, consents.get(org.pk, False)
            if wanted and not current:
                consent_record(supporter=supporter, organisation=org, given=True, wording=organisation_opt_in_wording(org), source=source)
                changes += 1
            elif current and not wanted:
                consent_record(supporter=supporter, organisation=org, given=False, wording=organisation_opt_out_wording(org), source=source)
                changes += 1
        for each in preference_lists(supporter=supporter):
            wanted = each.pk in list_ids_on and each.organisation_id not in withdrawn
            current = statuses.get(each.pk) == Subscription.Status.SUBSCRIBED
            if wanted == current:
                continue
            changes += subscription_set(
                supporter=supporter, mailing_list=each, subscribed=wanted,
                wording=each.opt_in_wording if wanted else f"Unsubscribe me from {each.name}.", source=source,
            )
            if wanted and not consents_current(supporter=supporter).get(each.organisation_id):
                consent_record(supporter=supporter, organisation=each.organisation, given=True, wording=each.opt_in_wording, source=source)
    return changes


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


def preferences_link_request(*, email: str) -> bool:
    """Email a link to the preference page if this address is a supporter (and not
    suppressed). The caller answers the same either way."""
    from engage import tasks

    supporter = supporters_by_email(email).first()
    if supporter is None or is_suppressed(supporter.email):
        return False
    queue(tasks.preferences_link_send, supporter.pk)
    return True


def preferences_link_send(*, supporter_id: int) -> bool:
    supporter = Supporter.objects.filter(pk=supporter_id).first()
    if supporter is None:
        return False
    window = int(timezone.now().timestamp() // PREFERENCES_LINK_INTERVAL.total_seconds())
    return email_send(
        dedupe_key=f"preferences-link:{supporter.pk}:{window}",
        kind="preferences_link",
        supporter=supporter,
        template="engage/email/preferences_link",
        context={"preferences_url": preferences_url(supporter)},
    )
