"""The embed code a partner pastes into its page (shown in the admin); the embed's views are in
petitions.views.embed."""

from django.urls import reverse
from django.utils.html import format_html

from engage.models import Organisation
from petitions.cors import site_origin
from petitions.models import Petition


def embed_snippet(*, petition: Petition, partner: Organisation | None = None) -> str:
    """The HTML a partner pastes into its page: a plain link, which still works without
    JavaScript, and the script that replaces it with the embedded form."""
    link = site_origin() + petition.get_absolute_url() + (f"?partner={partner.slug}" if partner else "")
    script = site_origin() + reverse("petitions:embed-script", kwargs={"slug": petition.slug})
    return format_html(
        '<a href="{}" data-muster-embed>Sign the petition: {}</a>\n<script src="{}"{} async></script>',
        link,
        petition.title,
        script,
        format_html(' data-partner="{}"', partner.slug) if partner else "",
    )
