"""Demo data from the coalition that Muster was first built for, and an organiser login.
Safe to run again: existing rows are left as they are."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from engage.models import MailingList, Organisation
from engage.services.consent import consent_record, organisation_opt_in_wording
from engage.services.subscriptions import subscription_set
from engage.services.supporters import supporter_get_or_create
from mailings.models import Mailing, Message, Segment, Sender
from mailings.services.compose import mailing_save
from petitions.demo import campaign_seed
from petitions.models import Cosponsorship, Petition
from petitions.services.lifecycle import petition_save, petition_set_status

ORGANISATIONS = [
    ("health-campaigns-together", "Health Campaigns Together", Organisation.Kind.HOST, "https://healthcampaignstogether.com"),
    ("keep-our-nhs-public", "Keep Our NHS Public", Organisation.Kind.PARTNER, "https://keepournhspublic.com"),
    ("we-own-it", "We Own It", Organisation.Kind.PARTNER, "https://weownit.org.uk"),
]
# The partners' people log in to the workspace and see their own organisation's slice.
PARTNER_LOGIN = ("weownit", "muster-partner", "we-own-it")

PETITIONS = [
    {
        "slug": "scrap-the-icp-contract",
        "title": "Scrap the ICP contract",
        "target": "Department of Health and Social Care",
        "summary": "Keep our local health services public, accountable and free at the point of use.",
        "body": (
            "The proposed **Integrated Care Provider** contract would hand a single body control of "
            "hospital, community and GP services for up to 15 years.\n\n"
            "## We call on the Department of Health and Social Care to\n\n"
            "1. Scrap the ICP contract.\n"
            "2. Keep NHS services publicly provided and publicly accountable.\n"
            "3. Consult patients and staff before any change to how our services are run.\n"
        ),
        "goal": 10000,
        "days": 90,
    },
    {
        "slug": "fund-our-nhs-properly",
        "title": "Fund our NHS properly",
        "target": "HM Treasury",
        "summary": "End the squeeze on NHS budgets that leaves patients waiting.",
        "body": "Waiting lists are the longest on record. We ask HM Treasury to restore NHS funding growth "
        "to its long-term average of 3.7% a year.",
        "goal": 50000,
        "days": 180,
    },
]

MAILING_LISTS = [
    ("coalition-news", "Coalition news", "News and calls to action from the coalition, about twice a month.", True),
    ("quarterly-newspaper", "Quarterly newspaper", "Our newspaper, by email when each issue comes out.", True),
    ("events-in-the-north", "Events in the North", "Meetings, stalls and marches in the North of England.", True),
]


# Supporters who joined "Coalition news" (and opted in to the host), so the demo mailing has
# recipients: sent from the mailing's page, its messages appear in /dev/outbox/.
SUBSCRIBERS = [
    ("ada@example.org", "Ada", "Lovelace", "S70 2AB"),
    ("mary@example.org", "Mary", "Seacole", "LS1 4AP"),
    ("aneurin@example.org", "Aneurin", "Bevan", "NP22 3XA"),
]

MAILING_BODY = (
    "Dear {{ first_name|default:\"friend\" }},\n\n"
    "We hand in the **Scrap the ICP contract** petition on Saturday. Join us at 11:00 outside the "
    "Department of Health and Social Care, and bring a friend.\n\n"
    "[Sign and share the petition]({{ petition_url }})\n"
)


class Command(BaseCommand):
    help = (
        "Load demo organisations, petitions, three weeks of a campaign, an organiser login (admin / muster-admin) "
        "and a partner login (weownit / muster-partner)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default="muster-admin")

    def handle(self, *args, password, **options):
        orgs = {}
        for slug, name, kind, website in ORGANISATIONS:
            # A partner's own site may frame its embed and call the sign API.
            origins = website if kind == Organisation.Kind.PARTNER else ""
            orgs[slug], _ = Organisation.objects.get_or_create(
                slug=slug, defaults={"name": name, "kind": kind, "website": website, "allowed_origins": origins}
            )
        host = orgs["health-campaigns-together"]
        for data in PETITIONS:
            if Petition.objects.filter(slug=data["slug"]).exists():
                continue
            petition = Petition(
                organisation=host,
                slug=data["slug"],
                title=data["title"],
                target=data["target"],
                summary=data["summary"],
                body=data["body"],
                goal=data["goal"],
                closes_at=timezone.now() + timedelta(days=data["days"]),
            )
            petition_save(petition=petition)
            petition_set_status(petition=petition, status=Petition.Status.OPEN)
        # The partners co-sponsor the first petition: its form shows their boxes, the admin their embed codes.
        first = Petition.objects.get(slug=PETITIONS[0]["slug"])
        for slug in ("keep-our-nhs-public", "we-own-it"):
            Cosponsorship.objects.get_or_create(petition=first, organisation=orgs[slug])
        # The lists the subscribe and join pages offer (/subscribe/, /join/).
        for slug, name, description, public in MAILING_LISTS:
            MailingList.objects.get_or_create(
                slug=slug, defaults={"name": name, "description": description, "public": public, "organisation": host}
            )
        self._mailing_demo(host)
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@muster.localhost", password)
        username, partner_password, partner_slug = PARTNER_LOGIN
        if not User.objects.filter(username=username).exists():
            partner_user = User.objects.create_user(username, f"{username}@muster.localhost", partner_password)
            orgs[partner_slug].members.add(partner_user)
        campaign_seed(host=host, partners={slug: orgs[slug] for slug in ("keep-our-nhs-public", "we-own-it")})
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))

    def _mailing_demo(self, host: Organisation) -> None:
        """A sender, three subscribers of "Events in the North" (also on "Coalition news") and a
        draft mobilisation call to that list: sent from the workspace, its three messages appear
        in /dev/outbox/."""
        news = MailingList.objects.get(slug="coalition-news")
        north = MailingList.objects.get(slug="events-in-the-north")
        for email, first_name, last_name, postcode in SUBSCRIBERS:
            supporter, created = supporter_get_or_create(
                email=email, first_name=first_name, last_name=last_name, country="GB", postcode=postcode
            )
            if created:
                consent_record(supporter=supporter, organisation=host, given=True,
                               wording=organisation_opt_in_wording(host), source="demo data")
                for mailing_list in (news, north):
                    subscription_set(supporter=supporter, mailing_list=mailing_list, subscribed=True,
                                     wording=f"Subscribe to {mailing_list.name}", source="demo data")
        sender, _ = Sender.objects.get_or_create(
            organisation=host, name=host.name,
            defaults={"bulk_email": "news@muster.localhost", "transactional_email": "hello@muster.localhost"},
        )
        if Mailing.objects.exists():
            return
        message = Message.objects.create(
            name="Hand-in day", sender=sender, subject="Saturday: we hand in the petition", body=MAILING_BODY,
            merge_values={"petition_url": f"{settings.SITE_URL}/p/{PETITIONS[0]['slug']}/"},
        )
        segment = Segment.objects.create(
            name="Events in the North subscribers", definition={"condition": "subscribed_to_list", "list": north.slug}
        )
        mailing_save(mailing=Mailing(name="Hand-in day call", message=message, segment=segment, mailing_list=north))
