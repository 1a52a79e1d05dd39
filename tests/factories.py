"""Test data built through the services, as the application builds it."""

from datetime import timedelta

from django.utils import timezone

from engage.models import Organisation
from petitions import services
from petitions.models import Petition


def make_organisation(*, slug="health-campaigns-together", name="Health Campaigns Together", kind="host"):
    organisation, _ = Organisation.objects.get_or_create(slug=slug, defaults={"name": name, "kind": kind})
    return organisation


def make_petition(*, slug="scrap-the-icp-contract", title="Scrap the ICP contract", status=Petition.Status.OPEN, goal=100, organisation=None):
    petition = Petition(
        organisation=organisation or make_organisation(),
        slug=slug,
        title=title,
        target="Department of Health and Social Care",
        body="Keep our NHS **public**.<script>alert(1)</script>",
        goal=goal,
        closes_at=timezone.now() + timedelta(days=30),
    )
    services.petition_save(petition=petition)
    if status != Petition.Status.DRAFT:
        services.petition_set_status(petition=petition, status=status)
    return petition


def sign_data(**overrides):
    data = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.org",
        "country": "GB",
        "postcode": "s70 2ab",
        "opt_in": "",
        "source": "",
        "website": "",
    }
    data.update(overrides)
    return data


def make_partner(*, slug="we-own-it", name="We Own It", origins="https://weownit.org.uk"):
    organisation, _ = Organisation.objects.get_or_create(
        slug=slug, defaults={"name": name, "kind": Organisation.Kind.PARTNER, "allowed_origins": origins}
    )
    return organisation


def make_cosponsorship(*, petition, organisation, active=True):
    from petitions.models import Cosponsorship

    return Cosponsorship.objects.create(petition=petition, organisation=organisation, active=active)
