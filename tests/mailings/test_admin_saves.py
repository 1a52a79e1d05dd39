"""What organisers write on the admin's pages is stored through the compose services: a new
mailing records who made it, and saving a mailing's page never writes its status back."""

import pytest

from mailings.models import Mailing, Message, Segment
from mailings.services.compose import mailing_save
from tests.support.factories import make_list, make_mailing, make_message, make_segment, make_sender

pytestmark = pytest.mark.django_db


def test_it_stores_a_message_and_a_segment_written_on_their_pages(admin_client):
    response = admin_client.post("/admin/mailings/message/add/", {
        "name": "Rally", "sender": make_sender().pk, "subject": "Rally on Friday", "preheader": "", "reply_to": "",
        "body": 'Hello {{ first_name|default:"friend" }}', "merge_values": "{}",
    })
    assert response.status_code == 302
    assert Message.objects.get().subject == "Rally on Friday"
    make_list(slug="news")
    response = admin_client.post("/admin/mailings/segment/add/", {
        "name": "News", "description": "", "definition": '{"condition": "subscribed_to_list", "list": "news"}',
    })
    assert response.status_code == 302
    assert Segment.objects.get().definition == {"condition": "subscribed_to_list", "list": "news"}


def test_a_new_mailing_records_its_organiser(admin_client, admin_user):
    news = make_list(slug="news")
    response = admin_client.post("/admin/mailings/mailing/add/", {
        "name": "Rally call", "message": make_message().pk, "segment": make_segment().pk, "mailing_list": news.pk,
        "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302
    mailing = Mailing.objects.get()
    assert (mailing.name, mailing.created_by, mailing.status) == ("Rally call", admin_user, Mailing.Status.DRAFT)


def test_saving_a_mailings_page_leaves_its_status_alone():
    mailing = make_mailing()
    page = Mailing.objects.get(pk=mailing.pk)
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.SCHEDULED)  # meanwhile, in another request
    page.name = "Renamed"
    mailing_save(mailing=page)
    mailing.refresh_from_db()
    assert (mailing.name, mailing.status) == ("Renamed", Mailing.Status.SCHEDULED)
