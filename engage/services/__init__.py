"""engage's writes, one module per flow: supporters, consent, subscriptions, signups,
preferences, data_exports, imports, partner_keys, erasure, suppression. Views, admin actions
and tasks call them; each is the only place that changes what it writes.
"""

# shim (issue 9): re-exports for callers outside this app; removed after merging
from engage.links import SIGNUP_CONFIRM_PURPOSE, signup_confirm_url  # noqa: F401
from engage.services.consent import (  # noqa: F401
    ONE_CLICK_WORDING,
    consent_record,
    organisation_opt_in_wording,
    organisation_opt_out_wording,
)
from engage.services.preferences import (  # noqa: F401
    PREFERENCES_LINK_INTERVAL,
    preferences_link_request,
    preferences_link_send,
    preferences_update,
)
from engage.services.signups import (  # noqa: F401
    SignupRefused,
    signup_confirm,
    signup_confirmation_send,
    signup_create,
    signups_confirmation_owed_send,
    signups_release,
    signups_unconfirmed_purge,
)
from engage.services.subscriptions import subscription_set, unsubscribe  # noqa: F401
from engage.services.supporters import PREFERENCES_SOURCE, supporter_details_update, supporter_get_or_create  # noqa: F401
