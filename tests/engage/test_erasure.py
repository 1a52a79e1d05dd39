"""Erasure: nothing of the person is left in any table; petition counts and geography are
kept; the keyed hash of the address blocks re-subscription (and re-import: test_import)."""

from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.db import models
from django.db.models.functions import Cast

from engage.links import preferences_url
from engage.models import Affiliate, Supporter, Suppression
from engage.services.data_exports import data_export_request
from engage.services.supporters import supporter_details_update
from engage.suppression import email_hash, is_suppressed
from mailings.models import Delivery, OutboundEmail
from petitions.models import Signature
from petitions.services.counts import counts_reconcile
from petitions.services.signing import signature_confirm
from tests.support.base import MusterTestCase
from tests.support.factories import make_mailing, make_signature, sign_data
from tests.support.web import EXPORT_LINK, SIGNUP_CONFIRM_LINK, link_in_last_email, path_of

TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


def personal_models():
    """Every model that links to a supporter or has a text field (where an address, name,
    postcode or IP hash could be), found through the app registry, so a model added later is
    walked too."""
    found = {}
    for model in apps.get_models():
        links = [f for f in model._meta.concrete_fields if f.is_relation and f.related_model is Supporter]
        texts = [f for f in model._meta.concrete_fields if isinstance(f, TEXT_FIELDS) and not f.is_relation]
        if links or texts:
            found[model] = (links, texts)
    return found


class ErasureTests(MusterTestCase):
    """Ada does everything Muster offers; Bea does the same and must keep all of hers."""

    def setUp(self):
        super().setUp()
        self.ada = self.live_a_full_life("ada@example.org", "Augusta", "Lovelace", "S70 2AB", "198.51.100.23")
        self.bea = self.live_a_full_life("bea@example.org", "Charlotte", "Brontesque", "LS1 4AP", "203.0.113.99")
        self.ada_signature = Signature.objects.get(supporter=self.ada)
        self.traces = {
            "ada@example.org", "Lovelace", "Augusta", "S70 2AB", self.ada_signature.ip_hash, self.ada.link_nonce,
        }

    def live_a_full_life(self, email, first_name, last_name, postcode, ip):
        signature = make_signature(
            petition=self.petition, first_name=first_name, last_name=last_name, email=email, postcode=postcode,
            opt_in=True, ip=ip, source="leaflet",
        )
        signature_confirm(signature=signature)
        self.post("/subscribe/", sign_data(email=email, first_name="Ada", last_name=last_name, lists=[self.news.pk]))
        self.client.post(link_in_last_email(SIGNUP_CONFIRM_LINK, to=email), {})
        self.post("/join/", sign_data(
            email=email, last_name=last_name, joining_as="organisation", organisation_name=f"{last_name} Against Cuts",
            organisation_kind="campaign_group",
        ))
        supporter = Supporter.objects.get(email=email)
        supporter_details_update(supporter=supporter, first_name=first_name, last_name=last_name, country="GB", postcode=postcode)
        with self.captureOnCommitCallbacks(execute=True):
            data_export_request(supporter=supporter, requested_by="supporter")
        mailing = make_mailing(name=f"Rally call {email[0]}")
        Delivery.objects.create(mailing=mailing, supporter=supporter, status=Delivery.Status.SENT)
        LogEntry.objects.create(
            user=self.organiser, content_type=ContentType.objects.get_for_model(Supporter),
            object_id=str(supporter.pk), object_repr=str(supporter), action_flag=CHANGE, change_message="[]",
        )
        return supporter

    def erase_from_the_preference_page(self):
        path = path_of(preferences_url(self.ada))
        self.assertContains(self.client.get(f"{path}erase"), "Delete everything we hold about you")
        self.assertTrue(Supporter.objects.filter(pk=self.ada.pk).exists())
        refused = self.client.post(f"{path}erase", {})
        self.assertContains(refused, "Tick the box to confirm.", status_code=400)
        self.assertTrue(Supporter.objects.filter(pk=self.ada.pk).exists())
        response = self.client.post(f"{path}erase", {"understood": "on"})
        self.assertEqual((response.status_code, response["Location"]), (303, "/preferences/erased/"))
        self.assertContains(self.client.get(response["Location"]), "Your data is deleted")
        return path

    def leftovers(self, supporter_pk, traces):
        """(model, field) pairs where anything of the person is still found."""
        found = []
        for model, (links, texts) in personal_models().items():
            for field in links:
                if model._base_manager.filter(**{field.attname: supporter_pk}).exists():
                    found.append((model.__name__, field.name))
            for field in texts:
                rows = model._base_manager.annotate(_text=Cast(field.name, models.TextField()))
                for trace in traces:
                    if trace and rows.filter(_text__icontains=trace).exists():
                        found.append((model.__name__, field.name, trace))
        return found

    def test_the_walk_covers_the_tables_that_hold_people(self):
        walked = {model.__name__ for model in personal_models()}
        for name in ("Supporter", "Consent", "Subscription", "SubscriptionEvent", "SupporterChange", "Signup", "Affiliate",
                     "Membership", "DataExport", "Signature", "OutboundEmail", "Delivery", "LogEntry"):
            self.assertIn(name, walked)
        # Before erasure the walk finds Ada everywhere, so it can fail.
        before = {entry[0] for entry in self.leftovers(self.ada.pk, self.traces)}
        self.assertTrue({"Supporter", "Consent", "Signature", "OutboundEmail", "DataExport", "Delivery", "LogEntry"} <= before)

    def test_erasure_leaves_nothing_of_the_person_and_keeps_counts_and_geography(self):
        counts_before = counts_reconcile()
        confirmed_before = Signature.objects.filter(status=Signature.Status.CONFIRMED).count()
        bea_before = self.leftovers(self.bea.pk, {"bea@example.org", "Charlotte", "Brontesque", "LS1 4AP"})

        self.erase_from_the_preference_page()

        self.assertEqual(self.leftovers(self.ada.pk, self.traces), [])
        # Bea keeps everything.
        self.assertEqual(self.leftovers(self.bea.pk, {"bea@example.org", "Charlotte", "Brontesque", "LS1 4AP"}), bea_before)
        # The signature still counts, with its place, and nobody's name.
        signature = Signature.objects.get(pk=self.ada_signature.pk)
        self.assertEqual(
            (signature.supporter, signature.status, signature.country, signature.postcode_area, signature.ip_hash, signature.source),
            (None, Signature.Status.CONFIRMED, "GB", "S", "", "leaflet"),
        )
        self.assertIsNotNone(signature.anonymised_at)
        self.assertEqual(Signature.objects.filter(status=Signature.Status.CONFIRMED).count(), confirmed_before)
        counts_reconcile()
        self.petition.refresh_from_db()
        self.assertEqual(self.petition.signature_count, confirmed_before)
        self.assertEqual(counts_before, 1)
        # A confirmed affiliation stays the organisation's; a pending one (Ada never confirmed) goes.
        self.assertFalse(Affiliate.objects.filter(name="Lovelace Against Cuts").exists())
        self.assertTrue(Delivery.objects.filter(supporter=None, mailing__name="Rally call a").exists())

    def test_the_suppression_hash_blocks_mail_but_a_new_subscription_is_confirmed(self):
        self.erase_from_the_preference_page()
        suppression = Suppression.objects.get(email_hash=email_hash("ada@example.org"))
        self.assertEqual(suppression.reason, Suppression.Reason.ERASED)
        self.assertTrue(is_suppressed(" ADA@example.org"))
        mail.outbox.clear()
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post("/preferences/", {"email": "ada@example.org"})
        self.assertEqual(mail.outbox, [])
        # She may come back as new: the confirmation she asks for is sent (docs/design.md,
        # "What each suppression stops"), and nothing else is until she confirms.
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post("/subscribe/", sign_data(email="Ada@Example.org", lists=[self.news.pk]))
        self.assertEqual(response.status_code, 303)
        self.assertEqual([m.to for m in mail.outbox], [["ada@example.org"]])
        self.assertTrue(is_suppressed("ada@example.org"))

    def test_links_of_an_erased_person_stop_working(self):
        export_path = link_in_last_email(EXPORT_LINK)
        self.assertEqual(self.client.get(export_path).status_code, 200)
        preferences_path = self.erase_from_the_preference_page()
        self.assertEqual(self.client.get(preferences_path).status_code, 410)
        self.assertEqual(self.client.get(export_path).status_code, 410)
        self.assertFalse(OutboundEmail.objects.filter(to_email="ada@example.org").exists())

    def test_an_organiser_can_erase_from_the_admin_after_confirming(self):
        self.client.force_login(self.organiser)
        changelist = "/admin/engage/supporter/"
        data = {"action": "erase", "_selected_action": [self.ada.pk]}
        page = self.client.post(changelist, data)
        self.assertContains(page, "Yes, erase them")
        self.assertTrue(Supporter.objects.filter(pk=self.ada.pk).exists())
        response = self.client.post(changelist, {**data, "confirmed": "yes"})
        self.assertEqual(response.status_code, 302)
        self.assertEqual(self.leftovers(self.ada.pk, self.traces), [])
        self.assertTrue(is_suppressed("ada@example.org"))
        # Plain deletion, which would skip the suppression and the IP hashes, is not offered.
        self.assertEqual(self.client.get(f"{changelist}{self.bea.pk}/delete/").status_code, 403)
