"""The kiosk page: the sign form on one shared device, reset after each signature with a short
thank-you, and nothing of the last signer left on screen (petitions.kiosk)."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from engage.token_pages import private, token_errors
from engage.tokens import TokenExpired
from petitions.kiosk import kiosk_read
from petitions.models import Petition
from petitions.selectors import cosponsorships_active
from petitions.views.submission import NOT_OPEN, body_too_large, sign_form, sign_form_context, sign_submitted


def _kiosk_page(request, petition: Petition, form, *, thanks: bool = False, status: int = 200):
    # The next person must not be offered the last one's answers by the browser's autofill.
    for field in form.fields.values():
        field.widget.attrs["autocomplete"] = "off"
    context = {**sign_form_context(petition, form), "thanks": thanks, "open": petition.status == Petition.Status.OPEN}
    return private(render(request, "petitions/kiosk.html", context, status=status))


@require_http_methods(["GET", "HEAD", "POST"])
@token_errors("kiosk", template="petitions/kiosk_error.html")
def kiosk(request, token):
    petition_id, stall = kiosk_read(token)
    petition = Petition.objects.select_related("organisation").filter(pk=petition_id).first()
    if petition is None:
        raise TokenExpired
    cosponsorships = cosponsorships_active(petition=petition)
    if request.method != "POST":
        form = sign_form(petition, cosponsorships, initial={"country": "GB"})
        return _kiosk_page(request, petition, form, thanks=request.GET.get("thanks") == "1")
    if body_too_large(request):
        raise RequestDataTooBig("The signature form's body is too large.")
    form = sign_form(petition, cosponsorships, request.POST)
    if petition.status != Petition.Status.OPEN:
        form.is_valid()
        form.add_error(None, NOT_OPEN)
        return _kiosk_page(request, petition, form, status=409)
    if not form.is_valid():
        return _kiosk_page(request, petition, form, status=400)
    if not sign_submitted(request, petition=petition, form=form, partner=None, via="kiosk", kiosk_stall=stall):
        return _kiosk_page(request, petition, form, status=409)
    # Redirect, so that reloading the page cannot sign the last person again.
    return HttpResponseRedirect(request.path + "?thanks=1", status=303)
