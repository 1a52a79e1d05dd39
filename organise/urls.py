from django.urls import path

from organise.views import accounts, mailings, overview, petitions, segments, supporters

app_name = "organise"

urlpatterns = [
    path("", accounts.index, name="index"),
    path("login/", accounts.WorkspaceLoginView.as_view(), name="login"),
    path("logout/", accounts.WorkspaceLogoutView.as_view(), name="logout"),
    path("<slug:org>/", overview.overview, name="overview"),
    # petitions (organise.views.petitions)
    path("<slug:org>/petitions/", petitions.petition_list, name="petitions"),
    # mailings (organise.views.mailings)
    path("<slug:org>/mailings/", mailings.mailing_list, name="mailings"),
    # segments (organise.views.segments)
    path("<slug:org>/segments/", segments.segment_list, name="segments"),
    # supporters (organise.views.supporters)
    path("<slug:org>/supporters/", supporters.supporter_list, name="supporters"),
]
