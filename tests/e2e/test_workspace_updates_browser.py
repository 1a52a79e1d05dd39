"""Petition updates in a real browser, checked by axe-core against WCAG 2.2 AA: the sign form with
its unticked updates box (ticked by a click, then confirmed through the emailed link, which puts
the signer on the updates list), the public petition page with updates, and the workspace's
update pages (list, new with its preview and its errors, edit and email), at desktop and phone
width."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from engage.models import Subscription
from petitions.services import updates
from tests.e2e.test_embed_browser import _wait
from tests.support.factories import make_organisation, make_petition, make_sender, make_signature

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = (390, 844)


@pytest.fixture
def site(live_server, settings):
    settings.SITE_URL = live_server.url
    host = make_organisation()
    make_sender(organisation=host)
    petition = make_petition(organisation=host, goal=100)
    make_signature(petition=petition, email="grace@example.org", updates_opt_in=True, confirm=True)
    updates.petition_update_publish(
        petition=petition, kind="response", title="The minister replied",
        body="She says **no**. [Read her letter](https://example.org/letter).",
    )
    updates.petition_update_publish(petition=petition, kind="next_action", title="Write to your MP", body="- One\n- Two")
    user = get_user_model().objects.create_user("hana", "hana@hct.org.uk", "pw-hana-123")
    host.members.add(user)
    return {"url": live_server.url, "petition": petition, "host": host}


def _log_in(driver, url):
    driver.get(f"{url}/organise/login/")
    driver.find_element("id", "id_username").send_keys("hana")
    driver.find_element("id", "id_password").send_keys("pw-hana-123")
    driver.find_element("css selector", "main form button[type=submit]").click()
    _wait(driver, lambda d: "/organise/login/" not in d.current_url, "the login did not go through")


def test_the_sign_form_and_the_petition_page_with_updates(site, browser, axe):
    url, petition = site["url"], site["petition"]
    for width, height in [(1100, 1400), PHONE]:
        browser.set_window_size(width, height)
        browser.get(f"{url}{petition.get_absolute_url()}")
        box = browser.find_element("id", "id_updates_opt_in")
        assert not box.is_selected()
        label = browser.find_element("css selector", "label[for=id_updates_opt_in]")
        assert label.text == "Email me updates about this petition"
        titles = [h.text for h in browser.find_elements("css selector", ".updates h3")]
        assert titles == ["Write to your MP", "The minister replied"]
        axe(browser, f"petition page with updates at {width}px")

    browser.set_window_size(1100, 1400)
    browser.find_element("id", "id_first_name").send_keys("Ada")
    browser.find_element("id", "id_last_name").send_keys("Lovelace")
    browser.find_element("id", "id_email").send_keys("ada@example.org")
    browser.find_element("id", "id_postcode").send_keys("S70 2AB")
    browser.find_element("css selector", "label[for=id_updates_opt_in]").click()  # the label ticks it
    assert browser.find_element("id", "id_updates_opt_in").is_selected()
    browser.find_element("css selector", "form[action$='/sign'] button[type=submit]").click()
    _wait(browser, lambda d: d.current_url.endswith("/signed"), "no 'check your email' page")

    link = re.search(r"https?://[^\s]+/confirm/[^\s]+/", mail.outbox[-1].body).group(0)
    browser.get(link)
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: d.current_url.endswith("/thanks"), "no thank-you page")
    assert Subscription.objects.filter(
        supporter__email="ada@example.org", mailing_list__name="Updates on Scrap the ICP contract",
        status=Subscription.Status.SUBSCRIBED,
    ).exists()


def test_the_workspace_update_pages(site, browser, axe):
    url, petition, org = site["url"], site["petition"], site["host"].slug
    base = f"{url}/organise/{org}/petitions/{petition.slug}/updates/"
    _log_in(browser, url)
    for width, height in [(1100, 1400), PHONE]:
        browser.set_window_size(width, height)
        browser.get(base)
        assert "1 signer has asked for updates" in browser.find_element("tag name", "main").text
        axe(browser, f"updates list at {width}px")

    browser.set_window_size(1100, 1400)
    browser.get(f"{base}new")
    axe(browser, "new update")
    browser.find_element("css selector", "main form button[type=submit]:not([name=preview])").click()
    _wait(browser, lambda d: d.find_elements("css selector", ".error-summary"), "no error summary")
    assert browser.execute_script("return document.activeElement.id") == "error-summary"
    axe(browser, "new update, with errors")

    browser.find_element("id", "id_title").send_keys("Handed in")
    browser.find_element("id", "id_body").send_keys("We handed it in **today**.")
    browser.find_element("css selector", "button[name=preview]").click()
    _wait(browser, lambda d: d.find_elements("id", "preview-heading"), "no preview")
    assert browser.find_element("css selector", "section .body strong").text == "today"
    axe(browser, "new update, previewed")

    browser.find_element("css selector", "main form button[type=submit]:not([name=preview])").click()
    _wait(browser, lambda d: d.find_elements("id", "email-heading"), "not on the update's page")
    axe(browser, "an update's page")
    button = browser.find_element("css selector", "form[action$='/email'] button")
    assert button.text == "Email this update to the 1 signer who asked for updates"
    button.click()
    _wait(browser, lambda d: re.search(r"/mailings/\d+/$", d.current_url), "not on the mailing's page")

    browser.back()
    browser.refresh()
    assert "This update has been emailed." in browser.find_element("tag name", "main").text
