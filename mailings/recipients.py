# shim (issue 9): re-exports for callers outside this app; removed after merging
from engage.services.suppression import supporters_email_hash_fill  # noqa: F401
from mailings.selectors.recipients import (  # noqa: F401
    address_suppressed,
    consents_opted_in,
    opted_in_q,
    recipients_eligible,
    suppressed_q,
)
