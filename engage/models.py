from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django_countries.fields import CountryField

from engage.tokens import new_nonce


class Organisation(models.Model):
    """The host coalition or one of its partners."""

    class Kind(models.TextChoices):
        HOST = "host", "Host coalition"
        PARTNER = "partner", "Coalition partner"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PARTNER)
    website = models.URLField(blank=True)
    logo_url = models.URLField(blank=True)
    allowed_origins = models.TextField(
        blank=True,
        help_text="Origins that may embed this organisation's petitions, one per line, e.g. https://weownit.org.uk",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="organisations",
        help_text="Users who may see this organisation's figures and supporters.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def origins(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()]


class Supporter(models.Model):
    """One person, one row per normalised email address (DESIGN rule 1)."""

    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    country = CountryField(default="GB")
    postcode = models.CharField(max_length=16, blank=True)
    # The random value behind this person's preference and unsubscribe links (DESIGN rule 7);
    # replacing it revokes every link sent so far.
    link_nonce = models.CharField(max_length=32, unique=True, default=new_nonce)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Services store the normalised address; the index on lower() makes the rule hold
            # even for a row written some other way.
            models.UniqueConstraint(Lower("email"), name="supporter_email_ci_unique"),
        ]

    def __str__(self):
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Consent(models.Model):
    """An append-only ledger row: one opt-in or opt-out (DESIGN rule 3).

    The current state for a supporter and an organisation is the latest row.
    """

    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="consents")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="consents")
    given = models.BooleanField()
    wording = models.TextField()
    source = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # Serves "latest row per (supporter, organisation)".
        indexes = [models.Index(fields=["supporter", "organisation", "-created_at", "-id"])]

    def __str__(self):
        verb = "opted in to" if self.given else "opted out of"
        return f"{self.supporter_id} {verb} {self.organisation_id}"

    def save(self, *args, **kwargs):
        # A ledger is only ever appended to.
        if self.pk is not None:
            raise ValueError("Consent rows are append-only")
        super().save(*args, **kwargs)


class PartnerApiKey(models.Model):
    """A partner's key to its own opted-in supporters. Only a hash of the key is stored."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class MailingList(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="mailing_lists")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    public = models.BooleanField(default=True, help_text="Shown on the subscribe form and preference page.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Subscription(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting confirmation"
        SUBSCRIBED = "subscribed", "Subscribed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="subscriptions")
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="subscriptions")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=200, blank=True)
    confirm_nonce = models.CharField(max_length=32, unique=True, default=new_nonce)
    created_at = models.DateTimeField(auto_now_add=True)
    subscribed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["supporter", "mailing_list"], name="subscription_one_per_list"),
        ]
        # Segments and sends: "subscribed to list X".
        indexes = [models.Index(fields=["mailing_list", "status"])]

    def __str__(self):
        return f"{self.supporter_id} on {self.mailing_list_id} ({self.status})"


class Suppression(models.Model):
    """An address never to be mailed or re-imported, kept only as a keyed hash of the
    normalised address, so it outlives the erasure of everything else about the person."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", "Hard bounce"
        COMPLAINT = "complaint", "Spam complaint"
        SOFT_BOUNCES = "soft_bounces", "Too many soft bounces"
        ERASED = "erased", "Erased at the person's request"
        MANUAL = "manual", "Added by an organiser"

    email_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.email_hash[:12]}… ({self.reason})"
