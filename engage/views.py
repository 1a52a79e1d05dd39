"""Public pages: subscribe, join, confirm, preferences, unsubscribe, data download.

Links in emails answer GET with a page and a button and change nothing: mail scanners open
links. Only a POST acts, except the RFC 8058 one-click endpoint, which is a POST by definition.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from engage.abuse import signup_over_limit
from engage.check_email import (
    check_email_address,
    check_email_read,
    check_email_remember,
    check_email_token,
    resend_over_limit,
)
from engage.forms import DetailsForm, EmailOnlyForm, EraseForm, JoinForm, SubscribeForm, clean_source
from engage.links import (
    preferences_url,
    read_data_export_token,
    read_preferences_token,
    read_signup_confirm_token,
    read_unsubscribe_scope,
    unsubscribe_url,
)
from engage.models import Signup, Subscription, Supporter
from engage.query_params import parse_ids
from engage.selectors import (
    consents_current,
    host_organisation,
    is_unsubscribed,
    preference_lists,
    preference_organisations,
    public_lists,
    subscription_statuses,
)
from engage.services.consent import ONE_CLICK_WORDING, organisation_opt_in_wording, unsubscribe_wording
from engage.services.data_exports import data_export_request
from engage.services.erasure import supporter_erase
from engage.services.preferences import preferences_link_request, preferences_update
from engage.services.signups import SignupRefused, signup_confirmation_resend, signup_create
from engage.services.signups import signup_confirm as signup_confirm_service
from engage.services.subscriptions import unsubscribe as unsubscribe_service
from engage.services.supporters import supporter_details_update
from engage.token_pages import private, token_errors
from engage.tokens import TokenExpired, TokenInvalid

CHECK_EMAIL_REASONS = {"subscribe", "join", "preferences"}


def _refuse_large_bodies(request) -> None:
    """Django counts only form fields against DATA_UPLOAD_MAX_MEMORY_SIZE, not uploaded files."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        too_large = limit is not None and int(request.META.get("CONTENT_LENGTH") or 0) > limit
    except ValueError:
        too_large = False
    if too_large:
        raise RequestDataTooBig("The form's body is too large.")


def _check_email(kind: str, *, email: str = ""):
    """The "check your email" page; after a sign-up it names `email` (engage.check_email)."""
    response = HttpResponseRedirect(reverse("engage:check-email") + f"?for={kind}", status=303)
    return check_email_remember(response, email=email, what="signup") if email else response


def _hold_reason(request, form) -> str:
    if form.caught_by_honeypot:
        return Signup.HoldReason.HONEYPOT
    if signup_over_limit(request, form="signup", email=form.cleaned_data["email"]):
        return Signup.HoldReason.RATE_LIMIT
    return ""


def _signup_store(request, form, *, kind: str, **extra) -> None:
    data = form.cleaned_data
    try:
        signup_create(
            kind=kind,
            **form.person_fields(),
            mailing_lists=list(data["lists"]),
            source=data["source"],
            hold_reason=_hold_reason(request, form),
            **extra,
        )
    except SignupRefused:
        pass  # the same answer, so the form cannot be used to learn who is suppressed


@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request):
    lists = public_lists()
    if request.method != "POST":
        form = SubscribeForm(lists=lists, initial={"source": clean_source(request.GET.get("source")), "country": "GB"})
        return render(request, "engage/subscribe.html", {"form": form})
    _refuse_large_bodies(request)
    form = SubscribeForm(request.POST, lists=lists)
    if not form.is_valid():
        return render(request, "engage/subscribe.html", {"form": form}, status=400)
    _signup_store(request, form, kind=Signup.Kind.SUBSCRIBE)
    return _check_email("subscribe", email=form.cleaned_data["email"])


@require_http_methods(["GET", "HEAD", "POST"])
def join(request):
    host = host_organisation()
    if host is None:
        raise Http404("No host organisation is set up.")
    lists = public_lists().filter(organisation=host)
    opt_in_label = organisation_opt_in_wording(host)
    context = {"organisation": host}
    if request.method != "POST":
        form = JoinForm(
            lists=lists, opt_in_label=opt_in_label,
            initial={"source": clean_source(request.GET.get("source")), "country": "GB", "joining_as": JoinForm.AS_INDIVIDUAL},
        )
        return render(request, "engage/join.html", {**context, "form": form})
    _refuse_large_bodies(request)
    form = JoinForm(request.POST, lists=lists, opt_in_label=opt_in_label)
    if not form.is_valid():
        return render(request, "engage/join.html", {**context, "form": form}, status=400)
    _signup_store(request, form, kind=form.kind, organisation=host, opt_in=form.cleaned_data["opt_in"], affiliate=form.affiliate)
    return _check_email("join", email=form.cleaned_data["email"])


def _check_email_page(request, *, reason: str, address: str = "", message: str = "", status: int = 200):
    context = {
        "reason": reason,
        "address": address,
        "resend_token": check_email_token(request) if address else "",
        "resend_url": reverse("engage:check-email-resend"),
        "resent": request.GET.get("resent") == "1" and status == 200,
        "message": message,
    }
    return private(render(request, "engage/check_email.html", context, status=status))


@require_safe
def check_email(request):
    reason = request.GET.get("for")
    reason = reason if reason in CHECK_EMAIL_REASONS else ""
    # The preferences link is sent only to a known address, so its page names none.
    address = check_email_address(request, what="signup") if reason != "preferences" else ""
    return _check_email_page(request, reason=reason, address=address)


@require_POST
def check_email_resend(request):
    """Send the confirmation again to the address this browser subscribed or joined with; the
    same answer whether or not it has a sign-up waiting."""
    try:
        email = check_email_read(request.POST.get("token", ""), what="signup")
    except (TokenInvalid, TokenExpired):
        message = _("This button has expired. Fill in the form again to be sent a new email.")
        return _check_email_page(request, reason="", message=message, status=400)
    if resend_over_limit(request, email=email):
        message = _("You have asked for it several times already. Please wait a few minutes and check your spam folder.")
        return _check_email_page(request, reason="", address=email, message=message, status=429)
    signup_confirmation_resend(email=email)
    return HttpResponseRedirect(reverse("engage:check-email") + "?resent=1", status=303)


@require_http_methods(["GET", "HEAD", "POST"])
@token_errors("confirm")
def signup_confirm(request, token):
    """GET shows a button and changes nothing: mail scanners open links. POST confirms."""
    signup = read_signup_confirm_token(token)
    if signup is None:  # purged after its time
        raise TokenExpired
    if signup.status == Signup.Status.HELD:  # waiting for an organiser
        raise TokenInvalid
    if request.method == "POST":
        signup_confirm_service(signup=signup)
        return HttpResponseRedirect(request.path, status=303)
    context = {
        "signup": signup,
        "lists": list(signup.mailing_lists.select_related("organisation")),
        "preferences_url": preferences_url(signup.supporter),
    }
    return private(render(request, "engage/signup_confirm.html", context))


# --- Preferences ----------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def preferences_request(request):
    """Ask for a link to one's preference page by email; the same answer for every address."""
    if request.method != "POST":
        return render(request, "engage/preferences_request.html", {"form": EmailOnlyForm()})
    _refuse_large_bodies(request)
    form = EmailOnlyForm(request.POST)
    if not form.is_valid():
        return render(request, "engage/preferences_request.html", {"form": form}, status=400)
    if not signup_over_limit(request, form="preferences", email=form.cleaned_data["email"]):
        preferences_link_request(email=form.cleaned_data["email"])
    return _check_email("preferences")


def _preferences_supporter(token) -> Supporter:
    """The person a preferences link names; TokenExpired if they have been erased or their
    links revoked."""
    supporter = read_preferences_token(token)
    if supporter is None:
        raise TokenExpired
    return supporter


def _preferences_page(request, token, supporter, *, details_form=None, status=200):
    consents = consents_current(supporter=supporter)
    statuses = subscription_statuses(supporter=supporter)
    lists = [
        {"list": each, "on": statuses.get(each.pk) == Subscription.Status.SUBSCRIBED, "pending": statuses.get(each.pk) == Subscription.Status.PENDING}
        for each in preference_lists(supporter=supporter)
    ]
    organisations = [
        {"organisation": org, "on": consents.get(org.pk, False), "wording": organisation_opt_in_wording(org)}
        for org in preference_organisations(supporter=supporter, consents=consents)
    ]
    details_form = details_form or DetailsForm(
        initial={
            "first_name": supporter.first_name, "last_name": supporter.last_name,
            "country": supporter.country.code, "postcode": supporter.postcode,
        }
    )
    context = {
        "supporter": supporter,
        "token": token,
        "lists": lists,
        "organisations": organisations,
        "details_form": details_form,
        "saved": request.GET.get("saved", ""),
        "unsubscribe_all_url": unsubscribe_url(supporter),
    }
    return private(render(request, "engage/preferences.html", context, status=status))


def _back_to_preferences(token, saved: str):
    return HttpResponseRedirect(reverse("engage:preferences", kwargs={"token": token}) + f"?saved={saved}", status=303)


@require_safe
@token_errors("preferences")
def preferences(request, token):
    return _preferences_page(request, token, _preferences_supporter(token))


@require_POST
@token_errors("preferences")
def preferences_choices(request, token):
    _refuse_large_bodies(request)
    preferences_update(
        supporter=_preferences_supporter(token),
        list_ids_on=parse_ids(request.POST.getlist("lists")),
        organisation_ids_on=parse_ids(request.POST.getlist("organisations")),
    )
    return _back_to_preferences(token, "choices")


@require_POST
@token_errors("preferences")
def preferences_details(request, token):
    _refuse_large_bodies(request)
    supporter = _preferences_supporter(token)
    form = DetailsForm(request.POST)
    if not form.is_valid():
        return _preferences_page(request, token, supporter, details_form=form, status=400)
    supporter_details_update(supporter=supporter, **form.person_fields())
    return _back_to_preferences(token, "details")


@require_POST
@token_errors("preferences")
def preferences_export(request, token):
    data_export_request(supporter=_preferences_supporter(token), requested_by="supporter")
    return _back_to_preferences(token, "export")


@require_http_methods(["GET", "HEAD", "POST"])
@token_errors("preferences")
def preferences_erase(request, token):
    supporter = _preferences_supporter(token)
    form = EraseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        supporter_erase(supporter=supporter)
        return HttpResponseRedirect(reverse("engage:erased"), status=303)
    status = 400 if request.method == "POST" else 200
    return private(render(request, "engage/erase_confirm.html", {"form": form, "token": token, "supporter": supporter}, status=status))


@require_safe
def erased(request):
    return render(request, "engage/erased.html")


# --- Unsubscribe ------------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@token_errors("unsubscribe")
def unsubscribe(request, token):
    """GET shows one button and changes nothing; POST unsubscribes. The page says
    "unsubscribed" only once that is on record (is_unsubscribed)."""
    scope = read_unsubscribe_scope(token)
    supporter, mailing_list = scope.supporter, scope.mailing_list
    organisation = mailing_list.organisation if mailing_list else scope.organisation or host_organisation()
    wording = unsubscribe_wording(mailing_list, organisation)
    if request.method == "POST" and supporter is not None:
        unsubscribe_service(
            supporter=supporter, mailing_list=mailing_list, organisation=scope.organisation, wording=wording,
            source="unsubscribe-link",
        )
        return HttpResponseRedirect(request.path, status=303)
    context = {
        "supporter": supporter,
        "mailing_list": mailing_list,
        "organisation": organisation,
        "wording": wording,
        # Nobody left to unsubscribe (erased, or their links revoked): nothing can reach them.
        "done": supporter is None
        or is_unsubscribed(supporter=supporter, mailing_list=mailing_list, organisation=scope.organisation),
        "action": reverse("engage:unsubscribe", kwargs={"token": token}),
        "preferences_url": preferences_url(supporter) if supporter else "",
    }
    return private(render(request, "engage/unsubscribe.html", context))


@csrf_exempt  # RFC 8058: the POST comes from a mail provider with no cookies and no form token
@require_http_methods(["GET", "HEAD", "POST"])
@token_errors("unsubscribe")
def unsubscribe_one_click(request, token):
    """RFC 8058 one-click: a POST with List-Unsubscribe=One-Click, authenticated only by the
    signed token. Answers 200 with no redirect, and takes effect for every later send at once.
    A GET (someone opening the address in a browser) shows the one-button page instead."""
    if request.method in ("GET", "HEAD"):
        return unsubscribe(request, token)
    scope = read_unsubscribe_scope(token)
    if scope.supporter is not None:
        unsubscribe_service(
            supporter=scope.supporter, mailing_list=scope.mailing_list, organisation=scope.organisation,
            wording=ONE_CLICK_WORDING, source="one-click",
        )
    response = HttpResponse(gettext("You are unsubscribed.") + "\n", content_type="text/plain; charset=utf-8")
    add_never_cache_headers(response)
    return response


# --- Data export download ---------------------------------------------------------------------------


@require_safe
@token_errors("export")
def data_export_download(request, token):
    export = read_data_export_token(token)
    if export is None:  # expired, or its person erased
        raise TokenExpired
    response = HttpResponse(export.content, content_type="application/json; charset=utf-8")
    # The file's name says nothing about whose data it is.
    response["Content-Disposition"] = f'attachment; filename="muster-personal-data-{export.created_at:%Y-%m-%d}.json"'
    return private(response)
