"""A Celery worker keeps its database connection from one task to the next (a new PostgreSQL
backend per chunk of a mailing cost a fork and a login each time), yet drops one that is past
CONN_MAX_AGE or broken, as Django does around requests."""

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from config.celery import _database_connections_tidy, app

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def around_a_task(fixup: DjangoWorkerFixup) -> None:
    """What a worker does around each task: Celery's fixup, then ours (both on the signals)."""
    fixup.on_task_prerun(sender=TASK)
    _database_connections_tidy(task=TASK)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    fixup.on_task_postrun(sender=TASK)
    _database_connections_tidy(task=TASK)


def test_the_connection_outlives_a_task():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    connection.close_at = time.monotonic() + 60  # CONN_MAX_AGE 60, as in production
    opened = connection.connection
    around_a_task(fixup)
    around_a_task(fixup)
    assert connection.connection is opened


def test_an_old_connection_is_closed_after_a_task():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    fixup.on_task_postrun(sender=TASK)
    _database_connections_tidy(task=TASK)
    assert connection.connection is None


def test_a_connection_left_broken_by_an_error_is_closed_after_a_task():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    connection.close_at = time.monotonic() + 60
    connection.errors_occurred = True
    connection.connection.close()  # the server went away
    fixup.on_task_postrun(sender=TASK)
    _database_connections_tidy(task=TASK)
    assert connection.connection is None


def test_an_eager_task_leaves_the_callers_connection_alone():
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1
    opened = connection.connection
    _database_connections_tidy(task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))
    assert connection.connection is opened
