import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from engage.normalise import validate_header_text
from engage.tokens import new_nonce


class Organisation(models.Model):
    """The host coalition or one of its partners."""

    class Kind(models.TextChoices):
        HOST = "host", "Host coalition"
        PARTNER = "partner", "Coalition partner"

    # In the List-Id header of mailings sent as the organisation: validate_header_text refuses line breaks.
    name = models.CharField(max_length=200, validators=[validate_header_text])
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PARTNER)
    website = models.URLField(blank=True)
    logo_url = models.URLField(blank=True)
    allowed_origins = models.TextField(
        blank=True,
        help_text="Origins that may embed this organisation's petitions, one per line, e.g. https://weownit.org.uk",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="organisations", through="OrganisationMember",
        help_text="Users who may work in this organisation's workspace, each with a role.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def origins(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()]


class OrganisationMember(models.Model):
    """A user's place in an organisation's workspace, with their role (docs/design.md,
    "Organiser accounts"). The table is the one the plain many-to-many had, so the members kept
    their rows; they became admins, which is what they could do before roles existed."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Admin")  # everything for the organisation, its people and keys too
        ORGANISER = "organiser", _("Organiser")  # petitions, mailings, events, exports; not its people
        VIEWER = "viewer", _("Viewer")  # figures only, no personal data

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="people")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organisation_memberships")
    # members.add(user) from code and tests gives this: what a member could do before roles,
    # without managing people, which did not exist then.
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.ORGANISER)

    class Meta:
        db_table = "engage_organisation_members"
        unique_together = [("organisation", "user")]

    def __str__(self):
        return f"{self.user_id} in {self.organisation_id} as {self.role}"


class Invitation(models.Model):
    """An invitation to join an organisation with a role, by a link emailed to the address.
    Only a hash of the link's token is stored; the link works once, until it expires or is revoked."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=20, choices=OrganisationMember.Role.choices)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "accepted_at", "revoked_at"], name="invitation_pending")]

    def __str__(self):
        return f"{self.email} to {self.organisation_id} as {self.role}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


def _email_digest(email: str) -> bytes:
    # engage.suppression imports this module, so it is imported when first needed.
    from engage.suppression import email_digest

    return email_digest(email)


class SupporterQuerySet(models.QuerySet):
    """The ORM's bulk writes of an address store its suppression hash with it, as save() does."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for obj in objs:
            obj.email_hash = _email_digest(obj.email)
        if kwargs.get("update_fields") and "email" in kwargs["update_fields"]:
            kwargs["update_fields"] = [*kwargs["update_fields"], "email_hash"]
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        if "email" in fields:
            objs = list(objs)
            for obj in objs:
                obj.email_hash = _email_digest(obj.email)
            fields = [*fields, "email_hash"]
        return super().bulk_update(objs, fields, *args, **kwargs)

    def update(self, **kwargs):
        # bulk_update passes both, each as a CASE over the objects' own values.
        if "email" in kwargs and "email_hash" not in kwargs:
            email = kwargs["email"]
            # An expression's value is not known here: no hash, for the fill to compute.
            kwargs["email_hash"] = _email_digest(email) if isinstance(email, str) else None
        return super().update(**kwargs)


class Supporter(models.Model):
    """One person, one row per normalised email address (docs/design.md, "One supporter per address")."""

    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    country = CountryField(default="GB")
    postcode = models.CharField(max_length=16, blank=True)
    # The random value behind this person's preference and unsubscribe links (docs/design.md, "Links carry signed tokens");
    # replacing it revokes every link sent so far.
    link_nonce = models.CharField(max_length=32, unique=True, default=new_nonce)
    # The address's suppression hash (engage.suppression.email_digest), so a mailing's snapshot
    # matches a million supporters against the suppression list without hashing each address.
    # Every Muster writer of an address stores it (save(), SupporterQuerySet, engage.sql).
    # NULL: written by another program, not yet filled in (engage.services.suppression.
    # supporters_email_hash_fill); never "not suppressed" at send time.
    email_hash = models.BinaryField(max_length=32, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SupporterQuerySet.as_manager()

    class Meta:
        constraints = [
            # Services store the normalised address; the index on lower() makes the rule hold
            # even for a row written some other way.
            models.UniqueConstraint(Lower("email"), name="supporter_email_ci_unique"),
        ]
        # The rows without a hash, for supporters_email_hash_fill's query (normally none).
        indexes = [models.Index(fields=["id"], condition=models.Q(email_hash__isnull=True), name="supporter_email_hash_todo")]

    def __str__(self):
        return self.email

    def save(self, *args, update_fields=None, **kwargs):
        # The hash goes in with every write of the address, from the address being written.
        if update_fields is None:
            if "email" not in self.get_deferred_fields():
                self.email_hash = _email_digest(self.email)
        elif "email" in update_fields:
            self.email_hash = _email_digest(self.email)
            update_fields = [*update_fields, "email_hash"]
        super().save(*args, update_fields=update_fields, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class AppendOnly(models.Model):
    """A ledger row: written once, never changed."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)


class Consent(AppendOnly):
    """An append-only ledger row: one opt-in or opt-out (docs/design.md, "Consent is a ledger").

    The current state for a supporter and an organisation is the latest row.
    """

    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="consents")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="consents")
    given = models.BooleanField()
    wording = models.TextField()
    source = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When the person gave this consent, if that was before the row was written: an imported
    # list's provenance ("they subscribed on our old platform in 2019"). Empty means created_at.
    given_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Serves "latest row per (supporter, organisation)".
        indexes = [models.Index(fields=["supporter", "organisation", "-created_at", "-id"])]

    def __str__(self):
        verb = "opted in to" if self.given else "opted out of"
        return f"{self.supporter_id} {verb} {self.organisation_id}"


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


class PartnerWebhook(models.Model):
    """Where a partner wants to be told, as it happens, of withdrawals and erasures affecting it
    (docs/design.md, "Partners hear about withdrawals and erasures")."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="webhook", verbose_name=_("organisation")
    )
    url = models.URLField(
        _("URL"), max_length=500,
        help_text=_("The partner's endpoint, https only. Each event is POSTed to it as signed JSON."),
    )
    # Kept in plain text, unlike an API key: Muster signs with it, so it must be able to read it.
    # The admin shows it once, when it is made, and never again.
    secret = models.CharField(max_length=100, editable=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    secret_created_at = models.DateTimeField(_("secret made at"), null=True, editable=False)

    class Meta:
        verbose_name = _("partner webhook")
        verbose_name_plural = _("partner webhooks")

    def __str__(self):
        return f"{self.organisation} → {self.url}"


class PartnerNotice(models.Model):
    """One withdrawal or erasure a partner must hear about, as its feed and its webhook send it.

    The address is held only until the partner has it (fetched from the feed, or the webhook
    delivered) or PARTNER_NOTICE_ADDRESS_DAYS have passed; then only the event is kept.
    """

    class Kind(models.TextChoices):
        WITHDRAWN = "withdrawn", _("Consent withdrawn")
        ERASED = "erased", _("Erased")

    class Webhook(models.TextChoices):
        NONE = "", _("No webhook")
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed after every attempt")
        FETCHED = "fetched", _("Not needed: fetched from the feed")

    event_id = models.UUIDField(_("event id"), unique=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="partner_notices", verbose_name=_("organisation")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    # Empty once the partner has it, or after PARTNER_NOTICE_ADDRESS_DAYS; no link to the
    # supporter, so erasing the person leaves this row as the one place the address survives.
    email = models.EmailField(_("email"), max_length=254, blank=True)
    email_cleared_at = models.DateTimeField(_("address forgotten at"), null=True, blank=True)
    fetched_at = models.DateTimeField(_("fetched at"), null=True, blank=True)
    webhook_status = models.CharField(
        _("webhook"), max_length=20, choices=Webhook.choices, default=Webhook.NONE, blank=True
    )
    webhook_attempts = models.PositiveSmallIntegerField(_("webhook attempts"), default=0)
    webhook_next_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    # Set while a worker is calling the partner; one older than the claim timeout belongs to a dead worker.
    webhook_claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("partner notice")
        verbose_name_plural = _("partner notices")
        indexes = [
            # The feed: one organisation's notices in (occurred_at, id) order.
            models.Index(fields=["organisation", "occurred_at", "id"], name="partner_notice_feed"),
            # The beat sweep: webhook deliveries still owed.
            models.Index(fields=["webhook_next_at"], condition=models.Q(webhook_status="pending"), name="partner_notice_owed"),
            # The purge: notices still holding an address.
            models.Index(fields=["occurred_at"], condition=~models.Q(email=""), name="partner_notice_address_held"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.organisation_id}, {self.event_id})"


class PartnerWebhookAttempt(models.Model):
    """One call to a partner's webhook, recorded before the call is made and completed after."""

    notice = models.ForeignKey(PartnerNotice, on_delete=models.CASCADE, related_name="attempts", verbose_name=_("notice"))
    number = models.PositiveSmallIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # The partner's HTTP status, or None when no answer came (then `error` says why).
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        constraints = [models.UniqueConstraint(fields=["notice", "number"], name="partner_webhook_attempt_once")]

    def __str__(self):
        return f"{self.notice_id} #{self.number}: {self.status_code or self.error or '…'}"


class MailingList(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="mailing_lists")
    # In the List-Id header of its mailings: validate_header_text refuses line breaks.
    name = models.CharField(max_length=200, validators=[validate_header_text])
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    public = models.BooleanField(default=True, help_text="Shown on the subscribe form and preference page.")
    consent_wording = models.CharField(
        max_length=300,
        blank=True,
        help_text="The subscribe box's text. Empty: “Email me <list> from <organisation>. "
        "I can unsubscribe at any time.”",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def opt_in_wording(self) -> str:
        """Exactly what the box beside this list says; the ledger records it word for word."""
        return self.consent_wording or (
            f"Email me {self.name} from {self.organisation.name}. I can unsubscribe at any time."
        )


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


class SubscriptionEvent(AppendOnly):
    """The ledger of one person's subscriptions to one list: every request, confirmation and
    unsubscribe, with the wording shown and where it happened. Consent to an organisation is
    in Consent; a list can be switched off without withdrawing it."""

    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="subscription_events")
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="subscription_events")
    status = models.CharField(max_length=20, choices=Subscription.Status.choices)
    wording = models.TextField(blank=True)
    source = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["supporter", "created_at"])]

    def __str__(self):
        return f"{self.supporter_id} {self.status} on {self.mailing_list_id}"


class SupporterChange(AppendOnly):
    """Which details a person corrected, where and when. The old values are not kept: a
    correction is made so that the wrong value is gone."""

    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="changes")
    fields = models.CharField(max_length=200)
    source = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.supporter_id} changed {self.fields}"


class Affiliate(models.Model):
    """An organisation that registered, through the join form, as affiliated to the coalition.

    An organisation's name and website are not personal data; its contact person is a
    Supporter, and erasing them leaves the affiliation without a contact."""

    class Kind(models.TextChoices):
        CAMPAIGN_GROUP = "campaign_group", "Campaign group"
        TRADE_UNION_BRANCH = "trade_union_branch", "Trade union branch"
        TRADES_COUNCIL = "trades_council", "Trades council"
        PATIENT_GROUP = "patient_group", "Patients' or carers' group"
        COMMUNITY_GROUP = "community_group", "Community or voluntary group"
        POLITICAL_PARTY = "political_party", "Political party branch"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting the contact's confirmation"
        CONFIRMED = "confirmed", "Confirmed"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="affiliates", help_text="The coalition joined."
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    website = models.URLField(blank=True)
    contact = models.ForeignKey(
        Supporter, null=True, blank=True, on_delete=models.SET_NULL, related_name="affiliates_contacted"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """A person who joined an organisation (the coalition) as an individual."""

    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="memberships")
    source = models.CharField(max_length=200, blank=True)
    joined_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["supporter", "organisation"], name="membership_one_per_organisation"),
        ]

    def __str__(self):
        return f"{self.supporter_id} in {self.organisation_id}"


class Signup(models.Model):
    """One submission of the subscribe or join form, waiting for its emailed confirmation.

    Nothing it asks for takes effect until the person presses the button behind the emailed
    link: then its lists are subscribed, its membership or affiliation confirmed, and the
    wording of every box they ticked is written to the ledgers. `consent_wordings` keeps that
    wording exactly as the form showed it, so a later edit of a list's text changes nothing.
    """

    class Kind(models.TextChoices):
        SUBSCRIBE = "subscribe", "Subscribe"
        JOIN = "join", "Join as an individual"
        AFFILIATE = "affiliate", "Register an affiliated organisation"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        HELD = "held", "Held for review"

    class HoldReason(models.TextChoices):
        RATE_LIMIT = "rate_limit", "Over the rate limit"
        HONEYPOT = "honeypot", "Caught by the honeypot"

    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="signups")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="signups",
        help_text="The organisation joined (join forms only).",
    )
    affiliate = models.OneToOneField(
        Affiliate, null=True, blank=True, on_delete=models.SET_NULL, related_name="signup"
    )
    mailing_lists = models.ManyToManyField(MailingList, blank=True, related_name="signups")
    # {"lists": {"<list id>": wording}, "organisations": {"<organisation id>": wording}}
    consent_wordings = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    hold_reason = models.CharField(max_length=20, choices=HoldReason.choices, blank=True)
    source = models.CharField(max_length=64, blank=True)
    confirm_nonce = models.CharField(max_length=32, unique=True, default=new_nonce)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The owed-confirmation sweep and the purge of unconfirmed sign-ups: pending rows by age.
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.supporter_id} ({self.status})"


class DataExport(models.Model):
    """A copy of everything held about one person, asked for by them or an organiser.

    The JSON is kept in the row (every web and worker machine can read it) until the link
    expires; the link carries `download_nonce`, never an id or address.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Being prepared"
        READY = "ready", "Ready to download"
        EXPIRED = "expired", "Expired (content deleted)"

    supporter = models.ForeignKey(Supporter, on_delete=models.CASCADE, related_name="data_exports")
    requested_by = models.CharField(max_length=200, help_text="“supporter”, or the organiser's user name.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    download_nonce = models.CharField(max_length=32, unique=True, default=new_nonce)
    content = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The expiry sweep: ready rows by expiry.
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self):
        return f"Data export {self.pk} ({self.status})"


class SubscriberImport(models.Model):
    """One CSV of an existing list (e.g. a Mailchimp export) imported into a mailing list, with
    the consent wording and date the organiser records as its provenance.

    The uploaded file waits in `data` only until it has been imported, then is deleted; what
    stays is the report: counts, and each problem row by line number (never its content).
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Waiting for its columns to be matched"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    mailing_list = models.ForeignKey(MailingList, on_delete=models.PROTECT, related_name="imports")
    file_name = models.CharField(max_length=200)
    data = models.BinaryField(blank=True, editable=False)
    encoding = models.CharField(
        max_length=20, default="utf-8",
        choices=[("utf-8", "UTF-8 (Mailchimp, Google Sheets, most exports)"), ("cp1252", "Windows (older Excel)")],
    )
    columns = models.JSONField(default=list, blank=True, help_text="The file's header row.")
    column_map = models.JSONField(default=dict, blank=True, help_text="Muster field → the file's column.")
    consent_wording = models.TextField(
        help_text="What these people agreed to, word for word (e.g. the sign-up form they used); "
        "written to the consent ledger for each of them."
    )
    consent_given_at = models.DateTimeField(help_text="When they gave that consent, as far as you know.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    new_supporters = models.PositiveIntegerField(default=0)
    subscribed = models.PositiveIntegerField(default=0)
    already_subscribed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    # [[line number, message], ...]: the first problems found (problem_count has them all).
    problems = models.JSONField(default=list, blank=True)
    problem_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.file_name} into {self.mailing_list}"


class AuditEvent(models.Model):
    """Who did what, to which object, when, from which (hashed) address: append-only, written in
    the same transaction as the action (engage.audit.audit_record; docs/design.md, "Organiser
    accounts"). Names are copied, so a row still says who it was after the user is deleted."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=254, blank=True)
    organisation = models.ForeignKey(Organisation, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_name = models.CharField(max_length=254, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_hash = models.CharField(max_length=32, blank=True)

    class Meta:
        indexes = [
            # The workspace's audit page: an organisation's rows, newest first, by kind or person.
            models.Index(fields=["organisation", "-at"], name="audit_organisation_at"),
            models.Index(fields=["action", "-at"], name="audit_action_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("audit rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit rows are deleted only by the retention purge")
