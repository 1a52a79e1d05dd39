"""The partner dashboard: a coalition partner's users see, for their own organisation only, each
petition's signatures through them (by source code and by day), the new supporters they brought,
and how many signers opted in to hear from them.

Partner users are not staff, so they log in here rather than in the admin. Another
organisation's dashboard answers 404, as if it did not exist.
"""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from engage.selectors import partner_opt_ins_current
from petitions.selectors import organisations_of_user, partner_dashboard

LOGIN_URL = reverse_lazy("petitions:partner-login")


class PartnerLoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy("Your username and password didn't match. Please try again."),
    }


class PartnerLoginView(auth_views.LoginView):
    template_name = "petitions/partners/login.html"
    authentication_form = PartnerLoginForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("petitions:partner-index")

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if form.is_bound:  # after a failed login, focus goes to the error summary, not the username
            form.fields["username"].widget.attrs.pop("autofocus", None)
        return form


class PartnerLogoutView(auth_views.LogoutView):
    next_page = LOGIN_URL


@require_GET
@login_required(login_url=LOGIN_URL)
def partner_index(request):
    organisations = list(organisations_of_user(request.user))
    if len(organisations) == 1:
        return redirect("petitions:partner-dashboard", slug=organisations[0].slug)
    return render(request, "petitions/partners/index.html", {"organisations": organisations})


@require_GET
@login_required(login_url=LOGIN_URL)
def partner_dashboard_view(request, slug):
    organisation = organisations_of_user(request.user).filter(slug=slug).first()
    if organisation is None:
        raise Http404
    context = {
        "organisation": organisation,
        "petitions": partner_dashboard(organisation=organisation),
        "opted_in_total": partner_opt_ins_current(organisation=organisation).count(),
    }
    return render(request, "petitions/partners/dashboard.html", context)
