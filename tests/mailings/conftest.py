import pytest

from tests.support.mock_esp import MockEsp


@pytest.fixture
def mock_esp():
    with MockEsp() as esp:
        yield esp


def _bulk_backend(settings, backend, **anymail):
    """Send bulk mail through one of anymail's backends, posting to the mock ESP."""
    settings.EMAIL_BACKEND = backend
    settings.ANYMAIL = {**settings.ANYMAIL, **anymail, "REQUESTS_TIMEOUT": 5}


@pytest.fixture
def mailgun(settings, mock_esp):
    """Bulk mail through anymail's Mailgun backend, posting to the mock ESP (batch mode)."""
    _bulk_backend(
        settings, "anymail.backends.mailgun.EmailBackend", MAILGUN_API_KEY="test-key",
        MAILGUN_API_URL=f"{mock_esp.url}/v3", MAILGUN_SENDER_DOMAIN="mail.muster.test",
    )
    settings.MAILINGS_RATE_LIMIT_KEY_PREFIX = f"muster-test-{settings.CHECKOUT_ID}-mailings"
    return mock_esp


@pytest.fixture
def postmark(settings, mock_esp):
    """Bulk mail through anymail's Postmark backend: one message per call."""
    _bulk_backend(
        settings, "anymail.backends.postmark.EmailBackend", POSTMARK_SERVER_TOKEN="test-token",
        POSTMARK_API_URL=f"{mock_esp.url}/",
    )
    return mock_esp
