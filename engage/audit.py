"""The audit log (docs/design.md, "Organiser accounts"): who did what, to which object, when,
and from which address (hashed), for the actions that matter with political data.

    audit_record(request_or_actor=request, organisation=org, action="export.signatures",
                 target=petition, details={"rows": 120, "filter": "..."})

Call it inside the action's own transaction.atomic(), after the write it records: the row
commits or rolls back with the action, so every committed action has its row and a rolled-back
one leaves none. Any app may call it (engage is the lowest layer). Rows are never changed;
beat deletes those older than MUSTER_AUDIT_RETENTION_DAYS (audit_purge).
"""

import hashlib
import hmac
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from engage.abuse import client_ip
from engage.models import AuditEvent, Organisation


def audit_ip_hash(ip: str) -> str:
    """A keyed hash of an address: the same address gives the same value (for spotting abuse, and
    matching the log with a held signature, which stores this too), and the address is never stored."""
    if not ip:
        return ""
    return hmac.new(settings.IP_HASH_KEY.encode(), ip.encode(), hashlib.sha256).hexdigest()[:32]


def _target_fields(target) -> dict:
    if target is None:
        return {}
    if isinstance(target, models.Model):
        name = target.get_username() if hasattr(target, "get_username") else str(target)
        return {"target_type": target._meta.label_lower, "target_id": str(target.pk or "")[:64],
                "target_name": name[:254]}
    if isinstance(target, tuple):  # (type, id, name) for something that is not a row
        kind, ident, name = (*target, "")[:3]
        return {"target_type": str(kind)[:60], "target_id": str(ident)[:64], "target_name": str(name)[:254]}
    return {"target_name": str(target)[:254]}


_FROM_REQUEST = object()


def audit_record(
    *, request_or_actor, organisation: Organisation | None, action: str, target=None, details: dict | None = None,
    actor=_FROM_REQUEST,
) -> AuditEvent:
    """Write one audit row. `request_or_actor`: the request (its logged-in user is the actor, its
    address is hashed), a user (a task acting for them), or None (the system itself).
    `target`: a model instance, a (type, id, name) tuple, or None. `details`: JSON-safe facts,
    never personal data beyond what the action already names (counts, filters, ids).
    `actor` names the actor when the request's user is not it (an account just created)."""
    who, ip = None, ""
    if isinstance(request_or_actor, HttpRequest):
        user = getattr(request_or_actor, "user", None)
        who = user if user is not None and user.is_authenticated else None
        ip = client_ip(request_or_actor)
    elif request_or_actor is not None:
        who = request_or_actor
    actor = who if actor is _FROM_REQUEST else actor
    return AuditEvent.objects.create(
        actor=actor, actor_name=actor.get_username()[:254] if actor else "", organisation=organisation,
        action=action[:60], details=details or {}, ip_hash=audit_ip_hash(ip), **_target_fields(target),
    )


def audit_purge() -> int:
    """Delete the rows older than the retention period; the number deleted."""
    cutoff = timezone.now() - timedelta(days=settings.MUSTER_AUDIT_RETENTION_DAYS)
    deleted, _ = AuditEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
