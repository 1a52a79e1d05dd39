"""mailings' part of erasing a person (engage.personal_data; registered in MailingsConfig.ready).

Erasure deletes the transactional emails (they hold the address); a mailing's delivery rows
keep their statistics and lose the person (supporter is set null when the row goes)."""

from django.db.models import Q, QuerySet

from mailings.models import OutboundEmail


def supporters_emails_delete(supporters: QuerySet) -> None:
    """Rows linked to the person go with the supporter anyway (CASCADE); rows that only name
    the address must go too."""
    OutboundEmail.objects.filter(Q(supporter__in=supporters) | Q(to_email__in=supporters.values("email"))).delete()
