import pytest

from bench.mock_esp import MockEsp


@pytest.fixture
def mock_esp():
    with MockEsp() as esp:
        yield esp


@pytest.fixture
def mailgun(settings, mock_esp):
    """Bulk mail through anymail's Mailgun backend, posting to the mock ESP (batch mode)."""
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "MAILGUN_API_KEY": "test-key",
        "MAILGUN_API_URL": f"{mock_esp.url}/v3",
        "MAILGUN_SENDER_DOMAIN": "mail.muster.test",
        "REQUESTS_TIMEOUT": 5,
    }
    settings.MAILINGS_RATE_LIMIT_KEY_PREFIX = f"muster-test-{settings.CHECKOUT_ID}-mailings"
    return mock_esp


@pytest.fixture
def postmark(settings, mock_esp):
    """Bulk mail through anymail's Postmark backend: one message per call."""
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "POSTMARK_SERVER_TOKEN": "test-token",
        "POSTMARK_API_URL": f"{mock_esp.url}/",
        "REQUESTS_TIMEOUT": 5,
    }
    return mock_esp
