from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from mailings import views as mailing_views
from organise.auth import admin_has_permission, admin_login
from petitions.views import pages as petition_pages

admin.site.site_header = "Muster organisers"
admin.site.site_title = "Muster"
# The admin's login is the workspace's (allauth, with axes and the second factor), and its pages
# want the second factor as the workspace's do (docs/design.md, "Organiser accounts").
admin.site.login = admin_login
admin.site.has_permission = admin_has_permission

# A database outage answers 503 with Retry-After instead of a 500 (config.views).
handler500 = "config.views.server_error"

urlpatterns = [
    path("", petition_pages.home, name="home"),
    path("admin/", admin.site.urls),
    path("organise/", include("organise.urls")),
    # allauth's pages: password reset, the second factor at login and its management.
    path("organise/account/", include("allauth.urls")),
    # ESP tracking webhooks (basic auth with WEBHOOK_SECRET): mailings.webhooks applies them.
    # Only the configured ESPs' answer; every other is a 404 (mailings.webhook_urls).
    path("anymail/", include("mailings.webhook_urls")),
    path("", include("petitions.urls")),
    path("", include("engage.urls")),
]
if settings.DEBUG:
    urlpatterns.append(path("dev/outbox/", mailing_views.outbox, name="dev-outbox"))
