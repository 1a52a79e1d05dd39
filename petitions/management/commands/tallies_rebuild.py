"""Recount the workspace's tallies from the signatures, for repair (docs/design.md, "Figures come
from tallies"): `manage.py tallies_rebuild` for every petition, `--petition <slug>` for one."""

from django.core.management.base import BaseCommand, CommandError

from petitions.models import Petition
from petitions.services.tallies import tallies_rebuild


class Command(BaseCommand):
    help = "Rebuild the signature tallies of one petition (--petition <slug>) or of all of them."

    def add_arguments(self, parser):
        parser.add_argument("--petition", metavar="SLUG", help="Only this petition.")

    def handle(self, *args, petition=None, **options):
        petitions = Petition.objects.order_by("pk")
        if petition:
            petitions = petitions.filter(slug=petition)
            if not petitions.exists():
                raise CommandError(f"No petition {petition!r}.")
        for item in petitions:
            written = tallies_rebuild(petition=item)
            self.stdout.write(
                f"{item.slug}: {written['signatures']} hourly rows, {written['places']} place rows, "
                f"{written['opt_ins']} opt-in rows"
            )
