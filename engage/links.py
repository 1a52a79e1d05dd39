"""Links Muster puts in emails to a supporter: preferences and unsubscribe (DESIGN rule 7).

Each token carries the supporter's random `link_nonce` (and, for unsubscribe, the list's slug),
signed with a salt per purpose: no id, no address. Replacing `link_nonce` revokes them all.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

from engage.models import MailingList, Supporter
from engage.tokens import TokenExpired, TokenInvalid, token_make, token_read

PREFERENCES_PURPOSE = "preferences"
UNSUBSCRIBE_PURPOSE = "unsubscribe"
ALL_LISTS = "*"

# An unsubscribe link must keep working long after the email was sent (RFC 8058, and the law:
# withdrawing consent must be as easy as giving it).
UNSUBSCRIBE_MAX_AGE = timedelta(days=730)
PREFERENCES_MAX_AGE = timedelta(days=90)


def preferences_token(supporter: Supporter) -> str:
    return token_make(purpose=PREFERENCES_PURPOSE, nonce=supporter.link_nonce)


def unsubscribe_token(supporter: Supporter, mailing_list: MailingList | None) -> str:
    scope = mailing_list.slug if mailing_list else ALL_LISTS
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


@dataclass(frozen=True)
class MailingLinks:
    """Every link a bulk email carries for one recipient; `list_unsubscribe_headers` are
    `List-Unsubscribe` (https, one-click) and `List-Unsubscribe-Post`."""

    preferences_url: str
    unsubscribe_url: str
    list_unsubscribe_headers: dict[str, str]


def mailing_links(supporter: Supporter, mailing_list: MailingList | None = None) -> MailingLinks:
    """One recipient's links for a mailing, signing each token once: the unsubscribe page and
    the one-click header share theirs (a mailing of a million signs two million, not three)."""
    unsubscribe = unsubscribe_token(supporter, mailing_list)
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
    return Supporter.objects.filter(link_nonce=nonce).first()


def read_unsubscribe_token(token: str) -> tuple[Supporter | None, MailingList | None]:
    """(supporter, list) from an unsubscribe token; list None means every list of the host.
    Raises TokenInvalid / TokenExpired."""
    value = token_read(purpose=UNSUBSCRIBE_PURPOSE, token=token, max_age=UNSUBSCRIBE_MAX_AGE)
    nonce, _, scope = value.partition(":")
    if not scope:
        raise TokenInvalid
    supporter = Supporter.objects.filter(link_nonce=nonce).first()
    mailing_list = None if scope == ALL_LISTS else MailingList.objects.filter(slug=scope).first()
    if scope != ALL_LISTS and mailing_list is None:
        raise TokenInvalid
    return supporter, mailing_list


__all__ = [
    "MailingLinks",
    "TokenExpired",
    "TokenInvalid",
    "mailing_links",
    "one_click_unsubscribe_url",
    "preferences_url",
    "read_preferences_token",
    "read_unsubscribe_token",
    "unsubscribe_url",
]
