from django.urls import path

from organise.views import accounts, held, mailings, overview, petitions, segments, supporters

app_name = "organise"

urlpatterns = [
    path("", accounts.index, name="index"),
    path("login/", accounts.WorkspaceLoginView.as_view(), name="login"),
    path("logout/", accounts.WorkspaceLogoutView.as_view(), name="logout"),
    path("<slug:org>/", overview.overview, name="overview"),
    # petitions (organise.views.petitions)
    path("<slug:org>/petitions/", petitions.petition_list, name="petitions"),
    path("<slug:org>/petitions/<slug:slug>/", petitions.petition_detail, name="petition"),
    # held signatures (organise.views.held)
    path("<slug:org>/held/", held.held_list, name="held"),
    # mailings (organise.views.mailings)
    path("<slug:org>/mailings/", mailings.mailing_list, name="mailings"),
    path("<slug:org>/mailings/<int:pk>/", mailings.mailing_detail, name="mailing"),
    # segments (organise.views.segments)
    path("<slug:org>/segments/", segments.segment_list, name="segments"),
    path("<slug:org>/segments/new/", segments.segment_new, name="segment-new"),
    path("<slug:org>/segments/import/", segments.segment_import, name="segment-import"),
    path("<slug:org>/segments/count/", segments.segment_count_view, name="segment-count"),
    path("<slug:org>/segments/<int:pk>/", segments.segment_detail, name="segment"),
    path("<slug:org>/segments/<int:pk>/export/", segments.segment_export, name="segment-export"),
    # supporters (organise.views.supporters)
    path("<slug:org>/supporters/", supporters.supporter_list, name="supporters"),
    path("<slug:org>/supporters/<int:pk>/", supporters.supporter_detail, name="supporter"),
]
