"""What goes in an email header (a sender's name and addresses, a subject, a list's or an
organisation's name) is refused with a message when saved if it holds a line break: it would
make every send of that mailing fail."""

import pytest
from django.core.exceptions import ValidationError

from engage.models import MailingList, Organisation
from engage.normalise import validate_header_text
from mailings.models import Message, Sender
from tests.support.factories import make_organisation, make_sender

pytestmark = pytest.mark.django_db

MESSAGE = "Put this on one line: an email header can&#x27;t contain a line break."


@pytest.mark.parametrize("value", ["Health\nCampaigns", "Health\rCampaigns", "Health\r\nBcc: x@example.org", "A\u2028B", "A\x85B"])
def test_it_refuses_every_line_break(value):
    with pytest.raises(ValidationError):
        validate_header_text(value)


def test_one_line_with_marks_and_ampersands_is_fine():
    validate_header_text("Save A&E — Zoë's \u201cpetition\u201d")


def test_the_message_page_refuses_a_subject_or_preheader_on_two_lines(admin_client):
    sender = make_sender()
    for field in ("subject", "preheader", "reply_to"):
        data = {
            "name": "Rally", "sender": sender.pk, "subject": "Rally on Friday", "preheader": "", "reply_to": "",
            "body": "Hello", "merge_values": "{}",
        }
        data[field] = "Rally\non Friday" if field != "reply_to" else "a@example.org\nBcc: b@example.org"
        response = admin_client.post("/admin/mailings/message/add/", data)
        assert response.status_code == 200, field
        assert not Message.objects.exists()
        if field != "reply_to":  # the address check speaks first
            assert MESSAGE in response.content.decode(), field


def test_the_sender_page_refuses_a_name_on_two_lines(admin_client):
    response = admin_client.post("/admin/mailings/sender/add/", {
        "organisation": make_organisation().pk, "name": "Health\r\nCampaigns", "bulk_email": "news@example.org",
        "transactional_email": "hello@example.org", "reply_to": "",
    })
    assert response.status_code == 200
    assert MESSAGE in response.content.decode()
    assert Sender.objects.count() == 0


def test_list_and_organisation_names_are_checked_on_save():
    organisation = make_organisation()
    with pytest.raises(ValidationError) as raised:
        MailingList(organisation=organisation, name="Coalition\nnews", slug="news").full_clean()
    assert "name" in raised.value.message_dict
    with pytest.raises(ValidationError) as raised:
        Organisation(name="We Own\nIt", slug="we-own-it").full_clean()
    assert "name" in raised.value.message_dict
