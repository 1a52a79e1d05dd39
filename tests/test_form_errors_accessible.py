"""Every public form, shown with its errors: each aria-describedby names an element that is on the
page (so screen readers announce the error and the hint), and the error summary can take focus."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from engage.links import preferences_url
from tests.support.factories import make_list, make_organisation, make_petition, make_supporter

pytestmark = pytest.mark.django_db


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.described_by: list[tuple[str, str]] = []  # (element's name or id, the id it names)
        self.summaries: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for named in (attrs.get("aria-describedby") or "").split():
            self.described_by.append((attrs.get("name") or attrs.get("id") or tag, named))
        if "error-summary" in (attrs.get("class") or "").split():
            self.summaries.append(attrs)


def _parsed(response) -> _Ids:
    parser = _Ids()
    parser.feed(response.content.decode())
    return parser


def _path(url: str) -> str:
    return urlsplit(url).path


def _invalid_submissions(client):
    """(page, response) for each public form posted with every field wrong or missing."""
    petition = make_petition()
    make_list(slug="news")
    ada = make_supporter("ada@example.org", subscribed_to=None)
    bad_person = {"first_name": "", "last_name": "", "email": "not an address", "country": "GB", "postcode": "nope"}
    yield "sign", client.post(f"/p/{petition.slug}/sign", bad_person)
    yield "embed sign", client.post(f"/embed/{petition.slug}/sign", bad_person, HTTP_ORIGIN="https://muster.test", secure=True, HTTP_HOST="muster.test")
    yield "subscribe", client.post("/subscribe/", bad_person)
    yield "join as an organisation", client.post("/join/", {**bad_person, "joining_as": "organisation"})
    yield "join", client.post("/join/", bad_person)
    yield "preference link", client.post("/preferences/", {"email": "not an address"})
    yield "preferences details", client.post(_path(preferences_url(ada)) + "details", bad_person)


def test_every_aria_describedby_on_a_form_with_errors_names_an_element_on_the_page(client):
    checked = 0
    for page, response in _invalid_submissions(client):
        if response.status_code in (301, 302, 303):
            response = client.get(response["Location"])
        parsed = _parsed(response)
        assert parsed.described_by, f"{page}: no field points at its error ({response.status_code})"
        missing = [(field, named) for field, named in parsed.described_by if named not in parsed.ids]
        assert not missing, f"{page}: aria-describedby names ids that are not on the page: {missing}"
        assert parsed.summaries and parsed.summaries[0].get("tabindex") == "-1", f"{page}: no focusable error summary"
        checked += 1
    assert checked == 7


def test_help_text_is_named_by_its_field_on_a_clean_form(client):
    make_organisation()
    for url in ("/join/", "/subscribe/"):
        parsed = _parsed(client.get(url))
        assert ("email", "id_email_helptext") in parsed.described_by or url == "/subscribe/"
        assert all(named in parsed.ids for _, named in parsed.described_by), url
