"""The workspace's supporters and held-signature pages in real Chromium: axe-core (WCAG 2.2 AA) on
the search, a person's page, the erase confirmation (clean and with its error) and the held list;
the search at phone width without sideways scrolling; a person erased by ticking the box; and
held signatures released in bulk by ticking their boxes."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from engage.models import Supporter
from petitions.models import Signature
from tests.e2e.test_embed_browser import _wait
from tests.support.factories import make_list, make_organisation, make_petition, make_signature, make_supporter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-organiser-123"


@pytest.fixture
def site(live_server, settings):
    settings.SITE_URL = live_server.url
    host = make_organisation()
    organiser = get_user_model().objects.create_user("olive", "olive@muster.test", PASSWORD)
    host.members.add(organiser)
    petition = make_petition()
    ada = make_signature(petition=petition, confirm=True, opt_in=True).supporter
    make_supporter("grace@example.org", first_name="Grace", postcode="SW1A 1AA", subscribed_to=make_list())
    held = [
        make_signature(petition=petition, email=email, ip="203.0.113.9", hold_reason=Signature.HoldReason.RATE_LIMIT)
        for email in ("a.da+1@googlemail.com", "ada+2@gmail.com", "bot@spam.example")
    ]
    return {"url": live_server.url, "org": host.slug, "ada": ada, "held": held}


def _log_in(driver, site):
    driver.get(f"{site['url']}/organise/login/")
    driver.find_element("name", "username").send_keys("olive")
    driver.find_element("name", "password").send_keys(PASSWORD)
    driver.find_element("css selector", "main form button[type=submit]").click()
    _wait(driver, lambda d: "/login/" not in d.current_url, "the login did not go through")


def _heading(driver) -> str:
    return driver.find_element("css selector", "h1").text


def test_search_person_and_erase_pass_axe_and_erase_for_real(site, browser, axe):
    _log_in(browser, site)
    base = f"{site['url']}/organise/{site['org']}"
    browser.get(f"{base}/supporters/")
    axe(browser, "supporters, newest")
    box = browser.find_element("id", "search-q")
    box.send_keys("ADA@EXAMPLE.ORG")
    box.submit()
    _wait(browser, lambda d: "q=ADA" in d.current_url, "the search was not submitted")
    rows = browser.find_elements("css selector", "table tbody tr")
    assert [r.find_elements("css selector", "td")[0].text for r in rows] == ["ada@example.org"]
    axe(browser, "supporters, a search")

    browser.set_window_size(390, 844)  # a phone
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), \
        "the search page scrolls sideways on a phone"
    axe(browser, "supporters at phone width")
    browser.set_window_size(1100, 1400)

    browser.find_element("link text", "Ada Lovelace").click()
    _wait(browser, lambda d: _heading(d) == "Ada Lovelace", "the person's page did not open")
    assert "Scrap the ICP contract" in browser.find_element("id", "signatures").text
    axe(browser, "a person's page")

    browser.find_element("partial link text", "Erase this person").click()
    _wait(browser, lambda d: _heading(d).startswith("Erase"), "the erase confirmation did not open")
    axe(browser, "erase confirmation")
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: d.find_elements("css selector", ".error-summary"), "no error without the box ticked")
    axe(browser, "erase confirmation, with its error")
    assert Supporter.objects.filter(pk=site["ada"].pk).exists()

    browser.find_element("id", "erase-confirm").click()
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: "has been erased" in d.page_source, "no word that the person was erased")
    assert not Supporter.objects.filter(pk=site["ada"].pk).exists()


def test_held_signatures_are_released_by_ticking_their_boxes(site, browser, axe):
    _log_in(browser, site)
    browser.get(f"{site['url']}/organise/{site['org']}/held/")
    axe(browser, "held signatures")
    browser.set_window_size(390, 844)  # a phone: the table scrolls in its own box, the page does not
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), \
        "the held page scrolls sideways on a phone"
    axe(browser, "held signatures at phone width")
    browser.set_window_size(1100, 1400)
    first, second, third = site["held"]
    mail.outbox.clear()
    for signature in (first, second):
        browser.find_element("id", f"held-{signature.pk}").click()
    browser.find_element("css selector", "button[name=action][value=release]").click()
    _wait(browser, lambda d: "2 held signatures released" in d.page_source, "no word of the release")
    assert [Signature.objects.get(pk=s.pk).status for s in (first, second, third)] == [
        Signature.Status.PENDING, Signature.Status.PENDING, Signature.Status.HELD,
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["a.da+1@googlemail.com", "ada+2@gmail.com"]
    # The one left is still listed, with its boxes; the page passes axe after the action too.
    assert browser.find_elements("id", f"held-{third.pk}") and not browser.find_elements("id", f"held-{first.pk}")
    axe(browser, "held signatures after a release")
