"""The one recipient filter (docs/design.md, "One recipient filter"): whatever a segment says, nobody suppressed,
unsubscribed from the mailing's list, or without consent for the sending organisation."""

from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from engage.hashing import PADS_SETTING, hmac_pads_hex
from engage.models import SubscriberImport, Supporter
from engage.services.consent import consent_record
from engage.services.imports import subscribers_import
from engage.suppression import email_hash
from mailings.selectors.recipients import EmailHash, recipients_eligible, supporters_email_hash_fill
from mailings.services.sending import mailings_tick
from petitions.services.signing import petition_sign
from tests.support.factories import make_list, make_organisation, make_petition, make_supporter, supporter_ids, suppress

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


def stored_hash(supporter_or_pk):
    """The supporter's stored hash as hex (as engage.suppression.email_hash gives it), or None."""
    pk = getattr(supporter_or_pk, "pk", supporter_or_pk)
    value = Supporter.objects.values_list("email_hash", flat=True).get(pk=pk)
    return None if value is None else bytes(value).hex()


@contextmanager
def without_the_key():
    """Django's connection writing as one that was never given the key would (psql, a pooler
    that drops startup options): the trigger can only leave the hash empty."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET {PADS_SETTING} = ''")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"RESET {PADS_SETTING}")


def raw_insert(email, *, email_hash_value=None, nonce="n1"):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO engage_supporter (email, first_name, last_name, country, postcode, link_nonce, email_hash, "
            "created_at, updated_at) VALUES (%s, 'Raw', 'Test', 'GB', '', %s, %s, now(), now()) RETURNING id",
            [email, nonce, email_hash_value],
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_muster_connections_are_given_the_key_when_they_start():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [PADS_SETTING])
        assert cursor.fetchone()[0] == hmac_pads_hex(settings.SUPPRESSION_HASH_KEY)


@pytest.mark.postgres
def test_every_way_of_writing_a_supporter_stores_its_hash_at_once():
    """No beat tick: the trigger computes each hash from the row's own address as it goes in."""
    written = {
        "orm@example.org": Supporter.objects.create(email="orm@example.org", first_name="O", last_name="R").pk,
        "bulk@example.org": Supporter.objects.bulk_create([Supporter(email="bulk@example.org", first_name="B", last_name="C")])[0].pk,
        # engage.services: INSERT … ON CONFLICT DO NOTHING on PostgreSQL
        "service@example.org": make_supporter("Service@Example.org").pk,
        # the sign path (the same INSERT, inside the signature's transaction)
        "signer@example.org": petition_sign(
            petition=make_petition(), first_name="Sam", last_name="Signer", email="Signer@example.org", country="GB",
            postcode="S70 2AB", opt_in=True,
        ).signature.supporter_id,
        # raw SQL on Django's connection; the trigger normalises as _EmailDigest does
        " Raw@Example.org ": raw_insert(" Raw@Example.org "),
    }
    # engage.imports: one INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING per batch
    subscriber_import = SubscriberImport.objects.create(
        mailing_list=make_list(slug="news"), file_name="x.csv", consent_wording="Yes", consent_given_at=datetime(2019, 3, 1, tzinfo=UTC),
        column_map={"email": "Email Address"},
    )
    subscribers_import(subscriber_import=subscriber_import, data=b"Email Address\nImported@Example.org\n")
    written["imported@example.org"] = Supporter.objects.get(email="imported@example.org").pk
    assert {email: stored_hash(pk) for email, pk in written.items()} == {email: email_hash(email) for email in written}
    assert supporters_email_hash_fill() == 0


@pytest.mark.postgres
def test_a_changed_address_stores_the_new_addresss_hash():
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    suppress("ada.new@example.org")
    Supporter.objects.filter(pk=ada.pk).update(email="ada.new@example.org")
    assert stored_hash(ada) == email_hash("ada.new@example.org")
    assert eligible(host) == set()
    ada.refresh_from_db()
    ada.email = "ada@example.org"
    ada.save()
    assert stored_hash(ada) == email_hash("ada@example.org")
    assert eligible(host) == {ada.pk}
    # A save from an instance that never read the hash (created here: email_hash None in
    # memory) writes the address too, so the trigger decides the hash, not the stale None.
    bob = Supporter.objects.create(email="bob@example.org", first_name="Bob", last_name="Test")
    bob.first_name = "Robert"
    bob.save()
    assert stored_hash(bob) == email_hash("bob@example.org")


@pytest.mark.postgres
def test_it_never_keeps_a_hash_written_together_with_an_address():
    """A hash the writer supplies with an address never survives: with the key the trigger
    puts the address's own hash in its place, without it none (or the one stored for the
    same address)."""
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    suppress("ada@example.org")
    suppress("bob@example.org")
    suppress("cy@example.org")
    wrong = b"\0" * 32
    with connection.cursor() as cursor:
        cursor.execute("UPDATE engage_supporter SET email = 'x' || email, email_hash = %s WHERE id = %s", [wrong, ada.pk])
    assert stored_hash(ada) == email_hash("xada@example.org")
    bob_id = raw_insert("bob@example.org", email_hash_value=wrong)
    assert stored_hash(bob_id) == email_hash("bob@example.org")
    with connection.cursor() as cursor:  # the same address, a wrong hash
        cursor.execute("UPDATE engage_supporter SET email = email, email_hash = %s WHERE id = %s", [wrong, bob_id])
    assert stored_hash(bob_id) == email_hash("bob@example.org")
    with without_the_key():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE engage_supporter SET email = email, email_hash = %s WHERE id = %s", [wrong, bob_id])
        assert stored_hash(bob_id) == email_hash("bob@example.org")  # kept, not the writer's
        cy_id = raw_insert("cy@example.org", email_hash_value=wrong, nonce="n2")
        Supporter.objects.filter(pk=ada.pk).update(email="ada@example.org")
    assert stored_hash(cy_id) is None and stored_hash(ada) is None
    for supporter_id in (bob_id, cy_id):
        consent_record(supporter=Supporter.objects.get(pk=supporter_id), organisation=host, given=True, wording="Yes", source="test")
    assert eligible(host) == set()


@pytest.mark.postgres
def test_a_connection_that_was_never_given_the_key_stores_no_hash():
    """A connection of its own with no startup options, as psql or another program opens one."""
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None, host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
    ) as other:
        assert other.execute("SELECT current_setting(%s, true)", [PADS_SETTING]).fetchone()[0] is None
        row = other.execute(
            "INSERT INTO engage_supporter (email, first_name, last_name, country, postcode, link_nonce, email_hash, "
            "created_at, updated_at) VALUES ('elsewhere@example.org', 'E', 'W', 'GB', '', 'n-elsewhere', %s, now(), now()) "
            "RETURNING email_hash",
            [b"\0" * 32],
        ).fetchone()
        other.rollback()
    assert row == (None,)


# Rows written without the key: the hash is computed in the query, and beat fills it in.


@pytest.mark.postgres
def test_it_drops_suppressed_addresses_whether_or_not_their_hash_is_stored_yet():
    host = make_organisation()
    with without_the_key():
        ada = make_supporter("ada@example.org")
        bounced = make_supporter("bounced@example.org")
    cy = make_supporter("cy@example.org")  # after RESET, the connection's key again
    suppress("bounced@example.org")
    assert stored_hash(bounced) is None and stored_hash(cy) == email_hash("cy@example.org")
    assert eligible(host) == {ada.pk, cy.pk}  # hashed in the query
    assert supporters_email_hash_fill() == 2
    assert supporters_email_hash_fill() == 0
    assert stored_hash(bounced) == email_hash("bounced@example.org")
    assert eligible(host) == {ada.pk, cy.pk}  # the stored hash


@pytest.mark.postgres
def test_it_never_matches_a_changed_address_by_its_old_hash():
    """Without the key a new address empties the stored hash (a trigger), so the suppression
    check hashes the new address and a stale hash can never let it through."""
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    assert stored_hash(ada) == email_hash("ada@example.org")
    suppress("ada.new@example.org")
    with without_the_key():
        Supporter.objects.filter(pk=ada.pk).update(email="ada.new@example.org")
    assert stored_hash(ada) is None
    assert eligible(host) == set()
    supporters_email_hash_fill()
    assert stored_hash(ada) == email_hash("ada.new@example.org")
    assert eligible(host) == set()
    # Through save() too; a save that keeps the address keeps the hash.
    ada.refresh_from_db()
    with without_the_key():
        ada.first_name = "Ada L."
        ada.save()
        assert stored_hash(ada) == email_hash("ada.new@example.org")
        ada.email = "ada@example.org"
        ada.save()
    assert stored_hash(ada) is None
    assert eligible(host) == {ada.pk}


@pytest.mark.postgres
def test_beat_stores_new_supporters_hashes():

    with without_the_key():
        ada = make_supporter("Ada@Example.org")
    assert stored_hash(ada) is None
    assert mailings_tick()["hashed"] == 1
    assert stored_hash(ada) == email_hash("ada@example.org")
    assert mailings_tick()["hashed"] == 0
