from django.db import models

from engage.models import Supporter


class OutboundEmail(models.Model):
    """One email Muster owes or has sent, recorded before the transport is called.

    `dedupe_key` names what the email is for ("signature-confirm:<id>"), so a task that runs
    twice finds the row and does not send twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (will retry)"
        UNKNOWN = "unknown", "Outcome unknown"

    class Stream(models.TextChoices):
        TRANSACTIONAL = "transactional", "Transactional"
        BULK = "bulk", "Bulk"

    dedupe_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=60)
    stream = models.CharField(max_length=20, choices=Stream.choices, default=Stream.TRANSACTIONAL)
    supporter = models.ForeignKey(Supporter, null=True, blank=True, on_delete=models.CASCADE, related_name="emails")
    to_email = models.EmailField(max_length=254)
    subject = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    esp_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"{self.kind} to {self.to_email} ({self.status})"
