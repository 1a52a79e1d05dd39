"""Every organiser action issue 13 lists leaves its audit row, done as an organiser does it (the
workspace's pages, the admin's actions), with who, which organisation, what, the object and the
counts or filters; and a rolled-back action leaves none.

The rollback proofs write the row for real and then fail (the module's audit_record is wrapped
to raise after writing): the row goes only because the action's transaction rolls back, so it
shows the row is inside that transaction, not after it.

Not audited, by design: the figure tables' CSVs (figures only, no personal data) and the partner
API's reads (petitions.views.partner_api: a key, not an organiser)."""

import csv
import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from engage import audit as audit_module
from engage.models import AuditEvent, OrganisationMember, SubscriberImport, Supporter
from engage.services.imports import subscriber_import_run
from mailings.models import Delivery, Mailing
from mailings.services.sending import mailing_start
from petitions.models import Petition, PetitionUpdate, Signature
from petitions.services import updates
from tests.organise.accounts_support import make_person
from tests.support.factories import (
    make_list,
    make_mailing,
    make_message,
    make_organisation,
    make_partner,
    make_petition,
    make_segment,
    make_sender,
    make_signature,
    make_supporter,
    suppress,
)

pytestmark = pytest.mark.django_db
Role = OrganisationMember.Role


def rows(action=None):
    # Logging the test's users in is audited too (login.*): those rows are not these tests' subject.
    found = AuditEvent.objects.exclude(action__startswith="login.").order_by("id")
    return list(found.filter(action=action) if action else found)


def one(action):
    found = rows(action)
    assert len(found) == 1, (action, [r.action for r in rows()])
    return found[0]


class Boom(RuntimeError):
    pass


def fail_after_writing(module: str):
    """Patch `module`'s audit_record: write the row, then fail, as a later step would."""
    real = audit_module.audit_record

    def write_then_fail(**kwargs):
        real(**kwargs)
        assert AuditEvent.objects.filter(action=kwargs["action"]).exists()  # it was written
        raise Boom("after the audit row")

    return mock.patch(f"{module}.audit_record", side_effect=write_then_fail)


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def host():
    return make_organisation()


@pytest.fixture
def organiser(client, host):
    user = make_person("maya", organisation=host, role=Role.ADMIN)
    user.email = "maya@hct.example"
    user.save()
    client.force_login(user)
    return user


def ws(host, name, **kwargs):
    return reverse(f"organise:{name}", kwargs={"org": host.slug, **kwargs})


def assert_row(row, *, actor, organisation, target=None):
    assert (row.actor, row.actor_name, row.organisation) == (actor, actor.get_username(), organisation)
    if target is not None:
        assert (row.target_type, row.target_id) == (target._meta.label_lower, str(target.pk))


# --- Exports, erasures and a person's data (organise.views.supporters, petitions) ---------------------


def test_the_supporters_csv_records_its_filter_and_its_row_count(client, host, organiser):
    for email, name in (("ada@example.org", "Ada"), ("adam@example.org", "Ada"), ("grace@example.org", "Grace")):
        make_supporter(email, first_name=name, organisation=host)
    response = client.get(ws(host, "supporters_csv"), {"q": "Grace", "field": "name"})
    assert response.status_code == 200
    lines = csv_rows(response)
    row = one("export.supporters")
    assert_row(row, actor=organiser, organisation=host)
    assert row.details == {"filter": {"q": "Grace", "field": "name"}, "rows": len(lines) - 1} and len(lines) == 2
    everyone = csv_rows(client.get(ws(host, "supporters_csv")))
    assert rows("export.supporters")[1].details == {"filter": {"q": "", "field": ""}, "rows": len(everyone) - 1}
    assert len(everyone) - 1 == 3
    # A filter that is an address is kept as what it was, not the address.
    csv_rows(client.get(ws(host, "supporters_csv"), {"q": "ada@example.org", "field": "email"}))
    latest = rows("export.supporters")[2]
    assert latest.details["filter"] == {"q": "(an email address)", "field": "email"} and latest.details["rows"] == 1


def test_a_partners_supporters_csv_is_recorded_for_the_partner_with_its_count(client, host):
    partner = make_partner()
    person = make_person("pat", organisation=partner)
    client.force_login(person)
    for email in ("ada@example.org", "bob@example.org"):
        make_supporter(email, organisation=partner)
    make_supporter("host-only@example.org", organisation=host)  # not the partner's
    lines = csv_rows(client.get(ws(partner, "supporters_csv")))
    row = one("export.supporters")
    assert_row(row, actor=person, organisation=partner)
    assert row.details == {"filter": {"q": "", "field": ""}, "rows": 2} and len(lines) == 3


def test_a_persons_data_download_and_erasure_are_recorded_by_id_only(client, host, organiser):
    ada = make_supporter("ada@example.org", organisation=host)
    assert client.get(ws(host, "supporter_export", pk=ada.pk)).status_code == 200
    row = one("export.person_data")
    assert_row(row, actor=organiser, organisation=host)
    assert (row.target_type, row.target_id, row.target_name) == ("engage.supporter", str(ada.pk), "")
    assert client.post(ws(host, "supporter_erase", pk=ada.pk), {"confirm": "yes"}).status_code == 302
    assert not Supporter.objects.filter(pk=ada.pk).exists()
    erased = one("supporter.erased")
    assert_row(erased, actor=organiser, organisation=host)
    assert (erased.target_type, erased.target_id, erased.target_name) == ("engage.supporter", str(ada.pk), "")
    assert "ada@" not in str([(r.target_name, r.details) for r in rows()])  # the log does not keep the address
    # Unconfirmed (no tick): nothing erased, nothing recorded.
    grace = make_supporter("grace@example.org", organisation=host)
    assert client.post(ws(host, "supporter_erase", pk=grace.pk), {}).status_code == 400
    assert len(rows("supporter.erased")) == 1


def test_an_erasure_or_a_download_that_fails_leaves_no_row(client, host, organiser):
    ada = make_supporter("ada@example.org", organisation=host)
    with fail_after_writing("engage.services.erasure"), pytest.raises(Boom):
        client.post(ws(host, "supporter_erase", pk=ada.pk), {"confirm": "yes"})
    assert Supporter.objects.filter(pk=ada.pk).exists() and not rows()  # the erasure rolled back with its row
    with fail_after_writing("organise.views.supporters"), pytest.raises(Boom):
        client.get(ws(host, "supporter_export", pk=ada.pk))
    with fail_after_writing("organise.views.supporters"), pytest.raises(Boom):
        client.get(ws(host, "supporters_csv"))
    assert not rows()


def test_the_handin_csv_records_its_petition_and_row_count_in_the_workspace_and_the_admin(
    client, admin_client, admin_user, host, organiser
):
    petition = make_petition(organisation=host)
    for email in ("ada@example.org", "bob@example.org"):
        make_signature(petition=petition, email=email, confirm=True)
    make_signature(petition=petition, email="pending@example.org")  # not confirmed: not in the file
    response = client.get(ws(host, "petition-handin", slug=petition.slug))
    assert response.status_code == 200 and len(csv_rows(response)) == 3
    row = one("export.handin")
    assert_row(row, actor=organiser, organisation=host, target=petition)
    assert row.details == {"rows": 2}
    exported = admin_client.post("/admin/petitions/petition/", {"action": "export_handin_csv", "_selected_action": [petition.pk]})
    assert exported.status_code == 200 and len(csv_rows(exported)) == 3
    admin_row = rows("export.handin")[1]
    assert_row(admin_row, actor=admin_user, organisation=host, target=petition)
    assert admin_row.details == {"rows": 2, "where": "admin"}
    with fail_after_writing("organise.views.petitions"), pytest.raises(Boom):
        client.get(ws(host, "petition-handin", slug=petition.slug))
    with fail_after_writing("petitions.admin"), pytest.raises(Boom):
        admin_client.post("/admin/petitions/petition/", {"action": "export_handin_csv", "_selected_action": [petition.pk]})
    assert len(rows("export.handin")) == 2


def test_the_admins_list_export_is_recorded_per_list_with_its_row_count(admin_client, admin_user, host):
    news = make_list(slug="news", organisation=host)
    for email in ("ada@example.org", "bob@example.org", "bounced@example.org"):
        make_supporter(email, organisation=host, subscribed_to=news)
    make_supporter("left@example.org", organisation=host, unsubscribed_from=news)
    suppress("bounced@example.org")
    response = admin_client.post("/admin/engage/mailinglist/", {"action": "export_subscribers_csv", "_selected_action": [news.pk]})
    assert len(csv_rows(response)) == 3
    row = one("export.subscribers")
    assert_row(row, actor=admin_user, organisation=host, target=news)
    assert row.details == {"rows": 2, "where": "admin"}
    with fail_after_writing("engage.admin.lists"), pytest.raises(Boom):
        admin_client.post("/admin/engage/mailinglist/", {"action": "export_subscribers_csv", "_selected_action": [news.pk]})
    assert len(rows("export.subscribers")) == 1


# --- Imports (engage.admin.imports, engage.services.imports) ------------------------------------------


def _upload(admin_client, news, data: bytes):
    form = {
        "file": SimpleUploadedFile("export.csv", data, content_type="text/csv"), "encoding": "utf-8",
        "mailing_list": news.pk, "consent_wording": "Keep me posted", "consent_given_at_0": "2019-03-01",
        "consent_given_at_1": "10:00:00",
    }
    response = admin_client.post("/admin/engage/subscriberimport/add/", form)
    assert response.status_code == 302, response.content.decode()[:500]
    return SubscriberImport.objects.get(), response["Location"]


def test_an_import_records_who_started_it_on_which_list_and_its_counts(
    admin_client, admin_user, host, django_capture_on_commit_callbacks
):
    news = make_list(slug="news", organisation=host)
    make_supporter("old@example.org", organisation=host, subscribed_to=news)
    subscriber_import, columns = _upload(admin_client, news, b"Email\nada@example.org\nold@example.org\nnot-an-address\n")
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(columns, {"email": "Email"}).status_code == 302
    subscriber_import.refresh_from_db()
    assert subscriber_import.status == SubscriberImport.Status.DONE
    queued, finished = one("import.queued"), one("import.finished")
    for row in (queued, finished):
        assert_row(row, actor=admin_user, organisation=host, target=subscriber_import)
    assert queued.details == {"mailing_list": news.pk, "file_name": "export.csv", "columns": ["email"]}
    assert finished.details == {
        "mailing_list": news.pk, "total_rows": 3, "new_supporters": 1, "subscribed": 1, "already_subscribed": 1,
        "skipped": 1, "problems": 1,
    }
    assert (subscriber_import.subscribed, subscriber_import.already_subscribed, subscriber_import.skipped) == (1, 1, 1)


def test_an_import_whose_queueing_or_finish_fails_leaves_no_row(admin_client, host, django_capture_on_commit_callbacks):
    news = make_list(slug="news", organisation=host)
    subscriber_import, columns = _upload(admin_client, news, b"Email\nada@example.org\n")
    with fail_after_writing("engage.services.imports"), pytest.raises(Boom):
        admin_client.post(columns, {"email": "Email"})
    subscriber_import.refresh_from_db()
    assert subscriber_import.status == SubscriberImport.Status.UPLOADED and not rows()
    # Queued for real; the run's last step (marking it done, with its row) fails.
    with django_capture_on_commit_callbacks(execute=False):
        assert admin_client.post(columns, {"email": "Email"}).status_code == 302
    real = audit_module.audit_record

    def fail_on_finish(**kwargs):
        real(**kwargs)
        raise Boom("after the finish's row")

    with mock.patch("engage.services.imports.audit_record", side_effect=fail_on_finish), pytest.raises(Boom):
        subscriber_import_run(import_id=subscriber_import.pk)
    subscriber_import.refresh_from_db()
    assert subscriber_import.status != SubscriberImport.Status.DONE
    assert [r.action for r in rows()] == ["import.queued"]


# --- Mailings (organise.views.mailings, mailings.admin, mailings.services.compose) ---------------------


@pytest.fixture
def mailing(host):
    news = make_list(slug="news", name="Coalition news", organisation=host)
    for i in range(4):
        make_supporter(f"p{i}@example.org", first_name=f"P{i}", subscribed_to=news, organisation=host)
    sender = make_sender(organisation=host)
    message = make_message(sender=sender)
    return make_mailing(message=message, segment=make_segment(), mailing_list=news)


def mail_url(host, mailing, name, **kwargs):
    return ws(host, name.removeprefix("organise:"), pk=mailing.pk, **kwargs)


def test_a_test_send_is_recorded_in_the_workspace_and_the_admin(client, admin_client, admin_user, host, organiser, mailing):
    message = mailing.message
    fields = {"sender": message.sender.pk, "subject": "Friday", "preheader": "", "body": "Come.", "action": "test"}
    assert client.post(mail_url(host, mailing, "organise:mailing_message"), fields).status_code == 303
    row = one("mailing.test_sent")
    assert_row(row, actor=organiser, organisation=host, target=message)
    assert row.details == {"as_supporter": None, "mailing_list": mailing.mailing_list_id}
    response = admin_client.post(reverse("admin:mailings_message_test_send", args=[message.pk]))
    assert response.status_code == 302
    assert_row(rows("mailing.test_sent")[1], actor=admin_user, organisation=host, target=message)


def test_a_test_send_the_esp_refuses_leaves_no_row(client, host, organiser, mailing):
    fields = {"sender": mailing.message.sender.pk, "subject": "Friday", "preheader": "", "body": "Come.", "action": "test"}
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=OSError("ESP down")):
        assert client.post(mail_url(host, mailing, "organise:mailing_message"), fields).status_code == 400
    with fail_after_writing("mailings.services.compose"), pytest.raises(Boom):
        client.post(mail_url(host, mailing, "organise:mailing_message"), fields)
    assert not rows()


def test_send_now_schedule_and_unschedule_are_recorded(client, host, organiser, mailing, django_capture_on_commit_callbacks):
    at = timezone.localtime() + timedelta(days=2)
    scheduled = client.post(mail_url(host, mailing, "organise:mailing_schedule"),
                            {"at": at.strftime("%Y-%m-%dT%H:%M"), "expected": "4"})
    assert scheduled.status_code == 303
    row = one("mailing.scheduled")
    assert_row(row, actor=organiser, organisation=host, target=mailing)
    assert row.details == {"at": at.replace(second=0, microsecond=0).isoformat()}
    assert client.post(mail_url(host, mailing, "organise:mailing_action", action="unschedule")).status_code == 303
    assert_row(one("mailing.unscheduled"), actor=organiser, organisation=host, target=mailing)
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(mail_url(host, mailing, "organise:mailing_send"), {"expected": "4"}).status_code == 303
    assert_row(one("mailing.sent"), actor=organiser, organisation=host, target=mailing)
    mailing_start(mailing_id=mailing.pk)
    # Refused (already sending): no second row.
    assert client.post(mail_url(host, mailing, "organise:mailing_send"), {"expected": "4"}).status_code in (400, 409)
    assert len(rows("mailing.sent")) == 1


@pytest.fixture
def sending(mailing, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        mailing_start(mailing_id=mailing.pk)
    mailing.refresh_from_db()
    assert mailing.status == Mailing.Status.SENDING
    return mailing


def test_pause_resume_and_cancel_are_recorded(client, host, organiser, sending, django_capture_on_commit_callbacks):
    assert client.post(mail_url(host, sending, "organise:mailing_action", action="pause")).status_code == 303
    assert client.post(mail_url(host, sending, "organise:mailing_action", action="pause")).status_code == 409
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(mail_url(host, sending, "organise:mailing_action", action="resume")).status_code == 303
    assert client.post(mail_url(host, sending, "organise:mailing_action", action="cancel")).status_code == 200  # asks
    assert not rows("mailing.cancelled")
    assert client.post(mail_url(host, sending, "organise:mailing_action", action="cancel"), {"confirm": "yes"}).status_code == 303
    assert [r.action for r in rows()] == ["mailing.paused", "mailing.resumed", "mailing.cancelled"]
    for row in rows():
        assert_row(row, actor=organiser, organisation=host, target=sending)
    assert one("mailing.cancelled").details == {"deliveries_cancelled": 4}


def test_resending_and_dropping_unknowns_are_recorded_with_their_counts(
    client, host, organiser, sending, django_capture_on_commit_callbacks
):
    first, second, *rest = Delivery.objects.filter(mailing=sending).order_by("id")
    Delivery.objects.filter(pk__in=[first.pk, second.pk]).update(status=Delivery.Status.UNKNOWN)
    Delivery.objects.filter(pk__in=[d.pk for d in rest]).update(status=Delivery.Status.SENT, sent_at=timezone.now())
    Mailing.objects.filter(pk=sending.pk).update(status=Mailing.Status.SENT, finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(mail_url(host, sending, "organise:mailing_action", action="resend-unknown")).status_code == 303
    assert one("mailing.unknown_resent").details == {"deliveries": 2}
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.UNKNOWN)
    assert client.post(mail_url(host, sending, "organise:mailing_action", action="drop-unknown")).status_code == 303
    dropped = one("mailing.unknown_dropped")
    assert_row(dropped, actor=organiser, organisation=host, target=sending)
    assert dropped.details == {"deliveries": 1}


def test_the_admins_mailing_actions_are_recorded(admin_client, admin_user, host, mailing, django_capture_on_commit_callbacks):
    def act(action, **data):
        return admin_client.post(reverse("admin:mailings_mailing_action", args=[mailing.pk, action]), data)

    at = timezone.localtime() + timedelta(days=3)
    assert act("schedule", date=at.strftime("%Y-%m-%d"), time=at.strftime("%H:%M:00")).status_code == 302
    assert act("unschedule").status_code == 302
    with django_capture_on_commit_callbacks(execute=False):
        assert act("send").status_code == 302
    with django_capture_on_commit_callbacks(execute=False):
        mailing_start(mailing_id=mailing.pk)
    assert act("pause").status_code == 302
    with django_capture_on_commit_callbacks(execute=False):
        assert act("resume").status_code == 302
    assert act("cancel").status_code == 302
    assert [r.action for r in rows()] == [
        "mailing.scheduled", "mailing.unscheduled", "mailing.sent", "mailing.paused", "mailing.resumed", "mailing.cancelled",
    ]
    for row in rows():
        assert_row(row, actor=admin_user, organisation=host, target=mailing)


@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_a_mailing_action_that_rolls_back_leaves_no_row_and_no_change(client, host, organiser, sending, action):
    with fail_after_writing("mailings.services.compose"), pytest.raises(Boom):
        client.post(mail_url(host, sending, "organise:mailing_action", action=action), {"confirm": "yes"})
    sending.refresh_from_db()
    assert sending.status == Mailing.Status.SENDING and not rows()
    assert not Delivery.objects.filter(mailing=sending, status=Delivery.Status.CANCELLED).exists()


def test_a_send_or_schedule_that_rolls_back_leaves_no_row_and_a_draft(client, host, organiser, mailing):
    at = timezone.localtime() + timedelta(days=2)
    with fail_after_writing("mailings.services.compose"), pytest.raises(Boom):
        client.post(mail_url(host, mailing, "organise:mailing_send"), {"expected": "4"})
    with fail_after_writing("mailings.services.compose"), pytest.raises(Boom):
        client.post(mail_url(host, mailing, "organise:mailing_schedule"), {"at": at.strftime("%Y-%m-%dT%H:%M"), "expected": "4"})
    mailing.refresh_from_db()
    assert (mailing.status, mailing.scheduled_at) == (Mailing.Status.DRAFT, None) and not rows()


# --- Petitions: opened, closed, handed in (petitions.admin, petitions.services.lifecycle) -------------


def test_publishing_closing_and_handing_in_are_recorded(admin_client, admin_user, host):
    petition = make_petition(organisation=host, status=Petition.Status.DRAFT)
    for action in ("publish", "close", "mark_handed_in"):
        response = admin_client.post("/admin/petitions/petition/", {"action": action, "_selected_action": [petition.pk]})
        assert response.status_code == 302, action
    petition.refresh_from_db()
    assert petition.status == Petition.Status.HANDED_IN
    assert [(r.action, r.details) for r in rows()] == [
        ("petition.opened", {"from": "draft", "to": "open"}),
        ("petition.closed", {"from": "open", "to": "closed"}),
        ("petition.handed_in", {"from": "closed", "to": "handed_in"}),
    ]
    for row in rows():
        assert_row(row, actor=admin_user, organisation=host, target=petition)


def test_the_deadline_closing_a_petition_names_nobody(host):
    from petitions.services.lifecycle import petitions_close_due

    petition = make_petition(organisation=host)
    Petition.objects.filter(pk=petition.pk).update(closes_at=timezone.now() - timedelta(minutes=1))
    assert petitions_close_due() == 1 and not rows()


def test_a_status_change_that_rolls_back_leaves_no_row(admin_client, host):
    petition = make_petition(organisation=host, status=Petition.Status.DRAFT)
    with fail_after_writing("petitions.services.lifecycle"), pytest.raises(Boom):
        admin_client.post("/admin/petitions/petition/", {"action": "publish", "_selected_action": [petition.pk]})
    petition.refresh_from_db()
    assert (petition.status, petition.opened_at) == (Petition.Status.DRAFT, None) and not rows()


# --- Petition updates (organise.views.updates, petitions.services.updates) ----------------------------

UPDATE = {"kind": "response", "title": "The minister replied", "body": "She says **no**."}


@pytest.fixture
def petition(host):
    make_sender(organisation=host)
    return make_petition(organisation=host)


def up(host, petition, name, **kwargs):
    return ws(host, name, slug=petition.slug, **kwargs)


def test_an_update_published_withdrawn_restored_and_emailed_is_recorded(
    client, host, organiser, petition, django_capture_on_commit_callbacks
):
    for email in ("ada@example.org", "bob@example.org"):
        make_signature(petition=petition, email=email, updates_opt_in=True, confirm=True)
    assert client.post(up(host, petition, "petition_update_new"), UPDATE).status_code == 302
    update = PetitionUpdate.objects.get()
    assert client.post(up(host, petition, "petition_update_withdraw", pk=update.pk)).status_code == 302
    assert client.post(up(host, petition, "petition_update_withdraw", pk=update.pk), {"restore": "1"}).status_code == 302
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(up(host, petition, "petition_update_email", pk=update.pk), {"expected": "2"})
    assert response.status_code in (302, 303)
    update.refresh_from_db()
    assert update.mailing_id is not None
    actions = [r.action for r in rows()]
    assert actions == [
        "petition_update.published", "petition_update.withdrawn", "petition_update.restored", "mailing.sent",
        "petition_update.emailed",
    ]
    for row in rows():
        assert_row(row, actor=organiser, organisation=host)
    assert one("petition_update.published").details == {"petition": petition.slug, "kind": "response"}
    assert one("petition_update.emailed").details == {"petition": petition.slug, "mailing": update.mailing_id, "recipients": 2}
    assert (one("petition_update.emailed").target_type, one("mailing.sent").target_id) == (
        "petitions.petitionupdate", str(update.mailing_id),
    )


def test_an_update_action_that_rolls_back_leaves_no_row(client, host, organiser, petition):
    make_signature(petition=petition, email="ada@example.org", updates_opt_in=True, confirm=True)
    with fail_after_writing("petitions.services.updates"), pytest.raises(Boom):
        client.post(up(host, petition, "petition_update_new"), UPDATE)
    assert not PetitionUpdate.objects.exists() and not rows()
    update = updates.petition_update_publish(petition=petition, **UPDATE)  # no organiser named: no row
    assert not rows()
    with fail_after_writing("petitions.services.updates"), pytest.raises(Boom):
        client.post(up(host, petition, "petition_update_withdraw", pk=update.pk))
    update.refresh_from_db()
    assert update.withdrawn_at is None and not rows()
    with fail_after_writing("petitions.services.updates"), pytest.raises(Boom):
        client.post(up(host, petition, "petition_update_email", pk=update.pk), {"expected": "1"})
    update.refresh_from_db()
    assert update.mailing_id is None and not Mailing.objects.exists() and not rows()


# --- Held signatures (organise.views.held, petitions.admin) -------------------------------------------


@pytest.fixture
def held(host):
    petition = make_petition(organisation=host)
    other = make_petition(organisation=host, slug="save-our-surgery", title="Save our surgery")
    signatures = [
        make_signature(petition=petition, email=f"h{i}@example.org", ip="203.0.113.9",
                       hold_reason=Signature.HoldReason.RATE_LIMIT)
        for i in range(3)
    ]
    signatures.append(make_signature(petition=other, email="t@example.org", hold_reason=Signature.HoldReason.HONEYPOT))
    assert all(s.status == Signature.Status.HELD for s in signatures)
    return petition, other, signatures


def test_releasing_and_invalidating_held_signatures_is_recorded_per_petition(
    client, host, organiser, held, django_capture_on_commit_callbacks
):
    petition, other, (a, b, c, d) = held
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(ws(host, "held_review"), {"action": "release", "signature": [a.pk, b.pk, d.pk]})
    assert response.status_code == 302
    released = rows("signatures.released")
    assert [(r.target_id, r.details) for r in released] == [
        (str(petition.pk), {"signatures": 2}), (str(other.pk), {"signatures": 1}),
    ]
    for row in released:
        assert_row(row, actor=organiser, organisation=host)
    assert client.post(ws(host, "held_review"), {"action": "invalidate", "signature": [c.pk]}).status_code == 302
    invalidated = one("signatures.invalidated")
    assert_row(invalidated, actor=organiser, organisation=host, target=petition)
    assert invalidated.details == {"signatures": 1}


def test_the_admins_release_and_invalidate_are_recorded(admin_client, admin_user, host, held, django_capture_on_commit_callbacks):
    petition, other, (a, b, c, d) = held
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post("/admin/petitions/signature/", {"action": "release", "_selected_action": [a.pk]})
    admin_client.post("/admin/petitions/signature/", {"action": "invalidate", "_selected_action": [b.pk, c.pk, d.pk]})
    assert [(r.action, r.target_id, r.details) for r in rows()] == [
        ("signatures.released", str(petition.pk), {"signatures": 1}),
        ("signatures.invalidated", str(petition.pk), {"signatures": 2}),
        ("signatures.invalidated", str(other.pk), {"signatures": 1}),
    ]
    for row in rows():
        assert_row(row, actor=admin_user, organisation=host)


@pytest.mark.parametrize("action", ["release", "invalidate"])
def test_a_review_that_rolls_back_leaves_no_row_and_the_signatures_held(client, admin_client, host, organiser, held, action):
    _petition, _other, signatures = held
    ids = [s.pk for s in signatures]
    with fail_after_writing("petitions.services.signing"), pytest.raises(Boom):
        client.post(ws(host, "held_review"), {"action": action, "signature": ids})
    with fail_after_writing("petitions.services.signing"), pytest.raises(Boom):
        admin_client.post("/admin/petitions/signature/", {"action": action, "_selected_action": ids})
    assert set(Signature.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Signature.Status.HELD}
    assert not rows()


def test_every_recorded_kind_has_a_name_on_the_audit_page():
    from organise.views.audit import KINDS

    kinds = {
        "export.supporters", "export.subscribers", "export.person_data", "export.handin", "supporter.erased", "import.queued",
        "import.finished", "mailing.test_sent", "mailing.sent", "mailing.scheduled", "mailing.unscheduled",
        "mailing.paused", "mailing.resumed", "mailing.cancelled", "mailing.unknown_resent", "mailing.unknown_dropped",
        "petition.opened", "petition.closed", "petition.handed_in", "petition_update.published",
        "petition_update.withdrawn", "petition_update.restored", "petition_update.emailed", "signatures.released",
        "signatures.invalidated",
    }
    assert kinds <= set(KINDS)


def test_members_added_given_a_role_and_removed_in_the_admin_are_audited(client, host):
    from django.contrib.auth import get_user_model

    superuser = get_user_model().objects.create_superuser("root", "root@hct.example", "pw")
    client.force_login(superuser)
    sam = get_user_model().objects.create_user("sam", "sam@hct.example", "pw")
    url = f"/admin/engage/organisation/{host.pk}/change/"

    def form(members):
        data = {
            "name": host.name, "slug": host.slug, "kind": host.kind, "website": "", "logo_url": "", "allowed_origins": "",
            "people-TOTAL_FORMS": len(members), "people-INITIAL_FORMS": sum(1 for m in members if m.get("id")),
            "people-MIN_NUM_FORMS": 0, "people-MAX_NUM_FORMS": 1000,
            "api_keys-TOTAL_FORMS": 0, "api_keys-INITIAL_FORMS": 0, "api_keys-MIN_NUM_FORMS": 0, "api_keys-MAX_NUM_FORMS": 1000,
        }  # fmt: skip
        for index, member in enumerate(members):
            data.update({f"people-{index}-{key}": value for key, value in member.items()})
        return data

    answer = client.post(url, form([{"user": sam.pk, "role": "viewer", "organisation": host.pk}]))
    assert answer.status_code == 302, answer.content[:3000]
    member = OrganisationMember.objects.get(user=sam, organisation=host)
    added = one("member.added")
    assert_row(added, actor=superuser, organisation=host)
    assert added.details == {"role": "viewer", "where": "admin"}

    client.post(url, form([{"id": member.pk, "user": sam.pk, "role": "organiser", "organisation": host.pk}]))
    assert one("role.changed").details == {"from": "viewer", "to": "organiser", "where": "admin"}

    client.post(url, form([{"id": member.pk, "user": sam.pk, "role": "organiser", "organisation": host.pk, "DELETE": "on"}]))
    assert not OrganisationMember.objects.filter(pk=member.pk).exists()
    assert one("member.removed").details == {"role": "organiser", "where": "admin"}
