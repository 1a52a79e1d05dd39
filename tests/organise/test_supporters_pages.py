"""The workspace's supporters: search by name, address or postcode; a person's page with exactly
their history, scoped per role; their data as JSON; erasure with a confirmation; CSV of a search;
bad input answered with a 400 and a message. Against real rows, built through the services."""

import csv
import io
import json
import unicodedata

import idna
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from engage.models import Consent, Subscription, Supporter, Suppression
from engage.selectors import SEARCH_LIMIT, supporters_search
from engage.services.consent import consent_record
from engage.services.subscriptions import subscription_set
from engage.suppression import email_hash
from mailings.models import Delivery, OutboundEmail
from organise.access import Workspace
from petitions.models import Signature
from tests.support.factories import (
    make_cosponsorship,
    make_list,
    make_mailing,
    make_organisation,
    make_other_partner,
    make_partner,
    make_petition,
    make_signature,
    make_supporter,
)
from tests.support.strategies import arbitrary_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    User = get_user_model()
    host, partner, other = make_organisation(), make_partner(), make_other_partner()
    host_user = User.objects.create_user("host-organiser", password="pw")
    host.members.add(host_user)
    partner_user = User.objects.create_user("partner-person", password="pw")
    partner.members.add(partner_user)
    petition = make_petition()
    make_cosponsorship(petition=petition, organisation=partner)
    make_cosponsorship(petition=petition, organisation=other)
    # Ada signs through the partner, ticking the host's box and the partner's; confirmed.
    signature = make_signature(petition=petition, partner=partner, source="newsletter", opt_in=True, boxes=["we-own-it"],
                               confirm=True)
    ada = signature.supporter
    # Her history elsewhere: she opts in to the other partner and out again, joins the host's
    # list and the other partner's list, and receives a mailing.
    consent_record(supporter=ada, organisation=other, given=True, wording="Other's wording", source="petition:x")
    consent_record(supporter=ada, organisation=other, given=False, wording="Other's withdrawal", source="preferences")
    news = make_list(slug="coalition-news", organisation=host)
    others_list = make_list(slug="keep-our-nhs-news", organisation=other)
    partner_list = make_list(slug="we-own-it-news", organisation=partner)
    subscription_set(supporter=ada, mailing_list=news, subscribed=True, wording="Email me Coalition news", source="subscribe")
    subscription_set(supporter=ada, mailing_list=others_list, subscribed=True, wording="Other list wording", source="x")
    subscription_set(supporter=ada, mailing_list=partner_list, subscribed=True, wording="Partner list wording", source="y")
    mailing = make_mailing(name="Rally call")
    now = timezone.now()
    Delivery.objects.create(mailing=mailing, supporter=ada, status=Delivery.Status.SENT, sent_at=now, opened_at=now,
                            outcome=Delivery.Outcome.DELIVERED)
    # Grace: the host's only (not the partner's); Renée: Unicode in her address; Lin: the partner's.
    grace = make_supporter("grace@example.org", first_name="Grace", postcode="SW1A 1AA", organisation=host)
    renee = make_supporter("renée@exámple.org", first_name="Renée", postcode="M1 1AE", organisation=host)
    lin = make_supporter("lin@weownit.org.uk", first_name="Lin", postcode="S70 9ZZ", organisation=partner)
    return {"host": host, "partner": partner, "other": other, "host_user": host_user, "partner_user": partner_user,
            "petition": petition, "signature": signature, "ada": ada, "grace": grace, "renee": renee, "lin": lin,
            "mailing": mailing}


def _list_url(org, **params):
    from urllib.parse import urlencode

    return reverse("organise:supporters", kwargs={"org": org.slug}) + ("?" + urlencode(params) if params else "")


def _found(client, org, **params) -> list[str]:
    response = client.get(_list_url(org, **params))
    assert response.status_code == 200, response.content[:500]
    return [s.email for s in response.context["supporters"]]


# --- search ---------------------------------------------------------------------------------------


def test_the_host_finds_people_by_each_field(client, world):
    client.force_login(world["host_user"])
    host = world["host"]
    assert _found(client, host, q="Ada") == ["ada@example.org"]
    assert _found(client, host, q="lovelace") == ["ada@example.org"]
    assert _found(client, host, q="ada love") == ["ada@example.org"]
    assert _found(client, host, q="gr", field="name") == ["grace@example.org"]
    assert _found(client, host, q="ADA@EXAMPLE.ORG") == ["ada@example.org"]
    assert _found(client, host, q="grace@") == ["grace@example.org"]
    assert _found(client, host, q="gra", field="email") == ["grace@example.org"]
    assert _found(client, host, q="sw1a 1aa") == ["grace@example.org"]
    assert _found(client, host, q="SW1A1AA") == ["grace@example.org"]
    assert _found(client, host, q="S70") == ["ada@example.org", "lin@weownit.org.uk"]  # by postcode, then name
    assert _found(client, host, q="nobody-here") == []


def test_an_address_is_found_however_it_is_spelt(client, world):
    """Upper case, decomposed accents (NFD) and punycode are the one stored address."""
    client.force_login(world["host_user"])
    stored = world["renee"].email
    assert stored == "renée@exámple.org"
    nfd_upper = unicodedata.normalize("NFD", "RENÉE@EXÁMPLE.ORG")
    assert nfd_upper != stored.upper()
    punycode = "renée@" + idna.encode("exámple.org").decode("ascii")
    for spelling in (nfd_upper, punycode, "  Renée@Exámple.Org.  ", unicodedata.normalize("NFD", "renée@ex")):
        assert _found(client, world["host"], q=spelling) == [stored], spelling
    assert _found(client, world["host"], q=unicodedata.normalize("NFD", "RENÉE"), field="name") == [stored]


def test_a_partner_finds_only_the_people_who_opt_in_to_it(client, world):
    client.force_login(world["partner_user"])
    partner = world["partner"]
    assert _found(client, partner) == ["lin@weownit.org.uk", "ada@example.org"]  # newest first
    assert _found(client, partner, q="grace@example.org") == []
    assert _found(client, partner, q="SW1A") == []
    assert _found(client, partner, q="S70") == ["ada@example.org", "lin@weownit.org.uk"]
    # Ada withdraws from the partner: gone from its search at once.
    consent_record(supporter=world["ada"], organisation=partner, given=False, wording="No", source="preferences")
    assert _found(client, partner, q="S70") == ["lin@weownit.org.uk"]


def test_more_matches_than_the_limit_say_so_and_page(client, world):
    Supporter.objects.bulk_create(
        Supporter(email=f"crowd{i:04d}@example.org", first_name="Crowd", last_name=f"Person{i:04d}", postcode="LS1 1AA")
        for i in range(SEARCH_LIMIT + 5)
    )
    found = supporters_search(supporters=Supporter.objects.all(), query="crowd")
    assert found.more and len(found.ids) == SEARCH_LIMIT
    client.force_login(world["host_user"])
    response = client.get(_list_url(world["host"], q="crowd", page="2"))
    assert response.status_code == 200
    emails = [s.email for s in response.context["supporters"]]
    assert emails[0] == "crowd0050@example.org" and len(emails) == 50
    text = response.content.decode()
    assert f"More than {SEARCH_LIMIT} match" in text and "page=3" in text and "q=crowd" in text
    # A page past the end shows the last one.
    last = client.get(_list_url(world["host"], q="crowd", page="999"))
    assert last.status_code == 200 and last.context["page"].number == SEARCH_LIMIT // 50


def test_a_partners_search_reads_past_the_people_it_may_not_see(world):
    """The partner's people are checked batch by batch along the index: 1,500 of the host's
    people before Ada's address do not hide her."""
    Supporter.objects.bulk_create(
        Supporter(email=f"aaa{i:04d}@example.org", first_name="Aaa", last_name="Host", postcode="LS1 1AA") for i in range(1500)
    )
    partner_people = Workspace(user=None, organisation=world["partner"]).supporters()
    found = supporters_search(supporters=partner_people, query="a", field="email")
    assert found.ids == [world["ada"].pk] and not found.more and not found.cut
    everyone = supporters_search(supporters=Supporter.objects.all(), query="a", field="email")
    assert len(everyone.ids) == SEARCH_LIMIT and everyone.more


@pytest.mark.parametrize("params,message", [
    ({"q": "a" * 255}, "at most 254 characters"),
    ({"q": "ada\x00"}, "invisible control characters"),
    ({"q": "ada", "field": "shoe size"}, "name, email address or postcode"),
    ({"q": "ada", "page": "two"}, "whole number"),
    ({"q": "ada", "page": "0"}, "whole number"),
    ({"q": "ada", "page": "²"}, "whole number"),
])
def test_bad_search_input_is_a_400_with_a_message(client, world, params, message):
    client.force_login(world["host_user"])
    response = client.get(_list_url(world["host"], **params))
    assert response.status_code == 400
    assert message in response.content.decode()
    csv_response = client.get(reverse("organise:supporters_csv", kwargs={"org": world["host"].slug}), params)
    assert csv_response.status_code == 400 and message in csv_response.content.decode()


@given(q=arbitrary_text, field=st.one_of(st.sampled_from(["", "name", "email", "postcode"]), arbitrary_text),
       page=st.one_of(st.none(), arbitrary_text, st.integers(min_value=-5, max_value=10**20).map(str)))
def test_any_search_is_a_200_or_a_400(client, world, q, field, page):
    client.force_login(world["host_user"])
    params = {"q": q, "field": field, **({"page": page} if page is not None else {})}
    # A lone surrogate arrives as the replacement character: Django decodes the query string so.
    safe = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in params.items()}
    response = client.get(reverse("organise:supporters", kwargs={"org": world["host"].slug}), safe)
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert "There is a problem" in response.content.decode()


# --- a person's page ------------------------------------------------------------------------------


def _page(client, org, supporter):
    response = client.get(reverse("organise:supporter", kwargs={"org": org.slug, "pk": supporter.pk}))
    assert response.status_code == 200
    return response


def test_the_host_sees_the_whole_history(client, world):
    client.force_login(world["host_user"])
    response = _page(client, world["host"], world["ada"])
    context = response.context
    ada = world["ada"]
    assert [s.pk for s in context["signatures"]] == [world["signature"].pk]
    assert [(c.organisation.slug, c.given) for c in context["consents"]] == [
        (c.organisation.slug, c.given) for c in Consent.objects.filter(supporter=ada).order_by("created_at", "id")
    ]
    assert [(c.organisation.slug, c.given) for c in context["consents"]][-2:] == [
        ("keep-our-nhs-public", True), ("keep-our-nhs-public", False),
    ]
    assert {"health-campaigns-together", "we-own-it"} <= {c.organisation.slug for c in context["consents"]}
    assert sorted(s.mailing_list.slug for s in context["subscriptions"]) == [
        "coalition-news", "keep-our-nhs-news", "we-own-it-news",
    ]
    assert [e.wording for e in context["subscription_events"]] == [
        "Email me Coalition news", "Other list wording", "Partner list wording",
    ]
    assert [d.mailing.name for d in context["deliveries"]] == ["Rally call"]
    assert list(context["emails"]) == list(OutboundEmail.objects.filter(supporter=ada).order_by("-created_at", "-id"))
    assert context["emails"], "the confirmation email is listed"
    text = response.content.decode()
    for shown in ("Scrap the ICP contract", "We Own It", "newsletter", "Other&#x27;s withdrawal", "Rally call",
                  "Keep Our NHS Public", "Download everything held about them", "Erase this person"):
        assert shown in text, shown


def test_a_partner_sees_only_what_concerns_it(client, world):
    client.force_login(world["partner_user"])
    response = _page(client, world["partner"], world["ada"])
    context = response.context
    assert [s.pk for s in context["signatures"]] == [world["signature"].pk]  # through the partner
    assert {c.organisation.slug for c in context["consents"]} == {"we-own-it"}
    assert [s.mailing_list.slug for s in context["subscriptions"]] == ["we-own-it-news"]
    assert [e.wording for e in context["subscription_events"]] == ["Partner list wording"]
    assert context["deliveries"] == [] and context["emails"] == []
    text = response.content.decode()
    for hidden in ("Keep Our NHS Public", "Other&#x27;s", "Coalition news", "Rally call", "Emails received",
                   "Health Campaigns Together</td>", "Erase this person", "Download everything"):
        assert hidden not in text, hidden


def test_a_partner_does_not_see_signatures_through_another_route(client, world):
    elsewhere = make_petition(slug="elsewhere", title="Elsewhere")
    make_signature(petition=elsewhere, confirm=True)  # Ada again, through no partner, on the host's petition
    client.force_login(world["partner_user"])
    assert [s.petition.slug for s in _page(client, world["partner"], world["ada"]).context["signatures"]] == [
        "scrap-the-icp-contract"
    ]
    client.force_login(world["host_user"])
    assert len(_page(client, world["host"], world["ada"]).context["signatures"]) == 2


# --- export and erasure ---------------------------------------------------------------------------


def test_the_host_downloads_everything_held_about_a_person(client, world):
    client.force_login(world["host_user"])
    response = client.get(reverse("organise:supporter_export", kwargs={"org": world["host"].slug, "pk": world["ada"].pk}))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"] and "ada" not in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["format"] == "muster-personal-data/1"
    assert data["supporter"]["email"] == "ada@example.org"
    assert [s["petition"] for s in data["signatures"]] == ["Scrap the ICP contract"]
    assert {c["organisation"] for c in data["consents"]} >= {"Keep Our NHS Public", "We Own It"}
    assert [m["mailing"] for m in data["mailings_received"]] == ["Rally call"]


def test_erasing_asks_first_then_erases_and_says_so(client, world):
    client.force_login(world["host_user"])
    ada, host = world["ada"], world["host"]
    url = reverse("organise:supporter_erase", kwargs={"org": host.slug, "pk": ada.pk})
    page = client.get(url)
    assert page.status_code == 200 and "cannot be undone" in page.content.decode()
    refused = client.post(url, {})
    assert refused.status_code == 400 and "Tick the box" in refused.content.decode()
    assert Supporter.objects.filter(pk=ada.pk).exists()
    refused = client.post(url, {"confirm": "no"})
    assert refused.status_code == 400 and Supporter.objects.filter(pk=ada.pk).exists()

    done = client.post(url, {"confirm": "yes"}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("organise:supporters", kwargs={"org": host.slug})
    assert "The supporter has been erased" in done.content.decode()
    assert "ada@example.org" not in done.content.decode()
    assert not Supporter.objects.filter(pk=ada.pk).exists()
    assert Suppression.objects.filter(email_hash=email_hash("ada@example.org"), reason=Suppression.Reason.ERASED).exists()
    signature = Signature.objects.get(pk=world["signature"].pk)
    assert signature.supporter_id is None and signature.status == Signature.Status.CONFIRMED  # still counts
    assert not Consent.objects.filter(supporter_id=ada.pk).exists()
    assert not Subscription.objects.filter(supporter_id=ada.pk).exists()
    assert Delivery.objects.get(mailing=world["mailing"]).supporter_id is None
    assert client.get(reverse("organise:supporter", kwargs={"org": host.slug, "pk": ada.pk})).status_code == 404
    assert client.post(url, {"confirm": "yes"}).status_code == 404  # twice: nobody left to erase


def test_a_partner_may_neither_erase_nor_export(client, world):
    client.force_login(world["partner_user"])
    partner, ada = world["partner"], world["ada"]
    assert client.post(reverse("organise:supporter_erase", kwargs={"org": partner.slug, "pk": ada.pk}),
                       {"confirm": "yes"}).status_code == 403
    assert client.get(reverse("organise:supporter_export", kwargs={"org": partner.slug, "pk": ada.pk})).status_code == 403
    assert Supporter.objects.filter(pk=ada.pk).exists()


# --- CSV ------------------------------------------------------------------------------------------


def _csv(client, org, **params):
    response = client.get(reverse("organise:supporters_csv", kwargs={"org": org.slug}), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_host_downloads_a_search_as_csv(client, world):
    client.force_login(world["host_user"])
    rows = _csv(client, world["host"], q="S70")
    assert rows[0] == ["email", "first_name", "last_name", "country", "postcode", "created_at"]
    assert sorted(r[0] for r in rows[1:]) == ["ada@example.org", "lin@weownit.org.uk"]
    assert len(_csv(client, world["host"])) == 1 + Supporter.objects.count()


def test_a_partner_downloads_its_opted_in_people_as_its_api_gives_them(client, world):
    from petitions.views.partner_api import CSV_HEADER

    client.force_login(world["partner_user"])
    rows = _csv(client, world["partner"])
    assert rows[0] == CSV_HEADER
    assert sorted(r[0] for r in rows[1:]) == ["ada@example.org", "lin@weownit.org.uk"]
    assert [r[0] for r in _csv(client, world["partner"], q="lin")[1:]] == ["lin@weownit.org.uk"]
    assert _csv(client, world["partner"], q="grace@")[1:] == []
