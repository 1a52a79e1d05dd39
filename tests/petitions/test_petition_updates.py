"""Petition updates (docs/design.md, "Petition updates"): the unticked box "Email me updates
about this petition" on every sign form and in the API, recorded in the ledgers only once the
signature is confirmed; the petition's hidden updates list; an emailed update reaching exactly
those who asked (and are not suppressed, nor withdrawn since), once, with an unsubscribe link
that leaves that list; and the updates on the petition's page, newest first, sanitised."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from engage import links
from engage.models import Consent, MailingList, Subscription, SubscriptionEvent, Supporter
from engage.services.subscriptions import unsubscribe
from mailings.models import Delivery, Mailing
from mailings.services.sending import mailing_start
from petitions.kiosk import kiosk_url
from petitions.models import PetitionUpdate, Signature
from petitions.services import updates
from petitions.services.signing import signature_confirm
from tests.support.base import MusterTestCase
from tests.support.factories import make_sender, make_signature, make_supporter, sign_data, suppress
from tests.support.web import SIGNATURE_CONFIRM_LINK, path_of

WORDING = "Email me updates about this petition"
BOX = re.compile(r'<input type="checkbox" name="updates_opt_in"[^>]*>')


class UpdatesTestCase(MusterTestCase):
    def signer(self, email, *, updates_opt_in=True, confirm=True, **extra) -> Supporter:
        signature = make_signature(
            petition=self.petition, email=email, updates_opt_in=updates_opt_in, confirm=confirm, **extra
        )
        return Supporter.objects.get(pk=signature.supporter_id)

    def updates_list(self):
        return updates.updates_list(petition=self.petition, create=False)


class TheBoxTests(UpdatesTestCase):
    def test_it_is_on_the_petition_page_the_embed_and_the_kiosk_unticked(self):
        pages = [
            self.petition.get_absolute_url(),
            f"/embed/{self.petition.slug}/",
            path_of(kiosk_url(petition=self.petition, stall="market-square")),
        ]
        for page in pages:
            html = self.client.get(page).content.decode()
            (box,) = BOX.findall(html)
            self.assertNotIn("checked", box, page)
            box_id = re.search(r'id="([^"]+)"', box).group(1)
            self.assertRegex(html, rf'<label for="{box_id}">{WORDING}</label>', page)

    def test_ticked_and_confirmed_subscribes_to_the_updates_list_and_nothing_more(self):
        self.sign(updates_opt_in="on")
        signature = Signature.objects.get()
        self.assertEqual(signature.opt_ins_pending[0]["wording"], WORDING)
        self.assertIsNone(self.updates_list(), "no list, nor anything on it, before the link proves the address")
        self.assertFalse(Subscription.objects.exists())
        self.assertFalse(Consent.objects.exists())

        confirm_path = SIGNATURE_CONFIRM_LINK.search(mail.outbox[-1].body).group(1)
        self.post(confirm_path)

        updates_list = self.updates_list()
        self.assertEqual(updates_list.name, "Updates on Scrap the ICP contract")
        self.assertFalse(updates_list.public)
        self.assertEqual(updates_list.organisation, self.host)
        subscription = Subscription.objects.get()
        self.assertEqual((subscription.mailing_list, subscription.status), (updates_list, Subscription.Status.SUBSCRIBED))
        event = SubscriptionEvent.objects.get()
        self.assertEqual((event.wording, event.status, event.source), (WORDING, "subscribed", "petition:scrap-the-icp-contract"))
        # Consent to the updates list alone: nothing says they want the host's other mail.
        self.assertFalse(Consent.objects.exists())

    def test_ticked_but_never_confirmed_records_nothing(self):
        self.sign(updates_opt_in="on")
        self.assertEqual(len(Signature.objects.get().opt_ins_pending), 1)
        self.assertFalse(MailingList.objects.filter(public=False).exists())
        self.assertFalse(Subscription.objects.exists() or SubscriptionEvent.objects.exists() or Consent.objects.exists())
        self.assertEqual(updates.updates_recipients(petition=self.petition).count(), 0)

    def test_left_unticked_nothing_is_pending_and_confirming_subscribes_to_nothing(self):
        self.sign(opt_in="on")  # the host's own box only
        signature = Signature.objects.get()
        self.assertEqual([item.get("kind") for item in signature.opt_ins_pending], [None])
        signature_confirm(signature=signature)
        self.assertFalse(Subscription.objects.exists())
        self.assertIsNone(self.updates_list())

    def test_both_host_and_updates_boxes_write_one_opt_in_and_one_subscription(self):
        ada = self.signer("ada@example.org", opt_in=True)
        self.assertEqual(list(Consent.objects.filter(supporter=ada).values_list("wording", flat=True)), [self.petition.opt_in_wording])
        self.assertEqual(SubscriptionEvent.objects.get(supporter=ada).wording, WORDING)
        self.assertEqual(Subscription.objects.filter(supporter=ada).count(), 1)

    def test_asking_only_for_updates_is_not_consent_to_the_hosts_other_mail(self):
        from mailings.selectors.recipients import recipients_eligible

        ada = self.signer("ada@example.org")
        updates_list = self.updates_list()
        people = Supporter.objects.filter(pk=ada.pk)
        self.assertEqual(list(recipients_eligible(people, organisation=self.host, mailing_list=updates_list)), [ada])
        self.assertEqual(list(recipients_eligible(people, organisation=self.host, mailing_list=None)), [])

    def test_a_second_petitions_box_makes_its_own_list(self):
        from tests.support.factories import make_petition

        other = make_petition(slug="save-our-a-e", title="Save our A&E")
        self.signer("ada@example.org")
        make_signature(petition=other, email="ada@example.org", updates_opt_in=True, confirm=True)
        names = set(MailingList.objects.filter(public=False).values_list("name", flat=True))
        self.assertEqual(names, {"Updates on Scrap the ICP contract", "Updates on Save our A&E"})


class ApiBoxTests(UpdatesTestCase):
    def setUp(self):
        super().setUp()
        self.client = Client(enforce_csrf_checks=True)
        self.url = f"/api/petitions/{self.petition.slug}/signatures"

    def test_true_is_pending_until_confirmed_false_and_absent_are_nothing(self):
        self.host.allowed_origins = "https://healthcampaignstogether.com"
        self.host.save()
        for email, value, expected in [("a@example.org", True, 1), ("b@example.org", False, 0), ("c@example.org", None, 0)]:
            fields = {"email": email} | ({} if value is None else {"updates_opt_in": value})
            response = self.post_json(self.url, {**sign_data(), **fields}, origin="https://healthcampaignstogether.com")
            self.assertEqual(response.status_code, 201, response.content)
            signature = Signature.objects.get(supporter__email=email)
            kinds = [item.get("kind") for item in signature.opt_ins_pending]
            self.assertEqual(kinds.count(updates.PENDING_KIND), expected, email)
        signature_confirm(signature=Signature.objects.get(supporter__email="a@example.org"))
        self.assertEqual(
            list(Subscription.objects.values_list("supporter__email", "mailing_list__name")),
            [("a@example.org", "Updates on Scrap the ICP contract")],
        )
        self.assertIn("via:api", SubscriptionEvent.objects.get().source)

    def test_a_value_that_is_not_true_or_false_is_a_400_naming_the_field_and_nothing_is_stored(self):
        self.host.allowed_origins = "https://healthcampaignstogether.com"
        self.host.save()
        for bad in ["yes", "true", 1, 0, None, [], {}, [True]]:
            response = self.post_json(
                self.url, {**sign_data(), "updates_opt_in": bad}, origin="https://healthcampaignstogether.com"
            )
            self.assertEqual(response.status_code, 400, bad)
            self.assertEqual(response.json()["fields"]["updates_opt_in"], ["Must be true or false."], bad)
        self.assertFalse(Signature.objects.exists() or Supporter.objects.exists())

    def test_the_openapi_document_describes_it(self):
        schema = self.client.get("/api/schema").json()
        field = schema["components"]["schemas"]["SignatureSubmission"]["properties"]["updates_opt_in"]
        self.assertEqual((field["type"], field["default"]), ("boolean", False))


class TheListStaysHiddenTests(UpdatesTestCase):
    def test_it_is_not_offered_on_the_subscribe_page_nor_to_someone_not_on_it(self):
        self.signer("ada@example.org")
        self.assertNotIn("Updates on", self.client.get("/subscribe/").content.decode())
        bob = make_supporter("bob@example.org")
        page = self.client.get(path_of(links.preferences_url(bob))).content.decode()
        self.assertIn("Coalition news", page)
        self.assertNotIn("Updates on Scrap the ICP contract", page)

    def test_a_signer_on_it_sees_it_on_their_preferences_page_and_can_leave_it(self):
        ada = self.signer("ada@example.org")
        updates_list = self.updates_list()
        url = path_of(links.preferences_url(ada))
        page = self.client.get(url).content.decode()
        self.assertIn("Updates on Scrap the ICP contract", page)
        self.assertRegex(page, rf'name="lists" value="{updates_list.pk}" id="list-{updates_list.pk}" checked')
        token = url.rstrip("/").rsplit("/", 1)[1]
        self.post(f"/preferences/{token}/choices", {"organisations": [str(self.host.pk)]})
        self.assertEqual(Subscription.objects.get(supporter=ada).status, Subscription.Status.UNSUBSCRIBED)
        self.assertEqual(updates.updates_recipients(petition=self.petition).count(), 0)


class EmailingTests(UpdatesTestCase):
    def setUp(self):
        super().setUp()
        make_sender(organisation=self.host)
        self.ada = self.signer("ada@example.org")  # asked, confirmed
        self.signer("bob@example.org")  # asked, confirmed, then bounced
        suppress("bob@example.org")
        cat = self.signer("cat@example.org")  # asked, confirmed, then stopped all the host's emails
        unsubscribe(supporter=cat, mailing_list=None, organisation=self.host, wording="Stop", source="test")
        self.signer("dan@example.org", updates_opt_in=False, opt_in=True)  # the host's box only
        self.signer("eve@example.org", confirm=False)  # asked, never confirmed
        invalid = self.signer("fay@example.org")  # asked, confirmed, then invalidated by an organiser
        Signature.objects.filter(supporter=invalid).update(status=Signature.Status.INVALID)
        self.update = updates.petition_update_publish(
            petition=self.petition, kind=PetitionUpdate.Kind.RESPONSE, title="The minister replied",
            body="She says **no**. [Read it](https://example.org/reply)", created_by=self.organiser,
        )

    def start(self, mailing):
        mail.outbox.clear()
        with self.captureOnCommitCallbacks(execute=True):
            mailing_start(mailing_id=mailing.pk)

    def text_for(self, email, address):
        """The plain-text part as `address` receives it: a batch send leaves each recipient's
        values (links, the footer's reason) to the ESP's merge data."""
        values = email.merge_data[address]
        return re.sub(r"\{\{(\w+)\}\}", lambda m: str(values.get(m.group(1), m.group(0))), email.body)

    def test_the_count_is_exactly_those_who_asked_and_can_be_sent_bulk_email(self):
        self.assertEqual(list(updates.updates_recipients(petition=self.petition)), [self.ada])

    def test_the_mailing_on_the_updates_list_reaches_exactly_them_once(self):
        with self.captureOnCommitCallbacks(execute=False):
            mailing = updates.petition_update_email(update=self.update, expected=1, created_by=self.organiser)
        self.update.refresh_from_db()
        self.assertEqual(self.update.mailing, mailing)
        self.assertEqual(mailing.mailing_list, self.updates_list())
        self.assertEqual(mailing.status, Mailing.Status.SCHEDULED)  # sent now: queued to start
        self.assertEqual(mailing.message.subject, "The minister replied")
        self.assertEqual(mailing.message.sender.organisation, self.host)
        self.start(mailing)
        self.assertEqual(list(Delivery.objects.filter(mailing=mailing).values_list("supporter__email", flat=True)), ["ada@example.org"])
        (email,) = mail.outbox
        self.assertEqual((email.to, email.subject), (["ada@example.org"], "The minister replied"))
        text = self.text_for(email, "ada@example.org")
        self.assertIn("She says **no**.", text)
        self.assertIn("https://muster.test/p/scrap-the-icp-contract/", text)
        self.assertIn("You are receiving this because you subscribed to Updates on Scrap the ICP contract.", text)

    def test_emailing_it_twice_sends_once_and_says_so(self):
        with self.captureOnCommitCallbacks(execute=True):
            updates.petition_update_email(update=self.update, expected=1)
        with self.assertRaisesMessage(updates.UpdateAlreadyEmailed, "This update has already been emailed."):
            updates.petition_update_email(update=self.update, expected=1)
        self.assertEqual(Mailing.objects.count(), 1)
        self.assertEqual(Delivery.objects.count(), 1)

    def test_a_number_no_longer_true_makes_nothing_and_says_the_new_one(self):
        with self.assertRaises(updates.RecipientsChanged) as raised:
            updates.petition_update_email(update=self.update, expected=2)
        self.assertEqual(raised.exception.count, 1)
        self.assertFalse(Mailing.objects.exists())
        self.update.refresh_from_db()
        self.assertIsNone(self.update.mailing)

    def test_withdrawn_or_without_a_sender_it_is_not_emailed(self):
        updates.petition_update_withdraw(update=self.update)
        with self.assertRaisesMessage(updates.UpdateError, "withdrawn"):
            updates.petition_update_email(update=self.update, expected=1)
        updates.petition_update_restore(update=self.update)
        self.host.senders.all().delete()
        with self.assertRaisesMessage(updates.UpdateError, "has no sender yet"):
            updates.petition_update_email(update=self.update, expected=1)
        self.assertFalse(Mailing.objects.exists())

    def test_its_unsubscribe_link_leaves_the_updates_list_only(self):
        with self.captureOnCommitCallbacks(execute=False):
            mailing = updates.petition_update_email(update=self.update, expected=1)
        self.start(mailing)
        (email,) = mail.outbox
        text = self.text_for(email, "ada@example.org")
        token = re.search(r"https://muster\.test/unsubscribe/([^/\s]+)/", text).group(1)
        page = self.client.get(f"/unsubscribe/{token}/").content.decode()
        self.assertIn("Unsubscribe me from Updates on Scrap the ICP contract.", page)
        self.post(f"/unsubscribe/{token}/")
        subscription = Subscription.objects.get(supporter=self.ada)
        self.assertEqual(subscription.status, Subscription.Status.UNSUBSCRIBED)
        self.assertEqual(updates.updates_recipients(petition=self.petition).count(), 0)
        # Still a confirmed signer, and whatever they told the host is untouched.
        self.assertEqual(Signature.objects.get(supporter=self.ada).status, Signature.Status.CONFIRMED)
        self.assertEqual(list(Consent.objects.filter(supporter=self.ada, given=False)), [])


class PublicPageTests(UpdatesTestCase):
    def test_the_updates_show_newest_first_with_kind_and_date_and_withdrawn_ones_do_not(self):
        now = timezone.now()
        for days, kind, title in [(10, "hand_in", "Handed in at Downing Street"), (2, "response", "The minister replied"),
                                  (5, "next_action", "Write to your MP")]:
            updates.petition_update_publish(petition=self.petition, kind=kind, title=title, body=f"About {title}.",
                                            published_at=now - timedelta(days=days))
        gone = updates.petition_update_publish(petition=self.petition, kind="news", title="A mistake", body="Oops")
        updates.petition_update_withdraw(update=gone)
        html = self.client.get(self.petition.get_absolute_url()).content.decode()
        titles = re.findall(r'<h3 id="update-\d+">([^<]+)</h3>', html)
        self.assertEqual(titles, ["The minister replied", "Write to your MP", "Handed in at Downing Street"])
        self.assertNotIn("A mistake", html)
        self.assertIn("Response from the target", html)
        self.assertIn((now - timedelta(days=2)).strftime("%-d %B %Y"), html)
        self.assertIn('<h2 id="updates-heading">Updates</h2>', html)

    def test_no_updates_no_section(self):
        self.assertNotIn("updates-heading", self.client.get(self.petition.get_absolute_url()).content.decode())

    def test_markdown_is_rendered_and_sanitised(self):
        updates.petition_update_publish(
            petition=self.petition, kind="news", title="<b>Bold</b> title",
            body='**Big** news <script>alert(1)</script><img src=x onerror=alert(1)> [js](javascript:alert(1)) '
                 "[ok](https://example.org)",
        )
        html = self.client.get(self.petition.get_absolute_url()).content.decode()
        self.assertIn("<strong>Big</strong> news", html)
        self.assertIn("&lt;b&gt;Bold&lt;/b&gt; title", html)
        self.assertNotIn("alert(1)</script>", html)
        self.assertNotIn("<img", html)
        self.assertNotIn("javascript:", html)
        self.assertIn('<a href="https://example.org" rel="noopener noreferrer nofollow">ok</a>', html)

    def test_an_edit_shows_and_is_sanitised_again(self):
        update = updates.petition_update_publish(petition=self.petition, kind="news", title="Draft", body="One")
        updates.petition_update_edit(update=update, kind="next_action", title="Rally", body="Come <script>x</script>*now*")
        update.refresh_from_db()
        self.assertEqual(update.body_html, "<p>Come <em>now</em></p>")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_presses_at_once_make_one_mailing():
    from tests.petitions.test_concurrency import run_concurrently
    from tests.support.factories import make_organisation, make_petition

    host = make_organisation()
    make_sender(organisation=host)
    petition = make_petition(organisation=host)
    make_signature(petition=petition, email="ada@example.org", updates_opt_in=True, confirm=True)
    update = updates.petition_update_publish(petition=petition, kind="news", title="News", body="Hello")
    won = []

    def press(n):
        try:
            won.append(updates.petition_update_email(update=update, expected=1).pk)
        except updates.UpdateAlreadyEmailed:
            pass

    assert run_concurrently(4, press) == []
    assert len(won) == 1 and Mailing.objects.count() == 1
    update.refresh_from_db()
    assert update.mailing_id == won[0]
