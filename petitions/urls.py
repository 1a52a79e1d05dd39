from django.urls import path

from petitions.views import api, dashboard, embed, kiosk, pages, partner_api

app_name = "petitions"

urlpatterns = [
    # First: every embed and widget polls it, and each route tried before it costs a regex match.
    path("api/petitions/<slug:slug>", api.petition_summary_api, name="api-summary"),
    path("p/<slug:slug>/", pages.petition_detail, name="detail"),
    path("p/<slug:slug>/sign", pages.petition_sign, name="sign"),
    path("p/<slug:slug>/signed", pages.petition_signed, name="signed"),
    path("p/<slug:slug>/signed/resend", pages.petition_confirmation_resend, name="resend"),
    path("p/<slug:slug>/thanks", pages.petition_thanks, name="thanks"),
    path("confirm/<str:token>/", pages.signature_confirm, name="confirm"),
    path("kiosk/<str:token>/", kiosk.kiosk, name="kiosk"),
    path("api/petitions/<slug:slug>/signatures", api.petition_signatures_api, name="api-signatures"),
    path("embed/<slug:slug>.js", embed.embed_script, name="embed-script"),
    path("embed/<slug:slug>/", embed.embed_page, name="embed-page"),
    path("embed/<slug:slug>/sign", embed.embed_sign, name="embed-sign"),
    path("embed/<slug:slug>/signed", embed.embed_signed, name="embed-signed"),
    # The partner dashboard's old addresses, sent on to the workspace (petitions.views.dashboard).
    path("partners/", dashboard.partner_index, name="partner-index"),
    path("partners/login/", dashboard.partner_login, name="partner-login"),
    path("partners/logout/", dashboard.partner_logout, name="partner-logout"),
    path("partners/org/<slug:slug>/", dashboard.partner_dashboard, name="partner-dashboard"),
    path("api/partner/supporters", partner_api.partner_supporters_api, name="api-partner-supporters"),
    path("api/partner/supporters.csv", partner_api.partner_supporters_csv, name="api-partner-supporters-csv"),
    path("api/partner/changes", partner_api.partner_changes_api, name="api-partner-changes"),
    path("api/partner/changes.csv", partner_api.partner_changes_csv, name="api-partner-changes-csv"),
    path("api/schema", api.openapi_schema, name="api-schema"),
]
