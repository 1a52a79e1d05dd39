"""Logging in to the workspace (django-allauth's flow, styled here: docs/design.md, "Organiser
accounts"), the second factor's setup on first login, and the page that picks one of a user's
organisations."""

from allauth.account import views as allauth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from organise.access import LOGIN_URL, organisations_of
from organise.auth import has_second_factor, second_factor_redirect


class WorkspaceLoginView(allauth_views.LoginView):
    """allauth's login (axes counts its failures; allauth.mfa asks for the second factor of
    anyone who has one), on the workspace's page."""

    template_name = "organise/login.html"

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if form.is_bound:  # after a failed login, focus goes to the error summary, not the username
            form.fields["login"].widget.attrs.pop("autofocus", None)
        return form


class WorkspaceLogoutView(allauth_views.LogoutView):
    pass


def _next(request) -> str:
    url = request.GET.get("next") or request.POST.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return url
    return reverse("organise:index")


@require_GET
@login_required(login_url=LOGIN_URL)
def second_factor_setup(request):
    """First login of someone whose role needs a second factor: why, and on to setting one up
    (allauth's authenticator-app page). Once set up, or for whoever does not owe one, on to
    where they were going."""
    if has_second_factor(request.user) or second_factor_redirect(request) is None:
        return redirect(_next(request))
    return render(request, "organise/accounts/second_factor_setup.html", {"next": _next(request)})


@require_GET
@login_required(login_url=LOGIN_URL)
def index(request):
    """One organisation: straight to its overview. Several: a choice, the host first."""
    if (detour := second_factor_redirect(request)) is not None:
        return detour
    organisations = list(organisations_of(request.user))
    if len(organisations) == 1:
        return redirect("organise:overview", org=organisations[0].slug)
    return render(request, "organise/index.html", {"organisations": organisations})
