"""The workspace as a whole in real Chromium: its login (clean and with errors), the choice of
organisation, and every page in the access table (tests/organise/test_access.py) at phone width,
each passing axe-core and none wider than the phone's screen."""

import pytest
from django.contrib.auth import get_user_model

from tests.e2e.test_accessibility_browser import _check_with_errors
from tests.e2e.test_embed_browser import _wait
from tests.organise.test_access import PAGES, world  # noqa: F401 - the access table's objects, as a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = (375, 812)


def _log_in(browser, url, username, password):
    browser.get(f"{url}/organise/login/")
    browser.find_element("name", "username").send_keys(username)
    browser.find_element("name", "password").send_keys(password)
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: "/login/" not in d.current_url, f"{username} was not logged in")


def _fits_the_screen(browser) -> bool:
    return browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_login_and_the_choice_of_organisation_pass_axe(live_server, browser, axe):
    from tests.support.factories import make_organisation, make_partner

    host, partner = make_organisation(), make_partner()
    user = get_user_model().objects.create_user("both", "both@example.org", "pw-both-1234")
    host.members.add(user)
    partner.members.add(user)
    browser.get(f"{live_server.url}/organise/login/")
    axe(browser, "workspace login")
    browser.find_element("name", "username").send_keys("both")
    browser.find_element("name", "password").send_keys("wrong")
    _check_with_errors(browser, axe, "workspace login", form_selector="main form")
    _log_in(browser, live_server.url, "both", "pw-both-1234")
    assert browser.current_url.endswith("/organise/")
    links = [a.text for a in browser.find_elements("css selector", "main .choice-list a")]
    assert links == ["Health Campaigns Together", "We Own It"]
    axe(browser, "choose an organisation")
    browser.find_element("link text", "We Own It").click()
    _wait(browser, lambda d: d.current_url.endswith("/organise/we-own-it/"), "the partner's overview did not open")
    # The switcher offers the user's other workspace.
    assert "Health Campaigns Together" in browser.find_element("css selector", ".switcher").get_attribute("textContent")


@pytest.mark.parametrize("who", ["host", "partner"])
def test_every_workspace_page_fits_a_phone_and_passes_axe(live_server, browser, axe, who, world):  # noqa: F811
    user = world[f"{who}_user"]
    user.set_password("pw-phone-1234")
    user.save()
    org = world[who].slug
    browser.set_window_size(*PHONE)
    _log_in(browser, live_server.url, user.username, "pw-phone-1234")
    expected_column = 2 if who == "host" else 3
    walked = 0
    for row in PAGES:
        name, url = row[0], row[1]
        if row[expected_column] != 200:
            continue
        path = url(world, org)
        browser.get(live_server.url + path)
        content_type = browser.execute_script("return document.contentType")
        if content_type != "text/html":
            continue  # a CSV or JSON answer: no page to check
        assert _fits_the_screen(browser), f"{name} ({path}) is wider than a phone for the {who}"
        axe(browser, f"{name} for the {who}, at phone width")
        walked += 1
    assert walked >= 3
