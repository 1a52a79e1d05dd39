"""The sites coalition partners embed from. Their API keys are written by
engage.services.partner_keys; the supporters they may receive are read by
engage.selectors.partner_opt_ins_current.
"""

import re

from engage.models import Organisation

# An origin as browsers send it in the Origin header: scheme, lower-case host, optional port, no
# path. Anything else in allowed_origins is ignored, because the list is copied into a
# Content-Security-Policy header and must not be able to add directives to it.
_ORIGIN = re.compile(r"^https?://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$")


def origin_valid(value: str) -> bool:
    return bool(_ORIGIN.match(value))


def organisation_origins(organisation: Organisation) -> list[str]:
    """The well-formed origins an organisation may embed from, lower-cased as browsers send them."""
    return [origin for origin in (o.lower() for o in organisation.origins) if origin_valid(origin)]
