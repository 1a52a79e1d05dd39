from django.urls import path

from organise.views import accounts, audit, held, mailings, overview, people, petitions, segments, supporters

app_name = "organise"

urlpatterns = [
    path("", accounts.index, name="index"),
    path("login/", accounts.WorkspaceLoginView.as_view(), name="login"),
    path("logout/", accounts.WorkspaceLogoutView.as_view(), name="logout"),
    # organiser accounts (organise.views.accounts, people, audit)
    path("second-factor/", accounts.second_factor_setup, name="second-factor-setup"),
    path("invitations/<str:token>/", people.invitation_accept, name="invitation"),
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
    path("<slug:org>/segments/<int:pk>/", segments.segment_detail, name="segment"),
    # supporters (organise.views.supporters)
    path("<slug:org>/supporters/", supporters.supporter_list, name="supporters"),
    path("<slug:org>/supporters/<int:pk>/", supporters.supporter_detail, name="supporter"),
    # the organisation's people and the coalition's audit log (organise.views.people, audit)
    path("<slug:org>/people/", people.people, name="people"),
    path("<slug:org>/people/invite/", people.invite, name="people-invite"),
    path("<slug:org>/people/<int:pk>/role/", people.member_role, name="people-role"),
    path("<slug:org>/people/<int:pk>/remove/", people.member_remove, name="people-remove"),
    path("<slug:org>/people/<int:pk>/unlock/", people.member_unlock, name="people-unlock"),
    path("<slug:org>/people/invitations/<int:pk>/resend/", people.invitation_resend, name="invitation-resend"),
    path("<slug:org>/people/invitations/<int:pk>/revoke/", people.invitation_revoke, name="invitation-revoke"),
    path("<slug:org>/audit/", audit.audit_log, name="audit"),
]
