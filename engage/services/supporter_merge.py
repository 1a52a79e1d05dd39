"""Supporters stored under different spellings of one address become one (docs/design.md, "One
supporter per address"): engage's migration 0007 runs this once over the rows written before
every address was normalised (engage.normalise.email_normalise).

It takes an app registry so that the migration can pass its historical models; every model
with a foreign key to Supporter is found in that registry, so one added later is handled too
(re-pointed, unless it is listed below with a rule of its own).

Rules, for each group of supporters whose addresses normalise to the same one:
- the earliest supporter (created_at, then id) is kept and takes the normalised address and its
  suppression hash; the others are deleted once everything of theirs is moved to it;
- ledgers (consents, subscription events, detail changes) and sign-ups, exports, outbound
  emails and affiliations are re-pointed, unchanged, so the merged history keeps its order by
  created_at;
- one signature per petition: the earliest is kept, and takes the other's confirmation if it
  has none (the mailbox's owner did confirm);
- one subscription per list: the earliest subscribed_at (and created_at) is kept as its
  provenance, and the status of the row changed last, since that is the person's latest wish
  (an unsubscribe after a subscribe must stand);
- one membership per organisation: the earliest joining;
- one delivery per mailing: the earliest, with the other's webhook events;
- suppression rows and soft-bounce counters keyed by an old spelling's hash are re-keyed to the
  normalised address's hash, the earlier suppression winning.
"""

import hashlib
import hmac

from django.apps import apps as django_apps
from django.conf import settings

from engage.normalise import EMAIL_MAX_LENGTH, normalise_email
from engage.suppression import email_digest


def _legacy_digest(email: str) -> bytes:
    # The hash every row was keyed by before normalisation: of the trimmed, lower-cased address.
    return hmac.new(settings.SUPPRESSION_HASH_KEY.encode(), email.strip().lower().encode(), hashlib.sha256).digest()


def supporters_merge_by_address(*, apps=django_apps) -> int:
    """Merge supporters whose addresses normalise to one and store every address normalised.
    Returns how many supporters were merged away."""
    Supporter = apps.get_model("engage", "Supporter")
    stale: set[str] = set()
    for email in Supporter.objects.values_list("email", flat=True).iterator(chunk_size=5000):
        if normalise_email(email) != email:
            stale.add(normalise_email(email))
    groups: dict[str, list[tuple]] = {}
    rows = Supporter.objects.order_by("created_at", "pk").values_list("pk", "email", "email_hash")
    for pk, email, stored_hash in rows.iterator(chunk_size=5000):
        canonical = normalise_email(email)
        if canonical in stale:
            groups.setdefault(canonical, []).append((pk, email, bytes(stored_hash) if stored_hash else None))
    merged = 0
    for canonical, members in groups.items():
        if len(canonical) > EMAIL_MAX_LENGTH:
            continue  # lower-casing made it too long for the column: left for an organiser to correct
        keeper_pk = members[0][0]
        for pk, _, _ in members[1:]:
            _supporter_merge_into(apps, keeper_pk=keeper_pk, duplicate_pk=pk)
            merged += 1
        Supporter.objects.filter(pk__in=[pk for pk, _, _ in members[1:]]).delete()
        Supporter.objects.filter(pk=keeper_pk).update(email=canonical, email_hash=email_digest(canonical))
        old_hashes = {(stored or _legacy_digest(email)).hex() for _, email, stored in members}
        _suppression_rekey(apps, old_hashes=old_hashes - {email_digest(canonical).hex()}, new_hash=email_digest(canonical).hex())
    return merged


def _supporter_merge_into(apps, *, keeper_pk: int, duplicate_pk: int) -> None:
    Supporter = apps.get_model("engage", "Supporter")
    special = {
        ("petitions", "signature"): _signatures_merge,
        ("engage", "subscription"): _subscriptions_merge,
        ("engage", "membership"): _memberships_merge,
        ("mailings", "delivery"): _deliveries_merge,
    }
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not (field.is_relation and field.related_model is Supporter):
                continue
            merge = special.get((model._meta.app_label, model._meta.model_name))
            if merge is not None:
                merge(apps, keeper_pk=keeper_pk, duplicate_pk=duplicate_pk)
            else:
                model._base_manager.filter(**{field.attname: duplicate_pk}).update(**{field.attname: keeper_pk})


def _signatures_merge(apps, *, keeper_pk: int, duplicate_pk: int) -> None:
    Signature = apps.get_model("petitions", "Signature")
    for theirs in Signature.objects.filter(supporter_id=duplicate_pk):
        ours = Signature.objects.filter(supporter_id=keeper_pk, petition_id=theirs.petition_id).first()
        if ours is None:
            Signature.objects.filter(pk=theirs.pk).update(supporter_id=keeper_pk)
            continue
        earliest, later = sorted([ours, theirs], key=lambda s: (s.created_at, s.pk))
        Signature.objects.filter(pk=later.pk).delete()
        if earliest.confirmed_at is None and later.confirmed_at is not None:
            Signature.objects.filter(pk=earliest.pk).update(status=later.status, confirmed_at=later.confirmed_at)
        Signature.objects.filter(pk=earliest.pk).update(supporter_id=keeper_pk)


def _subscription_changed_at(subscription):
    return max(t for t in (subscription.created_at, subscription.subscribed_at, subscription.unsubscribed_at) if t)


def _subscriptions_merge(apps, *, keeper_pk: int, duplicate_pk: int) -> None:
    Subscription = apps.get_model("engage", "Subscription")
    for theirs in Subscription.objects.filter(supporter_id=duplicate_pk):
        ours = Subscription.objects.filter(supporter_id=keeper_pk, mailing_list_id=theirs.mailing_list_id).first()
        if ours is None:
            Subscription.objects.filter(pk=theirs.pk).update(supporter_id=keeper_pk)
            continue
        latest = max([ours, theirs], key=lambda s: (_subscription_changed_at(s), s.pk))
        subscribed = [s.subscribed_at for s in (ours, theirs) if s.subscribed_at]
        Subscription.objects.filter(pk=theirs.pk).delete()
        Subscription.objects.filter(pk=ours.pk).update(
            status=latest.status,
            unsubscribed_at=latest.unsubscribed_at,
            subscribed_at=min(subscribed) if subscribed else None,
            created_at=min(ours.created_at, theirs.created_at),
            source=(ours if ours.created_at <= theirs.created_at else theirs).source,
        )


def _memberships_merge(apps, *, keeper_pk: int, duplicate_pk: int) -> None:
    Membership = apps.get_model("engage", "Membership")
    for theirs in Membership.objects.filter(supporter_id=duplicate_pk):
        ours = Membership.objects.filter(supporter_id=keeper_pk, organisation_id=theirs.organisation_id).first()
        if ours is None:
            Membership.objects.filter(pk=theirs.pk).update(supporter_id=keeper_pk)
            continue
        earliest, later = sorted([ours, theirs], key=lambda m: (m.joined_at, m.pk))
        Membership.objects.filter(pk=later.pk).delete()
        Membership.objects.filter(pk=earliest.pk).update(supporter_id=keeper_pk)


def _deliveries_merge(apps, *, keeper_pk: int, duplicate_pk: int) -> None:
    Delivery = apps.get_model("mailings", "Delivery")
    WebhookEvent = apps.get_model("mailings", "WebhookEvent")
    for theirs in Delivery.objects.filter(supporter_id=duplicate_pk):
        ours = Delivery.objects.filter(supporter_id=keeper_pk, mailing_id=theirs.mailing_id).first()
        if ours is None:
            Delivery.objects.filter(pk=theirs.pk).update(supporter_id=keeper_pk)
            continue
        earliest, later = sorted([ours, theirs], key=lambda d: d.pk)
        WebhookEvent.objects.filter(delivery_id=later.pk).update(delivery_id=earliest.pk)
        Delivery.objects.filter(pk=later.pk).delete()
        Delivery.objects.filter(pk=earliest.pk).update(supporter_id=keeper_pk)


def _suppression_rekey(apps, *, old_hashes: set[str], new_hash: str) -> None:
    Suppression = apps.get_model("engage", "Suppression")
    SoftBounceCount = apps.get_model("mailings", "SoftBounceCount")
    rows = sorted(Suppression.objects.filter(email_hash__in=[*old_hashes, new_hash]), key=lambda s: (s.created_at, s.pk))
    if rows:
        first, rest = rows[0], rows[1:]
        Suppression.objects.filter(pk__in=[s.pk for s in rest]).delete()
        Suppression.objects.filter(pk=first.pk).update(email_hash=new_hash)
    counters = list(SoftBounceCount.objects.filter(email_hash__in=[*old_hashes, new_hash]))
    if counters:
        top = max(counters, key=lambda c: c.count)
        SoftBounceCount.objects.filter(pk__in=[c.pk for c in counters if c.pk != top.pk]).delete()
        SoftBounceCount.objects.filter(pk=top.pk).update(email_hash=new_hash)
