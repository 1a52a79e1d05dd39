"""mailings' reads: who may be sent a mailing (recipients), what a segment means (segments),
mailings and their deliveries (mailings), emails sent to a person (emails)."""
