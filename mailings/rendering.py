"""Rendering every email Muster sends: one base template (mailings/email_base.html) with the
preference-centre footer, a sanitised HTML part and a plain-text part.

A mailing is rendered once, with a numbered placeholder where each merge field goes; each
recipient's values then fill the placeholders, either here (one message per ESP call) or at
the ESP from merge data (batch sending), so a 100,000-recipient mailing is not rendered
100,000 times.
"""

import html
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.template import Context, engines
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from engage import links
from engage.markdown import render_markdown
from engage.models import MailingList, Organisation, Supporter

# Merge fields that differ per recipient, and their fallback when the value is empty.
RECIPIENT_FIELDS = {
    "first_name": "",
    "last_name": "",
    "preferences_url": "",
    "unsubscribe_url": "",
}
# The footer's per-recipient reason (docs/design.md, "One recipient filter").
REASON = "reason"
_MERGE_TAG = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*(?:\|\s*default\s*:\s*\"([^\"{}]*)\"\s*)?\}\}")
# What a placeholder looks like while Markdown and the sanitiser run: letters and digits only,
# so neither of them alters it.
_TOKEN = "zqmerge{}zq"
_TOKEN_RE = re.compile(r"zqmerge(\d+)zq")


class MergeFieldError(ValueError):
    pass


@dataclass(frozen=True)
class Slot:
    name: str
    fallback: str


@dataclass
class CompiledMessage:
    """A message rendered once; parts hold placeholders `zqmerge<N>zq` for slots[N]."""

    subject: str
    text: str
    html: str
    slots: list[Slot] = field(default_factory=list)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def merge_fields_check(*, text: str, merge_values: dict) -> None:
    """Raise MergeFieldError naming the first merge field that no recipient would have."""
    known = set(RECIPIENT_FIELDS) | set(merge_values)
    for match in _MERGE_TAG.finditer(text):
        if match.group(1) not in known:
            names = ", ".join(sorted(known))
            raise MergeFieldError(f"Unknown merge field {{{{ {match.group(1)} }}}}. Use one of: {names}.")
    leftover = _MERGE_TAG.sub("", text)
    if "{{" in leftover or "}}" in leftover:
        raise MergeFieldError('A merge field is malformed: write {{ first_name }} or {{ first_name|default:"friend" }}.')


class _Slots:
    def __init__(self, merge_values: dict):
        self.merge_values = {str(k): str(v) for k, v in (merge_values or {}).items()}
        self.slots: list[Slot] = []
        self._index: dict[Slot, int] = {}

    def token(self, name: str, fallback: str = "") -> str:
        slot = Slot(name, fallback)
        if slot not in self._index:
            self._index[slot] = len(self.slots)
            self.slots.append(slot)
        return _TOKEN.format(self._index[slot])

    def replace_tags(self, text: str) -> str:
        """Merge values the same for everyone go in now; recipient fields become tokens."""

        def one(match):
            name, fallback = match.group(1), match.group(2) or ""
            if name in RECIPIENT_FIELDS:
                return self.token(name, fallback or RECIPIENT_FIELDS[name])
            return self.merge_values.get(name) or fallback

        return _MERGE_TAG.sub(one, text)


def plain_text_render(template_name: str, context: dict) -> str:
    """A subject line or a plain-text part: rendered without HTML autoescaping, whatever the
    template says, so a petition called "Save A&E" (or even "A&amp;E") arrives as written.
    Only HTML parts are escaped, once, by their own templates."""
    template = engines["django"].engine.get_template(template_name)
    return template.render(Context(context, autoescape=False))


def message_compile(*, subject: str, preheader: str, body: str, merge_values: dict, list_name: str = "") -> CompiledMessage:
    """Render a mailing's message once, with placeholders for what differs per recipient."""
    merge_fields_check(text=subject + "\n" + preheader + "\n" + body, merge_values=merge_values)
    slots = _Slots(merge_values)
    subject_text = " ".join(slots.replace_tags(subject).split())
    preheader_text = slots.replace_tags(preheader)
    body_markdown = slots.replace_tags(body)
    body_html = render_markdown(body_markdown, for_email=True)
    context = {
        "subject": subject_text,
        "preheader": preheader_text,
        "body_html": mark_safe(body_html),
        "preferences_url": slots.token("preferences_url"),
        "unsubscribe_url": slots.token("unsubscribe_url"),
        # Why this recipient gets it (the list, or where they opted in): not a merge field an
        # organiser may write, but a slot each recipient's values fill (REASON).
        "reason": slots.token(REASON),
        "list_name": list_name,
        "SITE_URL": settings.SITE_URL,
    }
    html_part = render_to_string("mailings/email/mailing.html", context)
    # Markdown reads well as plain text; the text part is the organiser's own words.
    text_part = plain_text_render("mailings/email/mailing.txt", {**context, "body_text": body_markdown.strip()})
    text_part = text_part.strip() + "\n"
    return CompiledMessage(subject=subject_text, text=text_part, html=html_part, slots=slots.slots)


def recipient_values(
    *, supporter: Supporter, mailing_list: MailingList | None, reason: str,
    supporter_links: links.MailingLinks | None = None, organisation: Organisation | None = None,
) -> dict[str, str]:
    """The per-recipient merge fields for one supporter, and `reason`, the footer's reason
    (mailings.selectors.recipients.recipients_reasons). The links carry signed tokens; pass
    `supporter_links` when the caller has made them already, for the headers too; without a
    list, the unsubscribe link is `organisation`'s."""
    if supporter_links is None:
        supporter_links = links.mailing_links(supporter, mailing_list, organisation)
    return {
        "first_name": supporter.first_name,
        "last_name": supporter.last_name,
        "preferences_url": supporter_links.preferences_url,
        "unsubscribe_url": supporter_links.unsubscribe_url,
        REASON: reason,
    }


def slot_values(compiled: CompiledMessage, values: dict[str, str]) -> list[str]:
    """Each slot's value for one recipient, with its fallback where the value is empty."""
    return [values.get(slot.name) or slot.fallback for slot in compiled.slots]


def fill(template: str, filled: list[str]) -> str:
    return _TOKEN_RE.sub(lambda m: filled[int(m.group(1))], template)


def compiled_render(compiled: CompiledMessage, values: dict[str, str]) -> RenderedEmail:
    """The message as one recipient gets it (each value HTML-escaped once for the HTML part,
    however often the message uses it)."""
    filled = slot_values(compiled, values)
    return RenderedEmail(
        subject=fill(compiled.subject, filled),
        text=fill(compiled.text, filled),
        html=fill(compiled.html, [html.escape(value) for value in filled]),
    )


def to_esp_template(compiled: CompiledMessage, variable: str) -> CompiledMessage:
    """The message with each placeholder in the ESP's own merge syntax, e.g. "%recipient.{}%"
    for Mailgun; the HTML part reads an HTML-escaped copy of each value."""

    def sub(template: str, prefix: str) -> str:
        return _TOKEN_RE.sub(lambda m: variable.format(f"{prefix}{m.group(1)}"), template)

    return CompiledMessage(
        subject=sub(compiled.subject, "t"), text=sub(compiled.text, "t"), html=sub(compiled.html, "h"),
        slots=compiled.slots,
    )


def esp_merge_data(compiled: CompiledMessage, values: dict[str, str]) -> dict[str, str]:
    """One recipient's merge data for a message made by to_esp_template."""
    data = {}
    for index, value in enumerate(slot_values(compiled, values)):
        data[f"t{index}"] = value
        data[f"h{index}"] = html.escape(value)
    return data


def email_render(*, template: str, context: dict) -> RenderedEmail:
    """A transactional email: `template` names a folder holding subject.txt, body.txt and
    body.html (which extends mailings/email_base.html). subject.txt is the one source of the
    subject: the HTML part's title shows the same words. When the context has a `supporter`,
    both parts end with the link to their preference centre."""
    context = {"SITE_URL": settings.SITE_URL, **context}
    supporter = context.get("supporter")
    if supporter is not None and "preferences_url" not in context:
        context["preferences_url"] = links.preferences_url(supporter)
    subject = " ".join(plain_text_render(f"{template}/subject.txt", context).split())
    text = plain_text_render(f"{template}/body.txt", context)
    if context.get("preferences_url"):
        text = text.rstrip() + "\n\n" + plain_text_render("mailings/email/footer.txt", context).strip() + "\n"
    html_part = render_to_string(f"{template}/body.html", {**context, "subject": subject})
    return RenderedEmail(subject=subject, text=text, html=html_part)
