# shim (issue 9): re-exports for callers outside this app; removed after merging
from mailings.selectors.recipients import (  # noqa: F401
    EmailHash,
    address_suppressed,
    consents_opted_in,
    opted_in_q,
    recipients_eligible,
    register_sqlite_functions,
    supporters_email_hash_fill,
    suppressed_q,
)
