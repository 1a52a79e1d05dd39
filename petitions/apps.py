from django.apps import AppConfig


class PetitionsConfig(AppConfig):
    name = "petitions"
    verbose_name = "Petitions"

    def ready(self):
        # Segment conditions about signatures, for mailings' registry.
        from petitions import segment_conditions

        segment_conditions.register()
