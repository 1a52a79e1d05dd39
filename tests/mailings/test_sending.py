
"""Sending in one process against the mock ESP: snapshot, headers, both ESP shapes, pause and
resume, schedule, unknown outcomes and the sweeper."""

import re
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engage import links
from engage.models import Subscription
from engage.services.consent import consent_record
from mailings.models import Delivery, Mailing
from mailings.services.compose import (
    deliveries_unknown_drop,
    deliveries_unknown_resend,
    mailing_cancel,
    mailing_pause,
    mailing_resume,
    mailing_schedule,
)
from mailings.services.sending import (
    MailingStateError,
    chunk_claim,
    chunk_send,
    claims_sweep,
    deliveries_snapshot,
    mailing_start,
    mailings_tick,
    unknown_reconcile,
)
from tests.support.factories import make_list, make_mailing, make_organisation, make_segment, make_supporter, suppress

pytestmark = pytest.mark.django_db



def assert_one_click_for(header, person, mailing_list):
    """The header is this person's one-click link for this list. Compared by what the token
    says, not as text: the token carries a timestamp, which moves on between two signings."""
    match = re.fullmatch(r"<https://muster\.test/unsubscribe/([^/]+)/one-click>", header)
    assert match, header
    assert links.read_unsubscribe_token(match.group(1)) == (person, mailing_list)

def audience(n=5, news=None):
    news = news or make_list(slug="news")
    people = [make_supporter(f"person{i}@example.org", first_name=f"P{i}", subscribed_to=news) for i in range(n)]
    make_supporter("bounced@example.org", subscribed_to=news)
    suppress("bounced@example.org")
    make_supporter("left@example.org", unsubscribed_from=news)
    # Asked to subscribe and never confirmed: not a subscriber.
    never = make_supporter("never@example.org", opted_in=None)
    Subscription.objects.create(supporter=never, mailing_list=news, status=Subscription.Status.PENDING)
    make_supporter("withdrew@example.org", subscribed_to=news, opted_in=False)  # withdrew from the host
    return news, people


def start(mailing, django_capture_on_commit_callbacks, execute=True):
    with django_capture_on_commit_callbacks(execute=execute):
        mailing_start(mailing_id=mailing.pk)
    mailing.refresh_from_db()
    return mailing


def copies_by_address(esp):
    counts = {}
    for record in esp.records:
        counts[record.to] = counts.get(record.to, 0) + 1
    return counts


def test_it_snapshots_eligible_recipients_in_one_insert_and_only_once(mailgun, django_capture_on_commit_callbacks):
    news, people = audience(3)
    mailing = make_mailing(mailing_list=news, segment=make_segment({"condition": "subscribed_to_list", "list": "news"}))
    with CaptureQueriesContext(connection) as queries:
        assert deliveries_snapshot(mailing=mailing) == 3
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and "SELECT" in inserts[0]
    assert deliveries_snapshot(mailing=mailing) == 3
    assert set(Delivery.objects.values_list("supporter_id", flat=True)) == {p.pk for p in people}


def test_it_sends_each_recipient_one_message_with_its_own_headers_in_a_mailgun_batch(mailgun, django_capture_on_commit_callbacks):
    news, people = audience(5)
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks)
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.SENT and mailing.recipient_count == 5
    assert copies_by_address(mailgun) == {p.email: 1 for p in people}
    assert mailgun.stats()["calls"] == 1  # one batch call for the chunk
    for person in people:
        record = next(r for r in mailgun.records if r.to == person.email)
        delivery = Delivery.objects.get(mailing=mailing, supporter=person)
        assert record.delivery_id == str(delivery.pk)
        assert delivery.status == Delivery.Status.SENT and delivery.esp_message_id == record.message_id
        assert_one_click_for(record.headers["List-Unsubscribe"], person, news)
        assert record.headers["List-Unsubscribe"].startswith("<https://")
        assert record.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert record.headers["List-Id"].endswith("<news.health-campaigns-together.muster.test>")
        assert f"Hello {person.first_name}," in record.text()
        preferences = re.search(r"https://muster\.test/preferences/([^/\s\"]+)/", record.html())
        assert links.read_preferences_token(preferences.group(1)) == person
        unsubscribe = re.search(r"https://muster\.test/unsubscribe/([^/\s]+)/(?!one-click)", record.text())
        assert links.read_unsubscribe_token(unsubscribe.group(1)) == (person, news)


def test_it_sends_one_message_per_call_to_a_postmark_shaped_esp(postmark, django_capture_on_commit_callbacks):
    news, people = audience(4)
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks)
    assert mailing.status == Mailing.Status.SENT
    assert copies_by_address(postmark) == {p.email: 1 for p in people}
    assert postmark.stats()["calls"] == 4
    record = postmark.records[0]
    person = next(p for p in people if p.email == record.to)
    assert_one_click_for(record.headers["List-Unsubscribe"], person, news)
    assert record.metadata["delivery_id"] == str(Delivery.objects.get(supporter=person).pk)


def test_it_pauses_and_resumes_without_sending_twice_or_skipping(mailgun, settings, django_capture_on_commit_callbacks):
    settings.MAILINGS_CHUNK_SIZE = 2
    news, people = audience(7)
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks, execute=False)
    assert chunk_send(mailing_id=mailing.pk).sent == 2
    mailing_pause(mailing=mailing)
    assert chunk_send(mailing_id=mailing.pk).claimed == 0  # a paused mailing claims nothing
    assert Delivery.objects.filter(status=Delivery.Status.QUEUED).count() == 5
    with django_capture_on_commit_callbacks(execute=True):
        mailing_resume(mailing=mailing)
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.SENT
    assert copies_by_address(mailgun) == {p.email: 1 for p in people}


def test_it_re_checks_the_rule_when_a_chunk_is_claimed(mailgun, django_capture_on_commit_callbacks):
    news, people = audience(3)
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks, execute=False)
    suppress(people[0].email)  # bounced elsewhere after the snapshot
    while chunk_send(mailing_id=mailing.pk).claimed:
        pass
    assert people[0].email not in copies_by_address(mailgun)
    assert Delivery.objects.get(supporter=people[0]).status == Delivery.Status.SKIPPED


def test_it_skips_a_delivery_whose_supporter_row_is_gone(mailgun, django_capture_on_commit_callbacks):
    """Deliveries have no foreign key constraint in the database (see Delivery.supporter): a
    supporter row removed behind the ORM's back leaves a delivery pointing at no one, which
    is skipped, not sent and not an error."""
    news, people = audience(3)
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks, execute=False)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM engage_consent WHERE supporter_id = %s", [people[0].pk])
        cursor.execute("DELETE FROM engage_subscription WHERE supporter_id = %s", [people[0].pk])
        cursor.execute("DELETE FROM engage_supporter WHERE id = %s", [people[0].pk])
    while chunk_send(mailing_id=mailing.pk).claimed:
        pass
    assert copies_by_address(mailgun) == {p.email: 1 for p in people[1:]}
    assert Delivery.objects.get(supporter_id=people[0].pk).status == Delivery.Status.SKIPPED


def test_it_never_writes_a_second_delivery_for_one_person(mailgun):
    news, people = audience(1)
    mailing = make_mailing(mailing_list=news)
    deliveries_snapshot(mailing=mailing)
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(mailing=mailing, supporter=people[0])


def test_it_cancels_what_is_still_queued(mailgun, settings, django_capture_on_commit_callbacks):
    news, _ = audience(4)
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks, execute=False)
    assert mailing_cancel(mailing=mailing) == 4
    assert chunk_send(mailing_id=mailing.pk).claimed == 0
    assert mailgun.stats()["messages"] == 0


def test_it_starts_scheduled_mailings_from_beat_when_due(mailgun, settings, django_capture_on_commit_callbacks):
    assert settings.CELERY_BEAT_SCHEDULE["mailings-tick"]["task"] == "mailings.tasks.mailings_tick"
    news, people = audience(2)
    mailing = make_mailing(mailing_list=news)
    mailing_schedule(mailing=mailing, at=timezone.now() + timedelta(hours=1))
    with pytest.raises(MailingStateError):
        mailing_schedule(mailing=mailing, at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        mailings_tick()
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.SCHEDULED
    Mailing.objects.filter(pk=mailing.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert mailings_tick()["started"] == 1
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.SENT
    assert copies_by_address(mailgun) == {p.email: 1 for p in people}


def test_it_marks_a_timed_out_send_unknown_and_settles_it_with_the_esps_record(mailgun, settings, django_capture_on_commit_callbacks):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.3}
    settings.MAILINGS_SEARCH_DELAY = {"mailgun": timedelta(0), "postmark": timedelta(0)}
    settings.MAILINGS_CLAIM_TIMEOUT = timedelta(0)
    news, people = audience(3)
    mailgun.configure(delay=1.0)  # accepted, then answered too late
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks, execute=False)
    chunk_send(mailing_id=mailing.pk)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.UNKNOWN}
    mailgun.configure(delay=0)
    with django_capture_on_commit_callbacks(execute=True):
        result = mailings_tick()
    assert result["reconciled"] == 3 and result["resent"] == 0
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert copies_by_address(mailgun) == {p.email: 1 for p in people}
    assert Mailing.objects.get(pk=mailing.pk).status == Mailing.Status.SENT


def test_it_requeues_a_refused_chunk_and_sends_it_later(mailgun, django_capture_on_commit_callbacks):
    news, people = audience(3)
    mailgun.configure(fail_next=1)  # a 503: nothing was accepted
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks, execute=False)
    chunk_send(mailing_id=mailing.pk)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.QUEUED}
    chunk_send(mailing_id=mailing.pk)
    assert copies_by_address(mailgun) == {p.email: 1 for p in people}


def test_it_sweeps_abandoned_claims(mailgun, settings, django_capture_on_commit_callbacks):
    news, _ = audience(4)
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks, execute=False)
    token, rows = chunk_claim(mailing_id=mailing.pk, size=4)
    Delivery.objects.filter(pk__in=[rows[0][0], rows[1][0]]).update(status=Delivery.Status.SENDING)
    Delivery.objects.update(claimed_at=timezone.now() - settings.MAILINGS_CLAIM_TIMEOUT - timedelta(seconds=1))
    assert claims_sweep() == (2, 2)
    assert Delivery.objects.filter(status=Delivery.Status.QUEUED).count() == 2
    assert Delivery.objects.filter(status=Delivery.Status.UNKNOWN).count() == 2


def test_it_leaves_unknown_outcomes_to_the_organiser_when_the_esp_cannot_be_asked(settings, django_capture_on_commit_callbacks):
    settings.MAILINGS_SEARCH_DELAY = {"mailgun": timedelta(0), "postmark": timedelta(0)}
    news, _ = audience(2)
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks, execute=False)
    Delivery.objects.update(status=Delivery.Status.UNKNOWN, claimed_at=timezone.now() - timedelta(days=1))
    assert unknown_reconcile() == (0, 0)  # anymail's test backend has no search
    assert deliveries_unknown_drop(mailing=mailing) == 2
    Delivery.objects.update(status=Delivery.Status.UNKNOWN)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_unknown_resend(mailing=mailing) == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_it_claims_a_chunk_in_a_constant_number_of_queries(mailgun, settings, django_assert_max_num_queries, django_capture_on_commit_callbacks):
    settings.MAILINGS_CHUNK_SIZE = 50
    news, _ = audience(30)
    mailing = start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks, execute=False)
    with django_assert_max_num_queries(12):
        assert chunk_send(mailing_id=mailing.pk).sent == 30


def test_a_subscription_is_consent_to_its_list_and_a_withdrawal_ends_it(mailgun, django_capture_on_commit_callbacks):
    partner = make_organisation(slug="we-own-it", name="We Own It", kind="partner")
    news, people = audience(2)
    # Opted in to a partner only, and subscribed to the host's list: the list is what they asked for.
    make_supporter("list-only@example.org", organisation=partner, subscribed_to=news)
    # Subscribed, then withdrew from the host: its lists went off with it.
    later = make_supporter("later@example.org", subscribed_to=news)
    consent_record(supporter=later, organisation=news.organisation, given=False, wording="Stop", source="test")
    assert Subscription.objects.get(supporter=later, mailing_list=news).status == Subscription.Status.UNSUBSCRIBED
    start(make_mailing(mailing_list=news), django_capture_on_commit_callbacks)
    sent = copies_by_address(mailgun)
    assert sent == {p.email: 1 for p in people} | {"list-only@example.org": 1}