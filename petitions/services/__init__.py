"""The writes of petitions, one module per flow: signing (sign, confirm, its emails, reminders,
purge, release, invalidate), counts (the live count and its reconciliation), lifecycle (edit,
publish, close, hand in), retention (anonymising after SIGNATURE_RETENTION_MONTHS), erasure
(a person's signatures when they are erased) and mobilisation (a mailing to the signers).
Reads are in petitions.selectors."""
