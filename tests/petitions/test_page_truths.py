"""What the public and organisers' pages say is true: the day a petition closed, a count's plural,
which join fields are required, the consent wording's placeholders, and the host's own dashboard."""

from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.utils import timezone

from petitions.models import Petition
from petitions.services.lifecycle import petition_set_status
from tests.support.factories import make_list, make_organisation, make_petition, make_signature

pytestmark = pytest.mark.django_db


def _page(client, petition) -> str:
    return client.get(petition.get_absolute_url()).content.decode()


@pytest.mark.parametrize("status", [Petition.Status.CLOSED, Petition.Status.HANDED_IN])
def test_an_ended_petition_says_the_day_it_closed_not_its_deadline(client, status):
    petition = make_petition()  # its deadline is 30 days away
    petition_set_status(petition=petition, status=status)
    page = _page(client, petition)
    today = timezone.localtime(petition.closed_at).strftime("%-d %B %Y")
    assert f"Closed on <time datetime=\"{petition.closed_at.isoformat()}" in page and today in page
    assert timezone.localtime(petition.closes_at).strftime("%-d %B %Y") not in page


def test_an_open_petition_says_when_it_closes(client):
    petition = make_petition()
    assert "Closes on" in _page(client, petition) and "Closed on" not in _page(client, petition)


def test_a_petition_closed_at_its_deadline_closed_that_day(settings):
    from petitions.services.lifecycle import petitions_close_due

    petition = make_petition()
    Petition.objects.filter(pk=petition.pk).update(closes_at=timezone.now() - timedelta(days=2))
    assert petitions_close_due() == 1
    petition.refresh_from_db()
    assert petition.closed_at == petition.closes_at


def test_the_migration_gives_ended_petitions_the_best_closing_day_known():
    fill = import_module("petitions.migrations.0004_petition_closed_at_fill").closed_at_fill
    now = timezone.now()
    handed_in = make_petition(slug="handed-in")
    deadline_passed = make_petition(slug="deadline-passed")
    closed_early = make_petition(slug="closed-early")
    make_petition(slug="still-open")
    Petition.objects.filter(pk=handed_in.pk).update(status="handed_in", handed_in_at=now - timedelta(days=3), closed_at=None)
    Petition.objects.filter(pk=deadline_passed.pk).update(status="closed", closes_at=now - timedelta(days=9), closed_at=None)
    Petition.objects.filter(pk=closed_early.pk).update(status="closed", closed_at=None)
    fill(django_apps, None)
    closed = dict(Petition.objects.values_list("slug", "closed_at"))
    assert closed["handed-in"] == now - timedelta(days=3)  # its deadline was still to come
    assert closed["deadline-passed"] == now - timedelta(days=9)
    assert closed["closed-early"] is not None and closed["closed-early"] <= timezone.now()
    assert closed["still-open"] is None


def test_a_count_of_one_is_singular_and_stays_so_when_updated_live(client):
    petition = make_petition()
    make_signature(petition=petition, confirm=True)
    page = _page(client, petition)
    assert "signature of a goal of 100</span>" in page and "1</span> signatures" not in page
    assert 'data-one="signature of a goal of 100" data-other="signatures of a goal of 100"' in page


def test_the_join_form_labels_organisation_fields_as_needed_when_registering_one(client):
    make_organisation()
    page = client.get("/join/").content.decode()
    name_label = page.split('for="id_organisation_name"', 1)[1].split("</label>", 1)[0]
    kind_label = page.split('for="id_organisation_kind"', 1)[1].split("</label>", 1)[0]
    website_label = page.split('for="id_organisation_website"', 1)[1].split("</label>", 1)[0]
    assert "(optional)" not in name_label and "(needed for an organisation)" in name_label
    assert "(optional)" not in kind_label and "(needed for an organisation)" in kind_label
    assert "(optional)" in website_label  # and it is: nothing requires it
    response = client.post("/join/", {"joining_as": "organisation", "first_name": "Ada", "last_name": "L",
                                      "email": "ada@example.org", "country": "GB", "postcode": "S70 2AB"})
    assert response.status_code == 400
    assert "Enter the organisation&#x27;s name." in response.content.decode()
    assert "Organisation&#x27;s website" in response.content.decode()  # no error for it


def test_the_consent_wording_help_text_keeps_its_placeholders(client, organiser):
    client.force_login(organiser)
    petition = make_petition()
    page = client.get(f"/admin/petitions/petition/{petition.pk}/change/").content.decode()
    assert "Keep me updated by &lt;organisation&gt; about this" in page
    news = make_list(slug="news")
    page = client.get(f"/admin/engage/mailinglist/{news.pk}/change/").content.decode()
    assert "Email me &lt;list&gt; from &lt;organisation&gt;." in page


def test_the_hosts_workspace_shows_the_petitions_it_hosts(client):
    petition = make_petition()
    make_signature(petition=petition, confirm=True)
    host = petition.organisation
    user = get_user_model().objects.create_user("hosting", "h@example.org", "pw-hosting-123")
    host.members.add(user)
    client.force_login(user)
    page = client.get(f"/organise/{host.slug}/").content.decode()
    assert "No open petitions" not in page
    assert f'data-petition="{petition.slug}"' in page
    assert 'data-figure="total">1<' in page
