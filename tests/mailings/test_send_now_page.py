"""After "Send now" the mailing page shows the mailing starting, offers no second "Send now", and
its script follows the start; beat starts it too should the queued task be lost."""

import pytest

from mailings.models import Mailing
from mailings.services.sending import mailing_start
from mailings.tasks import mailings_tick
from tests.support.factories import make_list, make_mailing, make_supporter

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailing(client, organiser):
    client.force_login(organiser)
    news = make_list(slug="news")
    for i in range(2):
        make_supporter(f"p{i}@example.org", subscribed_to=news)
    return make_mailing(mailing_list=news)


def _page(client, mailing) -> str:
    return client.get(f"/admin/mailings/mailing/{mailing.pk}/change/").content.decode()


def test_it_shows_the_mailing_starting_until_the_worker_has_started_it(client, mailing, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(f"/admin/mailings/mailing/{mailing.pk}/do/send/", follow=True)
    assert len(queued) == 1  # the start is queued once the request's work is committed
    page = response.content.decode()
    assert "Sending is starting" in page and "Starting…: 0 sent of 0" in page
    assert "Send now" not in page and 'var rendered = "scheduled", startingRendered = true;' in page
    progress = client.get(f"/admin/mailings/mailing/{mailing.pk}/progress/").json()
    assert (progress["status"], progress["starting"], progress["status_label"]) == ("scheduled", True, "Starting…")

    queued[0]()
    progress = client.get(f"/admin/mailings/mailing/{mailing.pk}/progress/").json()
    assert progress["starting"] is False and progress["status"] in ("sending", "sent") and progress["total"] == 2
    assert "Starting…" not in _page(client, mailing)


def test_beat_starts_a_mailing_whose_queued_start_was_lost(client, mailing, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/admin/mailings/mailing/{mailing.pk}/do/send/")
    with django_capture_on_commit_callbacks(execute=True):
        mailings_tick.delay()
    mailing.refresh_from_db()
    assert mailing.status in (Mailing.Status.SENDING, Mailing.Status.SENT) and mailing.recipient_count == 2


def test_a_start_that_does_not_come_can_be_taken_back_to_a_draft(client, mailing, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/admin/mailings/mailing/{mailing.pk}/do/send/")
    assert "Stop the start (back to draft)" in _page(client, mailing)
    client.post(f"/admin/mailings/mailing/{mailing.pk}/do/unschedule/")
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.DRAFT
    page = _page(client, mailing)
    assert "Send now" in page and "Draft: 0 sent of 0" in page
    with django_capture_on_commit_callbacks(execute=True):
        mailing_start(mailing_id=mailing.pk)  # and sent later as any draft
    mailing.refresh_from_db()
    assert mailing.recipient_count == 2


def test_the_page_counts_one_recipient_in_the_singular(client, organiser):
    client.force_login(organiser)
    news = make_list(slug="news")
    make_supporter("only@example.org", subscribed_to=news)
    page = _page(client, make_mailing(mailing_list=news))
    assert "1 recipient now (1 match the segment" in page and "1 recipients" not in page
