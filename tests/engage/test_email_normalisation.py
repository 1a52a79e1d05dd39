"""One mailbox, one supporter (docs/design.md, "One supporter per address"): every spelling of
an address normalises to one, whatever is typed; signing, bounces and erasure all meet it."""

import json
import unicodedata

import idna
import pytest
from django.core.exceptions import ValidationError
from hypothesis import assume, given
from hypothesis import strategies as st

from engage.fields import NormalisedEmailField
from engage.models import Supporter, Suppression
from engage.normalise import EMAIL_MAX_LENGTH, email_normalise, email_valid_normalised, normalise_email
from engage.services.erasure import supporter_erase
from engage.suppression import email_hash, is_suppressed
from mailings.models import Delivery, OutboundEmail
from petitions.models import Signature
from tests.support.base import MusterTestCase
from tests.support.factories import make_list, make_mailing

# Django's address check takes Unicode in the domain only.
NFC = "zoe.angstrom@bücher-exämple.org"
NFD = unicodedata.normalize("NFD", NFC)
PUNYCODE = "zoe.angstrom@" + idna.encode("bücher-exämple.org").decode()
SPELLINGS = (NFC, NFD, PUNYCODE, "  Zoe.Angstrom@BÜCHER-EXÄMPLE.ORG.  ")

# Any code point: lone surrogates, combining marks, controls and unassigned ones included.
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=300) | st.builds(
    "{}@{}".format, st.text(ANY_CHAR, max_size=80), st.text(ANY_CHAR, max_size=200)
)
DOMAIN_LABEL = st.text(st.characters(categories=["Ll", "Lu", "Lo", "Mn", "Nd"]), min_size=1, max_size=20)


def normalised_or_refused(value):
    """The normalised address, or None if email_normalise refused it with its ValueError."""
    try:
        return email_normalise(value)
    except ValueError as error:
        assert str(error)  # a message for the person, never an empty one
        return None


def test_the_spellings_of_one_address_normalise_to_one():
    assert len({NFC, NFD, PUNYCODE}) == 3
    assert {email_normalise(spelling) for spelling in SPELLINGS} == {NFC}
    assert len({email_hash(spelling) for spelling in SPELLINGS}) == 1


def test_a_domain_that_idna_2003_would_send_elsewhere_is_kept_in_ascii():
    # IDNA 2003 maps ß to ss: "straße.de" would be sent to strasse.de, another domain.
    ascii_form = "ada@" + idna.encode("straße.de").decode()
    assert email_normalise("Ada@Straße.de") == email_normalise(ascii_form) == ascii_form


@pytest.mark.parametrize(
    "value, message",
    [
        ("ada@xn--zz.org", "not a domain name"),
        ("ada@" + "a" * 64 + ".org", "not a domain name"),
        ("ada@", "like name@example.com"),
        ("@example.org", "like name@example.com"),
        ("a" * 243 + "@example.org", "too long"),
    ],
)
def test_it_refuses_what_cannot_be_stored_with_a_message(value, message):
    with pytest.raises(ValueError, match=message):
        email_normalise(value)
    with pytest.raises(ValidationError):
        email_valid_normalised(value)


def test_the_length_is_checked_after_normalising():
    # 306 characters typed in NFD are 246 stored: accepted. "İ" lower-cases to two characters.
    composed = "a" * 180 + "@" + "é" * 30 + "." + "é" * 30 + ".org"
    assert len(unicodedata.normalize("NFD", composed)) > EMAIL_MAX_LENGTH >= len(composed)
    assert email_valid_normalised(unicodedata.normalize("NFD", composed)) == composed
    growing = "İ" * 125 + "@ex.org"
    assert len(growing) <= EMAIL_MAX_LENGTH < len(growing.lower())
    with pytest.raises(ValueError, match="too long"):
        email_normalise(growing)


@given(ANY_TEXT)
def test_arbitrary_text_is_normalised_or_refused_with_the_documented_error(value):
    normalised = normalised_or_refused(value)
    normalise_email(value)  # the lenient spelling for look-ups never raises
    if normalised is not None:
        assert len(normalised) <= EMAIL_MAX_LENGTH
        assert email_normalise(normalised) == normalised


@given(ANY_TEXT | st.emails())
def test_a_form_refuses_with_a_message_or_accepts_what_fits_the_column(value):
    try:
        address = NormalisedEmailField().clean(value)
    except ValidationError as error:
        assert all(error.messages)
        return
    assert len(address) <= EMAIL_MAX_LENGTH
    assert email_normalise(address) == address
    address.encode("utf-8")  # storable


@given(st.emails())
def test_normalising_is_idempotent_and_fits_the_column(value):
    normalised = normalised_or_refused(value)
    if normalised is not None:
        assert email_normalise(normalised) == normalised
        assert len(normalised) <= EMAIL_MAX_LENGTH
        assert unicodedata.is_normalized("NFC", normalised)


@given(st.text(st.characters(categories=["Ll", "Lu", "Mn", "Nd"], exclude_characters="@"), min_size=1, max_size=30),
       st.lists(DOMAIN_LABEL, min_size=1, max_size=3), st.sampled_from(["org", "com", "uk"]))
def test_nfc_nfd_and_punycode_spellings_normalise_equal(local, labels, tld):
    domain = ".".join([*labels, tld])
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode()
    except idna.IDNAError:
        assume(False)
    spellings = {
        f"{unicodedata.normalize('NFC', local)}@{unicodedata.normalize('NFC', domain)}",
        f"{unicodedata.normalize('NFD', local)}@{unicodedata.normalize('NFD', domain)}",
        f"{local}@{ascii_domain}",
        f" {local}@{ascii_domain.upper()}. ",
    }
    results = {normalised_or_refused(spelling) for spelling in spellings}
    assert len(results) == 1


class OneMailboxTests(MusterTestCase):
    def test_signing_with_the_nfd_spelling_after_the_nfc_one_is_one_supporter_and_one_email(self):
        self.sign(email=NFC, opt_in="on")
        self.sign(email=NFD, opt_in="on")
        self.sign(email=PUNYCODE, opt_in="on")
        supporter = Supporter.objects.get()
        self.assertEqual(supporter.email, NFC)
        self.assertEqual(Signature.objects.get().supporter, supporter)
        self.assertEqual(OutboundEmail.objects.filter(kind="signature_confirm").count(), 1)

    def test_the_signing_api_normalises_through_the_same_field(self):
        self.host.allowed_origins = "https://campaign.example"
        self.host.save(update_fields=["allowed_origins"])
        self.sign(email=NFC, opt_in="on")
        response = self.post_json(f"/api/petitions/{self.petition.slug}/signatures", {
            "first_name": "Zoë", "last_name": "Å", "email": PUNYCODE, "country": "GB", "postcode": "S70 2AB",
        }, origin="https://campaign.example")
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(Supporter.objects.count(), 1)

    def test_erasing_one_spelling_erases_the_person(self):
        self.sign(email=NFD, opt_in="on")
        supporter_erase(supporter=Supporter.objects.get(email=NFC))
        self.assertFalse(Supporter.objects.exists())
        self.assertTrue(all(is_suppressed(spelling) for spelling in SPELLINGS))


@pytest.mark.django_db
def test_a_bounce_for_the_punycode_spelling_suppresses_the_stored_one(client, settings):
    import base64

    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "muster:webhook-secret"}
    settings.MAILINGS_BULK_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"  # only its webhook answers
    news = make_list(slug="news")
    supporter = Supporter.objects.create(email=email_normalise(NFD), first_name="Zoë", last_name="Å")
    delivery = Delivery.objects.create(
        mailing=make_mailing(mailing_list=news), supporter=supporter, status=Delivery.Status.SENT, esp_message_id="m-1"
    )
    payload = {
        "RecordType": "Bounce", "MessageID": "m-1", "Recipient": PUNYCODE, "Email": PUNYCODE, "Type": "HardBounce",
        "TypeCode": 1, "ID": 7, "Metadata": {"delivery_id": str(delivery.pk), "mailing_id": str(delivery.mailing_id)},
        "BouncedAt": "2026-11-24T10:01:00Z", "Name": "HardBounce", "Description": "", "Details": "",
        "Inactive": True, "CanActivate": True, "MessageStream": "broadcast",
    }
    auth = "Basic " + base64.b64encode(b"muster:webhook-secret").decode()
    response = client.post("/anymail/postmark/tracking/", data=json.dumps(payload), content_type="application/json",
                           HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200
    assert Suppression.objects.get().email_hash == email_hash(supporter.email)
    assert is_suppressed(NFC)
