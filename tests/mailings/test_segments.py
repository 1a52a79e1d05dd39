"""Segments: each condition, all / any / not, bad definitions, and the exclusion rule on top."""

from datetime import timedelta

import pytest
from django.utils import timezone

from engage.models import Supporter
from mailings.models import Delivery
from mailings.selectors.recipients import recipients_eligible
from mailings.selectors.segments import SegmentError, segment_supporters
from tests.support.factories import (
    make_list,
    make_mailing,
    make_organisation,
    make_other_partner,
    make_petition,
    make_signature,
    make_supporter,
    supporter_ids,
    suppress,
)

pytestmark = pytest.mark.django_db


def matching(definition):
    return supporter_ids(segment_supporters(definition))


def sign(petition, email, *, confirm=True, **fields):
    """The supporter who signed `petition` as Sam Signer, ticking the host's box."""
    return make_signature(
        petition=petition, email=email, first_name="Sam", last_name="Signer", opt_in=True, confirm=confirm,
        on_commit=False, **fields,
    ).supporter


def test_it_selects_by_list_subscription_and_consent():
    news = make_list(slug="news")
    partner = make_organisation(slug="we-own-it", name="We Own It", kind="partner")
    subscribed = make_supporter("sub@example.org", subscribed_to=news)
    left = make_supporter("left@example.org", unsubscribed_from=news)
    partner_fan = make_supporter("fan@example.org", organisation=partner)
    assert matching({"condition": "subscribed_to_list", "list": "news"}) == {subscribed.pk}
    assert left.pk not in matching({"condition": "subscribed_to_list", "list": "news"})
    assert matching({"condition": "consented_to", "organisation": "we-own-it"}) == {partner_fan.pk}
    # Nobody with no consent row at all is "consented", and all of them are "not consented".
    assert partner_fan.pk not in matching({"not": {"condition": "consented_to", "organisation": "we-own-it"}})
    assert {subscribed.pk, left.pk} <= matching({"not": {"condition": "consented_to", "organisation": "we-own-it"}})


def test_it_selects_by_postcode_area_district_and_country():
    barnsley = make_supporter("b@example.org", postcode="S70 2AB")
    sheffield = make_supporter("s@example.org", postcode="S1 2HE")
    south_west = make_supporter("sw@example.org", postcode="SW1A 1AA")
    abroad = make_supporter("fr@example.org", postcode="75001", country="FR")
    assert matching({"condition": "postcode", "prefix": "S"}) == {barnsley.pk, sheffield.pk}
    assert matching({"condition": "postcode", "prefix": "s70"}) == {barnsley.pk}
    assert matching({"condition": "postcode", "prefix": "SW1A"}) == {south_west.pk}
    assert matching({"condition": "country", "country": "fr"}) == {abroad.pk}


def test_it_selects_by_join_date():
    old = make_supporter("old@example.org")
    Supporter.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    new = make_supporter("new@example.org")
    today = timezone.localdate().isoformat()
    assert matching({"condition": "joined_between", "from": today}) == {new.pk}
    assert matching({"condition": "joined_between", "to": (timezone.localdate() - timedelta(days=300)).isoformat()}) == {old.pk}


def test_it_selects_by_mailing_received_or_not():
    ada, bob = make_supporter("ada@example.org"), make_supporter("bob@example.org")
    mailing = make_mailing()
    Delivery.objects.create(mailing=mailing, supporter=ada, status=Delivery.Status.SENT)
    Delivery.objects.create(mailing=mailing, supporter=bob, status=Delivery.Status.QUEUED)
    assert matching({"condition": "received_mailing", "mailing": mailing.pk}) == {ada.pk}
    assert matching({"not": {"condition": "received_mailing", "mailing": str(mailing.pk)}}) == {bob.pk}


def test_it_selects_confirmed_signers_by_petition_partner_source_and_date():
    petition = make_petition()
    other = make_petition(slug="save-our-hospital", title="Save our hospital")
    partner = make_other_partner(origins="")
    confirmed = sign(petition, "confirmed@example.org", source="leaflet")
    sign(petition, "pending@example.org", confirm=False)
    via_partner = sign(other, "partner@example.org", partner=partner)
    assert matching({"condition": "signed_petition", "petition": petition.slug}) == {confirmed.pk}
    assert matching({"condition": "signed_via_partner", "partner": partner.slug}) == {via_partner.pk}
    assert matching({"condition": "signed_via_partner", "partner": partner.slug, "petition": petition.slug}) == set()
    assert matching({"condition": "signed_with_source", "source": "leaflet"}) == {confirmed.pk}
    today = timezone.localdate().isoformat()
    assert matching({"condition": "signed_between", "from": today, "to": today}) == {confirmed.pk, via_partner.pk}


def test_it_combines_with_all_any_and_not():
    a = make_supporter("a@example.org", postcode="S70 2AB")
    b = make_supporter("b@example.org", postcode="S1 2HE")
    c = make_supporter("c@example.org", postcode="DN1 1AA")
    definition = {"all": [
        {"any": [{"condition": "postcode", "prefix": "S"}, {"condition": "postcode", "prefix": "DN"}]},
        {"not": {"condition": "postcode", "prefix": "S1"}},
    ]}
    assert matching(definition) == {a.pk, c.pk}
    assert matching({"all": []}) == {a.pk, b.pk, c.pk}


@pytest.mark.parametrize("definition, message", [
    ({}, "must be an object"),
    ({"condition": "nope"}, "Unknown condition"),
    ({"condition": "subscribed_to_list", "list": "missing"}, "No list"),
    ({"condition": "postcode", "prefix": "12"}, "not a postcode area"),
    ({"condition": "joined_between", "from": "yesterday"}, "must be a date"),
    ({"any": []}, "at least one"),
    ({"all": {}, "any": []}, "exactly one"),
    ({"xor": []}, "Unknown operator"),
])
def test_it_explains_what_is_wrong_with_a_definition(definition, message):
    with pytest.raises(SegmentError, match=message):
        segment_supporters(definition)


def test_it_never_lets_a_segment_include_the_excluded():
    host = make_organisation()
    news = make_list(slug="news")
    ok = make_supporter("ok@example.org", subscribed_to=news)
    make_supporter("bounced@example.org", subscribed_to=news)
    suppress("bounced@example.org")
    make_supporter("no-consent@example.org", subscribed_to=news, opted_in=False)
    make_supporter("left@example.org", unsubscribed_from=news)
    everyone = segment_supporters({"all": []})
    assert everyone.count() == 4
    assert supporter_ids(recipients_eligible(everyone, organisation=host, mailing_list=news)) == {ok.pk}
