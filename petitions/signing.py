"""The step every sign endpoint shares (the petition page, the embed, the JSON API): decide whether
a valid submission is held, then store it through petitions.services.petition_sign."""

from engage.models import Organisation
from petitions import services
from petitions.abuse import client_ip, sign_over_limit
from petitions.forms import SignatureForm
from petitions.models import Petition, Signature


def sign_submitted(request, *, petition: Petition, form: SignatureForm, partner: Organisation | None, via: str = ""):
    """Store a valid form's signature. Over a rate limit or caught by the honeypot it is held,
    not refused (petitions.abuse). Raises services.PetitionNotOpen."""
    hold_reason = ""
    if form.caught_by_honeypot:
        hold_reason = Signature.HoldReason.HONEYPOT
    elif sign_over_limit(request, petition_id=petition.pk):
        hold_reason = Signature.HoldReason.RATE_LIMIT
    data = form.cleaned_data
    return services.petition_sign(
        petition=petition,
        first_name=data["first_name"],
        last_name=data["last_name"],
        email=data["email"],
        country=data["country"],
        postcode=data["postcode"],
        opt_in=data["opt_in"],
        source=data["source"],
        ip=client_ip(request),
        hold_reason=hold_reason,
        partner=partner,
        cosponsor_opt_ins=form.cosponsor_opt_ins,
        via=via,
    )
