"""Properties of every public form, on arbitrary text (lone surrogates and combining marks
included): refused with a message on the field, or accepted and stored by its service without
an error; never an exception, never a partial row. The forms and services run the profile's
full count (they are cheap); the pages around them run fewer examples (PAGE_EXAMPLES)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engage.forms import DetailsForm, EmailOnlyForm, JoinForm, SubscribeForm
from engage.links import preferences_url
from engage.models import Affiliate, Consent, Signup, Subscription, Supporter
from engage.services.signups import SignupRefused, signup_create
from engage.services.supporters import supporter_details_update, supporter_get_or_create
from petitions.forms import SignatureForm
from petitions.models import Signature
from petitions.services.signing import petition_sign
from tests.support.factories import make_list, make_organisation, make_petition, sign_data
from tests.support.strategies import emails, form_body, page_examples, some_fields_arbitrary

pytestmark = pytest.mark.django_db

MODELS = (Supporter, Signature, Signup, Consent, Subscription, Affiliate)


def counts():
    return [model.objects.count() for model in MODELS]


def deltas(before):
    return dict(zip([m.__name__ for m in MODELS], (a - b for a, b in zip(counts(), before, strict=True)), strict=True))


def assert_messages(form):
    assert form.errors
    for messages in form.errors.values():
        assert all(str(message).strip() for message in messages)


@pytest.fixture
def news():
    return make_list(organisation=make_organisation())


def person(email, **extra):
    return {**sign_data(email=email), **extra}


@pytest.fixture
def petition():
    return make_petition(organisation=make_organisation())


@given(data=st.data())
def test_the_signature_form_and_petition_sign(petition, data):
    fields = data.draw(some_fields_arbitrary(person(data.draw(emails))))
    form = SignatureForm(fields, opt_in_label="Yes")
    before = counts()
    if not form.is_valid():
        assert_messages(form)
    else:
        petition_sign(petition=petition, **form.person_fields(), opt_in=form.cleaned_data["opt_in"],
                      source=form.cleaned_data["source"])
    change = deltas(before)
    assert change["Signature"] in (0, 1) and change["Supporter"] <= change["Signature"]


@given(data=st.data())
def test_the_subscribe_and_join_forms_and_signup_create(news, data):
    kind = data.draw(st.sampled_from(["subscribe", "join", "affiliate"]))
    valid = person(data.draw(emails), lists=[str(news.pk)])
    if kind == "affiliate":
        valid.update(joining_as="organisation", organisation_name="Unison Barnsley", organisation_kind="trade_union_branch",
                     organisation_website="unison.example.org")
    elif kind == "join":
        valid.update(joining_as="individual")
    fields = data.draw(some_fields_arbitrary(valid))
    lists = type(news).objects.filter(pk=news.pk)
    form = (SubscribeForm(fields, lists=lists) if kind == "subscribe"
            else JoinForm(fields, lists=lists, opt_in_label="Yes"))
    before = counts()
    if not form.is_valid():
        assert_messages(form)
        assert not any(deltas(before).values())
        return
    extra = {} if kind == "subscribe" else {"kind": form.kind, "affiliate": form.affiliate, "organisation": news.organisation}
    try:
        signup_create(kind=extra.pop("kind", Signup.Kind.SUBSCRIBE), **form.person_fields(),
                      mailing_lists=list(form.cleaned_data["lists"]), source=form.cleaned_data["source"], **extra)
    except SignupRefused:
        assert not any(deltas(before).values())


@given(data=st.data())
def test_the_details_and_email_only_forms(data):
    supporter, _ = supporter_get_or_create(email="ada@example.org", first_name="Ada", last_name="L", country="GB",
                                           postcode="S70 2AB")
    details = DetailsForm(data.draw(some_fields_arbitrary(person("ada@example.org"), ["first_name", "last_name",
                                                                                         "country", "postcode"])))
    if details.is_valid():
        supporter_details_update(supporter=supporter, **details.person_fields())
    else:
        assert_messages(details)
    email_form = EmailOnlyForm({"email": data.draw(st.one_of(emails, *[some_fields_arbitrary({"email": "a@b.org"})
                                                                         .map(lambda d: d["email"])]))})
    if not email_form.is_valid():
        assert_messages(email_form)


# --- the pages ---------------------------------------------------------------------------------


def post(client, path, fields):
    return client.post(path, form_body(fields), content_type="application/x-www-form-urlencoded")


def assert_page_answer(response, before, *, stored_status=303):
    assert response.status_code in (stored_status, 400), response.status_code
    if response.status_code == 400:
        assert b"field-error" in response.content or b"error-summary" in response.content
        assert not any(deltas(before).values())


@page_examples
@given(data=st.data())
def test_the_subscribe_page(client, news, data):
    fields = data.draw(some_fields_arbitrary(person(data.draw(emails), lists=[str(news.pk)])))
    before = counts()
    assert_page_answer(post(client, "/subscribe/", fields), before)


@page_examples
@given(data=st.data())
def test_the_join_page(client, news, data):
    valid = person(data.draw(emails), joining_as="organisation", organisation_name="Unison", lists=[str(news.pk)],
                   organisation_kind="trade_union_branch", organisation_website="unison.example.org", opt_in="on")
    fields = data.draw(some_fields_arbitrary(valid))
    before = counts()
    assert_page_answer(post(client, "/join/", fields), before)


@page_examples
@given(data=st.data())
def test_the_preference_pages(client, news, data):
    supporter, _ = supporter_get_or_create(email="ada@example.org", first_name="Ada", last_name="L", country="GB",
                                           postcode="S70 2AB")
    page = preferences_url(supporter).removeprefix("https://muster.test")
    details = data.draw(some_fields_arbitrary(person("ada@example.org"), ["first_name", "last_name", "country", "postcode"]))
    response = post(client, page + "details", details)
    assert response.status_code in (303, 400)
    if response.status_code == 400:
        assert b"field-error" in response.content
    choices = {"lists": data.draw(st.lists(st.one_of(st.just(str(news.pk)), st.text(max_size=5)), max_size=3)),
               "organisations": data.draw(st.lists(st.text(max_size=5), max_size=2))}
    assert post(client, page + "choices", choices).status_code == 303
    before = counts()
    assert_page_answer(post(client, "/preferences/", data.draw(some_fields_arbitrary({"email": data.draw(emails)}))),
                       before)
