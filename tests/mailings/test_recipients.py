"""The one recipient filter (DESIGN rule 4): whatever a segment says, nobody suppressed,
unsubscribed from the mailing's list, or without consent for the sending organisation."""

import pytest

from engage.models import Supporter
from engage.services import consent_record
from engage.suppression import email_hash
from mailings.recipients import EmailHash, recipients_eligible
from tests.factories import make_organisation
from tests.mailings.builders import make_list, make_supporter, supporter_ids, suppress

pytestmark = pytest.mark.django_db


def eligible(organisation, mailing_list=None):
    return supporter_ids(recipients_eligible(Supporter.objects.all(), organisation=organisation, mailing_list=mailing_list))


def test_it_computes_the_suppression_hash_in_sql_exactly_as_engage_does():
    make_supporter("Ada.Lovelace+news@Example.org")
    value = Supporter.objects.annotate(h=EmailHash("email")).values_list("h", flat=True).get()
    assert value == email_hash("ada.lovelace+news@example.org")


def test_it_keeps_opted_in_supporters_and_drops_those_who_never_opted_in():
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    never = make_supporter("never@example.org", opted_in=None)
    assert eligible(host) == {ada.pk}
    assert never.pk not in eligible(host)


def test_it_follows_the_latest_consent_row_for_the_sending_organisation_only():
    host = make_organisation()
    partner = make_organisation(slug="we-own-it", name="We Own It", kind="partner")
    ada = make_supporter("ada@example.org")
    consent_record(supporter=ada, organisation=host, given=False, wording="Stop", source="test")
    bob = make_supporter("bob@example.org", opted_in=False)
    consent_record(supporter=bob, organisation=host, given=True, wording="Again", source="test")
    assert eligible(host) == {bob.pk}
    # Consent to the host says nothing about the partner.
    assert eligible(partner) == set()


def test_it_drops_suppressed_addresses_whatever_their_consent():
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    make_supporter("bounced@example.org")
    suppress("Bounced@Example.org ")
    assert eligible(host) == {ada.pk}


def test_it_drops_those_who_left_the_mailings_list_but_not_those_who_left_another():
    host = make_organisation()
    news, other = make_list(slug="news"), make_list(slug="other")
    ada = make_supporter("ada@example.org", subscribed_to=news)
    left = make_supporter("left@example.org", unsubscribed_from=news)
    left_other = make_supporter("left-other@example.org", unsubscribed_from=other)
    assert eligible(host, news) == {ada.pk, left_other.pk}
    assert left.pk in eligible(host, None)
