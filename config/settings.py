"""Muster's settings: one file, every value from the environment with a safe embedded default.

Every variable read here is documented in docs/configuration.md.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.env import anymail_settings, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MUSTER_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is not True")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_countries",
    "anymail",
    "engage",
    "mailings",
    "petitions",
    "organise",
    # Organiser accounts (docs/design.md, "Organiser accounts"): after organise, whose templates
    # override theirs.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "axes",
    # The project itself, for its management commands (devserver).
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "organise.auth.IdleSessionMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.site",
            ],
        },
    },
]

# The embedded default is SQLite under var/, so `make run` needs no server.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'muster.sqlite3'}",  # set but empty: the default too
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server, worker and beat share one SQLite file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    # Shared by the web server, worker and beat processes of `make run`.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Bodies larger than this are refused with a 400 before any form sees them.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 64 * 1024, minimum=1)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

SECURE = env_bool("SECURE", SITE_URL.startswith("https://"))
if SECURE:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Organiser accounts: logins, two-factor, lock-outs, sessions, invitations, audit log -------
# docs/design.md, "Organiser accounts". One login flow (django-allauth) for the workspace and the
# admin (config/urls.py sends admin.site.login through it); django-axes locks out repeated
# failures; allauth.mfa is the second factor.
LOGIN_URL = "organise:login"
LOGIN_REDIRECT_URL = "organise:index"
AUTHENTICATION_BACKENDS = [
    # First, so a locked account or address is refused before any password is checked.
    "organise.auth.AxesBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "organise.auth.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]  # signup is closed (the adapter)
ACCOUNT_EMAIL_VERIFICATION = "none"  # an invitation goes to the address, which proves it
ACCOUNT_UNIQUE_EMAIL = True  # allauth needs it to log in by address
ACCOUNT_SESSION_REMEMBER = False  # a session ends with the browser, and after MUSTER_SESSION_IDLE_MINUTES idle
ACCOUNT_LOGOUT_REDIRECT_URL = "organise:login"
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
# A reset asked for an unknown address sends nothing (the form says the same either way), so the
# form cannot be used to mail strangers.
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_FORMS = {"login": "organise.auth.WorkspaceLoginForm"}
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
# django-axes counts and locks failed logins; allauth's own failed-login limit would refuse
# before axes's limit is reached, so it is off, and its other limits stay.
ACCOUNT_RATE_LIMITS = {"login_failed": None}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# A code typed as its 30 seconds run out, or on a phone whose clock drifts, still works: one step
# either side (RFC 6238's advice); allauth refuses a code used once already within that window.
MFA_TOTP_TOLERANCE = 1
MFA_TOTP_ISSUER = env_str("MUSTER_MFA_TOTP_ISSUER", "Muster")
# make run's demo only: the devserver sets a code that passes as the second factor, so a newcomer
# tries the workspace without an authenticator app. allauth refuses it unless DEBUG is on.
MFA_TOTP_INSECURE_BYPASS_CODE = env_str("MUSTER_DEMO_TOTP_CODE", "") or None
if MFA_TOTP_INSECURE_BYPASS_CODE and not DEBUG:
    raise ImproperlyConfigured("MUSTER_DEMO_TOTP_CODE is for make run's demo only and needs DEBUG=True")
# Whoever can export personal data, send mailings or manage people (a role other than viewer,
# or a superuser) must use a second factor; with this on, everyone must.
MUSTER_MFA_REQUIRED_FOR_ALL = env_bool("MUSTER_MFA_REQUIRED_FOR_ALL", False)
# Whether the second factor is demanded at all. No environment variable: a deployment cannot
# turn it off. config/settings_test.py does, so tests of other features need not enrol a device;
# the tests of two-factor turn it back on (docs/development.md).
MUSTER_MFA_ENFORCED = True
# Sessions: a logged-in session's expiry is pushed on by organise.auth.IdleSessionMiddleware as
# it is used (a write every few minutes, not every request), so this is the idle time.
SESSION_COOKIE_AGE = env_int("MUSTER_SESSION_IDLE_MINUTES", 60, minimum=1) * 60
# django-axes: 20 failures lock the account (the name typed) and, separately, the address.
AXES_FAILURE_LIMIT = env_int("MUSTER_LOGIN_FAILURE_LIMIT", 20, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("MUSTER_LOGIN_LOCKOUT_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_FORM_FIELD = "username"  # WorkspaceLoginForm's field
AXES_USERNAME_CALLABLE = "organise.auth.axes_username"
AXES_CLIENT_IP_CALLABLE = "organise.auth.axes_client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "organise/accounts/locked.html"
AXES_VERBOSE = False
# axes keeps the address of a failing login only while it counts (until the cool-off lapses), to
# lock it out; it logs no successful logins (the audit log has those, with the address hashed).
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False
# An invitation's link works once, for this long.
MUSTER_INVITATION_MAX_AGE = timedelta(days=env_int("MUSTER_INVITATION_MAX_AGE_DAYS", 7, minimum=1))
# Audit rows older than this are deleted by beat (engage.tasks.audit_purge).
MUSTER_AUDIT_RETENTION_DAYS = env_int("MUSTER_AUDIT_RETENTION_DAYS", 730, minimum=1)
# --- end of organiser accounts ----------------------------------------------------------------

# --- Email -----------------------------------------------------------------------------------
# Any django-anymail backend by settings, e.g. EMAIL_BACKEND=anymail.backends.postmark.EmailBackend
# with ANYMAIL_POSTMARK_SERVER_TOKEN. Every ANYMAIL_* variable is passed to anymail.
# The default writes one .eml file per message under var/mail/.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "mailings.backends.OutboxEmailBackend")
MAIL_OUTBOX_DIR = Path(env_str("MAIL_OUTBOX_DIR", str(VAR_DIR / "mail")))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Health Campaigns Together <hello@muster.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ANYMAIL = anymail_settings(dict(__import__("os").environ))

# --- Celery ----------------------------------------------------------------------------------
# With REDIS_URL the broker is Redis; without, kombu's filesystem transport under var/broker,
# which needs no server and is shared by the worker and beat of `make run`.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
else:
    # Redis re-delivers an unacknowledged task after the visibility timeout even while a worker
    # still holds it; every task here runs for seconds, so an hour is far above the longest.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = True
# Keep database connections across tasks (config.celery closes those past CONN_MAX_AGE or
# broken, as Django does around requests) instead of Celery's close after every task.
CELERY_DB_REUSE_MAX = 2**62
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "reconcile-signature-counts": {
        "task": "petitions.tasks.counts_reconcile",
        "schedule": timedelta(seconds=env_int("COUNT_RECONCILE_SECONDS", 60, minimum=1)),
    },
    "send-owed-confirmations": {
        "task": "petitions.tasks.confirmations_owed_send",
        "schedule": timedelta(minutes=5),
    },
    "remind-unconfirmed-signatures": {
        "task": "petitions.tasks.signatures_remind",
        "schedule": timedelta(minutes=10),
    },
    "close-petitions-past-deadline": {
        "task": "petitions.tasks.petitions_close_due",
        "schedule": timedelta(minutes=1),
    },
    "purge-unconfirmed-signatures": {
        "task": "petitions.tasks.signatures_unconfirmed_purge",
        "schedule": crontab(minute=17),
    },
    "send-owed-signup-confirmations": {
        "task": "engage.tasks.signups_confirmation_owed_send",
        "schedule": timedelta(minutes=5),
    },
    "purge-unconfirmed-signups": {
        "task": "engage.tasks.signups_unconfirmed_purge",
        "schedule": crontab(minute=23),
    },
    "expire-data-exports": {
        "task": "engage.tasks.data_exports_expire",
        "schedule": crontab(minute=29),
    },
    "anonymise-signatures-past-retention": {
        "task": "petitions.tasks.signatures_anonymise_due",
        "schedule": crontab(hour=3, minute=41),
    },
    "purge-audit-log": {
        "task": "engage.tasks.audit_purge",
        "schedule": crontab(hour=4, minute=7),
    },
    "sweep-subscriber-imports": {
        "task": "engage.tasks.subscriber_imports_sweep",
        "schedule": timedelta(minutes=5),
    },
}

# --- Petitions -------------------------------------------------------------------------------
# Rates in django-ratelimit's syntax ("5/m", "5/300s"). Over a limit, a signature is stored as
# held: kept, not counted, until an organiser releases or invalidates it.
SIGN_RATE_PER_IP_PETITION = env_list("SIGN_RATE_PER_IP_PETITION", "3/60s,10/3600s")
SIGN_RATE_PER_PETITION = env_str("SIGN_RATE_PER_PETITION", "6000/m")
CONFIRM_TOKEN_MAX_AGE = timedelta(days=env_int("CONFIRM_TOKEN_MAX_AGE_DAYS", 30, minimum=1))
CONFIRM_REMINDER_AFTER = timedelta(hours=env_int("CONFIRM_REMINDER_AFTER_HOURS", 24, minimum=1))
# A confirmation not sent this long after signing (the broker was down) is queued again by beat.
CONFIRM_OWED_AFTER = timedelta(minutes=env_int("CONFIRM_OWED_AFTER_MINUTES", 5, minimum=1))
UNCONFIRMED_PURGE_AFTER = timedelta(days=env_int("UNCONFIRMED_PURGE_AFTER_DAYS", 30, minimum=1))
ALREADY_SIGNED_EMAIL_INTERVAL = timedelta(minutes=env_int("ALREADY_SIGNED_EMAIL_INTERVAL_MINUTES", 15, minimum=1))
# "Send it again" on the page after signing, subscribing or joining: at most this many resends
# of one confirmation, and these rates per IP and per address (django-ratelimit's syntax).
CONFIRM_RESENDS_MAX = env_int("CONFIRM_RESENDS_MAX", 3, minimum=0)
CONFIRM_RESEND_RATE_PER_IP = env_list("CONFIRM_RESEND_RATE_PER_IP", "5/600s")
CONFIRM_RESEND_RATE_PER_ADDRESS = env_str("CONFIRM_RESEND_RATE_PER_ADDRESS", "3/3600s")
# How long a kiosk link (one device at a stall signing many people) works after an organiser makes it.
KIOSK_LINK_MAX_AGE = timedelta(hours=env_int("KIOSK_LINK_MAX_AGE_HOURS", 12, minimum=1))
# Behind a proxy, the request header holding the client address (e.g. HTTP_X_FORWARDED_FOR);
# the last address in it, the one the proxy appended, is used.
CLIENT_IP_HEADER = env_str("CLIENT_IP_HEADER")
# IP addresses are kept only as an HMAC under this key.
IP_HASH_KEY = env_str("IP_HASH_KEY", SECRET_KEY)
COUNT_CACHE_SECONDS = env_int("COUNT_CACHE_SECONDS", 10, minimum=0)
# Each web process reuses its count JSON for this long before asking the cache again (0: never).
COUNT_MEMO_SECONDS = env_int("COUNT_MEMO_SECONDS", 1, minimum=0)

# --- Supporters: lists, sign-ups, preferences, their data --------------------------------------
# Suppressed addresses are kept only as an HMAC of the normalised address under this key, and
# so is each supporter's address beside it: docs/operations.md says what changing it needs.
SUPPRESSION_HASH_KEY = env_str("SUPPRESSION_HASH_KEY", SECRET_KEY)
# The subscribe, join and "email me my preferences link" forms, in django-ratelimit's syntax.
# Over a limit a sign-up is held, like a signature.
SIGNUP_RATE_PER_IP = env_list("SIGNUP_RATE_PER_IP", "5/60s,20/3600s")
SIGNUP_RATE_PER_FORM = env_str("SIGNUP_RATE_PER_FORM", "600/m")
# Per email address, so a form cannot be used to flood somebody's inbox with confirmations.
SIGNUP_RATE_PER_ADDRESS = env_str("SIGNUP_RATE_PER_ADDRESS", "3/3600s")
# How long the emailed link to a person's copy of their data works; then the copy is deleted.
DATA_EXPORT_LINK_MAX_AGE = timedelta(days=env_int("DATA_EXPORT_LINK_MAX_AGE_DAYS", 7, minimum=1))
# Signatures are anonymised this many months after their petition closes (country and postcode
# area are kept for the statistics), as the UK Parliament's petitions site does.
SIGNATURE_RETENTION_MONTHS = env_int("SIGNATURE_RETENTION_MONTHS", 6, minimum=0)
# The largest CSV of subscribers the admin accepts (the command has no limit).
SUBSCRIBER_IMPORT_MAX_BYTES = env_int("SUBSCRIBER_IMPORT_MAX_BYTES", 50_000_000, minimum=1)

# Partners' notices of withdrawals and erasures (engage.services.partner_notices): webhook
# deliveries whose task was lost are queued again, and addresses older than 30 days forgotten.
CELERY_BEAT_SCHEDULE["partner-notices-sweep"] = {
    "task": "engage.tasks.partner_notices_sweep",
    "schedule": timedelta(minutes=5),
}
CELERY_BEAT_SCHEDULE["partner-notices-purge"] = {
    "task": "engage.tasks.partner_notices_purge",
    "schedule": crontab(minute=53),
}

# --- Mailings --------------------------------------------------------------------------------
# Bulk mail (mailings) and transactional mail (confirmations, reminders) are separate streams:
# their own sender addresses and, if set, their own anymail backends (e.g. two Postmark
# servers, or a bulk Mailgun domain). Empty backends mean EMAIL_BACKEND.
MAILINGS_BULK_EMAIL_BACKEND = env_str("MAILINGS_BULK_EMAIL_BACKEND")
MAILINGS_TRANSACTIONAL_EMAIL_BACKEND = env_str("MAILINGS_TRANSACTIONAL_EMAIL_BACKEND")
MAILINGS_BULK_FROM_EMAIL = env_str("MAILINGS_BULK_FROM_EMAIL", DEFAULT_FROM_EMAIL)
MAILINGS_TRANSACTIONAL_FROM_EMAIL = env_str("MAILINGS_TRANSACTIONAL_FROM_EMAIL", DEFAULT_FROM_EMAIL)
# Postmark's message streams (ids from the server's Message Streams page): mailings must go on
# a broadcast stream, transactional email on a transactional one. Other ESPs have none.
MAILINGS_POSTMARK_BULK_STREAM = env_str("MAILINGS_POSTMARK_BULK_STREAM", "broadcast")
MAILINGS_POSTMARK_TRANSACTIONAL_STREAM = env_str("MAILINGS_POSTMARK_TRANSACTIONAL_STREAM", "outbound")
# "batch": one API call per chunk with per-recipient merge data (Mailgun); "single": one call
# per message (Postmark without templates); "auto" picks from the bulk backend.
MAILINGS_SEND_MODE = env_str("MAILINGS_SEND_MODE", "auto")
MAILINGS_CHUNK_SIZE = env_int("MAILINGS_CHUNK_SIZE", 500, minimum=1)  # capped at the ESP's batch limit
MAILINGS_SINGLE_GROUP_SIZE = env_int("MAILINGS_SINGLE_GROUP_SIZE", 20, minimum=1)
MAILINGS_SEND_LANES = env_int("MAILINGS_SEND_LANES", 4, minimum=1)  # chunk tasks queued per mailing
MAILINGS_MAX_ATTEMPTS = env_int("MAILINGS_MAX_ATTEMPTS", 5, minimum=1)
# The ESP's quota, shared by every worker through Redis (0: no limit).
MAILINGS_RATE_PER_SECOND = env_int("MAILINGS_RATE_PER_SECOND", 0, minimum=0)
MAILINGS_RATE_PER_HOUR = env_int("MAILINGS_RATE_PER_HOUR", 0, minimum=0)
MAILINGS_RATE_MAX_WAIT_SECONDS = env_int("MAILINGS_RATE_MAX_WAIT_SECONDS", 10, minimum=0)
MAILINGS_RATE_LIMIT_REDIS_URL = env_str("MAILINGS_RATE_LIMIT_REDIS_URL", REDIS_URL)
MAILINGS_RATE_LIMIT_KEY_PREFIX = env_str("MAILINGS_RATE_LIMIT_KEY_PREFIX", "muster")
# A claim whose holder has shown no sign of life for this long belongs to a dead worker: the
# sweeper queues its unsent rows again and marks the rows it had handed to the ESP unknown. A
# live holder renews its claim every quarter of this, so it must exceed four times the ESP
# call's timeout (ANYMAIL_REQUESTS_TIMEOUT): start-up fails otherwise.
MAILINGS_CLAIM_TIMEOUT = timedelta(seconds=env_int("MAILINGS_CLAIM_TIMEOUT_SECONDS", 600, minimum=1))
# How long each ESP's message search may lag behind its API: an unknown outcome is looked up
# only after this, so "not found" means "never accepted" (Mailgun advises polling its events
# half an hour behind; Postmark's outbound search is near real time). One value for every ESP
# with MAILINGS_SEARCH_DELAY_SECONDS, or per ESP with MAILINGS_SEARCH_DELAY_SECONDS_<ESP>.
MAILINGS_SEARCH_DELAY = {
    name: timedelta(seconds=env_int(f"MAILINGS_SEARCH_DELAY_SECONDS_{name.upper()}",
                                    env_int("MAILINGS_SEARCH_DELAY_SECONDS", default, minimum=0), minimum=0))
    for name, default in {"mailgun": 1800, "postmark": 300}.items()
}
_esp_call_seconds = ANYMAIL.get("REQUESTS_TIMEOUT", 30)  # anymail's default
_esp_call_seconds = sum(_esp_call_seconds) if isinstance(_esp_call_seconds, tuple) else _esp_call_seconds
if MAILINGS_CLAIM_TIMEOUT.total_seconds() < 4 * _esp_call_seconds:
    raise ImproperlyConfigured(
        f"MAILINGS_CLAIM_TIMEOUT_SECONDS ({MAILINGS_CLAIM_TIMEOUT.total_seconds():g}) must be at least four times "
        f"ANYMAIL_REQUESTS_TIMEOUT ({_esp_call_seconds:g} s): a live worker renews its claims every quarter of it"
    )
MAILINGS_TICK = timedelta(seconds=env_int("MAILINGS_TICK_SECONDS", 10, minimum=1))
# A lane (one chain of chunk tasks) renews its lease while it works; beat replaces a lane whose
# lease has lapsed this long (its worker died, or its task was lost with the broker).
MAILINGS_LANE_LEASE = timedelta(seconds=env_int("MAILINGS_LANE_LEASE_SECONDS", int(MAILINGS_TICK.total_seconds()), minimum=1))
# Soft bounces in a row before an address is suppressed.
MAILINGS_SOFT_BOUNCE_LIMIT = env_int("MAILINGS_SOFT_BOUNCE_LIMIT", 3, minimum=1)
# anymail's tracking webhooks at /anymail/<esp>/tracking/ answer only with this basic-auth
# "user:password"; without it they refuse every request (a random secret nobody knows).
WEBHOOK_SECRET = env_str("WEBHOOK_SECRET")
ANYMAIL.setdefault("WEBHOOK_SECRET", WEBHOOK_SECRET or f"unset:{__import__('secrets').token_urlsafe(32)}")
CELERY_BEAT_SCHEDULE["mailings-tick"] = {
    "task": "mailings.tasks.mailings_tick",
    "schedule": MAILINGS_TICK,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
