from django.apps import AppConfig


class MailingsConfig(AppConfig):
    name = "mailings"
    verbose_name = "Mailings and emails"

    def ready(self):
        # The recipient filter computes suppression hashes in SQL; SQLite needs the function.
        from django.db.backends.signals import connection_created

        from mailings import recipients, webhooks  # noqa: F401  (webhooks connects anymail's tracking signal)

        connection_created.connect(recipients.register_sqlite_functions, dispatch_uid="mailings-sqlite-functions")
