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

        # Consent sources "petition:<slug>…" name their petition (a mailing's footer says so).
        from engage import consent_sources
        from petitions.selectors import petition_titles

        consent_sources.titles_register(kind="petition", titles=petition_titles)
