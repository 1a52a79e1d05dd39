"""The steps every sign endpoint shares (the petition page, the embed, the JSON API): the body's
size, the bound form, whether a valid submission is held, and storing it through
petitions.services.signing.petition_sign.

Over a rate limit or caught by the honeypot a signature is held, not refused: a real person
behind a shared address (a university, a hospital) loses nothing, and nothing is counted until
an organiser releases it.
"""

from django.conf import settings

from engage.abuse import client_ip, over_limits
from engage.models import Organisation
from petitions.forms import SignatureForm
from petitions.models import Cosponsorship, Petition, Signature
from petitions.selectors import petition_progress_percent, signature_count_live
from petitions.services.signing import PetitionNotOpen, petition_sign

NOT_OPEN = "This petition is not open for signatures."


def body_too_large(request) -> bool:
    """Django counts only form fields against DATA_UPLOAD_MAX_MEMORY_SIZE, not uploaded files."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        return limit is not None and int(request.META.get("CONTENT_LENGTH") or 0) > limit
    except ValueError:
        return False


def sign_form(petition: Petition, cosponsorships: list[Cosponsorship], data=None, *, initial=None) -> SignatureForm:
    """The sign form of this petition: its host's opt-in box and one per active co-sponsor."""
    return SignatureForm(data, initial=initial, opt_in_label=petition.opt_in_wording, cosponsorships=cosponsorships)


def sign_form_context(petition: Petition, form: SignatureForm) -> dict:
    """What every page with the sign form shows: the petition, the form, the live count and progress."""
    count = signature_count_live(petition_id=petition.pk, fallback=petition.signature_count)
    return {
        "petition": petition,
        "form": form,
        "count": count,
        "percent": petition_progress_percent(count=count, goal=petition.goal),
    }


def sign_over_limit(request, *, petition_id: int, per_ip: bool = True) -> bool:
    """Count this submission against every limit; True if any is exceeded. A kiosk (one device
    signing many people at a stall) is not counted per IP: only the per-petition limit binds.

    If the cache is down the limits cannot be counted; the signature is accepted rather than
    held, since storing it matters more than the limit (docs/design.md, "Stored first, sent when the service is back").
    """
    ip = client_ip(request)
    checks = [(f"sign-ip-petition:{rate}", f"{ip}:{petition_id}", rate) for rate in settings.SIGN_RATE_PER_IP_PETITION]
    checks = checks if per_ip else []
    checks.append(("sign-petition", str(petition_id), settings.SIGN_RATE_PER_PETITION))
    return over_limits(request, checks=checks)


def sign_hold_reason(request, *, petition: Petition, form: SignatureForm, per_ip: bool = True) -> str:
    """Why a valid submission is held, or "" to store it as pending."""
    if form.caught_by_honeypot:
        return Signature.HoldReason.HONEYPOT
    if sign_over_limit(request, petition_id=petition.pk, per_ip=per_ip):
        return Signature.HoldReason.RATE_LIMIT
    return ""


def sign_submitted(
    request, *, petition: Petition, form: SignatureForm, partner: Organisation | None, via: str = "",
    kiosk_stall: str | None = None,
) -> bool:
    """Store a valid form's signature, held if need be. False, with NOT_OPEN on the form, if the
    petition is not open (its deadline may have passed since the page was loaded).

    `kiosk_stall`: signed at a kiosk (petitions.kiosk), which names the stall as the source and
    is not limited per IP."""
    kiosk = kiosk_stall is not None
    hold_reason = sign_hold_reason(request, petition=petition, form=form, per_ip=not kiosk)
    data = form.cleaned_data
    try:
        petition_sign(
            petition=petition,
            **form.person_fields(),
            opt_in=data["opt_in"],
            source=kiosk_stall if kiosk else data["source"],
            ip=client_ip(request),
            hold_reason=hold_reason,
            partner=partner,
            cosponsor_opt_ins=form.cosponsor_opt_ins,
            via=via,
            updates_opt_in=data["updates_opt_in"],
        )
    except PetitionNotOpen:
        form.add_error(None, NOT_OPEN)
        return False
    return True
