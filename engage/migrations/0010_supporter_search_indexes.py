"""Indexes for the organisers' supporter search (engage.selectors.supporters_search), PostgreSQL only.

Each serves a prefix search (`LIKE 'ada%'`) walked in index order and stopped after a bounded
number of rows, so a search answers in a few index pages however many supporters match or
exist. COLLATE "C" because a B-tree in any other collation serves neither LIKE nor a prefix
range (the unique index on lower(email) is in the database's collation, often en_US). The
names carry the id so ties come out in a stable order without a sort. CONCURRENTLY: a million
supporters' rows are indexed without blocking signing. SQLite (the embedded default) searches
without them.
"""

from django.db import migrations

INDEXES = {
    "supporter_email_search": '((lower(email)) COLLATE "C")',
    "supporter_postcode_search": '(postcode COLLATE "C")',
    "supporter_first_name_search": '((lower(first_name)) COLLATE "C", id)',
    "supporter_last_name_search": '((lower(last_name)) COLLATE "C", id)',
}


def indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, columns in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON engage_supporter {columns}")


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('engage', '0009_header_fields_on_one_line'),
    ]

    operations = [
        migrations.RunPython(indexes_create, indexes_drop),
    ]
