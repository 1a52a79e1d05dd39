from email.utils import formataddr

from django.conf import settings
from django.db import models

from engage.models import MailingList, Organisation, Supporter
from engage.normalise import validate_header_text


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
        SUPPRESSED = "suppressed", "Not sent: address suppressed"

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
    # When the row last changed hands: claimed for sending, or found with an unknown outcome
    # (the ESP's search is asked about it once its delay has passed).
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"{self.kind} to {self.to_email} ({self.status})"


class Sender(models.Model):
    """Who an organisation's emails come from. Bulk and transactional mail use different
    addresses, as Gmail and Yahoo ask, so a complaint about a mailing never harms the delivery
    of confirmation emails."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="senders")
    # Every field here goes in a header of every email sent: validate_header_text refuses line breaks.
    name = models.CharField(
        max_length=200, validators=[validate_header_text],
        help_text="The name recipients see, e.g. Health Campaigns Together.",
    )
    bulk_email = models.EmailField(
        validators=[validate_header_text], help_text="From address of mailings, e.g. news@mail.example.org."
    )
    transactional_email = models.EmailField(
        validators=[validate_header_text], help_text="From address of confirmations and reminders."
    )
    reply_to = models.EmailField(
        blank=True, validators=[validate_header_text], help_text="Where replies go; empty: the from address."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation__name", "name"]

    def __str__(self):
        return f"{self.name} <{self.bulk_email}>"

    @property
    def bulk_from(self) -> str:
        return formataddr((self.name, self.bulk_email))

    @property
    def transactional_from(self) -> str:
        return formataddr((self.name, self.transactional_email))


class Message(models.Model):
    """What a mailing says. The body is Markdown with merge fields such as
    {{ first_name|default:"friend" }}; see mailings.rendering for the list."""

    name = models.CharField(max_length=200, help_text="For organisers only.")
    sender = models.ForeignKey(Sender, on_delete=models.PROTECT, related_name="messages")
    subject = models.CharField(max_length=200, validators=[validate_header_text])
    # Not a header, but inboxes show it on the subject's line.
    preheader = models.CharField(
        max_length=200, blank=True, validators=[validate_header_text],
        help_text="The line inboxes show after the subject. Empty: none.",
    )
    reply_to = models.EmailField(
        blank=True, validators=[validate_header_text], help_text="Empty: the sender's reply-to address."
    )
    body = models.TextField(help_text="Markdown. Scripts and unsafe HTML are removed.")
    merge_values = models.JSONField(
        default=dict, blank=True,
        help_text='Values the same for every recipient, e.g. {"petition_url": "https://…"}, used as {{ petition_url }}.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name

    @property
    def reply_to_address(self) -> str:
        return self.reply_to or self.sender.reply_to


class Segment(models.Model):
    """A saved, reusable choice of supporters: conditions combined with all / any / not.
    The definition is JSON; mailings.selectors.segments turns it into one database query."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    definition = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Mailing(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    name = models.CharField(max_length=200)
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="mailings")
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="mailings")
    mailing_list = models.ForeignKey(
        MailingList, null=True, blank=True, on_delete=models.PROTECT, related_name="mailings",
        help_text="The list this mailing is sent on: its List-Id and unsubscribe link. Those who left it are never included.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    recipient_count = models.PositiveIntegerField(default=0, help_text="Deliveries snapshotted at the start.")
    # Touched when a chunk is recorded; beat restarts the sending of a mailing that stalls.
    last_activity_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        # Beat: scheduled mailings that are due; sending ones to watch.
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self):
        return self.name

    @property
    def organisation(self) -> Organisation:
        return self.message.sender.organisation


class SendLane(models.Model):
    """One of a sending mailing's MAILINGS_SEND_LANES chains of chunk tasks, held by a lease.

    Each chunk task of a chain renews the lease of its lane (a compare-and-set on `chain`), so
    beat can tell a lane whose worker died or whose task the broker lost (lease lapsed) from a
    busy one, and replace it within a tick; a second chain in one lane finds the lease taken
    and stops, so lanes never multiply."""

    mailing = models.ForeignKey(Mailing, on_delete=models.CASCADE, related_name="lanes")
    number = models.PositiveSmallIntegerField()
    chain = models.UUIDField(null=True, blank=True)
    renewed_at = models.DateTimeField(null=True, blank=True)  # NULL: released

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mailing", "number"], name="send_lane_once")]

    def __str__(self):
        return f"{self.mailing_id}/lane {self.number}"


class Delivery(models.Model):
    """One recipient of one mailing (docs/design.md, "Mailings are snapshotted, claimed, sent and recorded"): snapshotted at the start, claimed,
    sent once, and updated by the ESP's webhooks."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        CLAIMED = "claimed", "Claimed by a worker"  # not yet handed to the ESP: safe to queue again
        SENDING = "sending", "Handed to the ESP"  # outcome arrives with the answer
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Outcome unknown"
        SKIPPED = "skipped", "Skipped (no longer a recipient)"
        DROPPED = "dropped", "Dropped by an organiser"
        CANCELLED = "cancelled", "Cancelled"

    class Outcome(models.TextChoices):
        NONE = "", "—"
        DELIVERED = "delivered", "Delivered"
        DEFERRED = "deferred", "Deferred (soft bounce)"
        BOUNCED = "bounced", "Bounced"
        REJECTED = "rejected", "Rejected by the ESP"
        COMPLAINED = "complained", "Complained"

    # No foreign key constraint in the database: the snapshot writes a million rows in one
    # statement, and PostgreSQL would check each row's keys one by one (a trigger and a lock).
    # Django still applies on_delete, a row whose supporter is gone is skipped at send time,
    # and the indexes below serve their lookups.
    mailing = models.ForeignKey(
        Mailing, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False, db_index=False
    )
    # Null once the person is erased: the row still counts in the mailing's statistics.
    supporter = models.ForeignKey(
        Supporter, null=True, on_delete=models.SET_NULL, related_name="deliveries", db_constraint=False, db_index=False
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    esp_message_id = models.CharField(max_length=200, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True, default="")
    outcome_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            # Supporter first, so that it also serves a person's deliveries (erasure, their
            # data, "received mailing X") and a mailing needs no index of its own besides the
            # claim index: every index costs the million-row snapshot a write per row.
            models.UniqueConstraint(fields=["supporter", "mailing"], name="delivery_once_per_supporter"),
        ]
        indexes = [
            # Claims (mailing, status='queued' ORDER BY id), progress counts per status and
            # everything else that reads one mailing's deliveries.
            models.Index(fields=["mailing", "status", "id"], name="delivery_claim_idx"),
            # The sweeper: claims left unfinished, by age. Every row passes through these two
            # states, so until VACUUM the index holds a dead entry per row sent: the condition
            # on claimed_at keeps it to the sweeper's queries, out of the claim groups' UPDATEs.
            models.Index(
                fields=["claimed_at"], name="delivery_inflight_idx",
                condition=models.Q(status__in=["claimed", "sending"], claimed_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.mailing_id}/{self.supporter_id} ({self.status})"


class WebhookEvent(models.Model):
    """An ESP tracking event already applied: ESPs deliver webhooks at least once, so a
    replay is recognised by (esp, event_id) and changes nothing."""

    esp = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=40)
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    outbound_email = models.ForeignKey(
        OutboundEmail, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    occurred_at = models.DateTimeField(null=True, blank=True)
    # A click's link, for the mailing's links ranked; a per-recipient link (unsubscribe,
    # preferences) is stored without its token, which would let anyone act as that person.
    url = models.CharField(max_length=2000, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["esp", "event_id"], name="webhook_event_once")]

    def __str__(self):
        return f"{self.esp} {self.event_type} {self.event_id}"


class SoftBounceCount(models.Model):
    """Soft bounces in a row for an address (kept, like suppressions, only as its keyed hash);
    at MAILINGS_SOFT_BOUNCE_LIMIT the address is suppressed. A delivery resets it."""

    email_hash = models.CharField(max_length=64, unique=True)
    count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.email_hash[:12]}… ({self.count})"
