"""Reads of single emails: the transactional sender's address, an outbound email's row, and
the emails sent to a person (their part of a data export)."""

from django.conf import settings
from django.db.models import Q

from engage.models import Organisation, Supporter
from mailings.models import Delivery, OutboundEmail, Sender


def transactional_from(organisation: Organisation | None) -> str:
    """The From of an organisation's transactional emails: its first sender's transactional
    address, else the site's."""
    sender = Sender.objects.filter(organisation=organisation).order_by("pk").first() if organisation else None
    return sender.transactional_from if sender else settings.MAILINGS_TRANSACTIONAL_FROM_EMAIL


def outbound_email_exists(outbound_id: int | None) -> bool:
    return bool(outbound_id) and OutboundEmail.objects.filter(pk=outbound_id).exists()


def supporter_emails_export(supporter: Supporter) -> dict:
    """mailings' part of a person's data (engage.personal_data): the emails sent to them and
    the mailings they received."""
    emails = OutboundEmail.objects.filter(Q(supporter=supporter) | Q(to_email__iexact=supporter.email)).order_by(
        "created_at", "id"
    )
    return {
        "emails": [
            {
                "kind": e.kind,
                "to": e.to_email,
                "subject": e.subject,
                "status": e.status,
                "created_at": e.created_at.isoformat(),
                "sent_at": e.sent_at.isoformat() if e.sent_at else None,
            }
            for e in emails
        ],
        "mailings_received": [
            {
                "mailing": d.mailing.name,
                "subject": d.mailing.message.subject,
                "status": d.status,
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                "outcome": d.outcome,
                "opened_at": d.opened_at.isoformat() if d.opened_at else None,
                "clicked_at": d.clicked_at.isoformat() if d.clicked_at else None,
            }
            for d in Delivery.objects.filter(supporter=supporter).select_related("mailing__message").order_by("id")
        ],
    }
