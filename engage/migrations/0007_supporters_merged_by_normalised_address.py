from django.db import migrations


def supporters_merge(apps, schema_editor):
    # Supporters typed in NFC, NFD or punycode were separate rows until every address was
    # normalised (docs/design.md, "One supporter per address"): merge them, with their history.
    from engage.services.supporter_merge import supporters_merge_by_address

    supporters_merge_by_address(apps=apps)


class Migration(migrations.Migration):

    dependencies = [
        ('engage', '0006_supporter_email_hash_trigger_drop'),
        ('petitions', '0003_signature_opt_ins_pending'),
        ('mailings', '0005_send_lanes_and_outbound_claims'),
    ]

    operations = [
        # Merging cannot be undone: the reverse leaves the merged rows as they are.
        migrations.RunPython(supporters_merge, migrations.RunPython.noop, elidable=True),
    ]
