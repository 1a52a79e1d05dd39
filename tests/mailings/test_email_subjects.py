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
