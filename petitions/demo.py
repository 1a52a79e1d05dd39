"""A campaign in motion, for `make run`: three weeks of signatures on the first petition (and
some on the second) across partners, sources and places, a surge after each of two past
mailings, their statistics, a few signatures held for review, and recent joins.

Deterministic (a fixed seed), written in bulk so it loads in seconds on SQLite, and written
once: a second run finds the signatures and leaves everything as it is. The rows are the ones
the services would have written (consent with its ledger source, subscriptions with their
events, deliveries with their outcomes); figures kept from signatures are rebuilt at the end.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from engage.models import Consent, MailingList, Organisation, Signup, Subscription, SubscriptionEvent, Supporter
from engage.normalise import email_normalise
from engage.services.consent import organisation_opt_in_wording
from engage.tokens import new_nonce
from mailings.models import Delivery, Mailing, Message, Segment, Sender, WebhookEvent
from petitions.models import Petition, Signature
from petitions.services.counts import counts_reconcile
from petitions.services.signing import consent_source
from petitions.services.tallies import tallies_rebuild_all
from petitions.services.updates import petition_update_publish, updates_list, updates_wording

SEED = 2026
DAYS = 21
FIRST_NAMES = [
    "Ada", "Aneurin", "Mary", "Nye", "Jennie", "Barbara", "Clement", "Ellen", "Keir", "Margaret", "Tony", "Harriet",
    "Sophia", "Rosa", "Frances", "Olive", "Jayaben", "Claudia", "Len", "Betty", "Samir", "Priya", "Kwame", "Aisha",
    "Tomasz", "Siobhan", "Dafydd", "Morag", "Eilidh", "Callum", "Noor", "Grace", "Ibrahim", "Chloe", "Owen", "Megan",
]
LAST_NAMES = [
    "Bevan", "Lee", "Castle", "Attlee", "Wilkinson", "Hardie", "Bondfield", "Seacole", "Pankhurst", "Morris",
    "Desai", "Jones", "Evans", "Khan", "Patel", "Nowak", "Murphy", "Campbell", "Okafor", "Ali", "Smith", "Taylor",
    "Brown", "Williams", "Roberts", "Hughes", "Mahmood", "O'Neill", "MacLeod", "Price",
]
# (postcode, weight): most supporters are in the campaign's heartlands, the North and Wales.
POSTCODES = [
    ("S70 2AB", 9), ("S1 2HE", 8), ("S10 3TD", 5), ("DN1 3BU", 4), ("LS1 4AP", 8), ("LS6 2QE", 5), ("BD1 1HY", 4),
    ("HX1 1UJ", 2), ("M1 1AE", 7), ("M14 5TP", 4), ("L1 8JQ", 5), ("NE1 7RU", 5), ("NP22 3XA", 3), ("CF10 1EP", 4),
    ("SA1 3SN", 2), ("B1 1BB", 4), ("NG1 5FS", 3), ("BS1 5TR", 3), ("E1 6AN", 4), ("N1 9GU", 3), ("SW1A 1AA", 1),
    ("G1 1XQ", 2), ("EH1 1YZ", 2), ("BT1 5GS", 1),
]
ABROAD = [("FR", "75011"), ("IE", "D02 X285"), ("ES", "28013"), ("DE", "10115")]
# (source code, partner slug or None, weight): how people reached the first petition.
ROUTES = [
    ("email", None, 20), ("facebook", None, 14), ("twitter", None, 6), ("", None, 10), ("leaflet", None, 4),
    ("stall-barnsley-market", None, 3), ("email", "keep-our-nhs-public", 14), ("facebook", "keep-our-nhs-public", 8),
    ("", "keep-our-nhs-public", 4), ("newsletter", "we-own-it", 10), ("twitter", "we-own-it", 5), ("", "we-own-it", 2),
]
MAILINGS = [
    # (name, subject, days ago it went out, hour, the surge it caused)
    ("Week one: share the petition", "Three days in: help us reach 10,000", 14, 10, 700),
    ("The hand-in is coming", "Saturday: we hand in the petition", 5, 18, 900),
]
CLICKED_LINKS = ["/p/scrap-the-icp-contract/", "/p/scrap-the-icp-contract/?source=email-share", "/join/"]


@dataclass
class _Person:
    supporter: Supporter
    signed_at: datetime


def _weighted(rng: random.Random, items: list[tuple]) -> tuple:
    return rng.choices(items, weights=[item[-1] for item in items])[0]


def _signing_moments(rng: random.Random, now: datetime, mailings: list[tuple]) -> list[datetime]:
    """A steady trickle (more by day than by night) and a surge decaying after each mailing."""
    start = now - timedelta(days=DAYS)
    moments = []
    for hour in range(DAYS * 24):
        at = start + timedelta(hours=hour)
        base = 6 if 8 <= at.hour <= 22 else 1
        moments += [at + timedelta(seconds=rng.randrange(3600)) for _ in range(rng.randint(0, base * 2))]
    for _name, _subject, days_ago, hour, surge in mailings:
        sent = (now - timedelta(days=days_ago)).replace(hour=hour, minute=0, second=0, microsecond=0)
        for _ in range(surge):
            moments.append(sent + timedelta(minutes=rng.expovariate(1 / 300)))  # half within ~3.5 hours
    return sorted(m for m in moments if m < now - timedelta(minutes=5))


def campaign_seed(*, host: Organisation, partners: dict[str, Organisation]) -> bool:
    """Load the campaign once; False if its signatures are already there."""
    first = Petition.objects.get(slug="scrap-the-icp-contract")
    second = Petition.objects.get(slug="fund-our-nhs-properly")
    if first.signatures.count() > 100:
        return False
    rng = random.Random(SEED)
    now = timezone.now()
    with transaction.atomic():
        sender = Sender.objects.filter(organisation=host).first()
        for partner in partners.values():
            Sender.objects.get_or_create(
                organisation=partner, name=partner.name,
                defaults={"bulk_email": f"news@{partner.slug}.muster.localhost",
                          "transactional_email": f"hello@{partner.slug}.muster.localhost"},
            )
        people = _people(rng, now)
        news = MailingList.objects.get(slug="coalition-news")
        signatures = _signatures(rng, first, people, partners, now)
        signatures += _signatures(rng, second, rng.sample(people, len(people) // 4), partners, now, routes=ROUTES[:6])
        _opt_ins(rng, host, partners, news, signatures)
        _mailings_sent(rng, sender, news, now)
        _held(rng, first, now)
        _recent_joins(rng, host, news, now)
        _updates(first, now)
    counts_reconcile()
    tallies_rebuild_all()  # the workspace's figures (docs/design.md, "Figures come from tallies")
    return True


def _people(rng: random.Random, now: datetime) -> list[_Person]:
    moments = _signing_moments(rng, now, MAILINGS)
    supporters = []
    for number in range(len(moments)):
        first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if rng.random() < 0.04:
            country, postcode = rng.choice(ABROAD)
        else:
            country, postcode = "GB", _weighted(rng, POSTCODES)[0]
        local = f"{first_name}.{last_name}".lower().replace("'", "")
        supporters.append(Supporter(
            email=email_normalise(f"{local}.{number}@example.org"), first_name=first_name, last_name=last_name,
            country=country, postcode=postcode, link_nonce=new_nonce(),
        ))
    Supporter.objects.bulk_create(supporters, batch_size=500)
    for supporter, moment in zip(supporters, moments, strict=True):
        supporter.created_at = moment
    Supporter.objects.bulk_update(supporters, ["created_at"], batch_size=500)
    return [_Person(supporter, moment) for supporter, moment in zip(supporters, moments, strict=True)]


def _area(postcode: str, country: str) -> str:
    if country != "GB":
        return ""
    outward = postcode.split(" ", 1)[0]
    return "".join(ch for ch in outward[:2] if ch.isalpha())


def _signatures(rng, petition, people, partners, now, routes=ROUTES) -> list[Signature]:
    rows = []
    for person in people:
        source, partner_slug, _ = _weighted(rng, routes)
        signed_at = person.signed_at if petition.slug == "scrap-the-icp-contract" else person.signed_at + timedelta(
            minutes=rng.randrange(10, 60 * 24 * 3))
        if signed_at >= now:
            continue
        recent = now - signed_at < timedelta(hours=6)
        roll = rng.random()
        status = Signature.Status.PENDING if recent and roll < 0.3 else (
            Signature.Status.INVALID if roll > 0.995 else Signature.Status.CONFIRMED)
        supporter = person.supporter
        rows.append(Signature(
            petition=petition, supporter=supporter, country=supporter.country,
            postcode_area=_area(supporter.postcode, supporter.country),
            partner=partners.get(partner_slug), status=status, source=source, confirm_nonce=new_nonce(),
            ip_hash=f"demo{rng.randrange(10**12):012d}", new_supporter=petition.slug == "scrap-the-icp-contract",
            confirmed_at=signed_at + timedelta(minutes=rng.randrange(1, 90)) if status == Signature.Status.CONFIRMED else None,
            confirmation_sent_at=signed_at + timedelta(seconds=5),
        ))
        rows[-1].signed_at = signed_at
        if rows[-1].confirmed_at and rows[-1].confirmed_at > now:
            rows[-1].confirmed_at = now
    Signature.objects.bulk_create(rows, batch_size=500)
    for row in rows:
        row.created_at = row.signed_at
    Signature.objects.bulk_update(rows, ["created_at"], batch_size=500)
    return rows


def _opt_ins(rng, host, partners, news, signatures) -> None:
    """Consent as confirmation writes it: the host's box on about six in ten confirmed
    signatures, a partner's on about four in ten of those it brought; half the host's opt-ins
    also joined Coalition news."""
    consents, subscriptions, events = [], [], []
    subscribed = set()
    updates_lists = {}
    for signature in signatures:
        if signature.status != Signature.Status.CONFIRMED:
            continue
        source = consent_source(petition=signature.petition, source=signature.source, partner=signature.partner)
        when = signature.confirmed_at
        ticked = len(consents)
        if rng.random() < 0.25:  # "Email me updates about this petition"
            if signature.petition_id not in updates_lists:
                updates_lists[signature.petition_id] = updates_list(petition=signature.petition)
            updates_for = updates_lists[signature.petition_id]
            subscriptions.append((Subscription(supporter=signature.supporter, mailing_list=updates_for,
                                               status=Subscription.Status.SUBSCRIBED, source=source,
                                               subscribed_at=when, confirm_nonce=new_nonce()), when))
            events.append((SubscriptionEvent(supporter=signature.supporter, mailing_list=updates_for,
                                             status=Subscription.Status.SUBSCRIBED, wording=updates_wording(),
                                             source=source), when))
        if rng.random() < 0.6:
            consents.append((Consent(supporter=signature.supporter, organisation=host, given=True,
                                     wording=signature.petition.opt_in_wording, source=source), when))
            if signature.supporter_id not in subscribed and rng.random() < 0.5:
                subscribed.add(signature.supporter_id)
                subscriptions.append((Subscription(supporter=signature.supporter, mailing_list=news,
                                                   status=Subscription.Status.SUBSCRIBED, source=source,
                                                   subscribed_at=when, confirm_nonce=new_nonce()), when))
                events.append((SubscriptionEvent(supporter=signature.supporter, mailing_list=news,
                                                 status=Subscription.Status.SUBSCRIBED,
                                                 wording=f"Subscribe to {news.name}", source=source), when))
        if signature.partner is not None and rng.random() < 0.4:
            consents.append((Consent(supporter=signature.supporter, organisation=signature.partner, given=True,
                                     wording=f"Keep me updated by {signature.partner.name}. You can unsubscribe at any time.",
                                     source=source), when))
        # The boxes stay on the signature as it was confirmed with them (the tallies count them).
        signature.opt_ins_pending = [
            {"organisation_id": consent.organisation_id, "wording": consent.wording, "source": source}
            for consent, _ in consents[ticked:]
        ]
    Signature.objects.bulk_update(signatures, ["opt_ins_pending"], batch_size=500)
    for model, pairs in ((Consent, consents), (Subscription, subscriptions), (SubscriptionEvent, events)):
        objects = [obj for obj, _ in pairs]
        model.objects.bulk_create(objects, batch_size=500)
        for obj, when in pairs:
            obj.created_at = when
        model.objects.bulk_update(objects, ["created_at"], batch_size=500)


def _mailings_sent(rng, sender, news, now) -> None:
    """The two past mailings to Coalition news, with what the ESP's webhooks reported."""
    segment, _ = Segment.objects.get_or_create(
        name="Coalition news subscribers", defaults={"definition": {"condition": "subscribed_to_list", "list": news.slug}}
    )
    for name, subject, days_ago, hour, _surge in MAILINGS:
        started = (now - timedelta(days=days_ago)).replace(hour=hour, minute=0, second=0, microsecond=0)
        message = Message.objects.create(
            name=name, sender=sender, subject=subject,
            body=("Dear {{ first_name|default:\"friend\" }},\n\nThe petition is growing: please "
                  "[sign and share it]({{ petition_url }}) today.\n"),
            merge_values={"petition_url": "/p/scrap-the-icp-contract/"},
        )
        recipients = list(
            Subscription.objects.filter(mailing_list=news, status=Subscription.Status.SUBSCRIBED, subscribed_at__lt=started)
            .values_list("supporter_id", flat=True)
        )
        mailing = Mailing.objects.create(
            name=name, message=message, segment=segment, mailing_list=news, status=Mailing.Status.SENT,
            started_at=started, finished_at=started + timedelta(minutes=4), recipient_count=len(recipients),
            last_activity_at=started + timedelta(minutes=4),
        )
        deliveries = []
        for supporter_id in recipients:
            sent_at = started + timedelta(seconds=rng.randrange(240))
            roll = rng.random()
            outcome = Delivery.Outcome.BOUNCED if roll < 0.02 else (
                Delivery.Outcome.COMPLAINED if roll < 0.022 else Delivery.Outcome.DELIVERED)
            opened = outcome == Delivery.Outcome.DELIVERED and rng.random() < 0.46
            clicked = opened and rng.random() < 0.3
            deliveries.append(Delivery(
                mailing=mailing, supporter_id=supporter_id, status=Delivery.Status.SENT, attempts=1,
                esp_message_id=f"demo-{mailing.pk}-{supporter_id}", sent_at=sent_at, outcome=outcome,
                outcome_at=sent_at + timedelta(seconds=rng.randrange(5, 120)),
                opened_at=sent_at + timedelta(minutes=rng.expovariate(1 / 180)) if opened else None,
                clicked_at=sent_at + timedelta(minutes=rng.expovariate(1 / 200)) if clicked else None,
                unsubscribed_at=sent_at + timedelta(hours=rng.randrange(1, 30)) if opened and rng.random() < 0.01 else None,
            ))
        Delivery.objects.bulk_create(deliveries, batch_size=500)
        # The ESP's click events, with the link clicked (some people click two).
        site = settings.SITE_URL.rstrip("/")
        clicks = []
        for delivery in deliveries:
            if delivery.clicked_at is None:
                continue
            links = rng.sample(CLICKED_LINKS, 2 if rng.random() < 0.2 else 1)
            for number, link in enumerate(links):
                clicks.append(WebhookEvent(
                    esp="demo", event_id=f"demo-click-{delivery.pk}-{number}", event_type="clicked", delivery=delivery,
                    occurred_at=delivery.clicked_at + timedelta(minutes=5 * number), url=site + link,
                ))
        WebhookEvent.objects.bulk_create(clicks, batch_size=500)


def _held(rng, petition, now) -> None:
    """One person signing as many addresses from one phone, held by the per-IP limit: what the
    review page's signals are for."""
    base = now - timedelta(hours=3)
    supporters = [
        Supporter(email=email_normalise(address), first_name="Sam", last_name="Sample", country="GB",
                  postcode="S70 2AB", link_nonce=new_nonce())
        for address in ("sam.sample@gmail.com", "samsample+1@gmail.com", "s.a.m.sample+2@gmail.com",
                        "samsample+petition@gmail.com", "sam.sample@mailinator.com")
    ]
    Supporter.objects.bulk_create(supporters)
    held = [
        Signature(petition=petition, supporter=supporter, country="GB", postcode_area="S",
                  status=Signature.Status.HELD, hold_reason=Signature.HoldReason.RATE_LIMIT, source="facebook",
                  confirm_nonce=new_nonce(), ip_hash="demo-one-phone", new_supporter=True)
        for supporter in supporters
    ]
    Signature.objects.bulk_create(held)
    for number, signature in enumerate(held):
        signature.created_at = base + timedelta(seconds=20 * number + rng.randrange(5))
    Signature.objects.bulk_update(held, ["created_at"])


def _recent_joins(rng, host, news, now) -> None:
    """A handful of people who joined or subscribed this week, through the forms."""
    people = list(Supporter.objects.filter(signatures__isnull=False).order_by("-created_at")[:8])
    signups = []
    for number, supporter in enumerate(people):
        kind = Signup.Kind.JOIN if number % 2 else Signup.Kind.SUBSCRIBE
        at = now - timedelta(hours=6 * number + rng.randrange(6))
        signups.append((Signup(
            supporter=supporter, kind=kind, organisation=host if kind == Signup.Kind.JOIN else None,
            status=Signup.Status.CONFIRMED, source="subscribe-form" if kind == Signup.Kind.SUBSCRIBE else "join-form",
            consent_wordings={"organisations": {str(host.pk): organisation_opt_in_wording(host)}},
            confirm_nonce=new_nonce(), confirmation_sent_at=at, confirmed_at=at + timedelta(minutes=3),
        ), at))
    objects = [signup for signup, _ in signups]
    Signup.objects.bulk_create(objects)
    for signup, at in signups:
        signup.created_at = at
    Signup.objects.bulk_update(objects, ["created_at"])


def _updates(petition, now) -> None:
    """Two updates on the first petition's page; the signers who asked for updates can be sent them."""
    petition_update_publish(
        petition=petition, kind="next_action", title="Write to your MP before the vote",
        body="The contract goes to a vote next month. [Find your MP](https://members.parliament.uk/) and ask them to oppose it.",
        published_at=now - timedelta(days=10),
    )
    petition_update_publish(
        petition=petition, kind="response", title="The Department has replied",
        body="The Department of Health and Social Care says it will *consider the views of patients*. "
        "That is not a commitment: keep signing and sharing.",
        published_at=now - timedelta(days=2),
    )
