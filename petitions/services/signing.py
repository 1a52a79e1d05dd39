"""Signing: store a signature, confirm it, the emails it is owed (confirmation, already signed,
reminder), and what becomes of it later (purged unconfirmed, released or invalidated by an
organiser). Each write is one transaction; emails are queued only after it commits (docs/design.md, "Stored first, sent when the service is back":
the signature is stored first)."""

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from engage.audit import audit_ip_hash as ip_hash  # one keyed hash of an address, for signatures and the audit log
from engage.audit import audit_record
from engage.models import Organisation, Supporter
from engage.normalise import postcode_area
from engage.queueing import confirmations_owed_queue, queue
from engage.selectors import supporters_by_email
from engage.services.consent import consent_record
from engage.services.erasure import supporters_delete_unattached
from engage.services.supporters import supporter_get_or_create
from engage.services.suppression import suppression_erased_lift
from engage.tokens import new_nonce, token_make
from mailings.services.transactional import EmailRateLimited, EmailSendFailed, transactional_send
from petitions.models import Cosponsorship, Petition, Signature
from petitions.services import updates
from petitions.services.counts import count_increment
from petitions.services.tallies import TALLY_FIELDS, tallies_confirmed_add, tallies_confirmed_remove

CONFIRM_PURPOSE = "signature-confirm"


class PetitionNotOpen(Exception):
    pass


@dataclass(frozen=True)
class SignResult:
    signature: Signature
    created: bool


def consent_source(*, petition: Petition, source: str = "", partner: Organisation | None = None, via: str = "") -> str:
    """Where a consent was given, for the ledger: "petition:<slug>[:<source>] [partner:<slug>] [via:<channel>]"."""
    parts = [f"petition:{petition.slug}" + (f":{source}" if source else "")]
    if partner is not None:
        parts.append(f"partner:{partner.slug}")
    if via:
        parts.append(f"via:{via}")
    return " ".join(parts)


def petition_sign(
    *,
    petition: Petition,
    first_name: str,
    last_name: str,
    email: str,
    country: str,
    postcode: str,
    opt_in: bool,
    source: str = "",
    ip: str = "",
    hold_reason: str = "",
    partner: Organisation | None = None,
    cosponsor_opt_ins: Sequence[Cosponsorship] = (),
    via: str = "",
    updates_opt_in: bool = False,
) -> SignResult:
    """Store a signature (and the supporter and consent it needs) in one transaction.

    Signing twice makes no second person or signature; the caller gives the same response
    either way, and the address is sent an "already signed" email instead of a confirmation.
    A held signature (rate limit, honeypot) is stored but sent nothing and not counted.

    `partner` is the coalition partner whose embed or link brought the signature; `via` names the
    channel ("embed", "api") for the consent ledger. `cosponsor_opt_ins` are the active
    co-sponsorships of this petition whose box was ticked: they reach the ledger on confirmation.
    `updates_opt_in`: the box "Email me updates about this petition" (petitions.services.updates),
    which waits on the signature the same way.
    """
    from petitions import tasks  # tasks import services

    if partner is not None and partner.pk == petition.organisation_id:
        partner = None  # the host's own embed: its signatures are not a partner's
    _cosponsorships_check(petition=petition, cosponsorships=cosponsor_opt_ins)
    ledger_source = consent_source(petition=petition, source=source, partner=partner, via=via)
    _open_check(petition)
    with transaction.atomic(durable=True):
        supporter, supporter_created = supporter_get_or_create(
            email=email, first_name=first_name, last_name=last_name, country=country, postcode=postcode
        )
        signature = _signature_insert(
            supporter_created=supporter_created,
            petition=petition,
            supporter=supporter,
            status=Signature.Status.HELD if hold_reason else Signature.Status.PENDING,
            hold_reason=hold_reason,
            source=source,
            country=country,
            postcode_area=postcode_area(postcode, country),
            confirm_nonce=new_nonce(),
            ip_hash=ip_hash(ip),
            partner=partner,
            new_supporter=supporter_created,
            opt_ins_pending=_opt_ins_ticked(
                petition=petition, opt_in=opt_in, cosponsorships=cosponsor_opt_ins, ledger_source=ledger_source
            )
            + ([updates.updates_opt_in_pending(petition=petition, ledger_source=ledger_source)] if updates_opt_in else []),
        )
        if signature is None:
            return _signed_again(petition=petition, supporter=supporter, hold_reason=hold_reason)
        if not hold_reason:
            transaction.on_commit(lambda: queue(tasks.signature_confirmation_send, signature.pk))
    return SignResult(signature=signature, created=True)


def _cosponsorships_check(*, petition: Petition, cosponsorships: Sequence[Cosponsorship]) -> None:
    for cosponsorship in cosponsorships:
        if cosponsorship.petition_id != petition.pk or not cosponsorship.active:
            raise ValueError(f"{cosponsorship} is not an active co-sponsorship of {petition.slug}")


def _open_check(petition: Petition) -> None:
    # The deadline binds at once, not only when beat next closes the petition.
    if petition.status != Petition.Status.OPEN or (petition.closes_at and petition.closes_at <= timezone.now()):
        raise PetitionNotOpen


def _opt_ins_ticked(
    *, petition: Petition, opt_in: bool, cosponsorships: Sequence[Cosponsorship], ledger_source: str
) -> list[dict]:
    """The boxes ticked, as Signature.opt_ins_pending keeps them until confirmation."""
    host = [{"organisation_id": petition.organisation_id, "wording": petition.opt_in_wording, "source": ledger_source}]
    return (host if opt_in else []) + [
        {"organisation_id": c.organisation_id, "wording": c.opt_in_wording, "source": ledger_source}
        for c in cosponsorships
    ]


def _signature_insert(*, supporter_created: bool, **fields) -> Signature | None:
    """The new signature, or None if this supporter has already signed this petition."""
    # A supporter created in this transaction can have no signature yet, so only someone we
    # already knew needs the savepoint that catches the duplicate.
    try:
        with transaction.atomic() if not supporter_created else nullcontext():
            return Signature.objects.create(**fields)
    except IntegrityError:
        return None


def _signed_again(*, petition: Petition, supporter: Supporter, hold_reason: str) -> SignResult:
    """The signature already stored; a live one (not held now, not held or invalid before) is
    sent the "already signed" email."""
    from petitions import tasks  # tasks import services

    signature = Signature.objects.get(petition=petition, supporter=supporter)
    if not hold_reason and signature.status in (Signature.Status.PENDING, Signature.Status.CONFIRMED):
        transaction.on_commit(lambda: queue(tasks.signature_already_signed_send, signature.pk))
    return SignResult(signature=signature, created=False)


def confirm_url(signature: Signature) -> str:
    token = token_make(purpose=CONFIRM_PURPOSE, nonce=signature.confirm_nonce)
    return settings.SITE_URL + reverse("petitions:confirm", kwargs={"token": token})


def _email_context(signature: Signature) -> dict:
    petition = signature.petition
    return {
        "petition": petition,
        "petition_url": settings.SITE_URL + petition.get_absolute_url(),
        "confirm_url": confirm_url(signature),
        "pending": signature.status == Signature.Status.PENDING,
    }


def _signature_for_email(signature_id: int) -> Signature | None:
    return Signature.objects.select_related("petition__organisation", "supporter").filter(pk=signature_id).first()


def signature_confirmation_send(*, signature_id: int) -> bool:
    """Send the confirmation email a pending signature owes, once."""
    signature = _signature_for_email(signature_id)
    if (
        signature is None
        or signature.supporter is None
        or signature.status != Signature.Status.PENDING
        or signature.confirmation_sent_at
    ):
        return False
    sent = transactional_send(
        dedupe_key=f"signature-confirm:{signature.pk}",
        kind="signature_confirm",
        supporter=signature.supporter,
        template="petitions/email/confirm",
        context=_email_context(signature),
        requested=True,
    )
    Signature.objects.filter(pk=signature.pk, confirmation_sent_at__isnull=True).update(confirmation_sent_at=timezone.now())
    return sent


def signature_confirmation_resend(*, petition_id: int, email: str) -> bool:
    """Send a pending signature's confirmation again, asked for on the page after signing.
    Nothing for any other (held, confirmed, none at all): the caller answers the same."""
    from petitions import tasks

    signature = Signature.objects.filter(
        petition_id=petition_id, supporter__in=supporters_by_email(email), status=Signature.Status.PENDING
    ).first()
    if signature is None:
        return False
    queue(tasks.signature_confirmation_resend_send, signature.pk)
    return True


def signature_confirmation_resend_send(*, signature_id: int) -> bool:
    """Send one more copy of the confirmation, up to CONFIRM_RESENDS_MAX per signature. Each
    copy has its own dedupe key, the first not yet sent: a retry of a failed send takes the
    same one, and a resend asked for after it the next."""
    signature = _signature_for_email(signature_id)
    if signature is None or signature.supporter is None or signature.status != Signature.Status.PENDING:
        return False
    for resend in range(1, settings.CONFIRM_RESENDS_MAX + 1):
        if transactional_send(
            dedupe_key=f"signature-confirm:{signature.pk}:resend:{resend}",
            kind="signature_confirm",
            supporter=signature.supporter,
            template="petitions/email/confirm",
            context=_email_context(signature),
            requested=True,
        ):
            return True
    return False


def signature_already_signed_send(*, signature_id: int) -> bool:
    """Tell the address it has already signed (with the confirm link if still pending).

    At most one such email per signature per ALREADY_SIGNED_EMAIL_INTERVAL, so a form cannot be
    used to flood somebody's inbox.
    """
    signature = _signature_for_email(signature_id)
    if signature is None or signature.supporter is None:
        return False
    window = int(timezone.now().timestamp() // settings.ALREADY_SIGNED_EMAIL_INTERVAL.total_seconds())
    return transactional_send(
        dedupe_key=f"signature-already:{signature.pk}:{window}",
        kind="signature_already_signed",
        supporter=signature.supporter,
        template="petitions/email/already_signed",
        context=_email_context(signature),
    )


def signature_confirm(*, signature: Signature) -> bool:
    """Confirm a pending signature. True if this call confirmed it (the count rises once).

    The opt-in boxes ticked when signing (host and co-sponsors) reach the consent ledger here, in the same
    transaction, so only a confirmed address is ever passed to a partner.
    """
    with transaction.atomic(durable=True):
        confirmed = Signature.objects.filter(pk=signature.pk, status=Signature.Status.PENDING).update(
            status=Signature.Status.CONFIRMED, confirmed_at=timezone.now()
        )
        if confirmed:
            _opt_ins_record(signature)
            # An erased person who came back is a supporter again (docs/design.md, "What each suppression stops").
            email = Supporter.objects.filter(pk=signature.supporter_id).values_list("email", flat=True).first()
            if email:
                suppression_erased_lift(email=email)
            # Last, so the hot tally rows of a surge stay locked only until the commit just after
            # (docs/design.md, "Figures come from tallies").
            tallies_confirmed_add(signature_id=signature.pk)
            transaction.on_commit(lambda: count_increment(petition_id=signature.petition_id))
    signature.refresh_from_db(fields=["status", "confirmed_at"])
    return bool(confirmed)


def _opt_ins_record(signature: Signature) -> None:
    # opt_ins_pending is written once, when the signature is stored, so the caller's copy is current.
    opt_ins = signature.opt_ins_pending
    if not opt_ins or signature.supporter_id is None:
        return
    organisations = Organisation.objects.in_bulk([item["organisation_id"] for item in opt_ins])
    supporter = Supporter(pk=signature.supporter_id)
    for item in opt_ins:
        organisation = organisations.get(item["organisation_id"])
        if organisation is None:  # a partner deleted since has nobody to pass the consent to
            continue
        if item.get("kind") == updates.PENDING_KIND:
            # Consent to the petition's updates list alone, not to the organisation's other
            # mail (docs/design.md, "One recipient filter").
            updates.updates_subscribe(
                petition=signature.petition, supporter=supporter, wording=item["wording"], source=item["source"]
            )
        else:
            consent_record(
                supporter=supporter, organisation=organisation, given=True, wording=item["wording"], source=item["source"]
            )


def confirmations_owed_send() -> int:
    """Queue confirmation emails that were never sent, e.g. because the broker was down when
    the signature was stored."""
    from petitions import tasks

    return confirmations_owed_queue(
        rows=Signature.objects.filter(status=Signature.Status.PENDING), task=tasks.signature_confirmation_send
    )


def signatures_remind() -> int:
    """Send one reminder to each signature still pending after CONFIRM_REMINDER_AFTER.

    Safe to run twice or concurrently: transactional_send claims each email once.
    """
    now = timezone.now()
    due = Signature.objects.filter(
        status=Signature.Status.PENDING,
        supporter__isnull=False,
        reminder_sent_at__isnull=True,
        created_at__lte=now - settings.CONFIRM_REMINDER_AFTER,
        created_at__gt=now - settings.UNCONFIRMED_PURGE_AFTER,
    ).values_list("pk", flat=True)
    sent = 0
    for signature_id in list(due[:5000]):
        signature = _signature_for_email(signature_id)
        if signature is None or signature.supporter is None:  # purged or erased meanwhile
            continue
        try:
            sent += transactional_send(
                dedupe_key=f"signature-remind:{signature.pk}",
                kind="signature_reminder",
                supporter=signature.supporter,
                template="petitions/email/reminder",
                context=_email_context(signature),
            )
        except EmailRateLimited:
            break  # the ESP's quota is used up for now: the next run goes on
        except EmailSendFailed:
            continue  # left unmarked, so the next run tries again
        Signature.objects.filter(pk=signature.pk).update(reminder_sent_at=now)
    return sent


def signatures_unconfirmed_purge() -> int:
    """Delete signatures left unconfirmed for UNCONFIRMED_PURGE_AFTER, and the supporters of
    whom nothing else is held (a subscription or an opt-out must go on being honoured), as
    the sign-up purge does. Held signatures wait for an organiser instead."""
    cutoff = timezone.now() - settings.UNCONFIRMED_PURGE_AFTER
    stale = Signature.objects.filter(status=Signature.Status.PENDING, created_at__lt=cutoff)
    purged = 0
    while True:
        batch = list(stale.values_list("pk", "supporter_id")[:1000])
        if not batch:
            return purged
        with transaction.atomic():
            # Only those still pending: one confirmed since the batch was read counts, and stays.
            Signature.objects.filter(pk__in=[pk for pk, _ in batch], status=Signature.Status.PENDING).delete()
            # An erased person's signatures are kept without them (supporter_id NULL).
            supporters_delete_unattached(supporter_ids=sorted({sid for _, sid in batch if sid is not None}))
        purged += len(batch)


def _signatures_audit(request_or_actor, organisation, action: str, petition_ids: list[int]) -> None:
    """One row per petition touched, with how many of its signatures; none for a task's call."""
    if request_or_actor is None or not petition_ids:
        return
    counts: dict[int, int] = {}
    for petition_id in petition_ids:
        counts[petition_id] = counts.get(petition_id, 0) + 1
    for petition in Petition.objects.filter(pk__in=list(counts)).select_related("organisation").order_by("pk"):
        audit_record(request_or_actor=request_or_actor, organisation=organisation or petition.organisation,
                     action=action, target=petition, details={"signatures": counts[petition.pk]})


def signatures_release(*, signature_ids: list[int], request_or_actor=None, organisation=None) -> int:
    """Release held signatures: they become pending and are sent their confirmation email.
    An organiser's release (`request_or_actor`; `organisation`, the one they act for, else each
    petition's) is audited in the same transaction."""
    from petitions import tasks

    with transaction.atomic(durable=True):
        rows = list(
            Signature.objects.select_for_update()
            .filter(pk__in=signature_ids, status=Signature.Status.HELD)
            .values_list("pk", "petition_id")
        )
        ids = [pk for pk, _ in rows]
        Signature.objects.filter(pk__in=ids).update(status=Signature.Status.PENDING)
        _signatures_audit(request_or_actor, organisation, "signatures.released", [p for _, p in rows])
        transaction.on_commit(lambda: [queue(tasks.signature_confirmation_send, pk) for pk in ids])
    return len(ids)


def signatures_invalidate(*, signature_ids: list[int], request_or_actor=None, organisation=None) -> int:
    """Invalidate signatures (held or not). Confirmed ones leave the tallies at once and the
    count at the next reconciliation."""
    with transaction.atomic():
        # Locked first, so a confirmation committing meanwhile is seen as confirmed and leaves the tallies.
        rows = list(
            Signature.objects.select_for_update()
            .filter(pk__in=signature_ids)
            .exclude(status=Signature.Status.INVALID)
            .order_by("pk")
            .values("pk", "status", *TALLY_FIELDS)
        )
        invalidated = Signature.objects.filter(pk__in=[r["pk"] for r in rows]).update(status=Signature.Status.INVALID)
        tallies_confirmed_remove(rows=[r for r in rows if r["status"] == Signature.Status.CONFIRMED])
        _signatures_audit(request_or_actor, organisation, "signatures.invalidated", [r["petition_id"] for r in rows])
    return invalidated
