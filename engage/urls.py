from django.urls import path

from engage import views

app_name = "engage"

# The preference and unsubscribe paths are a contract with every email already sent
# (engage.links builds them): do not change them.
urlpatterns = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("join/", views.join, name="join"),
    path("check-your-email/", views.check_email, name="check-email"),
    path("check-your-email/resend", views.check_email_resend, name="check-email-resend"),
    path("signup/confirm/<str:token>/", views.signup_confirm, name="signup-confirm"),
    path("preferences/", views.preferences_request, name="preferences-request"),
    path("preferences/erased/", views.erased, name="erased"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path("preferences/<str:token>/choices", views.preferences_choices, name="preferences-choices"),
    path("preferences/<str:token>/details", views.preferences_details, name="preferences-details"),
    path("preferences/<str:token>/export", views.preferences_export, name="preferences-export"),
    path("preferences/<str:token>/erase", views.preferences_erase, name="preferences-erase"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("unsubscribe/<str:token>/one-click", views.unsubscribe_one_click, name="unsubscribe-one-click"),
    path("my-data/<str:token>/", views.data_export_download, name="data-export-download"),
]
