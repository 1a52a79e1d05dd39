"""mailings' writes, by flow: transactional (one email sent exactly once), sending (a
mailing's snapshot, chunks, sweeps and beat's tick), compose (what organisers do with a
mailing), webhooks (ESP tracking events), personal_data (erasure)."""

# shim (issue 9): re-exports for callers outside this app; removed after merging
from mailings.rendering import RenderedEmail, email_render  # noqa: F401
from mailings.selectors.emails import transactional_from  # noqa: F401
from mailings.selectors.mailings import message_preview  # noqa: F401
from mailings.services.compose import (  # noqa: F401
    deliveries_unknown_drop,
    deliveries_unknown_resend,
    mailing_cancel,
    mailing_draft_create,
    mailing_pause,
    mailing_resume,
    mailing_schedule,
    mailing_send_now,
    mailing_unschedule,
    message_test_send,
)
from mailings.services.sending import MailingStateError, mailing_start, mailings_tick  # noqa: F401
from mailings.services.transactional import EmailRateLimited, EmailSendFailed, transactional_send  # noqa: F401
