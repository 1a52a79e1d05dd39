"""The ESP connection: the environment's HTTP settings read once per connection, not per call."""

from mailings import esp


def test_it_reads_the_environments_proxy_and_ca_bundle_once_for_the_esps_url(settings, monkeypatch):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": "t", "POSTMARK_API_URL": "https://api.postmark.test/"}
    monkeypatch.setenv("HTTPS_PROXY", "http://egress.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/egress.pem")
    connection = esp.bulk_connection()
    esp.connection_open(connection)
    try:
        assert connection.session.trust_env is False
        assert connection.session.proxies["https"] == "http://egress.example:3128"
        assert connection.session.verify == "/etc/ssl/egress.pem"
    finally:
        connection.close()


def test_it_leaves_out_a_proxy_that_no_proxy_excludes(settings, monkeypatch):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": "t", "POSTMARK_API_URL": "https://api.postmark.test/"}
    monkeypatch.setenv("HTTPS_PROXY", "http://egress.example:3128")
    monkeypatch.setenv("NO_PROXY", "postmark.test")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    connection = esp.bulk_connection()
    esp.connection_open(connection)
    try:
        assert "https" not in connection.session.proxies
        assert connection.session.verify is True
    finally:
        connection.close()
