from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from engage.models import MailingList, Organisation, Supporter
from mailings.models import Mailing


class Petition(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        HANDED_IN = "handed_in", "Handed in"

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="petitions")
    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    target = models.CharField(max_length=200, help_text="Who the petition is addressed to.")
    summary = models.CharField(max_length=300, blank=True, help_text="One sentence for share previews.")
    body = models.TextField(help_text="Markdown. Scripts and unsafe HTML are removed.")
    body_html = models.TextField(blank=True, editable=False)
    goal = models.PositiveIntegerField(default=1000)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    closes_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    handed_in_at = models.DateTimeField(null=True, blank=True)
    consent_wording = models.CharField(
        max_length=300,
        blank=True,
        help_text="The opt-in box's text. Empty: “Keep me updated by <organisation> about this and other campaigns.”",
    )
    # The confirmed count as of the last reconciliation; the live figure is in the cache.
    signature_count = models.PositiveIntegerField(default=0, editable=False)
    counted_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("petitions:detail", kwargs={"slug": self.slug})

    @property
    def opt_in_wording(self) -> str:
        return self.consent_wording or (
            f"Keep me updated by {self.organisation.name} about this and other campaigns. "
            "You can unsubscribe at any time."
        )


class Signature(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        HELD = "held", "Held for review"
        INVALID = "invalid", "Invalidated"

    class HoldReason(models.TextChoices):
        RATE_LIMIT = "rate_limit", "Over the rate limit"
        HONEYPOT = "honeypot", "Caught by the honeypot"

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="signatures")
    # Null once the person is erased or the signature anonymised: the row, and so the count and
    # the geography below, survive them.
    supporter = models.ForeignKey(Supporter, null=True, blank=True, on_delete=models.SET_NULL, related_name="signatures")
    country = models.CharField(max_length=2, blank=True)
    postcode_area = models.CharField(max_length=4, blank=True, help_text="e.g. S for S70 2AB; kept for statistics.")
    partner = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="partner_signatures",
        help_text="The coalition partner whose embed or link brought this signature.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    hold_reason = models.CharField(max_length=20, choices=HoldReason.choices, blank=True)
    source = models.CharField(max_length=64, blank=True, help_text="The ?source= code of the link that brought them.")
    # The random value a confirmation token carries; it reveals nothing about the person.
    confirm_nonce = models.CharField(max_length=32, unique=True)
    ip_hash = models.CharField(max_length=64, blank=True, help_text="HMAC of the IP address; the address is not kept.")
    new_supporter = models.BooleanField(default=False, help_text="This signature is how the person first came to us.")
    # The boxes ticked when signing (the host's and the co-sponsors'), as [{"organisation_id",
    # "wording", "source"}]. They are written to the consent ledger when the signature is confirmed,
    # not before: anyone can type anyone's address, and only the emailed link proves the address
    # belongs to whoever ticked the box.
    opt_ins_pending = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["petition", "supporter"], name="signature_one_per_supporter"),
        ]
        indexes = [
            # Reconciling counts and the admin's filter by status.
            models.Index(fields=["petition", "status"]),
            # Reminders, owed confirmations and the purge: pending rows by age.
            models.Index(fields=["status", "created_at"]),
            # The partner dashboard: a partner's signatures by petition and day.
            models.Index(fields=["partner", "petition", "created_at"]),
        ]

    def __str__(self):
        return f"{self.supporter_id} on {self.petition_id} ({self.status})"


class Cosponsorship(models.Model):
    """A coalition partner co-sponsoring a petition: its own opt-in box on the sign form,
    its embed, its figures."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="cosponsorships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="cosponsorships")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["petition", "organisation"], name="cosponsorship_once_per_partner"),
        ]

    def __str__(self):
        return f"{self.organisation} on {self.petition}"

    @property
    def opt_in_wording(self) -> str:
        return f"Keep me updated by {self.organisation.name}. You can unsubscribe at any time."


class PetitionUpdate(models.Model):
    """News of a petition posted by its organisers: shown on its page and, once, emailed to the
    signers who ticked "Email me updates about this petition" (petitions.services.updates)."""

    class Kind(models.TextChoices):
        RESPONSE = "response", _("Response from the target")
        HAND_IN = "hand_in", _("Hand-in")
        NEXT_ACTION = "next_action", _("Next action")
        NEWS = "news", _("News")

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="updates")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.NEWS)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), help_text=_("Markdown. Scripts and unsafe HTML are removed."))
    body_html = models.TextField(blank=True, editable=False)
    published_at = models.DateTimeField(_("published at"))
    # Withdrawn updates leave the petition's page but stay on record (one may have been emailed).
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The mailing it went out in, set once by a conditional UPDATE (petition_update_email), so
    # an update is emailed at most once even if two organisers press the button together.
    mailing = models.OneToOneField(
        Mailing, null=True, blank=True, on_delete=models.SET_NULL, related_name="petition_update"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        # The petition's page: its live updates, newest first.
        indexes = [models.Index(fields=["petition", "-published_at"])]

    def __str__(self):
        return self.title


class PetitionUpdatesList(models.Model):
    """The hidden mailing list of a petition's updates ("Updates on <title>"), made the first
    time someone who ticked its box confirms (docs/design.md, "Petition updates")."""

    petition = models.OneToOneField(Petition, on_delete=models.CASCADE, related_name="updates_list_link")
    mailing_list = models.OneToOneField(MailingList, on_delete=models.PROTECT, related_name="petition_updates_link")

    def __str__(self):
        return f"{self.mailing_list} ({self.petition})"


# --- the workspace's figures, kept as aggregates (docs/design.md, "Figures come from tallies") ---------
#
# Each tally holds confirmed signatures only, and is changed in the same transaction as every change
# of a signature's confirmed state (petitions.services.tallies). The key columns are never NULL, so
# one `INSERT … ON CONFLICT … DO UPDATE SET n = n + excluded.n` finds the row on PostgreSQL and
# SQLite alike: "no partner" is partner_key 0 (a plain id, not a foreign key, for that reason).


class SignatureTally(models.Model):
    """Confirmed signatures of a petition per hour of confirmation, by partner, source code and
    whether the signature brought a new supporter: the time chart, the partner and source tables,
    the overview's counts and sparklines."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(help_text="The hour (UTC) the signatures were confirmed in.")
    partner_key = models.PositiveIntegerField(default=0, help_text="The partner's organisation id; 0: through no partner.")
    source = models.CharField(max_length=64, blank=True)
    new_supporter = models.BooleanField(default=False)
    signatures = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["petition", "hour", "partner_key", "source", "new_supporter"], name="signature_tally_key"
            ),
        ]
        # Which petitions a partner brought signatures to (organise.access.Workspace.petitions).
        indexes = [models.Index(fields=["partner_key", "petition"], name="signature_tally_partner")]

    def __str__(self):
        return f"{self.signatures} on {self.petition_id} at {self.hour:%Y-%m-%d %H:00}"


class PlaceTally(models.Model):
    """Confirmed signatures of a petition per day of confirmation, by partner, country and postcode
    area: the geography tables. A day, not an hour: no page charts places over time, and a day's
    rows are 24 times fewer to add up."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(help_text="The day (UTC) the signatures were confirmed on.")
    partner_key = models.PositiveIntegerField(default=0)
    country = models.CharField(max_length=2, blank=True)
    postcode_area = models.CharField(max_length=4, blank=True)
    signatures = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["petition", "day", "partner_key", "country", "postcode_area"], name="place_tally_key"
            ),
        ]

    def __str__(self):
        return f"{self.signatures} on {self.petition_id} from {self.country} {self.postcode_area} on {self.day}"


class OptInTally(models.Model):
    """Opt-in boxes ticked on confirmed signatures, per petition, hour of confirmation, the
    organisation whose box it was (the host's or a co-sponsor's) and the partner the signature came
    through. They are the boxes on record: anonymising or erasing a signature drops its boxes, and
    so takes them out of here too."""

    petition = models.ForeignKey(Petition, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    organisation_key = models.PositiveIntegerField(help_text="The organisation whose box was ticked.")
    partner_key = models.PositiveIntegerField(default=0)
    opt_ins = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["petition", "hour", "organisation_key", "partner_key"], name="opt_in_tally_key"
            ),
        ]

    def __str__(self):
        return f"{self.opt_ins} opt-ins to {self.organisation_key} on {self.petition_id} at {self.hour:%Y-%m-%d %H:00}"
