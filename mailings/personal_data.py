"""mailings' part of a person's data: the emails sent to them (engage.personal_data).

Erasure deletes the transactional emails (they hold the address); a mailing's delivery rows
keep their statistics and lose the person (supporter is set null when the row goes)."""

from django.db.models import Q, QuerySet

from engage import personal_data
from engage.models import Supporter
from mailings.models import Delivery, OutboundEmail


def emails_of(supporter: Supporter) -> dict:
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


def emails_delete(supporters: QuerySet) -> None:
    # Rows linked to the person go with the supporter anyway (CASCADE); rows that only name
    # the address must go too.
    OutboundEmail.objects.filter(Q(supporter__in=supporters) | Q(to_email__in=supporters.values("email"))).delete()


def register() -> None:
    personal_data.source_register(name="mailings", export=emails_of, erase=emails_delete)
