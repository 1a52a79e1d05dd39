"""Links Muster puts in emails to a supporter: preferences and unsubscribe, a sign-up's
confirmation, a data export's download (docs/design.md, "Links carry signed tokens"); and reading them back.

Each token carries a random nonce (for preferences and unsubscribe the supporter's
`link_nonce`, and for unsubscribe its scope too: a list's slug, `org:<slug>` for a mailing
sent as an organisation, or `*` for everything from the host), signed with a salt per
purpose: no id, no address. Replacing `link_nonce` revokes a person's preference and unsubscribe links.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.urls import reverse

from engage.models import DataExport, MailingList, Organisation, Signup, Supporter
from engage.selectors import (
    data_export_ready,
    mailing_list_by_slug,
    organisation_by_slug,
    signup_by_confirm_nonce,
    supporter_by_link_nonce,
)
from engage.tokens import TokenExpired, TokenInvalid, token_make, token_read

PREFERENCES_PURPOSE = "preferences"
UNSUBSCRIBE_PURPOSE = "unsubscribe"
SIGNUP_CONFIRM_PURPOSE = "signup-confirm"
EXPORT_PURPOSE = "data-export"
ALL_LISTS = "*"
ORGANISATION_SCOPE = "org:"

# An unsubscribe link must keep working long after the email was sent (RFC 8058, and the law:
# withdrawing consent must be as easy as giving it).
UNSUBSCRIBE_MAX_AGE = timedelta(days=730)
PREFERENCES_MAX_AGE = timedelta(days=90)


def preferences_token(supporter: Supporter) -> str:
    return token_make(purpose=PREFERENCES_PURPOSE, nonce=supporter.link_nonce)


def unsubscribe_token(supporter: Supporter, mailing_list: MailingList | None, organisation: Organisation | None = None) -> str:
    """Scoped to the list; without one, to `organisation` (a mailing sent as it); without
    either, to everything from the host."""
    if mailing_list is not None:
        scope = mailing_list.slug
    elif organisation is not None:
        scope = ORGANISATION_SCOPE + organisation.slug
    else:
        scope = ALL_LISTS
    return token_make(purpose=UNSUBSCRIBE_PURPOSE, nonce=f"{supporter.link_nonce}:{scope}")


def preferences_url(supporter: Supporter) -> str:
    return f"{settings.SITE_URL}/preferences/{preferences_token(supporter)}/"


def _unsubscribe_page_url(token: str) -> str:
    return f"{settings.SITE_URL}/unsubscribe/{token}/"


def _one_click_url(token: str) -> str:
    return f"{settings.SITE_URL}/unsubscribe/{token}/one-click"


def unsubscribe_url(supporter: Supporter, mailing_list: MailingList | None = None) -> str:
    """The page with one button (GET shows it, POST unsubscribes)."""
    return _unsubscribe_page_url(unsubscribe_token(supporter, mailing_list))


def one_click_unsubscribe_url(supporter: Supporter, mailing_list: MailingList | None = None) -> str:
    """RFC 8058 endpoint: a POST with List-Unsubscribe=One-Click, no cookies, no CSRF token."""
    return _one_click_url(unsubscribe_token(supporter, mailing_list))


def _site_url(viewname: str, token: str) -> str:
    return settings.SITE_URL + reverse(viewname, kwargs={"token": token})


def signup_confirm_url(signup: Signup) -> str:
    return _site_url("engage:signup-confirm", token_make(purpose=SIGNUP_CONFIRM_PURPOSE, nonce=signup.confirm_nonce))


def data_export_url(export: DataExport) -> str:
    return _site_url("engage:data-export-download", token_make(purpose=EXPORT_PURPOSE, nonce=export.download_nonce))


@dataclass(frozen=True)
class MailingLinks:
    """Every link a bulk email carries for one recipient; `list_unsubscribe_headers` are
    `List-Unsubscribe` (https, one-click) and `List-Unsubscribe-Post`."""

    preferences_url: str
    unsubscribe_url: str
    list_unsubscribe_headers: dict[str, str]


def mailing_links(
    supporter: Supporter, mailing_list: MailingList | None = None, organisation: Organisation | None = None
) -> MailingLinks:
    """One recipient's links for a mailing, signing each token once: the unsubscribe page and
    the one-click header share theirs. A mailing without a list is sent as `organisation`, and
    its unsubscribe withdraws consent to it (docs/design.md, "One recipient filter")."""
    unsubscribe = unsubscribe_token(supporter, mailing_list, organisation)
    return MailingLinks(
        preferences_url=preferences_url(supporter),
        unsubscribe_url=_unsubscribe_page_url(unsubscribe),
        list_unsubscribe_headers={
            "List-Unsubscribe": f"<{_one_click_url(unsubscribe)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def read_preferences_token(token: str) -> Supporter | None:
    """The supporter a preferences token names; raises TokenInvalid / TokenExpired; None if
    the person has since been erased or their links revoked."""
    nonce = token_read(purpose=PREFERENCES_PURPOSE, token=token, max_age=PREFERENCES_MAX_AGE)
    return supporter_by_link_nonce(nonce)


@dataclass(frozen=True)
class UnsubscribeScope:
    """What an unsubscribe token names: one list; or, without one, one organisation; or,
    without either, everything from the host. `supporter` is None if they have since been
    erased or their links revoked."""

    supporter: Supporter | None
    mailing_list: MailingList | None
    organisation: Organisation | None


def read_unsubscribe_scope(token: str) -> UnsubscribeScope:
    """Raises TokenInvalid / TokenExpired, and TokenInvalid for a list or organisation that
    no longer exists."""
    value = token_read(purpose=UNSUBSCRIBE_PURPOSE, token=token, max_age=UNSUBSCRIBE_MAX_AGE)
    nonce, _, scope = value.partition(":")
    if not scope:
        raise TokenInvalid
    mailing_list = organisation = None
    if scope.startswith(ORGANISATION_SCOPE):
        organisation = organisation_by_slug(scope.removeprefix(ORGANISATION_SCOPE))
        if organisation is None:
            raise TokenInvalid
    elif scope != ALL_LISTS:
        mailing_list = mailing_list_by_slug(scope)
        if mailing_list is None:
            raise TokenInvalid
    return UnsubscribeScope(supporter=supporter_by_link_nonce(nonce), mailing_list=mailing_list, organisation=organisation)


def read_unsubscribe_token(token: str) -> tuple[Supporter | None, MailingList | None]:
    """(supporter, list) from an unsubscribe token; list None means an organisation or every
    list of the host (read_unsubscribe_scope tells which). Raises TokenInvalid / TokenExpired."""
    scope = read_unsubscribe_scope(token)
    return scope.supporter, scope.mailing_list


def read_signup_confirm_token(token: str) -> Signup | None:
    """The sign-up a confirmation link names; raises TokenInvalid / TokenExpired; None if it
    has been purged."""
    nonce = token_read(purpose=SIGNUP_CONFIRM_PURPOSE, token=token, max_age=settings.CONFIRM_TOKEN_MAX_AGE)
    return signup_by_confirm_nonce(nonce)


def read_data_export_token(token: str) -> DataExport | None:
    """The ready export a download link names; raises TokenInvalid / TokenExpired; None if it
    has expired or its person has been erased."""
    nonce = token_read(purpose=EXPORT_PURPOSE, token=token, max_age=settings.DATA_EXPORT_LINK_MAX_AGE)
    return data_export_ready(nonce)


__all__ = [
    "MailingLinks",
    "TokenExpired",
    "TokenInvalid",
    "UnsubscribeScope",
    "data_export_url",
    "mailing_links",
    "one_click_unsubscribe_url",
    "preferences_url",
    "read_data_export_token",
    "read_preferences_token",
    "read_signup_confirm_token",
    "read_unsubscribe_scope",
    "read_unsubscribe_token",
    "signup_confirm_url",
    "unsubscribe_url",
]
