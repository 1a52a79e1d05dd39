"""Concurrent identical submissions still make one supporter and one signature: the database's
unique indexes decide, not a check in Python."""

import threading

import pytest
from django.db import connection

from engage.models import Supporter
from petitions.models import Signature
from petitions.services.counts import counts_reconcile
from petitions.services.signing import petition_sign, signature_confirm
from tests.support.factories import make_petition

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(count, target):
    barrier = threading.Barrier(count)
    errors = []

    def worker(n):
        try:
            barrier.wait()
            target(n)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_concurrent_identical_signatures_make_one_of_each(django_capture_on_commit_callbacks):
    petition = make_petition()
    results = []

    def sign(n):
        result = petition_sign(
            petition=petition, first_name="Ada", last_name="Lovelace",
            email="ada@example.org" if n % 2 else " ADA@example.org ",
            country="GB", postcode="S70 2AB", opt_in=False,
        )
        results.append(result.created)

    errors = run_concurrently(8, sign)
    assert errors == []
    assert Supporter.objects.count() == 1
    assert Signature.objects.count() == 1
    assert sorted(results) == [False] * 7 + [True]


def test_concurrent_confirmations_count_once():
    petition = make_petition()
    signature = petition_sign(
        petition=petition, first_name="Ada", last_name="Lovelace", email="ada@example.org",
        country="GB", postcode="S70 2AB", opt_in=False,
    ).signature
    outcomes = []
    errors = run_concurrently(6, lambda n: outcomes.append(signature_confirm(signature=signature)))
    assert errors == []
    assert sorted(outcomes) == [False] * 5 + [True]
    counts_reconcile()
    petition.refresh_from_db()
    assert petition.signature_count == 1
