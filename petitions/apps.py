from django.apps import AppConfig


class PetitionsConfig(AppConfig):
    name = "petitions"
    verbose_name = "Petitions"

    def ready(self):
        # Signatures are part of a person's data export and erasure (engage.personal_data).
        from petitions import personal_data

        personal_data.register()

        # Segment conditions about signatures, for mailings' registry.
        from petitions import segment_conditions

        segment_conditions.register()
