"""petitions' views, by audience: pages (the petition's own pages), embed (the frame on partners'
pages), api (the public JSON API), partner_api (a partner's key-authenticated API), dashboard
(partner users' figures); submission holds the steps the three sign endpoints share."""

# shim (issue 9): re-exports for callers outside this app; removed after merging
from petitions.views.pages import (  # noqa: F401
    home,
    petition_detail,
    petition_sign,
    petition_signed,
    petition_thanks,
    signature_confirm,
)
