"""A transactional email's subject line is plain text: the values in it are not HTML-escaped
(a petition called "Save A&E" must not arrive as "Save A&amp;E"), and the HTML part's title
escapes them once."""

from django.core import mail
from django.test import TestCase

from petitions.services.signing import petition_sign
from tests.support.factories import make_petition


class SubjectLineTests(TestCase):
    def test_it_sends_the_title_as_written(self):
        petition = make_petition(slug="save-a-and-e", title="Save A&E at Barnsley's \"General\" <now>")
        with self.captureOnCommitCallbacks(execute=True):
            petition_sign(
                petition=petition, email="ada@example.org", first_name="Ada", last_name="Lovelace",
                country="GB", postcode="S70 2AB", opt_in=False,
            )

        self.assertEqual(len(mail.outbox), 1)
        message = mail.outbox[0]
        self.assertEqual(message.subject, "Please confirm your signature: Save A&E at Barnsley's \"General\" <now>")
        html_part = message.alternatives[0][0]
        self.assertIn("<title>Please confirm your signature: Save A&amp;E at Barnsley&#x27;s &quot;General&quot; &lt;now&gt;</title>", html_part)


class PlainTextTests(TestCase):
    """Subjects and plain-text parts are rendered without HTML escaping, not escaped and then
    unescaped: a title that itself contains an entity's spelling arrives as written."""

    def sign(self, title):
        petition = make_petition(slug="save-a-and-e", title=title)
        with self.captureOnCommitCallbacks(execute=True):
            petition_sign(
                petition=petition, email="ada@example.org", first_name="Ada & Bo", last_name="Lovelace",
                country="GB", postcode="S70 2AB", opt_in=False,
            )
        return mail.outbox[-1]

    def test_the_subject_and_text_body_keep_the_title_as_written(self):
        message = self.sign("Save A&E")
        self.assertEqual(message.subject, "Please confirm your signature: Save A&E")
        self.assertIn('Thank you for signing "Save A&E".', message.body)
        self.assertIn("Hello Ada & Bo,", message.body)
        self.assertNotIn("&amp;", message.body)

    def test_a_title_spelling_an_entity_is_not_unescaped(self):
        message = self.sign("Fish &amp; chips &lt;3")
        self.assertEqual(message.subject, "Please confirm your signature: Fish &amp; chips &lt;3")
        self.assertIn('"Fish &amp; chips &lt;3"', message.body)
        self.assertIn("Fish &amp;amp; chips &amp;lt;3", message.alternatives[0][0])

    def test_a_mailings_text_part_is_not_escaped(self):
        from mailings.rendering import message_compile

        compiled = message_compile(subject="A&E <now>", preheader="", body="Save A&E <now>", merge_values={},
                                   list_name="News & views")
        self.assertEqual(compiled.subject, "A&E <now>")
        self.assertIn("Save A&E <now>", compiled.text)
        from mailings.rendering import compiled_render

        rendered = compiled_render(compiled, {"reason": "You joined News & views", "first_name": "Ann & Bob",
                                              "preferences_url": "https://x/?a=1&b=2", "unsubscribe_url": "u"})
        self.assertIn("You joined News & views", rendered.text)  # the footer's reason, per recipient
        self.assertIn("https://x/?a=1&b=2", rendered.text)
        self.assertIn("You joined News &amp; views", rendered.html)
