"""Reviewing held signatures in the workspace: the fraud signals beside each (IP hash and how many
share it, domain, folded address and how many fold to it, timing), filtered by petition; release
and invalidate in bulk through the admin's own services, counted and confirmed as the admin's
are; bad input a 400 with a message that changes nothing."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from mailings.models import OutboundEmail
from petitions.models import Signature
from petitions.services.signing import ip_hash
from tests.support.factories import make_organisation, make_organiser, make_partner, make_petition, make_signature
from tests.support.strategies import arbitrary_text

pytestmark = pytest.mark.django_db


def _held(petition, email, *, ip="203.0.113.9", reason=Signature.HoldReason.RATE_LIMIT, minutes_ago=0):
    signature = make_signature(petition=petition, email=email, ip=ip, hold_reason=reason)
    if minutes_ago:
        Signature.objects.filter(pk=signature.pk).update(created_at=signature.created_at - timedelta(minutes=minutes_ago))
    return Signature.objects.get(pk=signature.pk)


@pytest.fixture
def world(db):
    host, partner = make_organisation(), make_partner()
    host_user = get_user_model().objects.create_user("host-organiser", password="pw")
    host.members.add(host_user)
    petition = make_petition()
    other_petition = make_petition(slug="save-our-surgery", title="Save our surgery")
    # Three from one IP within minutes, two of them one Gmail mailbox; one elsewhere.
    first = _held(petition, "a.da+1@googlemail.com", minutes_ago=10)
    second = _held(petition, "ada+2@gmail.com", minutes_ago=7)
    third = _held(petition, "bot@spam.example", reason=Signature.HoldReason.HONEYPOT, minutes_ago=1)
    lone = _held(petition, "grace@example.org", ip="198.51.100.1", minutes_ago=3)
    confirmed = make_signature(petition=petition, email="hopper@example.org", ip="203.0.113.9", confirm=True)
    elsewhere = _held(other_petition, "turing@example.org")
    return {"host": host, "partner": partner, "host_user": host_user, "petition": petition, "other_petition": other_petition,
            "first": first, "second": second, "third": third, "lone": lone, "confirmed": confirmed, "elsewhere": elsewhere}


def _url(world, name="held"):
    return reverse(f"organise:{name}", kwargs={"org": world["host"].slug})


def _statuses(*signatures):
    return [Signature.objects.get(pk=s.pk).status for s in signatures]


def test_the_held_list_shows_each_signal(client, world):
    client.force_login(world["host_user"])
    response = client.get(_url(world))
    assert response.status_code == 200
    rows = dict((s.pk, signal) for s, signal in response.context["rows"])
    assert set(rows) == {world[k].pk for k in ("first", "second", "third", "lone", "elsewhere")}
    # The IP hash is shared by the three held and the confirmed one: three others each.
    assert [rows[world[k].pk]["ip_others"] for k in ("first", "second", "third")] == [3, 3, 3]
    assert rows[world["lone"].pk]["ip_others"] == 0
    assert rows[world["first"].pk]["gap"] is None  # the first from that IP on this petition
    assert rows[world["second"].pk]["gap"] == world["second"].created_at - world["first"].created_at
    assert rows[world["third"].pk]["gap"] == world["third"].created_at - world["second"].created_at
    assert (rows[world["first"].pk]["folded"], rows[world["first"].pk]["folded_others"]) == ("ada@gmail.com", 1)
    assert rows[world["third"].pk]["domain"] == "spam.example"
    text = response.content.decode()
    assert ip_hash("203.0.113.9")[:10] in text
    assert "ada@gmail.com" in text and "(1 other signature)" in text and "(3 other signatures)" in text
    assert "Caught by the honeypot" in text
    assert "3 minutes" in text and "6 minutes" in text  # second after first, third after second
    assert "Save our surgery (1 held)" in text and "Scrap the ICP contract (4 held)" in text
    assert "Every petition (5 held)" in text


def test_the_list_filters_by_petition(client, world):
    client.force_login(world["host_user"])
    response = client.get(_url(world), {"petition": "save-our-surgery"})
    assert response.status_code == 200
    assert [s.pk for s, _ in response.context["rows"]] == [world["elsewhere"].pk]
    unknown = client.get(_url(world), {"petition": "no-such-petition"})
    assert unknown.status_code == 400 and "There is no petition" in unknown.content.decode()
    assert client.get(_url(world), {"page": "x"}).status_code == 400


def test_bulk_release_confirms_and_counts_as_the_admin_does(client, world, django_capture_on_commit_callbacks):
    client.force_login(world["host_user"])
    picked = [world["first"], world["lone"]]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(world, "held_review"), {"action": "release", "signature": [s.pk for s in picked],
                                                            "petition": "scrap-the-icp-contract"}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == _url(world) + "?petition=scrap-the-icp-contract"
    assert "2 held signatures released" in response.content.decode()
    assert _statuses(*picked) == [Signature.Status.PENDING] * 2
    assert _statuses(world["second"], world["third"]) == [Signature.Status.HELD] * 2
    assert sorted(m.to[0] for m in mail.outbox) == ["a.da+1@googlemail.com", "grace@example.org"]

    # The admin's action on another held signature: the same email, the same state.
    organiser = make_organiser()
    client.force_login(organiser)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/petitions/signature/", {"action": "release", "_selected_action": [world["second"].pk]})
    assert _statuses(world["second"]) == [Signature.Status.PENDING]
    kinds = {e.to_email: (e.kind, e.subject) for e in OutboundEmail.objects.filter(
        to_email__in=["a.da+1@googlemail.com", "ada+2@gmail.com"])}
    assert kinds["a.da+1@googlemail.com"] == kinds["ada+2@gmail.com"]


def test_bulk_invalidate(client, world):
    client.force_login(world["host_user"])
    picked = [world["second"], world["third"], world["elsewhere"]]
    response = client.post(_url(world, "held_review"), {"action": "invalidate", "signature": [s.pk for s in picked]},
                           follow=True)
    assert response.redirect_chain[-1][0] == _url(world)
    assert "3 signatures invalidated" in response.content.decode()
    assert _statuses(*picked) == [Signature.Status.INVALID] * 3
    assert _statuses(world["first"], world["lone"], world["confirmed"]) == [
        Signature.Status.HELD, Signature.Status.HELD, Signature.Status.CONFIRMED,
    ]


@pytest.mark.parametrize("case,message", [
    ("empty", "Choose at least one signature"),
    ("garbage", "not understood"),
    ("negative", "not understood"),
    ("unknown", "1 of the chosen signatures is not held for review"),
    ("not held", "1 of the chosen signatures is not held for review"),
    ("other petition", "not held for review on this petition"),
    ("bad action", "release or to invalidate"),
    ("no action", "release or to invalidate"),
    ("unknown petition", "There is no petition"),
])
def test_bad_input_is_a_400_that_changes_nothing(client, world, case, message):
    client.force_login(world["host_user"])
    mail.outbox.clear()  # the confirmed signature's own confirmation
    first = world["first"].pk
    data = {
        "empty": {"action": "release"},
        "garbage": {"action": "release", "signature": [first, "abc"]},
        "negative": {"action": "invalidate", "signature": [first, "-3"]},
        "unknown": {"action": "release", "signature": [first, 999_999_999]},
        "not held": {"action": "invalidate", "signature": [first, world["confirmed"].pk]},
        "other petition": {"action": "release", "signature": [first, world["elsewhere"].pk],
                           "petition": "scrap-the-icp-contract"},
        "bad action": {"action": "delete", "signature": [first]},
        "no action": {"signature": [first]},
        "unknown petition": {"action": "release", "signature": [first], "petition": "nope"},
    }[case]
    response = client.post(_url(world, "held_review"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _statuses(world["first"], world["elsewhere"], world["confirmed"]) == [
        Signature.Status.HELD, Signature.Status.HELD, Signature.Status.CONFIRMED,
    ]
    assert not mail.outbox


def test_the_partner_may_not_review(client, world):
    user = get_user_model().objects.create_user("partner-person", password="pw")
    world["partner"].members.add(user)
    client.force_login(user)
    partner_url = reverse("organise:held_review", kwargs={"org": world["partner"].slug})
    assert client.post(partner_url, {"action": "release", "signature": [world["first"].pk]}).status_code == 403
    assert client.get(reverse("organise:held", kwargs={"org": world["partner"].slug})).status_code == 403
    assert _statuses(world["first"]) == [Signature.Status.HELD]


@given(action=st.one_of(st.sampled_from(["release", "invalidate"]), arbitrary_text),
       ids=st.lists(st.one_of(arbitrary_text, st.integers(min_value=-10, max_value=10**20).map(str)), max_size=4),
       petition=st.one_of(st.none(), arbitrary_text))
def test_any_review_post_is_a_redirect_or_a_400(client, world, action, ids, petition):
    client.force_login(world["host_user"])
    data = {"action": action, "signature": ids, **({"petition": petition} if petition is not None else {})}
    clean = {k: ([x.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "") for x in v]
                 if isinstance(v, list) else v.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", ""))
             for k, v in data.items()}
    response = client.post(_url(world, "held_review"), clean)
    assert response.status_code in (302, 400), response.status_code


def test_the_folded_addresses_agree_with_the_petitions_selector(world):
    """The workspace finds alias neighbours from the addresses' side (bounded by the search
    index); the admin's selector scans the petition. On the same rows they agree."""
    from organise.views.held import _alias_neighbours
    from petitions.selectors import signatures_alias_neighbours

    petition = world["petition"]
    for email in ("ad.a+3@gmail.com", "a.d.a@googlemail.com", "ada@example.org", "ada+x@example.org", "ad@gmail.com",
                  "adam@gmail.com", "ada_b@gmail.com", "a%da@gmail.com", "ADA+Y@GMAIL.COM", "bot+1@spam.example"):
        _held(petition, email)
    _held(world["other_petition"], "a.da+9@gmail.com")
    held = list(Signature.objects.filter(status=Signature.Status.HELD).select_related("supporter"))
    assert _alias_neighbours(held) == signatures_alias_neighbours(held)
    assert _alias_neighbours(held)[world["first"].pk] == ("ada@gmail.com", 4)
