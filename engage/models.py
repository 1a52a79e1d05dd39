from django.db import models
from django.db.models.functions import Lower
from django_countries.fields import CountryField


class Organisation(models.Model):
    """The host coalition or one of its partners."""

    class Kind(models.TextChoices):
        HOST = "host", "Host coalition"
        PARTNER = "partner", "Coalition partner"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PARTNER)
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Supporter(models.Model):
    """One person, one row per normalised email address (DESIGN rule 1)."""

    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    country = CountryField(default="GB")
    postcode = models.CharField(max_length=16, blank=True)
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
