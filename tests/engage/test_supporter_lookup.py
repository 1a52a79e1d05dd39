"""Finding a supporter by address uses the unique index on lower(email) (every sign, sign-up
and import does it); a plain `email = …` would read the whole table."""

import pytest
from django.db import connection

from engage.models import Supporter
from engage.selectors import supporters_by_email
from engage.services.supporters import supporter_get_or_create


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_lookup_is_an_index_scan():
    Supporter.objects.bulk_create(
        [Supporter(email=f"p{i}@example.org", first_name="A", last_name="B", link_nonce=f"nonce-{i}") for i in range(3000)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE engage_supporter")
    plan = supporters_by_email(" P5@Example.org").explain()
    assert "supporter_email_ci_unique" in plan
    assert "Seq Scan" not in plan


@pytest.mark.django_db
def test_get_or_create_finds_the_same_person_in_any_spelling():
    ada, created = supporter_get_or_create(email="ada@example.org", first_name="Ada", last_name="L", country="GB", postcode="")
    again, created_again = supporter_get_or_create(email=" ADA@example.ORG", first_name="X", last_name="Y", country="GB", postcode="")
    assert (created, created_again, again) == (True, False, ada)
    assert again.first_name == "Ada"
