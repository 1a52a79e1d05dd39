from django.apps import AppConfig


class OrganiseConfig(AppConfig):
    """The organisers' workspace at /organise/: the top layer, above petitions (and events)."""

    name = "organise"
    verbose_name = "Organisers' workspace"
