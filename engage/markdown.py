"""Organisers' Markdown as HTML that is safe to show: the one sanitiser, for petition pages and
for mailings (engage is the lowest layer, so both apps can use it)."""

import markdown as md
import nh3

# Tags an organiser's Markdown may produce; everything else (scripts, iframes, styles) goes.
_ALLOWED_TAGS = {"p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "h2", "h3", "h4", "hr", "code", "pre"}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
_URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str, *, for_email: bool = False) -> str:
    """The HTML of `text`, with only the tags above and http(s)/mailto links.

    The two uses differ on purpose, and only in this: an email body (`for_email=True`) may show
    images, as a newsletter does; a petition page loads none from other sites, and marks its
    links nofollow so that an organiser's links gain no search ranking from a public page
    (a hint that means nothing in an inbox)."""
    tags, attributes, link_rel = _ALLOWED_TAGS, _ALLOWED_ATTRIBUTES, "noopener noreferrer nofollow"
    if for_email:
        tags = tags | {"img"}
        attributes = {**attributes, "img": {"src", "alt", "width", "height"}}
        link_rel = "noopener noreferrer"
    html = md.markdown(text, extensions=["sane_lists"], output_format="html")
    return nh3.clean(html, tags=tags, attributes=attributes, url_schemes=_URL_SCHEMES, link_rel=link_rel)
