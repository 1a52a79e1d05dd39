"""ESP tracking webhooks: anymail's views at /anymail/<esp>/tracking/ (basic auth with
WEBHOOK_SECRET) send its `tracking` signal; this receiver hands each event to the service that
applies it once (mailings.services.webhooks). Imported by MailingsConfig.ready()."""

from anymail.signals import tracking
from django.dispatch import receiver

from mailings.services.webhooks import tracking_event_apply


@receiver(tracking, dispatch_uid="mailings-tracking")
def tracking_received(sender, event, esp_name, **kwargs):
    tracking_event_apply(esp=str(esp_name).lower(), event=event)
