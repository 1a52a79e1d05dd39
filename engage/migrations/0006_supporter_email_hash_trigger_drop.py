from importlib import import_module

from django.db import migrations

# Muster's writers now store each supporter's hash themselves (engage.models.Supporter), and
# rows written by other programs are filled by engage.services.suppression: 0005's trigger goes.
# The stored hashes are the same values, so they stay; supporter_email_hash_todo stays for the fill.
DROP_TRIGGER = [
    "DROP TRIGGER IF EXISTS engage_supporter_email_hash_write ON engage_supporter",
    "DROP FUNCTION IF EXISTS engage_supporter_email_hash_write()",
]


def trigger_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP_TRIGGER:
            schema_editor.execute(statement)


def trigger_restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in import_module("engage.migrations.0005_supporter_email_hash_on_write").TRIGGER:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('engage', '0005_supporter_email_hash_on_write'),
    ]

    operations = [
        migrations.RunPython(trigger_drop, trigger_restore),
    ]
