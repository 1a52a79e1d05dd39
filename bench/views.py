"""The raw-SQL reference for the sign benchmark: the same writes as petitions.services.signing.petition_sign
(supporter upsert, signature with its ticked opt-in, then the confirmation task published to the broker
after commit), in one transaction, with no form, rate limit or ORM. Served only by bench/sign.py.

The INSERT statements are written out once, when this module is imported. Their column lists
come from the models, so the reference keeps writing whole rows while the schema changes: the
columns the sign path sets are given per request; every other column gets what Django would
give it (now() for auto_now/auto_now_add, else the field's default, evaluated per request when
it is a callable such as a nonce). Print them with:
DJANGO_SETTINGS_MODULE=bench.settings_bench python -c "import django; django.setup(); import bench.views as v; print(v.describe())"
"""

import hashlib
import hmac
import json
import logging
import secrets

from django.conf import settings
from django.db import connection, transaction
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt

from config.celery import app as celery_app
from engage.models import Organisation, Supporter
from engage.normalise import postcode_area
from petitions.models import Petition, Signature

logger = logging.getLogger(__name__)

CONFIRM_TASK = "petitions.tasks.signature_confirmation_send"


class _Insert:
    """INSERT INTO <model's table> (every concrete column but the pk) VALUES (...) <tail>.

    `given` names the columns passed per request, in that order; names the model lacks are
    dropped (the reference runs against the schema before and after a column is added)."""

    def __init__(self, model, given: tuple[str, ...], tail: str = ""):
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        columns = {f.column for f in fields}
        self.given = [c for c in given if c in columns]
        names, values, self.defaults = [f'"{c}"' for c in self.given], ["%s"] * len(self.given), []
        for field in fields:
            if field.column in self.given:
                continue
            names.append(f'"{field.column}"')
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                values.append("now()")
            else:
                values.append("%s")
                self.defaults.append(field)
        self.sql = (
            f'INSERT INTO "{model._meta.db_table}" ({", ".join(names)}) VALUES ({", ".join(values)}) {tail}'.strip()
        )

    def params(self, given: dict) -> list:
        return [given[c] for c in self.given] + [
            field.get_db_prep_save(field.get_default(), connection) for field in self.defaults
        ]


PETITION_SQL = (
    f'SELECT p.id, p.status, p.consent_wording, o.id, o.name FROM "{Petition._meta.db_table}" p '
    f'JOIN "{Organisation._meta.db_table}" o ON o.id = p.organisation_id WHERE p.slug = %s'
)
# The no-op update makes RETURNING give the existing row's id; an existing supporter's
# details are not overwritten, as in engage.services.supporters.supporter_get_or_create. xmax = 0 only
# for a row this statement inserted: the "new supporter" flag a signature records.
SUPPORTER_UPSERT = _Insert(
    Supporter,
    ("email", "first_name", "last_name", "country", "postcode"),
    f'ON CONFLICT ((lower(email))) DO UPDATE SET email = "{Supporter._meta.db_table}".email RETURNING id, (xmax = 0)',
)
SIGNATURE_INSERT = _Insert(
    Signature,
    (
        "petition_id",
        "supporter_id",
        "status",
        "hold_reason",
        "source",
        "country",
        "postcode_area",
        "confirm_nonce",
        "ip_hash",
        "new_supporter",
        "opt_ins_pending",
    ),
    "ON CONFLICT (petition_id, supporter_id) DO NOTHING RETURNING id",
)


def describe() -> str:
    return "\n".join([PETITION_SQL, SUPPORTER_UPSERT.sql, SIGNATURE_INSERT.sql])


def _ip_hash(ip: str) -> str:
    if not ip:
        return ""
    return hmac.new(settings.IP_HASH_KEY.encode(), ip.encode(), hashlib.sha256).hexdigest()[:32]


@csrf_exempt
def raw_sign(request, slug):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    post = request.POST
    email = post.get("email", "").strip().lower()
    if not email or "@" not in email:
        return HttpResponse("email required", status=400)
    country = post.get("country", "GB").strip().upper()[:2]
    postcode = post.get("postcode", "").strip().upper()[:16]
    source = post.get("source", "").strip()[:64]

    signature_id = None
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        cursor.execute(PETITION_SQL, [slug])
        row = cursor.fetchone()
        if row is None:
            raise Http404
        petition_id, status, consent_wording, organisation_id, organisation_name = row
        if status != "open":
            return HttpResponse("This petition is not open for signatures.", status=409)
        supporter = {
            "email": email,
            "first_name": post.get("first_name", "").strip()[:100],
            "last_name": post.get("last_name", "").strip()[:100],
            "country": country,
            "postcode": postcode,
        }
        cursor.execute(SUPPORTER_UPSERT.sql, SUPPORTER_UPSERT.params(supporter))
        supporter_id, supporter_created = cursor.fetchone()
        signature = {
            "petition_id": petition_id,
            "supporter_id": supporter_id,
            "status": "pending",
            "hold_reason": "",
            "source": source,
            "country": country,
            "postcode_area": postcode_area(postcode, country),
            "confirm_nonce": secrets.token_urlsafe(16),
            "ip_hash": _ip_hash(request.META.get("REMOTE_ADDR", "")),
            "new_supporter": supporter_created,
            # The ticked box, kept with the signature until confirmation writes it to the ledger.
            "opt_ins_pending": json.dumps(
                [
                    {
                        "organisation_id": organisation_id,
                        "wording": consent_wording
                        or (
                            f"Keep me updated by {organisation_name} about this and other campaigns. "
                            "You can unsubscribe at any time."
                        ),
                        "source": (f"petition:{slug}" + (f":{source}" if source else ""))[:200],
                    }
                ]
                if post.get("opt_in") == "on"
                else []
            ),
        }
        cursor.execute(SIGNATURE_INSERT.sql, SIGNATURE_INSERT.params(signature))
        inserted = cursor.fetchone()
        if inserted is not None:
            signature_id = inserted[0]
    # Committed: publish the confirmation task, as the real path does from transaction.on_commit.
    if signature_id is not None:
        try:
            celery_app.send_task(
                CONFIRM_TASK,
                args=[signature_id],
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )
        except Exception:
            logger.exception("could not queue %s(%r)", CONFIRM_TASK, signature_id)
    return HttpResponseRedirect(f"/p/{slug}/signed", status=303)
