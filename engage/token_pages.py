"""The pages behind a link from an email: never cached, never indexed, and one page for a link
whose token no longer works. engage's views use it, and petitions' confirmation link can too.

    @token_errors("confirm")
    def signup_confirm(request, token):
        signup = ...  # raises TokenExpired / TokenInvalid (engage.tokens) for a bad link
"""

import functools

from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from engage.tokens import TokenExpired, TokenInvalid

# What each kind of link is for; the error page gives the advice that fits.
TOKEN_PAGE_KINDS = {"confirm", "preferences", "unsubscribe", "export"}
TOKEN_PAGE = "engage/token_error.html"


def private(response):
    """Pages behind a personal link: never cached, never indexed."""
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex"
    return response


def token_error(request, *, expired: bool, what: str, template: str = TOKEN_PAGE):
    """The page for a link that does not work: 410 when it has expired (or what it named is
    gone), 400 when it is invalid (tampered with, cut short, or made for another purpose).
    `what` is one of TOKEN_PAGE_KINDS for engage's page; an app above engage passes its own
    `template`, which extends engage's and gives its own advice."""
    response = render(request, template, {"expired": expired, "what": what}, status=410 if expired else 400)
    return private(response)


def token_errors(what: str, *, template: str = TOKEN_PAGE):
    """Decorate a view that reads a link's token: a TokenExpired or TokenInvalid it raises
    becomes token_error's page. A view raises TokenExpired itself when the token is good but
    what it names is gone (purged, erased)."""
    if template == TOKEN_PAGE and what not in TOKEN_PAGE_KINDS:
        raise ValueError(f"unknown kind of link: {what!r}")

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except TokenExpired:
                return token_error(request, expired=True, what=what, template=template)
            except TokenInvalid:
                return token_error(request, expired=False, what=what, template=template)

        return wrapped

    return decorator
