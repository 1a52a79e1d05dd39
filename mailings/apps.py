from django.apps import AppConfig


class MailingsConfig(AppConfig):
    name = "mailings"
    verbose_name = "Mailings and emails"

    def ready(self):
        # engage, the lower layer, sends its emails and gathers a person's data through
        # registries it defines; mailings contributes to them here.
        from engage import emails
        from mailings import personal_data, services

        emails.transport_register(send=services.transactional_send, retryable=(services.EmailSendFailed,))
        personal_data.register()

        # The recipient filter computes suppression hashes in SQL; SQLite needs the function.
        from django.db.backends.signals import connection_created

        from mailings import recipients, webhooks  # noqa: F401  (webhooks connects anymail's tracking signal)

        connection_created.connect(recipients.register_sqlite_functions, dispatch_uid="mailings-sqlite-functions")
