"""The shared form partials (templates/forms/), the thermometer and the email subject: every
reference a page makes to an id (label, aria-describedby, the error summary's links) reaches an
element, and each email's HTML title is its subject line."""

import html
import re
from html.parser import HTMLParser

from django.test import Client, TestCase

from engage.links import preferences_url
from engage.models import Affiliate, Signup
from engage.services.supporters import supporter_get_or_create
from mailings.rendering import email_render
from tests.support.factories import (
    make_cosponsorship,
    make_list,
    make_organisation,
    make_partner,
    make_petition,
    sign_data,
)


class _References(HTMLParser):
    """The ids a page defines and the ids it points at."""

    def __init__(self):
        super().__init__()
        self.ids, self.pointed = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "label" and attrs.get("for"):
            self.pointed.append(("label for", attrs["for"]))
        for name in ("aria-describedby", "aria-labelledby"):
            for each in (attrs.get(name) or "").split():
                self.pointed.append((name, each))
        href = attrs.get("href") or ""
        if tag == "a" and href.startswith("#"):
            self.pointed.append(("summary link", href[1:]))


class FormPageTests(TestCase):
    def setUp(self):
        self.host = make_organisation()
        self.news = make_list()
        self.petition = make_petition()
        make_cosponsorship(petition=self.petition, organisation=make_partner())
        self.ada, _ = supporter_get_or_create(
            email="ada@example.org", first_name="Ada", last_name="Lovelace", country="GB", postcode="S70 2AB"
        )
        self.preferences = preferences_url(self.ada).removeprefix("https://muster.test")

    def post(self, client, path, data, **extra):
        with self.captureOnCommitCallbacks(execute=True):
            return client.post(path, data, **extra)

    def assertEveryReferenceResolves(self, response):
        page = _References()
        page.feed(response.content.decode())
        missing = [(kind, target) for kind, target in page.pointed if target not in page.ids]
        self.assertEqual(missing, [], "references to ids the page does not have")

    def pages(self):
        embed = Client(enforce_csrf_checks=True)
        slug = self.petition.slug
        yield "petition page", self.client.get(f"/p/{slug}/")
        yield "petition page, errors", self.post(self.client, f"/p/{slug}/sign", {"partner_opt_in": "nope", "email": "x"})
        yield "embed", embed.get(f"/embed/{slug}/?partner=we-own-it")
        yield "embed, errors", self.post(
            embed, f"/embed/{slug}/sign", sign_data(email="x", partner="we-own-it"), HTTP_ORIGIN="https://muster.test"
        )
        yield "subscribe, errors", self.post(self.client, "/subscribe/", {"country": "GB"})
        yield "join, errors", self.post(self.client, "/join/", {"country": "GB"})
        yield "join as an organisation, errors", self.post(
            self.client, "/join/", {"joining_as": "organisation", "country": "GB", "organisation_website": "::"}
        )
        yield "preferences link, errors", self.post(self.client, "/preferences/", {"email": "nope"})
        yield "preferences, errors", self.post(self.client, f"{self.preferences}details", {"country": "GB", "postcode": "x"})
        yield "erase, errors", self.post(self.client, f"{self.preferences}erase", {})
        yield "workspace login, errors", self.post(self.client, "/organise/login/", {"username": "a", "password": "b"})

    def test_it_ties_every_label_hint_error_and_summary_link_to_an_element(self):
        for name, response in self.pages():
            with self.subTest(page=name):
                self.assertLess(response.status_code, 500)
                self.assertEveryReferenceResolves(response)

    def test_an_error_sits_beside_its_field_in_the_paragraph_the_input_names(self):
        response = self.post(self.client, "/join/", {"country": "GB", "email": "x"})
        body = response.content.decode()
        self.assertIn('aria-describedby="id_email_helptext id_email_error"', body)
        self.assertRegex(body, r'<p class="error" id="id_email_error"><span class="visually-hidden">Error:</span> Enter an email')
        # A group: the fieldset names the error, and the summary links to the first box.
        self.assertIn('<fieldset class="field field-error" aria-describedby="id_joining_as_error">', body)
        self.assertIn('<a href="#id_joining_as_0">Choose who is joining.</a>', body)

    def test_the_postcode_is_optional_outside_the_uk_only_where_a_uk_postcode_is_required(self):
        hint = re.compile(r'<label for="id_postcode">Postcode <span class="hint">\(([^)]*)\)</span>')
        for path, expected in [
            (f"/p/{self.petition.slug}/", "optional outside the UK"),
            ("/join/", "optional outside the UK"),
            (self.preferences, "optional outside the UK"),
            ("/subscribe/", "optional"),
        ]:
            with self.subTest(path=path):
                self.assertEqual(hint.search(self.client.get(path).content.decode()).group(1), expected)

    def test_the_petition_page_and_the_embed_show_the_same_thermometer(self):
        thermometer = re.compile(r'<div class="thermometer".*?</div>\s*</div>', re.S)
        page = thermometer.search(self.client.get(f"/p/{self.petition.slug}/").content.decode()).group(0)
        embed = thermometer.search(self.client.get(f"/embed/{self.petition.slug}/").content.decode()).group(0)
        self.assertEqual(page, embed)
        self.assertIn('role="group" aria-label="Signatures so far"', page)
        self.assertIn('<span class="count" data-count>0</span> <span data-count-words', page)
        self.assertIn('>signatures of a goal of 100</span>', page)
        self.assertIn('role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0" aria-label="0% of the goal"', page)


class EmailSubjectTests(TestCase):
    def setUp(self):
        self.host = make_organisation()
        self.petition = make_petition(title="Fish & chips for all")
        self.ada, _ = supporter_get_or_create(
            email="ada@example.org", first_name="Ada", last_name="Lovelace", country="GB", postcode="S70 2AB"
        )

    def emails(self):
        petition = {"petition": self.petition, "confirm_url": "https://muster.test/confirm/x/", "petition_url": "https://muster.test/p/x/"}
        yield "petitions/email/confirm", petition
        yield "petitions/email/reminder", petition
        yield "petitions/email/already_signed", {**petition, "pending": True}
        yield "engage/email/preferences_link", {}
        yield "engage/email/data_export_ready", {"download_url": "https://muster.test/my-data/x/", "expires_at": None}
        for kind in ("subscribe", "join", "affiliate"):
            signup = Signup(kind=kind, organisation=self.host)
            if kind == "affiliate":
                signup.affiliate = Affiliate(name="Barnsley Save Our NHS", organisation=self.host)
            yield "engage/email/signup_confirm", {"signup": signup, "lists": [], "confirm_url": "https://muster.test/signup/confirm/x/"}

    def test_the_html_title_is_the_subject_line(self):
        for template, context in self.emails():
            with self.subTest(template=template, kind=getattr(context.get("signup"), "kind", "")):
                rendered = email_render(template=template, context={"supporter": self.ada, **context})
                title = html.unescape(re.search(r"<title>(.*?)</title>", rendered.html, re.S).group(1))
                self.assertTrue(rendered.subject)
                self.assertEqual(title, html.unescape(rendered.subject))
                self.assertNotIn("{% block subject", rendered.html)
