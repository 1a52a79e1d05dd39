"""A petition's updates in the workspace: the host's organisers list them, post one (with a
preview that saves nothing), correct, withdraw and restore one, and email one to the signers who
asked, confirming the exact number, once. Bad input is a 4xx with a message and writes nothing;
arbitrary input is never a 500."""

from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from mailings.models import Mailing
from petitions.models import PetitionUpdate, Signature
from petitions.services import updates
from tests.support.factories import make_organisation, make_petition, make_sender, make_signature
from tests.support.strategies import arbitrary_text, form_body, page_examples

pytestmark = pytest.mark.django_db

ORG = "health-campaigns-together"
SLUG = "scrap-the-icp-contract"
VALID = {"kind": "response", "title": "The minister replied", "body": "She says **no**."}


def url(name, **kwargs):
    return reverse(f"organise:{name}", kwargs={"org": ORG, "slug": SLUG, **kwargs})


@pytest.fixture
def world(client):
    host = make_organisation()
    make_sender(organisation=host)
    petition = make_petition(organisation=host)
    user = get_user_model().objects.create_user("host-organiser", password="pw")
    host.members.add(user)
    client.force_login(user)
    return {"host": host, "petition": petition, "user": user}


def asked(petition, *emails):
    for email in emails:
        make_signature(petition=petition, email=email, updates_opt_in=True, confirm=True)


def test_the_list_shows_the_updates_and_how_many_asked(client, world):
    asked(world["petition"], "ada@example.org", "bob@example.org")
    updates.petition_update_publish(petition=world["petition"], kind="hand_in", title="Handed in", body="Done.")
    page = client.get(url("petition_updates"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "2 signers have asked for updates" in html
    assert "Handed in" in html and "Hand-in" in html and "Not yet" in html
    assert url("petition_update_new") in html


def test_posting_an_update_publishes_it_on_the_petition_page(client, world):
    response = client.post(url("petition_update_new"), VALID)
    update = PetitionUpdate.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("petition_update", pk=update.pk)
    assert (update.kind, update.title, update.created_by) == ("response", "The minister replied", world["user"])
    assert "<strong>no</strong>" in client.get(world["petition"].get_absolute_url()).content.decode()


def test_the_preview_shows_the_sanitised_html_and_saves_nothing(client, world):
    page = client.post(url("petition_update_new"), {**VALID, "body": "**Hi** <script>alert(1)</script>", "preview": "1"})
    assert page.status_code == 200
    html = page.content.decode()
    assert '<h2 id="preview-heading">Preview</h2>' in html
    assert "<strong>Hi</strong>" in html and "<script>alert(1)" not in html
    assert not PetitionUpdate.objects.exists()


@pytest.mark.parametrize("change,field,message", [
    ({"title": ""}, "title", "This field is required."),
    ({"title": "   "}, "title", "This field is required."),
    ({"body": ""}, "body", "This field is required."),
    ({"kind": "petition"}, "kind", "Select a valid choice."),
    ({"title": "a" * 201}, "title", "at most 200 characters"),
    ({"body": "a" * 20001}, "body", "at most 20000 characters"),
    ({"title": "Line\u2028break"}, "title", "an email header can't contain a line break"),
    ({"title": "Bell\x07"}, "title", "control characters"),
    ({"body": "non-character \ufffe"}, "body", "not text"),
    ({"body": "Hello {{ first_name }}"}, "body", "shown and emailed as written"),
    ({"title": "{% now %}"}, "title", "shown and emailed as written"),
])
def test_bad_input_is_a_400_with_the_message_and_nothing_is_written(client, world, change, field, message):
    response = client.post(url("petition_update_new"), form_body({**VALID, **change}),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error-summary"' in html and f'href="#id_{field}"' in html
    assert message in unescape(html)
    assert not PetitionUpdate.objects.exists()


def test_editing_withdrawing_and_restoring(client, world):
    update = updates.petition_update_publish(petition=world["petition"], kind="news", title="Draft", body="One")
    assert client.get(url("petition_update", pk=update.pk)).status_code == 200
    bad = client.post(url("petition_update", pk=update.pk), {**VALID, "title": ""})
    assert bad.status_code == 400
    update.refresh_from_db()
    assert update.title == "Draft"
    assert client.post(url("petition_update", pk=update.pk), VALID).status_code == 302
    update.refresh_from_db()
    assert (update.title, update.body_html) == ("The minister replied", "<p>She says <strong>no</strong>.</p>")

    assert client.post(url("petition_update_withdraw", pk=update.pk)).status_code == 302
    update.refresh_from_db()
    assert update.withdrawn_at is not None
    assert "The minister replied" not in client.get(world["petition"].get_absolute_url()).content.decode()
    assert client.post(url("petition_update_withdraw", pk=update.pk), {"restore": "1"}).status_code == 302
    update.refresh_from_db()
    assert update.withdrawn_at is None


def test_an_update_of_another_petition_is_a_404(client, world):
    other = make_petition(slug="save-our-a-e", title="Save our A&E")
    update = updates.petition_update_publish(petition=other, kind="news", title="Elsewhere", body="x")
    assert client.get(url("petition_update", pk=update.pk)).status_code == 404
    assert client.post(url("petition_update_email", pk=update.pk), {"expected": "0"}).status_code == 404
    assert client.get(reverse("organise:petition_updates", kwargs={"org": ORG, "slug": "no-such"})).status_code == 404


def test_emailing_confirms_the_number_goes_to_the_mailing_page_and_never_twice(client, world, django_capture_on_commit_callbacks):
    asked(world["petition"], "ada@example.org", "bob@example.org")
    make_signature(petition=world["petition"], email="cat@example.org", updates_opt_in=True)  # never confirmed
    update = updates.petition_update_publish(petition=world["petition"], kind="news", title="News", body="Hello")
    page = client.get(url("petition_update", pk=update.pk)).content.decode()
    assert "Email this update to the 2 signers who asked for updates" in page
    assert 'name="expected" value="2"' in page

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url("petition_update_email", pk=update.pk), {"expected": "2"})
    mailing = Mailing.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("organise:mailing", kwargs={"org": ORG, "pk": mailing.pk})
    assert mailing.created_by == world["user"]

    again = client.post(url("petition_update_email", pk=update.pk), {"expected": "2"})
    assert again.status_code == 409
    assert "This update has already been emailed." in again.content.decode()
    assert Mailing.objects.count() == 1
    page = client.get(url("petition_update", pk=update.pk)).content.decode()
    assert "This update has been emailed." in page and 'name="expected"' not in page


@pytest.mark.parametrize("expected", ["", "two", "-1", "1.0", "²", "99999999999999999999999"])
def test_a_missing_or_bad_number_is_a_400(client, world, expected):
    asked(world["petition"], "ada@example.org")
    update = updates.petition_update_publish(petition=world["petition"], kind="news", title="News", body="Hello")
    response = client.post(url("petition_update_email", pk=update.pk), form_body({"expected": expected}),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "Confirm the number of people to email" in response.content.decode()
    assert not Mailing.objects.exists()


def test_a_number_that_changed_since_the_page_was_loaded_is_a_409_with_the_new_one(client, world):
    asked(world["petition"], "ada@example.org")
    update = updates.petition_update_publish(petition=world["petition"], kind="news", title="News", body="Hello")
    Signature.objects.update(status=Signature.Status.INVALID)  # an organiser invalidated her meanwhile
    response = client.post(url("petition_update_email", pk=update.pk), {"expected": "1"})
    assert response.status_code == 409
    assert "changed to 0" in response.content.decode()
    assert not Mailing.objects.exists()


def test_the_page_says_why_it_cannot_be_emailed(client, world):
    update = updates.petition_update_publish(petition=world["petition"], kind="news", title="News", body="Hello")
    assert "Nobody who asked for updates can be emailed yet." in client.get(url("petition_update", pk=update.pk)).content.decode()
    world["host"].senders.all().delete()
    asked(world["petition"], "ada@example.org")
    assert "has no sender yet" in client.get(url("petition_update", pk=update.pk)).content.decode()
    response = client.post(url("petition_update_email", pk=update.pk), {"expected": "1"})
    assert response.status_code == 409 and "has no sender yet" in response.content.decode()


# --- never a 500 --------------------------------------------------------------------------------

FIELDS = ["kind", "title", "body", "preview"]


@page_examples
@given(data=st.data())
def test_the_update_form_answers_arbitrary_input_with_a_page_or_a_redirect(client, world, data):
    fields = dict(VALID)
    for name in data.draw(st.sets(st.sampled_from(FIELDS), max_size=3)):
        fields[name] = data.draw(arbitrary_text)
    before = PetitionUpdate.objects.count()
    response = client.post(url("petition_update_new"), form_body(fields), content_type="application/x-www-form-urlencoded")
    assert response.status_code in {200, 302, 400}, response.status_code
    created = PetitionUpdate.objects.count() - before
    assert created == (1 if response.status_code == 302 else 0)
    if response.status_code == 400:
        assert b"error-summary" in response.content


@given(expected=arbitrary_text)
def test_the_email_button_answers_arbitrary_numbers_without_a_500(client, world, expected):
    update = PetitionUpdate.objects.filter(petition=world["petition"]).first() or updates.petition_update_publish(
        petition=world["petition"], kind="news", title="News", body="Hello"
    )
    response = client.post(url("petition_update_email", pk=update.pk), form_body({"expected": expected}),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code in {400, 409}
    assert not Mailing.objects.exists()
