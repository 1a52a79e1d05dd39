"""One base template for every email: sanitised HTML, a plain-text part, merge fields with
fallbacks, and the preference-centre footer."""

import pytest

from mailings import rendering
from mailings.rendering import email_render
from mailings.selectors.mailings import message_preview
from tests.support.factories import make_list, make_message, make_petition, make_supporter

pytestmark = pytest.mark.django_db


def compile_body(body, merge_values=None):
    return rendering.message_compile(subject="Hi {{ first_name }}", preheader="", body=body, merge_values=merge_values or {})


def test_it_fills_merge_fields_and_falls_back_when_empty():
    compiled = compile_body('Hello {{ first_name|default:"friend" }}, see {{ petition_url }}', {"petition_url": "https://muster.test/p/x/"})
    named = rendering.compiled_render(compiled, {"first_name": "Ada"})
    nameless = rendering.compiled_render(compiled, {"first_name": ""})
    assert "Hello Ada, see https://muster.test/p/x/" in named.text
    assert "Hello friend," in nameless.text
    assert named.subject == "Hi Ada"


def test_it_escapes_recipient_values_in_html_and_removes_unsafe_markup():
    compiled = compile_body("Hello {{ first_name }} <script>alert(1)</script> [link](javascript:alert(1))")
    rendered = rendering.compiled_render(compiled, {"first_name": "<b>Ada</b>"})
    assert "&lt;b&gt;Ada&lt;/b&gt;" in rendered.html
    assert "<script>" not in rendered.html
    assert "javascript:" not in rendered.html


def test_it_refuses_unknown_and_malformed_merge_fields():
    with pytest.raises(rendering.MergeFieldError, match="Unknown merge field"):
        compile_body("Hello {{ frist_name }}")
    with pytest.raises(rendering.MergeFieldError, match="malformed"):
        compile_body("Hello {{ first_name")


def test_it_puts_the_preference_and_unsubscribe_links_in_both_parts():
    supporter = make_supporter("ada@example.org")
    news = make_list(slug="news")
    rendered = message_preview(message=make_message(), supporter=supporter, mailing_list=news)
    for part in (rendered.html, rendered.text):
        assert "https://muster.test/preferences/" in part
        assert "https://muster.test/unsubscribe/" in part
    assert "Hello Ada," in rendered.text
    assert 'lang="en-GB"' in rendered.html and 'name="viewport"' in rendered.html


def test_it_gives_transactional_emails_the_preference_footer_from_the_base_template():
    petition = make_petition()
    supporter = make_supporter("ada@example.org")
    rendered = email_render(
        template="petitions/email/confirm",
        context={"supporter": supporter, "petition": petition, "confirm_url": "https://muster.test/c/x", "pending": True},
    )
    assert "https://muster.test/preferences/" in rendered.html
    assert "Manage your email preferences: https://muster.test/preferences/" in rendered.text
