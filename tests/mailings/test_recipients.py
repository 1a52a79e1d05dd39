"""The one recipient filter (DESIGN rule 4): whatever a segment says, nobody suppressed,
unsubscribed from the mailing's list, or without consent for the sending organisation."""

import pytest
from django.db import connection

from engage.models import Supporter
from engage.services import consent_record
from engage.suppression import email_hash
from mailings.recipients import EmailHash, recipients_eligible, supporters_email_hash_fill
from tests.factories import make_organisation
from tests.mailings.builders import make_list, make_supporter, supporter_ids, suppress

pytestmark = pytest.mark.django_db


def eligible(organisation, mailing_list=None):
    """Who may be mailed, asked in both query shapes (per supporter, and as one join for a
    whole segment), which must agree."""
    each, many = (
        supporter_ids(recipients_eligible(Supporter.objects.all(), organisation=organisation, mailing_list=mailing_list, many=many))
        for many in (False, True)
    )
    assert each == many
    return each


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


def stored_hash(supporter):
    return Supporter.objects.values_list("email_hash", flat=True).get(pk=supporter.pk)


def test_it_drops_suppressed_addresses_whether_or_not_their_hash_is_stored_yet():
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    bounced = make_supporter("bounced@example.org")
    suppress("bounced@example.org")
    assert eligible(host) == {ada.pk}  # hashed in the query
    assert supporters_email_hash_fill() == 2
    assert supporters_email_hash_fill() == 0
    assert bytes(stored_hash(bounced)).hex() == email_hash("bounced@example.org")
    assert eligible(host) == {ada.pk}  # the stored hash


@pytest.mark.postgres
def test_it_never_matches_a_changed_address_by_its_old_hash():
    """However a row is written, a new address empties the stored hash (a trigger), so the
    suppression check hashes the new address and a stale hash can never let it through."""
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    supporters_email_hash_fill()
    suppress("ada.new@example.org")
    Supporter.objects.filter(pk=ada.pk).update(email="ada.new@example.org")
    assert stored_hash(ada) is None
    assert eligible(host) == set()
    supporters_email_hash_fill()
    assert eligible(host) == set()
    # Through save() too; a save that keeps the address keeps the hash.
    ada.refresh_from_db()
    ada.first_name = "Ada L."
    ada.save()
    assert stored_hash(ada) is not None
    ada.email = "ada@example.org"
    ada.save()
    assert stored_hash(ada) is None
    assert eligible(host) == {ada.pk}


@pytest.mark.postgres
def test_it_ignores_a_hash_written_together_with_a_new_address():
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    suppress("ada@example.org")
    suppress("bob@example.org")
    wrong = b"\0" * 32
    with connection.cursor() as cursor:
        cursor.execute("UPDATE engage_supporter SET email = 'x' || email, email_hash = %s WHERE id = %s", [wrong, ada.pk])
        cursor.execute(
            "INSERT INTO engage_supporter (email, first_name, last_name, country, postcode, link_nonce, email_hash, "
            "created_at, updated_at) VALUES ('bob@example.org', 'Bob', 'Test', 'GB', '', 'n1', %s, now(), now()) RETURNING id",
            [wrong],
        )
        bob_id = cursor.fetchone()[0]
    assert stored_hash(ada) is None and stored_hash(Supporter(pk=bob_id)) is None
    Supporter.objects.filter(pk=ada.pk).update(email="ada@example.org")
    consent_record(supporter=Supporter.objects.get(pk=bob_id), organisation=host, given=True, wording="Yes", source="test")
    assert eligible(host) == set()


@pytest.mark.postgres
def test_beat_stores_new_supporters_hashes():
    from mailings import services

    ada = make_supporter("Ada@Example.org")
    assert services.mailings_tick()["hashed"] == 1
    assert bytes(stored_hash(ada)).hex() == email_hash("ada@example.org")
    assert services.mailings_tick()["hashed"] == 0
