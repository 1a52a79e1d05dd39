"""The workspace's overview and petition page in a real browser: axe-core (WCAG 2.2 AA) for the
host and for a partner, at desktop and phone widths; a chart's data table, read as Chromium
renders it, matches a count in the database; the charts are drawn from their tables; the embed
code's copy button says it copied."""

from collections import Counter

import pytest
from django.contrib.auth import get_user_model

from petitions.models import Signature
from tests.e2e.test_embed_browser import _wait
from tests.support.factories import (
    make_cosponsorship,
    make_mailing,
    make_other_partner,
    make_partner,
    make_petition,
    make_signature,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLACES = [("S70 2AB", "newsletter"), ("LS1 4AP", "twitter"), ("S1 2HE", ""), ("SW1A 1AA", "newsletter"), ("S70 1AA", "")]


@pytest.fixture
def world(live_server, settings):
    settings.SITE_URL = live_server.url
    petition = make_petition(goal=50)
    host = petition.organisation
    partner, other = make_partner(origins=live_server.url), make_other_partner()
    make_cosponsorship(petition=petition, organisation=partner)
    make_cosponsorship(petition=petition, organisation=other)
    for n in range(14):
        postcode, source = PLACES[n % len(PLACES)]
        make_signature(petition=petition, email=f"s{n}@example.org", postcode=postcode, source=source, confirm=n % 7 != 6,
                       partner=[None, partner, other][n % 3], boxes=["we-own-it"] if n % 2 else (), opt_in=n % 3 == 0)
    make_signature(petition=petition, email="held@example.org", hold_reason=Signature.HoldReason.HONEYPOT)
    make_mailing(name="Rally call")
    users = get_user_model().objects
    host.members.add(users.create_user("hilda", password="pw-hilda-123"))
    partner.members.add(users.create_user("alice", password="pw-alice-123"))
    return {"url": live_server.url, "petition": petition, "host": host, "partner": partner}


def _log_in(browser, url, username, password):
    browser.get(f"{url}/organise/login/")
    browser.find_element("name", "username").send_keys(username)
    browser.find_element("name", "password").send_keys(password)
    browser.find_element("css selector", "main form button[type=submit]").click()
    _wait(browser, lambda d: "/organise/" in d.current_url and "login" not in d.current_url, "the login did not go through")


def _table(browser, name) -> dict[str, list[str]]:
    """A figure table as the browser renders it: {row label: [cells]}."""
    return browser.execute_script(
        """
        var rows = {};
        document.querySelectorAll("#table-" + arguments[0] + " tbody tr").forEach(function (tr) {
          var cells = Array.prototype.map.call(tr.cells, function (c) { return c.innerText.trim(); });
          if (tr.cells.length > 1) rows[cells[0]] = cells.slice(1);
        });
        return rows;
        """,
        name,
    )


def _charts_drawn(browser) -> bool:
    return browser.execute_script(
        "var c = document.querySelectorAll('canvas[data-chart]');"
        "return c.length > 0 && Array.prototype.every.call(c, function (x) { return !!x.musterChart; });"
    )


def test_the_host_sees_the_figures_accessibly_and_the_tables_match_the_database(world, browser, axe):
    url, petition, host = world["url"], world["petition"], world["host"]
    _log_in(browser, url, "hilda", "pw-hilda-123")
    browser.get(f"{url}/organise/{host.slug}/")
    _wait(browser, _charts_drawn, "the overview's sparklines were not drawn")
    axe(browser, "overview (host)")

    browser.get(f"{url}/organise/{host.slug}/petitions/{petition.slug}/")
    _wait(browser, _charts_drawn, "the petition page's charts were not drawn")
    axe(browser, "petition page (host)")
    confirmed = Signature.objects.filter(petition=petition, status=Signature.Status.CONFIRMED)
    areas = Counter(confirmed.values_list("postcode_area", flat=True))
    assert _table(browser, "by-area") == {area: [str(n)] for area, n in areas.items()}
    sources = Counter(confirmed.values_list("source", flat=True))
    assert _table(browser, "by-source").keys() == {s or "(none)" for s in sources}
    assert {k: v[0] for k, v in _table(browser, "by-source").items()} == {s or "(none)": str(n) for s, n in sources.items()}
    # The chart holds the table's figures.
    drawn = browser.execute_script(
        "var chart = document.querySelector('canvas[data-table=\"table-by-area\"]').musterChart;"
        "return [chart.data.labels, chart.data.datasets[0].data];"
    )
    assert dict(zip(drawn[0], drawn[1], strict=True)) == dict(areas)
    # The copy button says it copied (or how to).
    browser.find_element("css selector", "button[data-copy]").click()
    _wait(browser, lambda d: d.find_element("css selector", ".copy-status").text, "the copy button said nothing")

    browser.set_window_size(390, 844)
    browser.get(f"{url}/organise/{host.slug}/petitions/{petition.slug}/")
    _wait(browser, _charts_drawn, "the charts were not drawn at phone width")
    axe(browser, "petition page (host, phone)")
    overflow = browser.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways at phone width by {overflow}px"


def test_a_partner_sees_its_slice_accessibly(world, browser, axe):
    url, petition, partner = world["url"], world["petition"], world["partner"]
    _log_in(browser, url, "alice", "pw-alice-123")
    browser.get(f"{url}/organise/{partner.slug}/")
    _wait(browser, _charts_drawn, "the overview's sparklines were not drawn")
    axe(browser, "overview (partner)")

    browser.get(f"{url}/organise/{partner.slug}/petitions/{petition.slug}/")
    _wait(browser, _charts_drawn, "the petition page's charts were not drawn")
    axe(browser, "petition page (partner)")
    through = Signature.objects.filter(petition=petition, status=Signature.Status.CONFIRMED, partner=partner)
    areas = Counter(through.values_list("postcode_area", flat=True))
    assert _table(browser, "by-area") == {area: [str(n)] for area, n in areas.items()}
    assert list(_table(browser, "by-partner")) == ["We Own It"]
    assert "Keep Our NHS Public" not in browser.page_source
