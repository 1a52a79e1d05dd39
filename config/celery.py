import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("muster")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections_tidy(task=None, **kwargs) -> None:
    """Before and after each task, close the connections that are past CONN_MAX_AGE or were
    left unusable by an error, as Django does around each request. (Celery's own Django fixup,
    turned off by CELERY_DB_REUSE_MAX, closed every connection around every task: a new
    PostgreSQL backend, a fork and a login, for each chunk of a mailing.) Eager tasks run
    inside the caller's transaction, whose connection is not theirs to close."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()

