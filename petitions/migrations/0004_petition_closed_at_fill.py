"""Petitions that stopped collecting before the day they closed was stored on hand-in: give
each closed or handed-in petition without one the best date known (handed in, else its
deadline if that had passed, else its last change), so its page never says the deadline."""

from django.db import migrations
from django.db.models import F, Q
from django.db.models.functions import Coalesce


def closed_at_fill(apps, schema_editor):
    Petition = apps.get_model("petitions", "Petition")
    ended = Petition.objects.filter(status__in=["closed", "handed_in"], closed_at__isnull=True)
    # A deadline counts only if it came before the hand-in (or the last change): the petition
    # cannot have closed after it was handed in.
    ended.filter(Q(closes_at__lte=Coalesce("handed_in_at", "updated_at"))).update(closed_at=F("closes_at"))
    ended.filter(closed_at__isnull=True).update(closed_at=Coalesce("handed_in_at", "updated_at"))


class Migration(migrations.Migration):
    dependencies = [("petitions", "0003_signature_opt_ins_pending")]

    operations = [migrations.RunPython(closed_at_fill, migrations.RunPython.noop)]
