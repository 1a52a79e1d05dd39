"""The segment builder in the workspace: the menus' options, what each condition means against
real rows, nested groups, the live count (the send's own rule), saving, export and import, and
bad input answered with a message and a 400, never a 500."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from engage.models import Supporter
from mailings.models import Delivery, Mailing, Segment
from mailings.selectors.recipients import recipients_eligible
from mailings.selectors.segments import SegmentError, conditions_described, segment_supporters
from tests.support.factories import (
    make_list,
    make_mailing,
    make_organisation,
    make_other_partner,
    make_partner,
    make_petition,
    make_signature,
    make_supporter,
    supporter_ids,
    suppress,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def host_client(client, host):
    user = get_user_model().objects.create_user("organiser-seg", password="pw")
    host.members.add(user)
    client.force_login(user)
    return client


def urls(host):
    org = host.slug
    return {
        "list": reverse("organise:segments", kwargs={"org": org}),
        "new": reverse("organise:segment-new", kwargs={"org": org}),
        "count": reverse("organise:segment-count", kwargs={"org": org}),
        "import": reverse("organise:segment-import", kwargs={"org": org}),
    }


def count(client, host, definition, basis=""):
    return client.post(urls(host)["count"], data=json.dumps({"definition": definition, "basis": basis}),
                       content_type="application/json")


def matching(definition):
    return supporter_ids(segment_supporters(definition))


def sign(petition, email, **fields):
    return make_signature(petition=petition, email=email, opt_in=True, confirm=True, on_commit=False, **fields).supporter


def options_of(name, param):
    spec = next(c for c in conditions_described() if c["name"] == name)
    described = next(p for p in spec["params"] if p["key"] == param)
    return described


# --- The menus -----------------------------------------------------------------------------------


def test_the_menus_offer_what_exists(host):
    news = make_list(slug="coalition-news", name="Coalition news", organisation=host)
    partner = make_partner()
    petition = make_petition()
    make_petition(slug="draft-one", title="A draft", status="draft")
    make_supporter("b@example.org", postcode="S70 2AB")
    make_supporter("s@example.org", postcode="S1 2HE")
    make_supporter("sw@example.org", postcode="SW1A 1AA")
    make_supporter("fr@example.org", postcode="75001", country="FR")
    sign(petition, "leaflet@example.org", source="leaflet", postcode="DN1 1AA")
    mailing = make_mailing(name="Rally call")
    Mailing.objects.filter(pk=mailing.pk).update(status=Mailing.Status.SENT)
    make_mailing(name="Still a draft")

    assert {(o["value"], o["label"], o["group"]) for o in options_of("subscribed_to_list", "list")["options"]} == {
        (news.slug, "Coalition news", host.name)
    }
    assert [o["value"] for o in options_of("signed_petition", "petition")["options"]] == [petition.slug]
    assert {o["value"] for o in options_of("signed_via_partner", "partner")["options"]} == {host.slug, partner.slug}
    assert options_of("signed_via_partner", "petition")["required"] is False
    assert [o["value"] for o in options_of("signed_with_source", "source")["options"]] == ["leaflet"]
    prefixes = options_of("postcode", "prefix")["options"]
    assert [o["value"] for o in prefixes if o["group"] == "Postcode areas"] == ["DN", "S", "SW"]
    assert [o["value"] for o in prefixes if o["group"] == "Postcode districts"] == ["DN1", "S1", "S70", "SW1A"]
    assert {o["value"]: o["label"] for o in options_of("country", "country")["options"]} == {"FR": "France", "GB": "United Kingdom"}
    assert [o["value"] for o in options_of("received_mailing", "mailing")["options"]] == [str(mailing.pk)]
    assert options_of("mailing_recent", "days")["kind"] == "number"
    assert options_of("joined_between", "from")["kind"] == "date"


def test_the_postcode_and_country_options_are_read_once_then_cached(host):
    make_supporter("b@example.org", postcode="S70 2AB")
    options_of("postcode", "prefix")
    make_supporter("n@example.org", postcode="N1 9GU")
    with CaptureQueriesContext(connection) as queries:
        prefixes = options_of("postcode", "prefix")["options"]
        options_of("country", "country")
    assert not any("engage_supporter" in q["sql"] for q in queries.captured_queries)
    assert "N1" not in {o["value"] for o in prefixes}  # until the cache expires


# --- What each condition means ----------------------------------------------------------------


def test_opened_clicked_and_recent_mailing_conditions(host):
    ada, bob, cy, dee = (make_supporter(f"{n}@example.org") for n in ("ada", "bob", "cy", "dee"))
    mailing, other = make_mailing(), make_mailing(name="Other")
    now = timezone.now()
    Delivery.objects.create(mailing=mailing, supporter=ada, status=Delivery.Status.SENT, sent_at=now,
                            opened_at=now, clicked_at=now)
    Delivery.objects.create(mailing=mailing, supporter=bob, status=Delivery.Status.SENT, sent_at=now, opened_at=now)
    Delivery.objects.create(mailing=mailing, supporter=cy, status=Delivery.Status.SENT, sent_at=now - timedelta(days=40))
    Delivery.objects.create(mailing=other, supporter=dee, status=Delivery.Status.QUEUED)
    assert matching({"condition": "received_mailing", "mailing": mailing.pk}) == {ada.pk, bob.pk, cy.pk}
    assert matching({"condition": "opened_mailing", "mailing": mailing.pk}) == {ada.pk, bob.pk}
    assert matching({"condition": "clicked_mailing", "mailing": str(mailing.pk)}) == {ada.pk}
    assert matching({"condition": "opened_mailing", "mailing": other.pk}) == set()
    assert matching({"condition": "mailing_recent", "action": "received", "days": 30}) == {ada.pk, bob.pk}
    assert matching({"condition": "mailing_recent", "action": "received", "days": "60"}) == {ada.pk, bob.pk, cy.pk}
    assert matching({"condition": "mailing_recent", "action": "opened", "days": 7}) == {ada.pk, bob.pk}
    assert matching({"condition": "mailing_recent", "action": "clicked", "days": 7}) == {ada.pk}
    # Never received anything in the last 30 days: cy (40 days ago) and dee (only queued).
    assert matching({"not": {"condition": "mailing_recent", "action": "received", "days": 30}}) == {cy.pk, dee.pk}


def test_signed_through_two_partners_or_a_source(host):
    petition, other = make_petition(), make_petition(slug="save-our-hospital", title="Save our hospital")
    we_own_it, keep_nhs = make_partner(), make_other_partner(origins="")
    via_one = sign(petition, "one@example.org", partner=we_own_it)
    via_two = sign(other, "two@example.org", partner=keep_nhs)
    by_leaflet = sign(petition, "leaflet@example.org", source="leaflet")
    either = {"any": [{"condition": "signed_via_partner", "partner": we_own_it.slug},
                      {"condition": "signed_via_partner", "partner": keep_nhs.slug}]}
    assert matching(either) == {via_one.pk, via_two.pk}
    assert matching({"all": [either, {"condition": "signed_petition", "petition": petition.slug}]}) == {via_one.pk}
    assert matching({"condition": "signed_with_source", "source": "leaflet", "petition": petition.slug}) == {by_leaflet.pk}
    assert matching({"condition": "signed_with_source", "source": "leaflet", "petition": other.slug}) == set()


def test_nested_groups_all_any_none(host):
    """all( list, any(S area, none(S70 district, FR)) ): a group inside a group."""
    news = make_list(slug="news", organisation=host)
    barnsley = make_supporter("barnsley@example.org", postcode="S70 2AB", subscribed_to=news)
    sheffield = make_supporter("sheffield@example.org", postcode="S1 2HE", subscribed_to=news)
    london = make_supporter("london@example.org", postcode="N1 9GU", subscribed_to=news)
    paris = make_supporter("paris@example.org", postcode="75001", country="FR", subscribed_to=news)
    make_supporter("off-list@example.org", postcode="S1 2HE")
    definition = {"all": [
        {"condition": "subscribed_to_list", "list": "news"},
        {"any": [
            {"condition": "postcode", "prefix": "S"},
            {"not": {"any": [{"condition": "postcode", "prefix": "S70"}, {"condition": "country", "country": "FR"}]}},
        ]},
    ]}
    assert matching(definition) == {barnsley.pk, sheffield.pk, london.pk}
    definition["all"][1] = {"not": {"any": [{"condition": "postcode", "prefix": "S"},
                                            {"all": [{"condition": "country", "country": "FR"}]}]}}
    assert matching(definition) == {london.pk}
    assert paris.pk not in matching(definition)


@pytest.mark.parametrize("node, message", [
    ({"condition": "subscribed_to_list"}, "needs its list chosen"),
    ({"condition": "subscribed_to_list", "list": ["news"]}, "must be text or a number"),
    ({"condition": "subscribed_to_list", "list": "news\x00"}, "not a value"),
    ({"condition": "subscribed_to_list", "list": "\ud800"}, "not a value"),
    ({"condition": "signed_petition", "petition": "nope"}, "No petition"),
    ({"condition": "signed_via_partner", "partner": "nope"}, "No organisation"),
    ({"condition": "signed_via_partner", "partner": True}, "must be text or a number"),
    ({"condition": "received_mailing", "mailing": 999999}, "No mailing"),
    ({"condition": "opened_mailing", "mailing": "-1"}, "mailing's number"),
    ({"condition": "mailing_recent", "action": "bounced", "days": 3}, "received, opened or clicked"),
    ({"condition": "mailing_recent", "action": "opened", "days": 0}, "whole number from 1"),
    ({"condition": "mailing_recent", "action": "opened", "days": 10**30}, "whole number"),
    ({"condition": "mailing_recent", "action": "opened"}, "needs its in the last"),
    ({"condition": "joined_between", "from": "9999-12-31"}, "must be a date"),
    ({"condition": "signed_between", "from": "2025-05-01", "to": "2025-04-01"}, "must not be after"),
    ({"condition": "country", "country": "GBR"}, "two-letter"),
    ({"condition": ["postcode"]}, "Unknown condition"),
    ({"all": [{"condition": "country", "country": "GB"}] * 201}, "at most 200"),
])
def test_every_parameter_is_checked_with_a_message(host, node, message):
    make_list(slug="news", organisation=host)
    with pytest.raises(SegmentError, match=message):
        segment_supporters(node)


# --- The live count ----------------------------------------------------------------------------


def test_the_count_is_the_sends_own_rule_for_a_list_and_for_an_organisation(host_client, host):
    news = make_list(slug="news", organisation=host)
    ok = make_supporter("ok@example.org", first_name="Olu", subscribed_to=news)
    make_supporter("bounced@example.org", subscribed_to=news)
    suppress("bounced@example.org")
    make_supporter("no-consent@example.org", subscribed_to=news, opted_in=False)
    opted_in_only = make_supporter("opted@example.org")
    make_supporter("left@example.org", unsubscribed_from=news)
    definition = {"condition": "postcode", "prefix": "S70"}
    everyone = segment_supporters(definition)

    on_list = count(host_client, host, definition, f"list:{news.pk}").json()
    assert on_list["matching"] == everyone.count() == 5
    assert on_list["eligible"] == recipients_eligible(everyone, organisation=host, mailing_list=news).count() == 1
    assert "5 people match. 1 of them can be emailed on News." == on_list["summary"]

    as_host = count(host_client, host, definition, f"organisation:{host.pk}").json()
    assert as_host["eligible"] == recipients_eligible(everyone, organisation=host, mailing_list=None).count() == 3
    assert {p["email"] for p in as_host["sample"]} == set(everyone.values_list("email", flat=True))
    sample = next(p for p in as_host["sample"] if p["id"] == ok.pk)
    assert sample == {"id": ok.pk, "name": "Olu Test", "email": "ok@example.org", "postcode": "S70 2AB"}
    assert opted_in_only.pk in {p["id"] for p in as_host["sample"]}

    no_basis = count(host_client, host, definition).json()
    assert no_basis["eligible"] is None and no_basis["matching"] == 5


@pytest.mark.parametrize("small", [0, 1, 900, 50_000])
def test_small_and_large_segments_are_counted_alike(host_client, host, monkeypatch, small):
    """Up to SMALL_SEGMENT people are checked by id, more as a whole: the same figures."""
    monkeypatch.setattr("mailings.selectors.segments.SMALL_SEGMENT", {"postgresql": small})
    monkeypatch.setattr("mailings.selectors.segments.SMALL_SEGMENT_OTHER", small)
    news = make_list(slug="news", organisation=host)
    for i in range(4):
        make_supporter(f"in{i}@example.org", postcode="S1 1AA", subscribed_to=news, opted_in=i != 3)
    suppress("in0@example.org")
    make_supporter("out@example.org", postcode="N1 1AA", subscribed_to=news)
    definition = {"condition": "postcode", "prefix": "S"}
    everyone = segment_supporters(definition)
    for basis, mailing_list in ((f"list:{news.pk}", news), (f"organisation:{host.pk}", None)):
        answer = count(host_client, host, definition, basis).json()
        assert answer["matching"] == 4
        assert answer["eligible"] == recipients_eligible(everyone, organisation=host, mailing_list=mailing_list).count() == 2
        assert [p["email"] for p in answer["sample"]] == ["in3@example.org", "in2@example.org", "in1@example.org",
                                                          "in0@example.org"]
    nobody = count(host_client, host, {"condition": "country", "country": "ZZ"}, f"list:{news.pk}").json()
    assert (nobody["matching"], nobody["eligible"], nobody["sample"]) == (0, 0, [])


def test_the_count_takes_few_queries(host_client, host):
    news = make_list(slug="news", organisation=host)
    for i in range(30):
        make_supporter(f"q{i}@example.org", subscribed_to=news)
    definition = {"all": [{"condition": "subscribed_to_list", "list": "news"}, {"condition": "postcode", "prefix": "S70"}]}
    with CaptureQueriesContext(connection) as queries:
        assert count(host_client, host, definition, f"list:{news.pk}").json()["matching"] == 30
    # Session, user and organisation; the list's slug (twice: checked, then built); the basis;
    # the ids, the eligible count and the sample (on PostgreSQL inside a savepoint, after two SET LOCAL).
    assert len(queries.captured_queries) <= 13, [q["sql"][:60] for q in queries.captured_queries]


def test_the_sample_is_ten_people(host_client, host):
    for i in range(12):
        make_supporter(f"p{i}@example.org", opted_in=None)
    answer = count(host_client, host, {"all": []}).json()
    assert answer["matching"] == 12 and len(answer["sample"]) == 10


@pytest.mark.parametrize("body", [
    "", "[]", "3", "null", '"x"', "{", '{"definition": NaN}',
    json.dumps({"definition": None}), json.dumps({"definition": []}), json.dumps({"definition": "{"}),
    json.dumps({"definition": {"any": []}}), json.dumps({"definition": {"condition": "nope"}}),
    json.dumps({"definition": {"condition": "postcode", "prefix": "12"}}),
    json.dumps({"definition": {"all": [{"condition": "country", "country": {"a": 1}}]}}),
    '{"definition": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"definition": {"condition": "mailing_recent", "action": "opened", "days": ' + "9" * 400 + "}}",
    json.dumps({"definition": {"condition": "subscribed_to_list", "list": "\ud800"}}),
])
def test_bad_input_to_the_count_is_a_400_with_a_message(host_client, host, body):
    response = host_client.post(urls(host)["count"], data=body, content_type="application/json")
    assert response.status_code == 400, body
    assert response.json()["error"].strip()


def test_a_bad_basis_counts_without_the_emailable_figure(host_client, host):
    for basis in ("list:abc", "list:99999", "organisation:²", "x:1", 7, ["list:1"], "list:" + "9" * 40):
        answer = count(host_client, host, {"all": []}, basis)
        assert answer.status_code == 200 and answer.json()["eligible"] is None


def test_a_partner_may_not_count(client, host):
    partner = make_partner()
    user = get_user_model().objects.create_user("partner-seg", password="pw")
    partner.members.add(user)
    client.force_login(user)
    url = reverse("organise:segment-count", kwargs={"org": partner.slug})
    assert client.post(url, data="{}", content_type="application/json").status_code == 403
    assert client.post(urls(host)["count"], data="{}", content_type="application/json").status_code == 404


# --- Saving, export and import -------------------------------------------------------------------


def test_a_segment_is_saved_by_a_plain_form_post_and_edited(host_client, host):
    make_list(slug="news", organisation=host)
    definition = {"all": [{"condition": "subscribed_to_list", "list": "news"}]}
    page = host_client.get(urls(host)["new"])
    assert page.status_code == 200 and b'id="segment-builder-data"' in page.content
    response = host_client.post(urls(host)["new"], {"name": "News readers", "description": "For the rally",
                                                   "definition": json.dumps(definition)})
    segment = Segment.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "organise:segment", kwargs={"org": host.slug, "pk": segment.pk})
    assert (segment.name, segment.description, segment.definition) == ("News readers", "For the rally", definition)
    editor = host_client.get(response["Location"])
    assert editor.status_code == 200
    assert json.loads(editor.context["form"]["definition"].value()) == definition  # the field the builder reads

    edited = {"any": [{"condition": "country", "country": "FR"}, {"not": {"condition": "postcode", "prefix": "S"}}]}
    host_client.post(response["Location"], {"name": "Abroad", "description": "", "definition": json.dumps(edited)})
    segment.refresh_from_db()
    assert (segment.name, segment.definition) == ("Abroad", edited)


@pytest.mark.parametrize("fields, message", [
    ({"name": "", "definition": '{"all": []}'}, "This field is required"),
    ({"name": "A\x01b", "definition": '{"all": []}'}, "control characters"),
    ({"name": "Bad", "definition": "{not json"}, "not valid JSON"),
    ({"name": "Bad", "definition": '{"condition": "subscribed_to_list", "list": "missing"}'}, "No list"),
    ({"name": "Bad", "definition": ""}, "This field is required"),
])
def test_a_bad_save_is_a_400_and_writes_nothing(host_client, host, fields, message):
    response = host_client.post(urls(host)["new"], fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Segment.objects.exists()


def test_export_then_import_gives_the_same_segment(host_client, host):
    news = make_list(slug="news", organisation=host)
    petition = make_petition()
    definition = {"all": [{"condition": "subscribed_to_list", "list": news.slug},
                          {"not": {"any": [{"condition": "signed_petition", "petition": petition.slug}]}}]}
    original = Segment.objects.create(name="Not yet signed: Škoda", description="Für alle", definition=definition)
    export = host_client.get(reverse("organise:segment-export", kwargs={"org": host.slug, "pk": original.pk}))
    assert export.status_code == 200
    assert export["Content-Type"] == "application/json"
    assert 'attachment; filename="segment-not-yet-signed-skoda.json"' == export["Content-Disposition"]
    document = json.loads(export.content)
    assert document == {"muster_segment": 1, "name": original.name, "description": "Für alle", "definition": definition}

    upload = SimpleUploadedFile("segment.json", export.content, content_type="application/json")
    response = host_client.post(urls(host)["import"], {"file": upload})
    imported = Segment.objects.exclude(pk=original.pk).get()
    assert response.status_code == 302 and str(imported.pk) in response["Location"]
    assert (imported.name, imported.description, imported.definition) == (original.name, "Für alle", definition)

    # Pasted, a bare definition, with a name given on the form.
    response = host_client.post(urls(host)["import"], {"text": json.dumps(definition), "name": "Pasted"})
    assert response.status_code == 302
    assert Segment.objects.get(name="Pasted").definition == definition


@pytest.mark.parametrize("fields, message", [
    ({}, "Choose a segment file"),
    ({"text": "{oops"}, "not valid JSON"),
    ({"text": json.dumps({"all": []})}, "Give the segment a name"),
    ({"text": json.dumps({"condition": "signed_petition", "petition": "elsewhere"}), "name": "X"}, "No petition"),
    ({"text": json.dumps({"muster_segment": 2, "name": "X", "definition": {"all": []}})}, "newer version"),
    ({"text": json.dumps({"muster_segment": 1, "name": ["X"], "definition": {"all": []}})}, "Give the segment a name"),
    ({"text": json.dumps({"muster_segment": 1, "name": "X\x00", "definition": {"all": []}})}, "control characters"),
    ({"text": json.dumps({"muster_segment": 1, "name": "X" * 201, "definition": {"all": []}})}, "too long"),
])
def test_a_bad_import_is_a_400_with_a_message_and_writes_nothing(host_client, host, fields, message):
    response = host_client.post(urls(host)["import"], fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Segment.objects.exists()


def test_the_list_shows_the_segments_with_their_links(host_client, host):
    segment = Segment.objects.create(name="Barnsley signers", definition={"all": []})
    page = host_client.get(urls(host)["list"]).content.decode()
    assert "Barnsley signers" in page
    assert reverse("organise:segment", kwargs={"org": host.slug, "pk": segment.pk}) in page
    assert reverse("organise:segment-export", kwargs={"org": host.slug, "pk": segment.pk}) in page
    assert urls(host)["new"] in page and urls(host)["import"] in page


def test_an_old_definition_still_builds_and_the_admin_still_reads_params():
    """The JSON format and the registry's `params` descriptions are as they were."""
    make_organisation()
    from mailings.selectors.segments import conditions

    described = {c.name: c.params for c in conditions()}
    assert described["subscribed_to_list"] == {"list": "List"}
    assert described["signed_via_partner"] == {"partner": "Partner", "petition": "Petition (optional)"}
    assert Supporter.objects.count() == 0
    assert matching({"all": [{"not": {"condition": "postcode", "prefix": "S"}}]}) == set()
