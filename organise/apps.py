from django.apps import AppConfig


class OrganiseConfig(AppConfig):
    """The organisers' workspace at /organise/: the top layer, above petitions (and events)."""

    name = "organise"
    verbose_name = "Organisers' workspace"

    def ready(self):
        # The audit rows for logins, lock-outs, two-factor and password resets.
        from organise.auth import receivers_connect

        receivers_connect()
