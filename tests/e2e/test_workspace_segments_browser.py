"""The segment builder in a real Chromium: an organiser builds a segment by clicking (a
condition from a menu, its option, a group inside a group), watches the live count change to
the figures the database gives, saves it by the form, and every segments page passes axe-core
(WCAG 2.2 AA), at desktop and phone width."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from mailings.models import Segment
from mailings.selectors.recipients import recipients_eligible
from mailings.selectors.segments import segment_supporters
from tests.e2e.test_embed_browser import _wait
from tests.support.factories import make_list, make_organisation, make_supporter, suppress

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server):
    host = make_organisation()
    news = make_list(slug="news", name="News", organisation=host)
    people = [
        ("a1@example.org", "S70 2AB", "GB", True), ("a2@example.org", "S70 3CD", "GB", True),
        ("b1@example.org", "S1 2HE", "GB", True), ("b2@example.org", "S2 4QQ", "GB", True),
        ("c1@example.org", "N1 9GU", "GB", True), ("d1@example.org", "75001", "FR", True),
        ("e1@example.org", "S1 1AA", "GB", False), ("f1@example.org", "DN1 1AA", "GB", False),
    ]
    for email, postcode, country, subscribed in people:
        make_supporter(email, postcode=postcode, country=country, subscribed_to=news if subscribed else None)
    suppress("b2@example.org")
    user = get_user_model().objects.create_user("ola", "ola@hct.org.uk", "pw-ola-12345")
    host.members.add(user)
    return {"url": live_server.url, "host": host, "news": news}


def _login(browser, site, next_path):
    browser.get(f"{site['url']}{reverse('organise:login')}?next={next_path}")
    browser.find_element("name", "username").send_keys("ola")
    browser.find_element("name", "password").send_keys("pw-ola-12345")
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: d.current_url.endswith(next_path), "login did not land on the page")


def _select(element, text):
    from selenium.webdriver.support.select import Select

    Select(element).select_by_visible_text(text)


def _top(browser):
    # The builder draws its tree afresh on every change of shape: find the elements again each time.
    return browser.find_element("css selector", "#segment-builder > fieldset.seg-group")


def _group(browser, depth):
    return browser.find_element("css selector", "#segment-builder > fieldset.seg-group" + " li.seg-subgroup > fieldset.seg-group" * depth)


def _items(group):
    return group.find_elements("css selector", ":scope > ul.seg-items > li")


def _button(group, text):
    buttons = group.find_elements("css selector", ":scope > .seg-buttons > button")
    return next(b for b in buttons if b.text.strip().startswith(text))


def _shown(browser):
    def read(d):
        box = d.find_element("id", "segment-count")
        if box.get_attribute("aria-busy"):
            return None
        return (box.find_element("css selector", "[data-count=matching]").text,
                box.find_element("css selector", "[data-count=eligible]").text)
    return read


def _wait_for_count(browser, definition, organisation, mailing_list=None):
    """Until the page shows the count the database gives for `definition` (the send's own rule)."""
    supporters = segment_supporters(definition)
    expected = (f"{supporters.count():,}",
                f"{recipients_eligible(supporters, organisation=organisation, mailing_list=mailing_list).count():,}")
    _wait(browser, lambda d: _shown(browser)(d) == expected,
          f"the count never showed {expected}; it shows {_shown(browser)(browser)}")
    return expected


def _no_sideways_scroll(browser, label):
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), (
        f"{label} scrolls sideways at phone width"
    )


def test_an_organiser_builds_a_segment_by_clicking_and_watches_the_count(site, browser, axe):
    host, news = site["host"], site["news"]
    org = host.slug
    _login(browser, site, reverse("organise:segments", kwargs={"org": org}))
    axe(browser, "segments list (empty)")
    browser.find_element("link text", "New segment").click()
    _wait(browser, lambda d: d.find_elements("css selector", "#segment-builder fieldset.seg-group"), "no builder")
    assert not browser.find_element("id", "segment-json").is_displayed()  # nobody reads JSON
    _wait_for_count(browser, {"all": []}, host)
    axe(browser, "new segment")

    # 1. Subscribed to the list News.
    _button(_top(browser), "Add a condition").click()
    choose = _items(_top(browser))[0].find_element("css selector", ".seg-choose select")
    assert browser.switch_to.active_element == choose  # focus on the new condition's menu
    _select(choose, "Subscribed to a list")
    _select(_items(_top(browser))[0].find_element("css selector", ".seg-param select"), "News")
    subscribed = {"all": [{"condition": "subscribed_to_list", "list": "news"}]}
    assert _wait_for_count(browser, subscribed, host) == ("6", "5")  # b2 is suppressed

    # 2. A group of "none of": postcode district S70, and a group inside it: any of France.
    _button(_top(browser), "Add a group").click()
    _select(_group(browser, 1).find_element("css selector", ":scope > .seg-op select"), "none of these")
    _select(_items(_group(browser, 1))[0].find_element("css selector", ".seg-choose select"), "Postcode area or district")
    _select(_items(_group(browser, 1))[0].find_element("css selector", ".seg-param select"), "S70")
    without_s70 = {"all": [subscribed["all"][0], {"not": {"condition": "postcode", "prefix": "S70"}}]}
    assert _wait_for_count(browser, without_s70, host) == ("4", "3")

    _button(_group(browser, 1), "Add a group").click()
    _select(_items(_group(browser, 2))[0].find_element("css selector", ".seg-choose select"), "Country")
    _select(_items(_group(browser, 2))[0].find_element("css selector", ".seg-param select"), "France")
    nested = {"all": [subscribed["all"][0], {"not": {"any": [
        {"condition": "postcode", "prefix": "S70"}, {"any": [{"condition": "country", "country": "FR"}]},
    ]}}]}
    assert _wait_for_count(browser, nested, host) == ("3", "2")  # b1, b2 (suppressed), c1

    # 3. Emailable on the list rather than as the host: the same people here, by the list's rule.
    _select(browser.find_element("id", "segment-basis"), f"Sent on the list News ({host.name})")
    _wait_for_count(browser, nested, host, news)
    sample = {cell.text for cell in browser.find_elements("css selector", "#segment-sample tbody td:nth-child(2)")}
    assert sample == {"b1@example.org", "b2@example.org", "c1@example.org"}
    axe(browser, "segment being built, nested groups")

    # 4. Saved by the form, under a name; the stored JSON means what the screen showed.
    browser.find_element("id", "id_name").send_keys("News, not Barnsley or France")
    browser.find_element("css selector", "#segment-form button[type=submit]").click()
    _wait(browser, lambda d: "saved" in d.find_element("css selector", ".messages").text, "not saved")
    segment = Segment.objects.get()
    assert segment.name == "News, not Barnsley or France"
    assert set(segment_supporters(segment.definition).values_list("email", flat=True)) == {
        "b1@example.org", "b2@example.org", "c1@example.org"}
    # Drawn again from what was stored: the same groups, and the same count.
    _wait(browser, lambda d: len(d.find_elements("css selector", "li.seg-subgroup li.seg-subgroup")) == 1, "not redrawn")
    _wait_for_count(browser, segment.definition, host)
    axe(browser, "saved segment")

    # 5. Removing the list condition changes the count again.
    _items(_top(browser))[0].find_element("css selector", "button.seg-remove").click()
    remaining = {"all": [nested["all"][1]]}
    _wait_for_count(browser, remaining, host)
    assert json.loads(browser.find_element("id", "id_definition").get_attribute("value")) == remaining

    # 6. The other pages, and the builder at phone width.
    browser.get(f"{site['url']}{reverse('organise:segments', kwargs={'org': org})}")
    axe(browser, "segments list")
    browser.get(f"{site['url']}{reverse('organise:segment-import', kwargs={'org': org})}")
    axe(browser, "import a segment")
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: d.find_elements("css selector", ".error-summary"), "no error summary")
    axe(browser, "import a segment, with errors")
    browser.set_window_size(390, 900)
    browser.get(f"{site['url']}{reverse('organise:segment', kwargs={'org': org, 'pk': segment.pk})}")
    _wait_for_count(browser, segment.definition, host)
    _no_sideways_scroll(browser, "the segment builder")
    axe(browser, "segment builder at phone width")


def test_a_bad_definition_shows_the_servers_message(site, browser):
    host = site["host"]
    segment = Segment.objects.create(name="Old", definition={"condition": "mailing_recent", "action": "opened", "days": 0})
    _login(browser, site, reverse("organise:segment", kwargs={"org": host.slug, "pk": segment.pk}))
    _wait(browser, lambda d: "whole number from 1" in d.find_element("id", "segment-summary").text, "no message")
    days = browser.find_element("css selector", ".seg-param input[type=number]")
    days.clear()
    days.send_keys("30")
    _wait_for_count(browser, {"condition": "mailing_recent", "action": "opened", "days": 30}, host)
