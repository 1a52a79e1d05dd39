from django.urls import path

from organise.views import accounts, audit, held, mailings, overview, people, petitions, segments, supporters, updates

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
    # a petition's updates (organise.views.updates)
    path("<slug:org>/petitions/<slug:slug>/updates/", updates.update_list, name="petition_updates"),
    path("<slug:org>/petitions/<slug:slug>/updates/new", updates.update_new, name="petition_update_new"),
    path("<slug:org>/petitions/<slug:slug>/updates/<int:pk>/", updates.update_detail, name="petition_update"),
    path("<slug:org>/petitions/<slug:slug>/updates/<int:pk>/withdraw", updates.update_withdraw, name="petition_update_withdraw"),
    path("<slug:org>/petitions/<slug:slug>/updates/<int:pk>/email", updates.update_email, name="petition_update_email"),
    path("<slug:org>/petitions/<slug:slug>/handin.csv", petitions.petition_handin, name="petition-handin"),
    # held signatures (organise.views.held)
    path("<slug:org>/held/", held.held_list, name="held"),
    path("<slug:org>/held/review/", held.held_review, name="held_review"),
    # mailings (organise.views.mailings)
    path("<slug:org>/mailings/", mailings.mailing_list, name="mailings"),
    path("<slug:org>/mailings/new/", mailings.mailing_new, name="mailing_new"),
    path("<slug:org>/mailings/<int:pk>/", mailings.mailing_detail, name="mailing"),
    path("<slug:org>/mailings/<int:pk>/message/", mailings.mailing_message, name="mailing_message"),
    path("<slug:org>/mailings/<int:pk>/preview/", mailings.mailing_preview, name="mailing_preview"),
    path("<slug:org>/mailings/<int:pk>/recipients/", mailings.mailing_recipients, name="mailing_recipients"),
    path("<slug:org>/mailings/<int:pk>/audience/", mailings.mailing_audience, name="mailing_audience"),
    path("<slug:org>/mailings/<int:pk>/audience/count/", mailings.mailing_audience_count, name="mailing_audience_count"),
    path("<slug:org>/mailings/<int:pk>/send/", mailings.mailing_send, name="mailing_send"),
    path("<slug:org>/mailings/<int:pk>/schedule/", mailings.mailing_schedule, name="mailing_schedule"),
    path("<slug:org>/mailings/<int:pk>/do/<slug:action>/", mailings.mailing_action, name="mailing_action"),
    path("<slug:org>/mailings/<int:pk>/progress/", mailings.mailing_progress_json, name="mailing_progress"),
    # segments (organise.views.segments)
    path("<slug:org>/segments/", segments.segment_list, name="segments"),
    path("<slug:org>/segments/new/", segments.segment_new, name="segment-new"),
    path("<slug:org>/segments/import/", segments.segment_import, name="segment-import"),
    path("<slug:org>/segments/count/", segments.segment_count_view, name="segment-count"),
    path("<slug:org>/segments/<int:pk>/", segments.segment_detail, name="segment"),
    path("<slug:org>/segments/<int:pk>/export/", segments.segment_export, name="segment-export"),
    # supporters (organise.views.supporters)
    path("<slug:org>/supporters/", supporters.supporter_list, name="supporters"),
    path("<slug:org>/supporters/export.csv", supporters.supporters_csv, name="supporters_csv"),
    path("<slug:org>/supporters/<int:pk>/", supporters.supporter_detail, name="supporter"),
    path("<slug:org>/supporters/<int:pk>/data.json", supporters.supporter_data_export, name="supporter_export"),
    path("<slug:org>/supporters/<int:pk>/erase/", supporters.supporter_erase_confirm, name="supporter_erase"),
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
