"""The one recipient filter (docs/design.md, "One recipient filter"): whatever a segment says, nobody suppressed,
not subscribed to the mailing's list, or without consent for the sending organisation."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engage.models import SubscriberImport, Supporter
from engage.normalise import normalise_email
from engage.services import suppression as suppression_services
from engage.services.consent import consent_record
from engage.services.imports import subscribers_import
from engage.services.suppression import supporters_email_hash_fill
from engage.suppression import email_digest, email_hash
from mailings.models import Delivery
from mailings.selectors.mailings import chunk_supporters_eligible
from mailings.selectors.recipients import recipients_eligible
from mailings.services import sending
from petitions.services.signing import petition_sign
from tests.support.factories import (
    make_list,
    make_mailing,
    make_organisation,
    make_petition,
    make_supporter,
    supporter_ids,
    suppress,
)

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


def test_it_keeps_only_the_lists_subscribers_on_a_list_and_every_opted_in_person_without_one():
    host = make_organisation()
    news, other = make_list(slug="news"), make_list(slug="other")
    ada = make_supporter("ada@example.org", subscribed_to=news)
    left = make_supporter("left@example.org", unsubscribed_from=news)
    on_other = make_supporter("on-other@example.org", subscribed_to=other, unsubscribed_from=news)
    never_joined = make_supporter("never-joined@example.org")
    assert eligible(host, news) == {ada.pk}
    assert eligible(host, other) == {on_other.pk}
    assert eligible(host, None) == {ada.pk, left.pk, on_other.pk, never_joined.pk}


# --- The stored suppression hash (Supporter.email_hash) ---------------------------------------


def stored_hash(supporter_or_pk):
    """The supporter's stored hash (bytes), or None."""
    pk = getattr(supporter_or_pk, "pk", supporter_or_pk)
    value = Supporter.objects.values_list("email_hash", flat=True).get(pk=pk)
    return None if value is None else bytes(value)


def other_program(sql, params=()):
    """A statement as psql or another program would run it: plain SQL, no Muster code."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def raw_insert(email, *, nonce="n1"):
    """A supporter written by another program: no hash."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    other_program(
        "INSERT INTO engage_supporter (email, first_name, last_name, country, postcode, link_nonce, created_at, updated_at) "
        "VALUES (%s, 'Raw', 'Test', 'GB', '', %s, %s, %s)",
        [email, nonce, now, now],
    )
    return Supporter.objects.values_list("pk", flat=True).get(email=email)


def opted_in(supporter_id, organisation):
    consent_record(supporter=Supporter.objects.get(pk=supporter_id), organisation=organisation, given=True, wording="Yes",
                   source="test")


# Odd spellings of one address each: every one must hash as its normalised form.
SPELLINGS = [
    "Ada.Lovelace+news@Example.org",
    " ada@example.org ",
    "\tADA@EXAMPLE.ORG\n",
    "\u00a0Zoë.Brontë@Example.org\u2003",
    "ÉLODIE@exemple.fr",
    "o'brien@example.org",
    "用户@例子.广告",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_digest_is_the_hash_of_the_normalised_address_as_bytes(spelling):
    assert email_digest(spelling) == email_digest(normalise_email(spelling))
    assert email_digest(spelling).hex() == email_hash(spelling) == email_hash(normalise_email(spelling))
    assert len(email_digest(spelling)) == 32


def _written_by_create(email):
    return Supporter.objects.create(email=email, first_name="O", last_name="R").pk


def _written_by_bulk_create(email):
    return Supporter.objects.bulk_create([Supporter(email=email, first_name="B", last_name="C")])[0].pk


def _written_by_update(email):
    pk = _written_by_create("before@example.org")
    Supporter.objects.filter(pk=pk).update(email=email)
    return pk


def _written_by_save(email):
    supporter = Supporter.objects.get(pk=_written_by_create("before@example.org"))
    supporter.email = email
    supporter.save()
    return supporter.pk


def _written_by_save_of_the_address_only(email):
    supporter = Supporter.objects.get(pk=_written_by_create("before@example.org"))
    supporter.email = email
    supporter.save(update_fields=["email"])
    return supporter.pk


def _written_by_bulk_update(email):
    supporter = Supporter.objects.get(pk=_written_by_create("before@example.org"))
    supporter.email = email
    Supporter.objects.bulk_update([supporter], ["email"])
    return supporter.pk


def _written_by_the_service(email):
    return make_supporter(email).pk


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("write", [
    _written_by_create, _written_by_bulk_create, _written_by_update, _written_by_save, _written_by_save_of_the_address_only,
    _written_by_bulk_update, _written_by_the_service,
], ids=lambda write: write.__name__.removeprefix("_written_by_"))
def test_every_spelling_written_any_orm_way_stores_the_hash_of_the_normalised_address(write, spelling):
    assert stored_hash(write(spelling)) == email_digest(normalise_email(spelling))


def test_every_way_muster_writes_a_supporter_stores_its_hash_at_once():
    """No fill, no beat tick: each writer stores email_digest with the address. (Preferences
    change a person's name and place, never the address; erasure deletes the row.)"""
    host = make_organisation()
    written = {
        "orm@example.org": Supporter.objects.create(email="orm@example.org", first_name="O", last_name="R").pk,
        "bulk@example.org": Supporter.objects.bulk_create([Supporter(email="bulk@example.org", first_name="B", last_name="C")])[0].pk,
        # engage.services.supporters: engage.sql.supporter_insert (INSERT … ON CONFLICT DO NOTHING on PostgreSQL)
        "service@example.org": make_supporter("Service@Example.org").pk,
        # the sign path (the same INSERT, inside the signature's transaction)
        "signer@example.org": petition_sign(
            petition=make_petition(), first_name="Sam", last_name="Signer", email="Signer@example.org", country="GB",
            postcode="S70 2AB", opt_in=True,
        ).signature.supporter_id,
        "created@example.org": Supporter.objects.update_or_create(
            email="created@example.org", defaults={"first_name": "U", "last_name": "C"}
        )[0].pk,
    }
    # the import: engage.sql.rows_insert, one INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING per batch
    subscriber_import = SubscriberImport.objects.create(
        mailing_list=make_list(organisation=host), file_name="x.csv", consent_wording="Yes",
        consent_given_at=datetime(2019, 3, 1, tzinfo=UTC), column_map={"email": "Email Address"},
    )
    subscribers_import(subscriber_import=subscriber_import, data=b"Email Address\nImported@Example.org\n")
    written["imported@example.org"] = Supporter.objects.get(email="imported@example.org").pk
    assert {email: stored_hash(pk) for email, pk in written.items()} == {email: email_digest(email) for email in written}
    assert supporters_email_hash_fill() == 0


def test_a_changed_address_stores_the_new_addresss_hash():
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    suppress("ada.new@example.org")
    Supporter.objects.filter(pk=ada.pk).update(email="ada.new@example.org")
    assert stored_hash(ada) == email_digest("ada.new@example.org")
    assert eligible(host) == set()
    ada.refresh_from_db()
    ada.email = "ada@example.org"
    ada.save()
    assert stored_hash(ada) == email_digest("ada@example.org")
    assert eligible(host) == {ada.pk}
    # A save that leaves the address out of update_fields leaves its hash as it is.
    ada.first_name = "Ada L."
    ada.save(update_fields=["first_name"])
    assert stored_hash(ada) == email_digest("ada@example.org")
    # A save from an instance that never read the hash (created here) stores the address's.
    bob = Supporter.objects.create(email="bob@example.org", first_name="Bob", last_name="Test")
    bob.first_name = "Robert"
    bob.save()
    assert stored_hash(bob) == email_digest("bob@example.org")


def test_an_address_updated_from_an_expression_is_hashed_by_the_fill():
    host = make_organisation()
    ada = make_supporter("ada@example.org")
    suppress("xada@example.org")
    Supporter.objects.filter(pk=ada.pk).update(email=Concat(Value("x"), F("email")))
    assert stored_hash(ada) is None  # never the old address's hash
    assert supporters_email_hash_fill() == 1
    assert stored_hash(ada) == email_digest("xada@example.org")
    assert eligible(host) == set()


# --- Rows written by other programs: no hash, until the fill ------------------------------------


def test_the_fill_stores_the_hash_of_rows_written_by_another_program():
    ada_id = raw_insert(" Ada@Example.org ")
    bob_id = raw_insert("bob@example.org", nonce="n2")
    cy_id = raw_insert("cy@example.org", nonce="n3")
    assert {stored_hash(pk) for pk in (ada_id, bob_id, cy_id)} == {None}
    assert supporters_email_hash_fill(supporter_ids=[bob_id]) == 1  # only those asked about
    assert stored_hash(bob_id) == email_digest("bob@example.org") and stored_hash(ada_id) is None
    assert supporters_email_hash_fill(limit=1) == 1
    assert stored_hash(ada_id) == email_digest("ada@example.org") and stored_hash(cy_id) is None
    assert supporters_email_hash_fill() == 1
    assert supporters_email_hash_fill() == 0
    assert stored_hash(cy_id) == email_digest("cy@example.org")


def test_the_fill_never_stores_a_hash_for_an_address_that_changed_under_it(monkeypatch):
    """Between the fill's read and its write, another program changes one address (no hash)
    and Muster another (with its new hash): neither gets the hash of the address read."""
    ada_id = raw_insert("ada@example.org")
    bob_id = raw_insert("bob@example.org", nonce="n2")
    digest = suppression_services.email_digest

    def digest_while_rewritten(email):
        if email == "ada@example.org":
            other_program("UPDATE engage_supporter SET email = 'ada.new@example.org' WHERE id = %s", [ada_id])
        elif email == "bob@example.org":
            Supporter.objects.filter(pk=bob_id).update(email="bob.new@example.org")
        return digest(email)

    monkeypatch.setattr(suppression_services, "email_digest", digest_while_rewritten)
    assert supporters_email_hash_fill() == 0
    assert stored_hash(ada_id) is None
    assert stored_hash(bob_id) == email_digest("bob.new@example.org")
    monkeypatch.undo()
    assert supporters_email_hash_fill() == 1
    assert stored_hash(ada_id) == email_digest("ada.new@example.org")


def test_beat_stores_hashes_of_rows_written_by_another_program():
    ada_id = raw_insert("Ada@Example.org")
    assert sending.mailings_tick()["hashed"] == 1
    assert stored_hash(ada_id) == email_digest("ada@example.org")
    assert sending.mailings_tick()["hashed"] == 0


def test_the_snapshot_leaves_out_a_suppressed_address_written_by_another_program():
    """Only stored hashes are compared; the snapshot stores the missing ones first."""
    host = make_organisation()
    ada_id = raw_insert("ada@example.org")
    bounced_id = raw_insert("Bounced@Example.org", nonce="n2")
    for supporter_id in (ada_id, bounced_id):
        opted_in(supporter_id, host)
    suppress("bounced@example.org")
    mailing = make_mailing()
    assert sending.deliveries_snapshot(mailing=mailing) == 1
    assert set(Delivery.objects.filter(mailing=mailing).values_list("supporter_id", flat=True)) == {ada_id}
    assert stored_hash(bounced_id) == email_digest("bounced@example.org")


def test_a_mailing_stores_the_missing_hashes_before_its_transaction(django_capture_on_commit_callbacks):
    """The bulk of a fill runs in transactions of its own, not while the mailing's holds its rows."""
    opted_in(raw_insert("ada@example.org"), make_organisation())
    mailing = make_mailing()
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=False):
        sending.mailing_start(mailing_id=mailing.pk)
    statements = [q["sql"] for q in queries.captured_queries]
    filled = next(i for i, sql in enumerate(statements) if sql.startswith("UPDATE") and "email_hash" in sql)
    started = next(i for i, sql in enumerate(statements) if sql.startswith("UPDATE") and "mailings_mailing" in sql)
    assert filled < started
    assert Delivery.objects.filter(mailing=mailing).count() == 1


def chunk_outcomes(mailing):
    return dict(Delivery.objects.filter(mailing=mailing).values_list("supporter__email", "status"))


def test_a_suppressed_address_whose_hash_went_missing_after_the_snapshot_is_not_sent(mailgun, django_capture_on_commit_callbacks):
    """Another program empties one supporter's hash, and changes another's address to a
    suppressed one (no hash), after the snapshot: the chunk's fill hashes them before the check,
    so the suppressed are skipped and the others still sent."""
    host = make_organisation()
    people = {name: make_supporter(f"{name}@example.org", organisation=host) for name in ("ada", "bounced", "moved", "kept")}
    mailing = make_mailing()
    with django_capture_on_commit_callbacks(execute=False):
        sending.mailing_start(mailing_id=mailing.pk)
    assert Delivery.objects.filter(mailing=mailing).count() == 4
    suppress("bounced@example.org")
    suppress("moved.new@example.org")
    other_program("UPDATE engage_supporter SET email_hash = NULL WHERE id IN (%s, %s, %s)",
                  [people["bounced"].pk, people["ada"].pk, people["kept"].pk])
    other_program("UPDATE engage_supporter SET email = 'moved.new@example.org', email_hash = NULL WHERE id = %s",
                  [people["moved"].pk])
    sending.chunk_send(mailing_id=mailing.pk)
    assert sorted(record.to for record in mailgun.records) == ["ada@example.org", "kept@example.org"]
    assert chunk_outcomes(mailing) == {
        "ada@example.org": Delivery.Status.SENT, "kept@example.org": Delivery.Status.SENT,
        "bounced@example.org": Delivery.Status.SKIPPED, "moved.new@example.org": Delivery.Status.SKIPPED,
    }
    assert stored_hash(people["moved"]) == email_digest("moved.new@example.org")


@pytest.mark.postgres
def test_no_trigger_writes_the_hash_any_more():
    """Migration 0006 dropped the trigger: a row written by another program keeps what it wrote."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'engage_supporter'::regclass AND NOT tgisinternal")
        assert cursor.fetchall() == []
        cursor.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE 'engage_supporter_email_hash%%'")
        assert cursor.fetchone() == (0,)
    assert stored_hash(raw_insert("ada@example.org")) is None


def test_a_chunk_never_sends_to_a_supporter_still_without_a_hash():
    """A row rewritten by another program after the chunk's fill is left out, not sent unchecked."""
    host = make_organisation()
    ada, bob = make_supporter("ada@example.org", organisation=host), make_supporter("bob@example.org", organisation=host)
    other_program("UPDATE engage_supporter SET email_hash = NULL WHERE id = %s", [bob.pk])
    assert set(chunk_supporters_eligible(mailing=make_mailing(), supporter_ids=[ada.pk, bob.pk])) == {ada.pk}
