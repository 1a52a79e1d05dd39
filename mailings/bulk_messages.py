"""A mailing's emails as anymail messages: one per chunk with each recipient's merge data and
headers (ESPs that take a batch), or one per recipient rendered here. Builds; sends nothing."""

from dataclasses import dataclass
from email.utils import formataddr
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from engage import links
from engage.models import Supporter
from mailings import esp, rendering
from mailings.message_options import esp_options_apply
from mailings.models import Mailing

_compiled_cache: dict[tuple, rendering.CompiledMessage] = {}


def mailing_compiled(mailing: Mailing) -> rendering.CompiledMessage:
    """The mailing's message rendered once per process (and again only if it is edited)."""
    message = mailing.message
    key = (mailing.pk, message.pk, message.updated_at, mailing.mailing_list_id)
    compiled = _compiled_cache.get(key)
    if compiled is None:
        if len(_compiled_cache) > 32:
            _compiled_cache.clear()
        compiled = rendering.message_compile(
            subject=message.subject,
            preheader=message.preheader,
            body=message.body,
            merge_values=message.merge_values,
            list_name=mailing.mailing_list.name if mailing.mailing_list else "",
        )
        _compiled_cache[key] = compiled
    return compiled


def list_id_header(mailing: Mailing) -> str:
    """RFC 2919 List-Id: the list (or, without one, the organisation) under the site's host."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    organisation = mailing.organisation
    if mailing.mailing_list:
        return formataddr((mailing.mailing_list.name, f"{mailing.mailing_list.slug}.{organisation.slug}.{host}"))
    return formataddr((organisation.name, f"{organisation.slug}.{host}"))


def _base_message(mailing: Mailing, *, subject: str, text: str, html: str, to: list[str]) -> EmailMultiAlternatives:
    sender = mailing.message.sender
    reply_to = mailing.message.reply_to_address
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=sender.bulk_from, to=to, reply_to=[reply_to] if reply_to else None,
        headers={"List-Id": list_id_header(mailing)},
    )
    message.attach_alternative(html, "text/html")
    message.metadata = {"mailing_id": str(mailing.pk)}
    esp_options_apply(message, backend_path=esp.bulk_backend_path(), stream="bulk", tag="mailing")
    return message


@dataclass
class Recipient:
    delivery_id: int
    supporter: Supporter
    values: dict[str, str]
    headers: dict[str, str]


def recipient_for(delivery_id: int, supporter: Supporter, mailing: Mailing, *, reason: str) -> Recipient:
    """One delivery's merge values and List-Unsubscribe headers (its tokens signed once for
    both). Without a list, the mailing is sent as its organisation, and unsubscribing withdraws
    consent to it."""
    supporter_links = links.mailing_links(supporter, mailing.mailing_list, mailing.organisation)
    return Recipient(
        delivery_id=delivery_id,
        supporter=supporter,
        values=rendering.recipient_values(
            supporter=supporter, mailing_list=mailing.mailing_list, reason=reason, supporter_links=supporter_links
        ),
        headers=supporter_links.list_unsubscribe_headers,
    )


def batch_message(mailing: Mailing, recipients: list[Recipient]) -> EmailMultiAlternatives:
    """One message for the whole chunk: the ESP substitutes each recipient's merge data and
    headers, and sends each recipient a separate email (anymail's batch send)."""
    compiled = rendering.to_esp_template(mailing_compiled(mailing), esp.merge_format())
    message = _base_message(
        mailing, subject=compiled.subject, text=compiled.text, html=compiled.html,
        to=[r.supporter.email for r in recipients],
    )
    message.merge_data = {r.supporter.email: rendering.esp_merge_data(compiled, r.values) for r in recipients}
    message.merge_metadata = {r.supporter.email: {"delivery_id": str(r.delivery_id)} for r in recipients}
    message.merge_headers = {r.supporter.email: r.headers for r in recipients}
    return message


def single_message(mailing: Mailing, recipient: Recipient) -> EmailMultiAlternatives:
    """The message for one recipient, fully rendered here (ESPs without batch merge data)."""
    rendered = rendering.compiled_render(mailing_compiled(mailing), recipient.values)
    message = _base_message(
        mailing, subject=rendered.subject, text=rendered.text, html=rendered.html, to=[recipient.supporter.email]
    )
    message.extra_headers.update(recipient.headers)
    message.metadata["delivery_id"] = str(recipient.delivery_id)
    return message
