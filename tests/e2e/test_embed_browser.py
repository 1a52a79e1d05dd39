"""The embed in a real browser: headless Chromium with third-party cookies blocked loads a partner's
page from another site (127.0.0.1, while Muster is on localhost), signs in the embedded form,
confirms through the emailed link, and sees the count rise on the partner's page.

Screenshots of the embedded widget go to var/test-artifacts/.
"""

import functools
import http.server
import re
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail

from engage.models import Consent
from petitions.embed import embed_snippet
from petitions.models import Signature
from tests.support.factories import make_cosponsorship, make_partner, make_petition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts"
WAIT_SECONDS = 20

# The partner's own styles, which must not reach into the widget.
PARTNER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>We Own It: public services</title>
<style>
  * {{ color: rgb(255, 0, 0) !important; font-family: serif !important; }}
  body {{ margin: 2rem; background: #fffbe6; }}
</style></head>
<body>
  <h1>We Own It</h1>
  <p id="partner-text">Our campaign for public ownership. Please sign below.</p>
  {snippet}
  <p>Footer text of the partner's page.</p>
</body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # tests print nothing
        pass


@pytest.fixture
def partner_site(tmp_path):
    """A plain static web server on a second site: 127.0.0.1 on its own port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _wait(driver, condition, message):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    # A condition may find an element just before the frame navigates away from it: look again.
    # Chromium sometimes reports that as an inspector error ("Node with given id does not
    # belong to the document") rather than a stale element; a real failure times out all the same.
    ignored = (NoSuchElementException, StaleElementReferenceException, WebDriverException)
    return WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=ignored).until(condition, message)


def _frame(driver):
    return driver.find_element("css selector", "iframe[data-muster-frame]")


def _frame_height(driver) -> int:
    return _frame(driver).size["height"]


def _loaded_with_its_frame(driver) -> bool:
    """The page has loaded, and so the frame in it (a window's load waits for its frames, one the
    browser refused to show too): an allowed frame has reported its height by then."""
    return bool(driver.find_elements("css selector", "iframe[data-muster-frame]")) and (
        driver.execute_script("return document.readyState") == "complete"
    )


def test_a_supporter_signs_in_the_embed_on_a_partners_site_and_the_count_rises(
    live_server, partner_site, browser, settings, axe_if_installed
):
    settings.SITE_URL = live_server.url  # links in emails, and the snippet, point at the live server
    site_dir, partner_origin = partner_site
    petition = make_petition(goal=100)
    partner = make_partner(origins=partner_origin)
    make_cosponsorship(petition=petition, organisation=partner)
    (site_dir / "index.html").write_text(PARTNER_PAGE.format(snippet=embed_snippet(petition=petition, partner=partner)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    browser.get(f"{partner_origin}/index.html?source=partner-homepage")
    # The script replaces the plain link with the frame once the frame reports its height.
    _wait(browser, lambda d: _frame_height(d) > 300, "the embed never sized itself to its content")
    fallback = browser.find_element("css selector", "a[data-muster-embed]")
    assert not fallback.is_displayed()
    assert browser.find_element("id", "partner-text").value_of_css_property("font-family") == "serif"
    browser.execute_script("arguments[0].scrollIntoView()", _frame(browser))
    _frame(browser).screenshot(str(ARTIFACTS / "embed-widget.png"))
    form_height = _frame_height(browser)

    browser.switch_to.frame(_frame(browser))
    # In this cross-site frame the browser keeps no cookie: what the sign flow must do without.
    assert browser.execute_script("document.cookie = 'probe=1; path=/'; return document.cookie;") == ""
    heading = browser.find_element("css selector", "h1")
    assert heading.text == "Scrap the ICP contract"
    assert heading.value_of_css_property("color") != "rgba(255, 0, 0, 1)"  # the partner's styles stay out
    assert browser.find_element("css selector", "[data-count]").text == "0"
    boxes = browser.find_elements("css selector", "input[type=checkbox]")
    # The host's, the co-sponsor's and "Email me updates about this petition": all unticked.
    assert [box.is_selected() for box in boxes] == [False, False, False]
    assert "Keep me updated by We Own It." in browser.page_source
    axe_if_installed(browser, "the embed in a partner's page")

    browser.find_element("name", "first_name").send_keys("Ada")
    browser.find_element("name", "last_name").send_keys("Lovelace")
    browser.find_element("name", "email").send_keys("ada@example.org")
    browser.find_element("name", "postcode").send_keys("s70 2ab")
    browser.find_element("css selector", "input[name=partner_opt_in][value=we-own-it]").click()
    browser.find_element("css selector", "button[type=submit]").click()
    _wait(browser, lambda d: d.find_element("css selector", "h1").text == "Check your email", "no thank-you page")
    axe_if_installed(browser, "the embed's thank-you page in a partner's page")
    browser.switch_to.default_content()
    _wait(browser, lambda d: _frame_height(d) < form_height, "the frame did not shrink to the shorter page")
    _frame(browser).screenshot(str(ARTIFACTS / "embed-widget-signed.png"))

    signature = Signature.objects.get()
    assert (signature.partner, signature.source, signature.status) == (partner, "partner-homepage", "pending")
    assert not Consent.objects.exists()  # the partner's box waits for the confirmation

    link = re.search(r"https?://\S+/confirm/\S+/", mail.outbox[0].body).group(0)
    assert link.startswith(live_server.url)
    browser.get(link)
    browser.find_element("css selector", "form button[type=submit]").click()
    _wait(browser, lambda d: "Thank you for signing" in d.page_source, "confirming failed")
    consent = Consent.objects.get()
    assert (consent.organisation, consent.given) == (partner, True)
    assert consent.source == "petition:scrap-the-icp-contract:partner-homepage partner:we-own-it via:embed"

    browser.get(f"{partner_origin}/index.html")
    _wait(browser, lambda d: _frame_height(d) > 300, "the embed did not load again")
    browser.switch_to.frame(_frame(browser))
    assert browser.find_element("css selector", "[data-count]").text == "1"
    browser.switch_to.default_content()
    _frame(browser).screenshot(str(ARTIFACTS / "embed-widget-counted.png"))


def test_the_embed_stays_a_plain_link_on_a_site_the_partner_did_not_register(live_server, partner_site, browser, settings):
    settings.SITE_URL = live_server.url
    site_dir, _ = partner_site
    petition = make_petition()
    partner = make_partner(origins="https://weownit.org.uk")  # not this test's partner site
    make_cosponsorship(petition=petition, organisation=partner)
    (site_dir / "index.html").write_text(PARTNER_PAGE.format(snippet=embed_snippet(petition=petition, partner=partner)))

    browser.get(f"{partner_site[1]}/index.html")
    # frame-ancestors stops the browser from showing the form here, so the frame never reports its
    # height and the plain link stays.
    _wait(browser, _loaded_with_its_frame, "the page and its frame never finished loading")
    assert _frame_height(browser) == 0
    assert browser.find_element("css selector", "a[data-muster-embed]").is_displayed()


def test_the_embeds_errors_take_focus_and_its_live_count_says_signature_for_one(live_server, partner_site, browser, settings):
    from petitions.services.signing import signature_confirm
    from tests.support.factories import make_signature

    settings.SITE_URL = live_server.url
    settings.COUNT_MEMO_SECONDS = 0
    site_dir, partner_origin = partner_site
    petition = make_petition(goal=100)
    partner = make_partner(origins=partner_origin)
    make_cosponsorship(petition=petition, organisation=partner)
    (site_dir / "index.html").write_text(PARTNER_PAGE.format(snippet=embed_snippet(petition=petition, partner=partner)))
    browser.get(f"{partner_origin}/index.html")
    _wait(browser, lambda d: _frame_height(d) > 300, "the embed never sized itself to its content")
    browser.switch_to.frame(_frame(browser))
    words = browser.find_element("css selector", "[data-count-words]")
    assert words.text == "signatures of a goal of 100"

    # A failed submit in the frame puts focus on the error summary there, as on the petition page.
    browser.find_element("css selector", "form button[type=submit]").click()
    _wait(browser, lambda d: d.find_elements("css selector", ".error-summary"), "no error summary in the frame")
    assert browser.execute_script("return document.activeElement.id") == "error-summary"

    signature_confirm(signature=make_signature(petition=petition))
    # The frame refreshes its count when it is shown again (and every 30 seconds).
    browser.execute_script("document.dispatchEvent(new Event('visibilitychange'))")
    _wait(browser, lambda d: d.find_element("css selector", "[data-count]").text == "1", "the count did not rise")
    assert browser.find_element("css selector", "[data-count-words]").text == "signature of a goal of 100"
