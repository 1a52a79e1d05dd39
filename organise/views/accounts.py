"""Logging in to the workspace, and the page that picks one of a user's organisations."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from organise.access import LOGIN_URL, organisations_of


class WorkspaceLoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy("Your username and password didn't match. Please try again."),
    }


class WorkspaceLoginView(auth_views.LoginView):
    template_name = "organise/login.html"
    authentication_form = WorkspaceLoginForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("organise:index")

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if form.is_bound:  # after a failed login, focus goes to the error summary, not the username
            form.fields["username"].widget.attrs.pop("autofocus", None)
        return form


class WorkspaceLogoutView(auth_views.LogoutView):
    next_page = LOGIN_URL


@require_GET
@login_required(login_url=LOGIN_URL)
def index(request):
    """One organisation: straight to its overview. Several: a choice, the host first."""
    organisations = list(organisations_of(request.user))
    if len(organisations) == 1:
        return redirect("organise:overview", org=organisations[0].slug)
    return render(request, "organise/index.html", {"organisations": organisations})
