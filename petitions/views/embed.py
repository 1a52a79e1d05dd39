"""The embed: one script tag on a partner's page shows the petition's title, live count and sign
form, attributes signatures to the partner, and works where third-party cookies are blocked.

Why an iframe and not a shadow DOM: an iframe isolates both ways and completely. No style of the
partner's page leaks in (a shadow root still inherits fonts, colours and anything set on :host),
none of ours leaks out, and no script on the partner's page (analytics, ad tags) can read what a
supporter types, because the form lives in our origin's document. The frame reports its height
to the script with postMessage, so it is sized to its content as that changes.

Third-party cookies: the frame's pages set none and need none. The form posts to embed_sign,
which is exempt from the CSRF cookie check and protected instead by
- the Content-Security-Policy frame-ancestors of every embed page, which lets browsers show the
  form only inside pages of the origins the partner registered (and this site);
- the Origin header of the POST, which must be this site's own origin: only the form inside the
  frame sends that, so no other site can post it from a visitor's browser;
- the rate limits and honeypot (held, not refused), and the double opt-in by email.
"""

import json

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from engage.models import Organisation
from engage.partners import organisation_origins
from petitions.cors import origin_allowed, own_origin
from petitions.forms import clean_source
from petitions.models import Petition
from petitions.selectors import cosponsorships_active, petition_partner_or_host
from petitions.views.submission import body_too_large, sign_form, sign_form_context, sign_submitted

SCRIPT_CACHE_SECONDS = 300
NOT_A_COSPONSOR = "This petition's embed code names a partner that is not (or no longer) a co-sponsor."


def _embeddable_petition(slug: str) -> Petition:
    petition = get_object_or_404(Petition.objects.select_related("organisation"), slug=slug)
    if petition.status == Petition.Status.DRAFT:
        raise Http404  # no previews in a third-party frame
    return petition


def _frame_ancestors(organisation: Organisation | None) -> str:
    origins = organisation_origins(organisation) if organisation is not None else []
    return "frame-ancestors " + " ".join(["'self'", *origins])


def _framable(response, organisation: Organisation | None):
    """Framable by the organisation's registered origins only (and this site)."""
    response["Content-Security-Policy"] = _frame_ancestors(organisation)
    return response


def _refused(request, message: str, status: int = 403):
    response = render(request, "petitions/embed/refused.html", {"message": message}, status=status)
    response["Content-Security-Policy"] = "frame-ancestors 'self'"
    return response


def _page(request, petition, form, partner, *, status=200):
    context = {
        **sign_form_context(petition, form),
        "partner": partner if partner and partner.pk != petition.organisation_id else None,
        "petition_url": request.build_absolute_uri(petition.get_absolute_url()),
    }
    return _framable(render(request, "petitions/embed/page.html", context, status=status), partner)


@require_GET
def embed_script(request, slug):
    """The script a partner's page loads: it puts the embed's iframe where the script tag is."""
    petition = _embeddable_petition(slug)
    # JSON string literals are JavaScript string literals; the values are a host that passed
    # ALLOWED_HOSTS and a slug, and this is a script file, not HTML, so nothing else needs escaping.
    context = {"origin_json": json.dumps(own_origin(request)), "slug_json": json.dumps(petition.slug)}
    body = render_to_string("petitions/embed/script.js", context)
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={SCRIPT_CACHE_SECONDS}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@xframe_options_exempt
@require_GET
def embed_page(request, slug):
    petition = _embeddable_petition(slug)
    cosponsorships = cosponsorships_active(petition=petition)
    partner_slug = clean_source(request.GET.get("partner"))
    partner = petition_partner_or_host(petition=petition, slug=partner_slug, cosponsorships=cosponsorships)
    if partner is None:
        return _refused(request, NOT_A_COSPONSOR)
    initial = {"source": clean_source(request.GET.get("source")), "partner": partner_slug, "country": "GB"}
    return _page(request, petition, sign_form(petition, cosponsorships, initial=initial), partner)


@csrf_exempt  # see the module docstring: frame-ancestors and the Origin check stand in for the cookie
@xframe_options_exempt
@require_POST
def embed_sign(request, slug):
    if body_too_large(request):
        return _refused(request, "The form sent too much data.", status=400)
    petition = _embeddable_petition(slug)
    if not origin_allowed(request, organisations=[]):
        return _refused(request, "Sign through the form on the page, please.")
    cosponsorships = cosponsorships_active(petition=petition)
    form = sign_form(petition, cosponsorships, request.POST)
    partner_slug = clean_source(request.POST.get("partner"))
    partner = petition_partner_or_host(petition=petition, slug=partner_slug, cosponsorships=cosponsorships)
    if partner is None:
        return _refused(request, NOT_A_COSPONSOR)
    if not form.is_valid():
        return _page(request, petition, form, partner, status=400)
    if not sign_submitted(request, petition=petition, form=form, partner=partner, via="embed"):
        return _page(request, petition, form, partner, status=409)
    signed = reverse("petitions:embed-signed", kwargs={"slug": petition.slug})
    return HttpResponseRedirect(signed + (f"?partner={partner_slug}" if partner_slug else ""), status=303)


@xframe_options_exempt
@require_GET
def embed_signed(request, slug):
    petition = _embeddable_petition(slug)
    partner = petition_partner_or_host(
        petition=petition,
        slug=clean_source(request.GET.get("partner")),
        cosponsorships=cosponsorships_active(petition=petition),
    )
    if partner is None:
        return _refused(request, NOT_A_COSPONSOR)
    return _framable(render(request, "petitions/embed/signed.html", {"petition": petition}), partner)
