"""bench/urls.py plus /bench/hello, the bare Django view that bench/count_api.py compares the count
API with. It goes first, so it resolves at least as fast as any app route."""

from django.http import HttpResponse
from django.urls import path

from bench.urls import urlpatterns as bench_urlpatterns


def hello(request):
    # Through the same middleware as every app view; no template, no cache, no database.
    return HttpResponse(b"Hello, world!", content_type="text/plain")


urlpatterns = [path("bench/hello", hello, name="bench-hello"), *bench_urlpatterns]
