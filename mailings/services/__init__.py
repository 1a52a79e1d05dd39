"""mailings' writes, by flow: transactional (one email sent exactly once), sending (a
mailing's snapshot, chunks, sweeps and beat's tick), compose (what organisers do with a
mailing), webhooks (ESP tracking events), personal_data (erasure)."""
