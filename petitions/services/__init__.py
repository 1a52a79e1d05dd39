"""The writes of petitions, one module per flow: signing (sign, confirm, its emails, reminders,
purge, release, invalidate), counts (the live count and its reconciliation), lifecycle (edit,
publish, close, hand in), retention (anonymising after SIGNATURE_RETENTION_MONTHS), erasure
(a person's signatures when they are erased) and mobilisation (a mailing to the signers).
Reads are in petitions.selectors."""

# shim (issue 9): re-exports for callers outside this app; removed after merging
from petitions.services.counts import count_increment, counts_reconcile  # noqa: F401
from petitions.services.lifecycle import petition_save, petition_set_status, petitions_close_due  # noqa: F401
from petitions.services.signing import (  # noqa: F401
    CONFIRM_PURPOSE,
    PetitionNotOpen,
    SignResult,
    confirm_url,
    confirmations_owed_send,
    consent_source,
    ip_hash,
    petition_sign,
    signature_already_signed_send,
    signature_confirm,
    signature_confirmation_send,
    signatures_invalidate,
    signatures_release,
    signatures_remind,
    signatures_unconfirmed_purge,
)
