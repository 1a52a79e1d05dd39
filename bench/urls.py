"""The app's URLs plus /bench/raw-sign/<slug>, the raw-SQL reference for bench/sign.py."""

from django.urls import path

from bench.views import raw_sign
from config.urls import urlpatterns as app_urlpatterns

# The reference route goes first, so the real sign path pays for the extra pattern, not the other way round.
urlpatterns = [path("bench/raw-sign/<slug:slug>", raw_sign, name="bench-raw-sign"), *app_urlpatterns]
