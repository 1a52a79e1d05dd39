"""Every public page and the embed, in a real browser, checked by axe-core against WCAG 2.2 AA
(no violation of impact serious or critical), clean and with a form's errors shown; after a failed
submit, focus is on the error summary."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from engage.links import preferences_url, signup_confirm_url, unsubscribe_url
from engage.models import Signup
from petitions.models import Signature
from petitions.services.signing import confirm_url
from tests.e2e.test_embed_browser import _wait
from tests.support.factories import make_cosponsorship, make_list, make_partner, make_petition, make_supporter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, settings):
    settings.SITE_URL = live_server.url  # links in emails and tokens point at the live server
    petition = make_petition(goal=100)
    partner = make_partner(origins=live_server.url)
    make_cosponsorship(petition=petition, organisation=partner)
    news = make_list(slug="coalition-news", name="Coalition news")
    grace = make_supporter("grace@example.org", first_name="Grace", subscribed_to=news)
    member = get_user_model().objects.create_user("alice", "alice@weownit.org.uk", "pw-alice-123")
    partner.members.add(member)
    return {"url": live_server.url, "petition": petition, "news": news, "grace": grace}


def _submit(driver, form_selector="main form[novalidate], body form[novalidate]"):
    """Submit the page's form (the one with fields to get wrong) as it is, and wait for the answer."""
    form = driver.find_element("css selector", form_selector)
    form.find_element("css selector", "button[type=submit]").click()
    _wait(driver, lambda d: d.find_elements("css selector", ".error-summary"), "no error summary after a failed submit")


def _focused_id(driver) -> str:
    return driver.execute_script("return document.activeElement && document.activeElement.id")


def _check_with_errors(driver, axe, label, form_selector=None):
    """Submit the form as it is (empty or wrong), then check focus and the page with its errors."""
    _submit(driver, *([form_selector] if form_selector else []))
    assert _focused_id(driver) == "error-summary", f"{label}: focus is not on the error summary"
    axe(driver, f"{label}, with errors")


def test_the_public_pages_pass_axe_clean_and_with_errors(site, browser, axe):
    url, petition = site["url"], site["petition"]
    browser.get(f"{url}/")
    axe(browser, "home")

    browser.get(f"{url}{petition.get_absolute_url()}")
    axe(browser, "petition page")
    _check_with_errors(browser, axe, "petition page")
    # Signed: "check your email".
    browser.find_element("name", "first_name").send_keys("Ada")
    browser.find_element("name", "last_name").send_keys("Lovelace")
    email = browser.find_element("name", "email")
    email.clear()
    email.send_keys("ada@example.org")
    browser.find_element("name", "postcode").send_keys("S70 2AB")
    browser.find_element("css selector", "main form[novalidate] button[type=submit]").click()
    _wait(browser, lambda d: d.find_element("css selector", "h1").text == "Check your email", "no check-your-email page")
    axe(browser, "signed: check your email")

    browser.get(confirm_url(Signature.objects.get()))
    axe(browser, "confirm page")
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: "Thank you for signing" in d.page_source, "confirming failed")
    axe(browser, "thanks page")

    for path, label in (("/subscribe/", "subscribe"), ("/join/", "join"), ("/preferences/", "preference link request")):
        browser.get(f"{url}{path}")
        axe(browser, label)
        _check_with_errors(browser, axe, label)
    browser.get(f"{url}/join/")
    browser.find_element("css selector", "input[name=joining_as][value=organisation]").click()
    _check_with_errors(browser, axe, "join as an organisation")

    browser.get(f"{url}/subscribe/")
    browser.find_element("css selector", "input[name=lists]").click()
    for name, value in (("first_name", "Ada"), ("last_name", "Lovelace"), ("email", "ada.sub@example.org"), ("postcode", "S70 2AB")):
        browser.find_element("name", name).send_keys(value)
    browser.find_element("css selector", "main form[novalidate] button[type=submit]").click()
    _wait(browser, lambda d: "/check-your-email/" in d.current_url, "no check-your-email page after subscribing")
    axe(browser, "subscribed: check your email")
    browser.get(signup_confirm_url(Signup.objects.get()))
    axe(browser, "sign-up confirm page")

    grace = site["grace"]
    browser.get(preferences_url(grace))
    axe(browser, "preferences page")
    browser.find_element("name", "first_name").clear()
    _check_with_errors(browser, axe, "preferences page (details)")
    browser.get(preferences_url(grace) + "erase")
    axe(browser, "erase confirmation")
    _check_with_errors(browser, axe, "erase confirmation")

    for label, link in (("unsubscribe from a list", unsubscribe_url(grace, site["news"])), ("unsubscribe from all", unsubscribe_url(grace))):
        browser.get(link)
        axe(browser, label)
        browser.find_element("css selector", "main form button[type=submit]").click()
        _wait(browser, lambda d: "You're unsubscribed" in d.page_source, f"{label}: not unsubscribed")
        axe(browser, f"{label}: done")

    browser.get(f"{url}/partners/login/")
    axe(browser, "partner login")
    browser.find_element("name", "username").send_keys("alice")
    browser.find_element("name", "password").send_keys("wrong password")
    _check_with_errors(browser, axe, "partner login", form_selector="main form")


def test_the_embed_passes_axe_clean_with_errors_and_signed(site, browser, axe):
    url, petition = site["url"], site["petition"]
    browser.get(f"{url}/embed/{petition.slug}/?partner=we-own-it")
    axe(browser, "embed")
    _check_with_errors(browser, axe, "embed", form_selector="form")
    # The error summary's links are big enough to hit (WCAG 2.2 target size: 24 by 24 CSS pixels).
    for link in browser.find_elements("css selector", ".error-summary a"):
        assert link.size["height"] >= 24 and link.size["width"] >= 24, f"{link.text!r} is {link.size}"
    for name, value in (("first_name", "Ada"), ("last_name", "Lovelace"), ("postcode", "S70 2AB")):
        browser.find_element("name", name).send_keys(value)
    email = browser.find_element("name", "email")
    email.clear()
    email.send_keys("ada@example.org")
    browser.find_element("css selector", "form button[type=submit]").click()
    _wait(browser, lambda d: d.find_element("css selector", "h1").text == "Check your email", "no thank-you page")
    axe(browser, "embed: signed")
    assert re.search(r"/confirm/\S+/", mail.outbox[0].body)
