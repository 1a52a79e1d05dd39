"""The options Muster sets on a message besides its content and metadata (its tag, its stream,
click tracking), each set only where the backend takes it: anymail refuses a message asking for
a feature its ESP lacks (AnymailUnsupportedFeature), so one ESP's option would stop every
email sent through another. tests/mailings/test_esp_matrix.py sends every kind through each."""

from django.conf import settings

from mailings import esp

STREAMS = ("bulk", "transactional")

# ESPs whose API switches click tracking per message. Amazon SES (the configuration set's
# setting) and Brevo (the account's) have none, and anymail refuses a message that asks them.
_CLICK_TRACKING_PER_MESSAGE = frozenset({"mailgun", "postmark", "sendgrid", "sparkpost", "test"})


def esp_options_apply(
    message, *, backend_path: str, stream: str, tag: str, track_clicks: bool | None = None
) -> None:
    """Give an anymail message its one tag, its Postmark message stream for `stream` ("bulk" or
    "transactional"), and `track_clicks` where the ESP takes it per message (None: the
    account's setting). Other backends ignore these attributes."""
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}, not {stream!r}")
    name = esp.esp_name(backend_path)
    # One tag: Postmark and SparkPost refuse a message with more.
    message.tags = [tag]
    if track_clicks is not None and name in _CLICK_TRACKING_PER_MESSAGE:
        message.track_clicks = track_clicks
    if name == "postmark":
        # Postmark sends on the server's default (transactional) stream unless told; bulk mail
        # belongs on a broadcast stream, which its terms require and which keeps its
        # reputation apart from confirmations'.
        message_stream = (
            settings.MAILINGS_POSTMARK_BULK_STREAM if stream == "bulk" else settings.MAILINGS_POSTMARK_TRANSACTIONAL_STREAM
        )
        message.esp_extra = {**getattr(message, "esp_extra", {}), "MessageStream": message_stream}
