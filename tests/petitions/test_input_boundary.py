"""Input that once answered 500 is a 4xx with a message or a stored row: each test is one class
of input the boundary checks (docs/design.md, "No 500, whatever arrives")."""

from engage.models import Supporter
from engage.normalise import postcode_area
from petitions.models import Signature
from tests.support.base import MusterTestCase


class PostcodeTests(MusterTestCase):
    def test_it_stores_a_long_non_uk_postcode_without_an_area(self):
        response = self.sign(country="FR", postcode="PARIS")
        self.assertEqual(response.status_code, 303, response.content[:500])
        signature = Signature.objects.get()
        self.assertEqual(signature.postcode_area, "")
        self.assertEqual(signature.supporter.postcode, "PARIS")

    def test_it_keeps_the_area_of_a_uk_postcode(self):
        self.assertEqual(postcode_area("S70 2AB", "GB"), "S")
        self.assertEqual(postcode_area("BFPO 123", "GB"), "BFPO")
        self.assertEqual(postcode_area("75001", "FR"), "")

    def test_it_checks_the_length_after_upper_casing(self):
        # 16 characters as typed, 32 once "ß" upper-cases to "SS": longer than the column.
        response = self.sign(country="DE", postcode="ß" * 16)
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "Shorten this to 16 characters or fewer.", status_code=400)
        self.assertEqual(Supporter.objects.count(), 0)
        self.assertEqual(Signature.objects.count(), 0)
