"""The petition's own pages: the petition and its sign form, the page after signing, the
confirmation link's page and the thanks after it, and the home page's list of open petitions."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from engage.check_email import (
    check_email_address,
    check_email_read,
    check_email_remember,
    check_email_token,
    resend_over_limit,
)
from engage.token_pages import private, token_errors
from engage.tokens import TokenExpired, TokenInvalid, token_read
from petitions.forms import SignatureForm, clean_source
from petitions.models import Petition, Signature
from petitions.selectors import (
    cosponsorships_active,
    petition_partner,
    petitions_flagging_cosponsors,
    petitions_open_listed,
    signature_by_confirm_nonce,
)
from petitions.services import signing
from petitions.services.updates import petition_updates_public
from petitions.views.submission import NOT_OPEN, body_too_large, sign_form, sign_form_context, sign_submitted


def _visible_petition(request, slug: str, *, with_body: bool = True) -> Petition:
    petitions = petitions_flagging_cosponsors(Petition.objects.select_related("organisation"))
    if not with_body:
        # The sign POST answers with a redirect; the text is loaded only if the form is shown again.
        petitions = petitions.defer("body", "body_html")
    petition = get_object_or_404(petitions, slug=slug)
    # Drafts are visible only to staff, as a preview.
    if petition.status == Petition.Status.DRAFT and not request.user.is_staff:
        raise Http404
    return petition


def _page(request, petition: Petition, form: SignatureForm, *, status: int = 200):
    context = {
        **sign_form_context(petition, form),
        "share_url": request.build_absolute_uri(petition.get_absolute_url()),
        "is_preview": petition.status == Petition.Status.DRAFT,
        "updates": list(petition_updates_public(petition=petition)),
    }
    return render(request, "petitions/detail.html", context, status=status)


@require_GET
def petition_detail(request, slug):
    petition = _visible_petition(request, slug)
    initial = {
        "source": clean_source(request.GET.get("source")),
        "partner": clean_source(request.GET.get("partner")),
        "country": "GB",
    }
    return _page(request, petition, sign_form(petition, cosponsorships_active(petition=petition), initial=initial))


@require_POST
def petition_sign(request, slug):
    if body_too_large(request):
        raise RequestDataTooBig("The signature form's body is too large.")
    petition = _visible_petition(request, slug, with_body=False)
    cosponsorships = cosponsorships_active(petition=petition)
    form = sign_form(petition, cosponsorships, request.POST)
    if petition.status != Petition.Status.OPEN:
        form.is_valid()
        form.add_error(None, NOT_OPEN)
        return _page(request, petition, form, status=409)
    if not form.is_valid():
        return _page(request, petition, form, status=400)
    # ?partner= on a link is attribution only: a code that names no active co-sponsor is ignored.
    partner = petition_partner(petition=petition, slug=form.cleaned_data["partner"], cosponsorships=cosponsorships)
    if not sign_submitted(request, petition=petition, form=form, partner=partner):
        return _page(request, petition, form, status=409)
    # The same answer whether this address is new, has signed before or was held.
    response = HttpResponseRedirect(reverse("petitions:signed", kwargs={"slug": petition.slug}), status=303)
    return check_email_remember(response, email=form.cleaned_data["email"], what="signature", ref=petition.pk)


def _signed_page(request, petition: Petition, *, address: str, message: str = "", status: int = 200):
    """The page after signing: the address the email went to (only the browser that typed it
    sees it) and the button that asks for it again."""
    context = {
        "petition": petition,
        "address": address,
        "resend_token": check_email_token(request) if address else "",
        "resent": request.GET.get("resent") == "1" and status == 200,
        "message": message,
    }
    return private(render(request, "petitions/signed.html", context, status=status))


@require_GET
def petition_signed(request, slug):
    petition = _visible_petition(request, slug)
    return _signed_page(request, petition, address=check_email_address(request, what="signature", ref=petition.pk))


@require_POST
def petition_confirmation_resend(request, slug):
    """Send the confirmation again to the address this browser signed with. The answer is the
    same whether or not that address has a pending signature here (docs/design.md, "What each
    suppression stops")."""
    petition = _visible_petition(request, slug, with_body=False)
    try:
        email = check_email_read(request.POST.get("token", ""), what="signature", ref=petition.pk)
    except (TokenInvalid, TokenExpired):
        message = _("This button has expired. Sign the petition again to be sent a new email.")
        return _signed_page(request, petition, address="", message=message, status=400)
    if resend_over_limit(request, email=email):
        message = _("You have asked for it several times already. Please wait a few minutes and check your spam folder.")
        return _signed_page(request, petition, address=email, message=message, status=429)
    signing.signature_confirmation_resend(petition_id=petition.pk, email=email)
    return HttpResponseRedirect(reverse("petitions:signed", kwargs={"slug": petition.slug}) + "?resent=1", status=303)


@require_GET
def petition_thanks(request, slug):
    petition = _visible_petition(request, slug)
    return render(
        request,
        "petitions/thanks.html",
        {"petition": petition, "share_url": request.build_absolute_uri(petition.get_absolute_url())},
    )


@require_http_methods(["GET", "HEAD", "POST"])
@token_errors("signature", template="petitions/token_error.html")
def signature_confirm(request, token):
    """GET shows a button and changes nothing: mail scanners open links. POST confirms."""
    nonce = token_read(purpose=signing.CONFIRM_PURPOSE, token=token, max_age=settings.CONFIRM_TOKEN_MAX_AGE)
    signature = signature_by_confirm_nonce(nonce)
    if signature is None:
        raise TokenExpired  # purged after its time
    if signature.status in (Signature.Status.INVALID, Signature.Status.HELD):
        raise TokenInvalid  # withdrawn by an organiser
    if request.method == "POST":
        signing.signature_confirm(signature=signature)
        return HttpResponseRedirect(reverse("petitions:thanks", kwargs={"slug": signature.petition.slug}), status=303)
    return render(
        request,
        "petitions/confirm.html",
        {"petition": signature.petition, "already": signature.status == Signature.Status.CONFIRMED},
    )


@require_GET
def home(request):
    return render(request, "petitions/home.html", {"petitions": petitions_open_listed()})
