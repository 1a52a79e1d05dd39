from django.apps import AppConfig


class MailingsConfig(AppConfig):
    name = "mailings"
    verbose_name = "Mailings and emails"

    def ready(self):
        # engage, the lower layer, sends its emails and gathers a person's data through
        # registries it defines; mailings contributes to them here.
        from engage import emails, personal_data
        from mailings.selectors.emails import supporter_emails_export
        from mailings.services.personal_data import supporters_emails_delete
        from mailings.services.transactional import EmailSendFailed, transactional_send

        emails.transport_register(send=transactional_send, retryable=(EmailSendFailed,))
        personal_data.source_register(name="mailings", export=supporter_emails_export, erase=supporters_emails_delete)

        from mailings import webhooks  # noqa: F401  (connects anymail's tracking signal)
