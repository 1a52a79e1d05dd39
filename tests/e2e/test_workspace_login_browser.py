"""Organiser accounts in real Chromium: an organiser's first login sets up an authenticator app
(the code computed here, as the phone would) and the next login asks for it; the lock-out,
password reset, invitation, People and audit pages; each passing axe-core (WCAG 2.2 AA), with
their errors where they have a form."""

import pytest
from django.core import mail

from engage.models import OrganisationMember
from engage.services.organisation_people import invitation_create
from tests.e2e.test_accessibility_browser import _check_with_errors
from tests.e2e.test_embed_browser import _wait
from tests.organise.accounts_support import PASSWORD, make_person, totp_code
from tests.support.factories import make_organisation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
Role = OrganisationMember.Role


def _submit_login(browser, url, username, password):
    browser.get(f"{url}/organise/login/")
    browser.find_element("name", "username").send_keys(username)
    browser.find_element("name", "password").send_keys(password)
    browser.find_element("css selector", "main form button[type=submit]").click()


def _h1(browser) -> str:
    # By script: an element found just before the page navigates away would be stale.
    return browser.execute_script("const h = document.querySelector('h1'); return h ? h.textContent.trim() : ''")


def test_first_login_sets_up_the_app_and_the_next_one_asks_for_its_code(live_server, browser, axe, settings):
    settings.MUSTER_MFA_ENFORCED = True
    host = make_organisation()
    make_person("ola", organisation=host, role=Role.ORGANISER)
    url = live_server.url
    _submit_login(browser, url, "ola", PASSWORD)
    _wait(browser, lambda d: "/organise/second-factor/" in d.current_url, "not sent to set up a second factor")
    axe(browser, "second factor: why and how")
    browser.find_element("link text", "Set up an authenticator app").click()
    _wait(browser, lambda d: "/reauthenticate/" in d.current_url, "the password was not asked again")
    axe(browser, "confirm the password")
    _check_with_errors(browser, axe, "confirm the password", form_selector="main form")
    browser.find_element("name", "password").send_keys(PASSWORD)
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: "/totp/activate/" in d.current_url, "no authenticator setup page")
    axe(browser, "authenticator setup")
    secret = browser.find_element("id", "authenticator_secret").get_attribute("value")
    _check_with_errors(browser, axe, "authenticator setup", form_selector="main form")
    browser.find_element("name", "code").send_keys(totp_code(secret))
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: "/recovery-codes/" in d.current_url, "no recovery codes after the setup")
    axe(browser, "recovery codes")
    browser.find_element("partial link text", "on to the workspace").click()
    _wait(browser, lambda d: d.current_url.endswith(f"/organise/{host.slug}/"), "the workspace did not open")
    browser.find_element("css selector", "form[action$='/logout/'] button").click()
    _wait(browser, lambda d: "/login/" in d.current_url, "not logged out")

    _submit_login(browser, url, "ola", PASSWORD)
    _wait(browser, lambda d: "/2fa/authenticate/" in d.current_url, "the code was not asked for")
    axe(browser, "second factor at login")
    # No page before the code: the workspace sends it back to the login, which resumes at the code.
    browser.get(f"{url}/organise/{host.slug}/")
    _wait(browser, lambda d: "/2fa/authenticate/" in d.current_url, "a page opened before the code was given")
    assert _h1(browser) == "Two-Factor Authentication"
    _check_with_errors(browser, axe, "second factor at login", form_selector="main form")
    browser.find_element("name", "code").send_keys(totp_code(secret))
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: d.current_url.endswith(f"/organise/{host.slug}/"), "the code did not log in")


def test_the_lock_out_and_password_reset_pages(live_server, browser, axe, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_person("vera", organisation=make_organisation(), role=Role.VIEWER)
    url = live_server.url
    for _ in range(3):
        _submit_login(browser, url, "vera", "wrong")
    _wait(browser, lambda d: _h1(d) == "Too many failed logins", "no lock-out page")
    axe(browser, "locked out")
    browser.find_element("link text", "Reset your password").click()
    _wait(browser, lambda d: "/password/reset/" in d.current_url, "no password reset page")
    axe(browser, "password reset")
    _check_with_errors(browser, axe, "password reset", form_selector="main form")
    browser.find_element("name", "email").send_keys("vera@example.org")
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: "/password/reset/done/" in d.current_url, "no reset-sent page")
    axe(browser, "password reset sent")
    link = next(word for word in mail.outbox[-1].body.split() if "/password/reset/key/" in word)
    browser.get(link.replace("https://muster.test", url).replace("http://testserver", url))
    _wait(browser, lambda d: d.find_elements("name", "password1"), "no new-password form")
    axe(browser, "choose a new password")
    _check_with_errors(browser, axe, "choose a new password", form_selector="main form")


def _fits_the_screen(browser) -> bool:
    return browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_invitation_people_and_audit_pages(live_server, browser, axe):
    browser.set_window_size(375, 812)  # a phone
    host = make_organisation()
    make_person("boss", organisation=host, role=Role.ADMIN)
    make_person("cat", organisation=host, role=Role.VIEWER)
    issued = invitation_create(organisation=host, email="new@example.org", role=Role.ORGANISER, request_or_actor=None)
    url = live_server.url
    browser.get(f"{url}/organise/invitations/{issued.token}/")
    assert _fits_the_screen(browser), "the invitation is wider than a phone"
    axe(browser, "invitation")
    _check_with_errors(browser, axe, "invitation", form_selector="main form")
    browser.get(f"{url}/organise/invitations/{'x' * 43}/")
    axe(browser, "unusable invitation")

    _submit_login(browser, url, "boss", PASSWORD)
    _wait(browser, lambda d: "/login/" not in d.current_url, "boss was not logged in")
    browser.get(f"{url}/organise/{host.slug}/people/")
    assert _fits_the_screen(browser), "the People page is wider than a phone"
    axe(browser, "people")
    browser.find_element("name", "email").send_keys("not-an-address@")
    browser.find_element("css selector", "form[action$='/invite/'] button[type=submit]").click()
    _wait(browser, lambda d: d.find_elements("id", "error-summary"), "no errors on the invite form")
    axe(browser, "people, invite with errors")
    browser.get(f"{url}/organise/{host.slug}/audit/")
    assert _fits_the_screen(browser), "the audit log is wider than a phone"
    axe(browser, "audit log")
    browser.get(f"{url}/organise/{host.slug}/audit/?from=yesterday")
    axe(browser, "audit log, bad filter")
