"""Every kind of email Muster sends, through each ESP it supports: anymail's real backend builds
and posts it, only the HTTP layer is mocked (requests' adapter, botocore's send for Amazon
SES), answering in each ESP's success shape. A message whose options the ESP lacks would fail
here (AnymailUnsupportedFeature), as it would in production.

Each email must leave in one call (a batch: one call for the chunk), with what Muster reads
back: its delivery or outbound id in the ESP's metadata, one tag, the one-click unsubscribe
headers on bulk mail, no click tracking on transactional mail where the ESP takes that per
message, and on Postmark the message stream of its kind."""

import base64
import email
import email.policy
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.awsrequest import AWSResponse
from django.utils import timezone
from requests.structures import CaseInsensitiveDict

from engage import links
from engage.models import Signup
from engage.services.data_exports import data_export_build, data_export_request
from engage.services.preferences import preferences_link_send
from engage.services.signups import signup_confirmation_send, signup_create
from mailings.models import Delivery, OutboundEmail
from mailings.services.compose import message_test_send
from mailings.services.sending import chunk_send, mailing_start
from petitions.models import Signature
from petitions.services.signing import (
    signature_already_signed_send,
    signature_confirmation_send,
    signatures_remind,
)
from tests.support.factories import make_list, make_mailing, make_message, make_petition, make_signature, make_supporter

pytestmark = [
    pytest.mark.django_db,
    # anymail warns that SendGrid is no longer among the ESPs its maintainers test against.
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]

ADDRESS = "ada@example.org"
ORGANISER = "organiser@muster.test"
AUDIENCE = 3


# --- What an ESP received ------------------------------------------------------------------------


@dataclass
class Call:
    url: str
    body: object  # JSON, a form ({field: [values]}) or SES's request JSON


@dataclass
class Sent:
    """One recipient's email as the ESP reads it from a call."""

    to: str
    metadata: dict
    headers: CaseInsensitiveDict
    tags: list
    stream: str | None  # Postmark's MessageStream (None: the call names none)
    click_tracking: bool | None  # None: the call leaves it to the account


def _mailgun_sent(call: Call) -> list[Sent]:
    form = call.body
    variables = json.loads(form.get("recipient-variables", ["{}"])[0])
    sent = []
    for to in form["to"]:
        address = parseaddr(to)[1]

        def fill(value, address=address):  # Mailgun's %recipient.x% substitution
            return re.sub(r"%recipient\.([^%]+)%", lambda m: str(variables[address][m.group(1)]), value)

        sent.append(Sent(
            to=address,
            metadata={key[2:]: fill(values[0]) for key, values in form.items() if key.startswith("v:")},
            headers=CaseInsensitiveDict({key[2:]: fill(values[0]) for key, values in form.items() if key.startswith("h:")}),
            tags=form.get("o:tag", []),
            stream=form.get("MessageStream", [None])[0],
            click_tracking={"yes": True, "no": False}.get(form.get("o:tracking-clicks", [""])[0]),
        ))
    return sent


def _postmark_sent(call: Call) -> list[Sent]:
    return [
        Sent(
            to=parseaddr(each["To"])[1],
            metadata=each.get("Metadata", {}),
            headers=CaseInsensitiveDict({h["Name"]: h["Value"] for h in each.get("Headers", [])}),
            tags=[each["Tag"]] if "Tag" in each else [],
            stream=each.get("MessageStream"),
            click_tracking={"HtmlAndText": True, "None": False}.get(each.get("TrackLinks")),
        )
        for each in (call.body if isinstance(call.body, list) else [call.body])
    ]


def _sendgrid_sent(call: Call) -> list[Sent]:
    data = call.body
    tracking = data.get("tracking_settings", {}).get("click_tracking", {})
    return [
        Sent(
            to=to["email"],
            metadata={**data.get("custom_args", {}), **personalization.get("custom_args", {})},
            headers=CaseInsensitiveDict({**data.get("headers", {}), **personalization.get("headers", {})}),
            tags=data.get("categories", []),
            stream=data.get("MessageStream"),
            click_tracking=tracking.get("enable"),
        )
        for personalization in data["personalizations"]
        for to in personalization["to"]
    ]


def _brevo_sent(call: Call) -> list[Sent]:
    data = call.body
    headers = CaseInsensitiveDict(data.get("headers", {}))
    return [
        Sent(
            to=to["email"], metadata=json.loads(headers.get("X-Mailin-custom", "{}")), headers=headers,
            tags=data.get("tags", []), stream=data.get("MessageStream"), click_tracking=None,
        )
        for to in data["to"]
    ]


def _sparkpost_sent(call: Call) -> list[Sent]:
    data = call.body
    return [
        Sent(
            to=recipient["address"]["email"],
            metadata={**data.get("metadata", {}), **recipient.get("metadata", {})},
            headers=CaseInsensitiveDict(data["content"].get("headers", {})),
            tags=[data["campaign_id"]] if "campaign_id" in data else [],
            stream=data.get("MessageStream"),
            click_tracking=data.get("options", {}).get("click_tracking"),
        )
        for recipient in data["recipients"]
    ]


def _ses_sent(call: Call) -> list[Sent]:
    """SES v2 SendEmail takes the raw MIME message: metadata and tags are its headers."""
    params = call.body
    mime = email.message_from_bytes(base64.b64decode(params["Content"]["Raw"]["Data"]), policy=email.policy.default)
    return [
        Sent(
            to=to, metadata=json.loads(mime.get("X-Metadata", "{}")),
            headers=CaseInsensitiveDict({name: str(value).strip() for name, value in mime.items()}),
            tags=[str(tag) for tag in mime.get_all("X-Tag", [])], stream=params.get("MessageStream"),
            click_tracking=None,
        )
        for to in params["Destination"]["ToAddresses"]
    ]


# --- Each ESP's success answers ------------------------------------------------------------------


def _mailgun_answer(call):
    return 200, {"id": f"<{uuid.uuid4().hex}@mail.muster.test>", "message": "Queued. Thank you."}


def _postmark_answer(call):
    def one(message):
        return {"To": message["To"], "SubmittedAt": "2026-11-24T10:00:00Z", "MessageID": str(uuid.uuid4()),
                "ErrorCode": 0, "Message": "OK"}

    return 200, [one(m) for m in call.body] if isinstance(call.body, list) else one(call.body)


def _sendgrid_answer(call):
    return 202, None  # SendGrid answers a send with an empty body


def _brevo_answer(call):
    return 201, {"messageId": f"<{uuid.uuid4().hex}@smtp-relay.mailin.fr>"}


def _sparkpost_answer(call):
    accepted = len(call.body["recipients"])
    return 200, {"results": {"total_rejected_recipients": 0, "total_accepted_recipients": accepted,
                             "id": str(uuid.uuid4().int)[:18]}}


def _ses_answer(call):
    return 200, {"MessageId": f"0102{uuid.uuid4().hex}-000000"}


@dataclass(frozen=True)
class Esp:
    name: str
    endpoint: str  # the path every send posts to
    anymail: dict
    answer: Callable[[Call], tuple[int, object]]
    sent: Callable[[Call], list[Sent]]
    batch: bool = False  # takes a chunk in one call with per-recipient merge data

    @property
    def backend(self) -> str:
        return f"anymail.backends.{self.name}.EmailBackend"


# API URLs on the reserved .invalid domain: should the mock ever be bypassed, nothing leaves.
ESPS = [
    Esp("mailgun", "/v3/mail.muster.test/messages", {
        "MAILGUN_API_KEY": "key", "MAILGUN_API_URL": "https://mailgun.invalid/v3", "MAILGUN_SENDER_DOMAIN": "mail.muster.test"},
        _mailgun_answer, _mailgun_sent, batch=True),
    Esp("postmark", "/email", {"POSTMARK_SERVER_TOKEN": "token", "POSTMARK_API_URL": "https://postmark.invalid/"},
        _postmark_answer, _postmark_sent),
    Esp("sendgrid", "/v3/mail/send", {"SENDGRID_API_KEY": "key", "SENDGRID_API_URL": "https://sendgrid.invalid/v3/"},
        _sendgrid_answer, _sendgrid_sent),
    # anymail's SES backend (since anymail 10 the SES v2 API; amazon_sesv2 is gone).
    Esp("amazon_ses", "/v2/email/outbound-emails", {"AMAZON_SES_CLIENT_PARAMS": {
        "region_name": "eu-west-1", "aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret",
        "endpoint_url": "https://email.eu-west-1.invalid"}}, _ses_answer, _ses_sent),
    Esp("brevo", "/v3/smtp/email", {"BREVO_API_KEY": "key", "BREVO_API_URL": "https://brevo.invalid/v3/"},
        _brevo_answer, _brevo_sent),
    Esp("sparkpost", "/api/v1/transmissions/", {"SPARKPOST_API_KEY": "key", "SPARKPOST_API_URL": "https://sparkpost.invalid/api/v1"},
        _sparkpost_answer, _sparkpost_sent),
]


@dataclass
class EspHttp:
    esp: Esp
    calls: list[Call] = field(default_factory=list)

    def sent(self) -> list[Sent]:
        return [each for call in self.calls for each in self.esp.sent(call)]

    def answer(self, call: Call) -> tuple[int, object]:
        self.calls.append(call)
        return self.esp.answer(call)


def _requests_answer(http: EspHttp):
    """requests' transport: the prepared request (body as it would go on the wire) answered here."""

    def send(adapter, request, **kwargs):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        if request.headers.get("Content-Type", "").startswith("application/json"):
            parsed = json.loads(body)
        else:
            parsed = parse_qs(body, keep_blank_values=True)
        status, answer = http.answer(Call(url=request.url, body=parsed))
        response = requests.Response()
        response.status_code, response.url, response.request, response.reason = status, request.url, request, "OK"
        response._content = b"" if answer is None else json.dumps(answer).encode()
        if answer is not None:
            response.headers["Content-Type"] = "application/json"
        response.encoding = "utf-8"
        return response

    return send


class _Body:
    """An answer's body as botocore reads it (raw.stream())."""

    def __init__(self, content: bytes):
        self.content = content

    def stream(self, *args, **kwargs):
        yield self.content


def _boto_client_answering(http: EspHttp, real_client):
    """boto3's clients with botocore's HTTP send answered here (signing and parsing stay real)."""

    def before_send(request, **kwargs):
        status, answer = http.answer(Call(url=request.url, body=json.loads(request.body)))
        return AWSResponse(request.url, status, {"Content-Type": "application/json"}, _Body(json.dumps(answer).encode()))

    def client(session, *args, **kwargs):
        made = real_client(session, *args, **kwargs)
        made.meta.events.register("before-send", before_send)
        return made

    return client


@pytest.fixture(params=ESPS, ids=[esp.name for esp in ESPS])
def esp_http(request, settings, monkeypatch):
    """Every backend setting pointed at this ESP, its API answered in process."""
    esp = request.param
    settings.EMAIL_BACKEND = esp.backend
    settings.MAILINGS_BULK_EMAIL_BACKEND = ""
    settings.MAILINGS_TRANSACTIONAL_EMAIL_BACKEND = ""
    settings.ANYMAIL = {**settings.ANYMAIL, **esp.anymail, "IGNORE_UNSUPPORTED_FEATURES": False}
    http = EspHttp(esp)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", _requests_answer(http))
    monkeypatch.setattr(boto3.session.Session, "client", _boto_client_answering(http, boto3.session.Session.client))
    return http


# --- The kinds of email, each sent through its real code path ------------------------------------


@dataclass
class Expected:
    stream: str  # "bulk" or "transactional"
    tag: str
    calls: int
    metadata: dict[str, dict[str, str]]  # {address: the metadata Muster reads back}
    list_unsubscribe: dict = field(default_factory=dict)  # bulk mail: {address: (supporter, its list)}


def _outbound_sent(dedupe_prefix: str) -> OutboundEmail:
    outbound = OutboundEmail.objects.get(dedupe_key__startswith=dedupe_prefix)
    assert outbound.status == OutboundEmail.Status.SENT, outbound.last_error
    assert outbound.esp_message_id
    return outbound


def _transactional(outbound: OutboundEmail, to: str = ADDRESS) -> Expected:
    return Expected(
        stream="transactional", tag=outbound.kind, calls=1,
        metadata={to: {"outbound_email_id": str(outbound.pk), "kind": outbound.kind}},
    )


def _pending_signature() -> Signature:
    return make_signature(petition=make_petition(), email=ADDRESS, on_commit=False)


def signature_confirmation(esp, settings):
    signature = _pending_signature()
    assert signature_confirmation_send(signature_id=signature.pk) is True
    return _transactional(_outbound_sent("signature-confirm:"))


def signature_reminder(esp, settings):
    signature = _pending_signature()
    Signature.objects.filter(pk=signature.pk).update(
        created_at=timezone.now() - settings.CONFIRM_REMINDER_AFTER - timedelta(minutes=1)
    )
    assert signatures_remind() == 1
    return _transactional(_outbound_sent("signature-remind:"))


def signature_already_signed(esp, settings):
    signature = _pending_signature()
    assert signature_already_signed_send(signature_id=signature.pk) is True
    return _transactional(_outbound_sent("signature-already:"))


def signup_confirmation(esp, settings):
    signup = signup_create(
        kind=Signup.Kind.SUBSCRIBE, email=ADDRESS, first_name="Ada", last_name="Lovelace", country="GB",
        postcode="S70 2AB", mailing_lists=[make_list()],
    )
    assert signup_confirmation_send(signup_id=signup.pk) is True
    return _transactional(_outbound_sent("signup-confirm:"))


def preferences_link(esp, settings):
    assert preferences_link_send(supporter_id=make_supporter(ADDRESS).pk) is True
    return _transactional(_outbound_sent("preferences-link:"))


def data_export_ready(esp, settings):
    export = data_export_request(supporter=make_supporter(ADDRESS), requested_by=ADDRESS)
    assert data_export_build(export_id=export.pk) is True
    return _transactional(_outbound_sent("data-export-ready:"))


def mailing_test_send(esp, settings):
    """An organiser's test of a mailing: the bulk stream, without a recipient's links."""
    assert message_test_send(message=make_message(), to_email=ORGANISER)
    outbound = _outbound_sent("mailing-test:")
    return Expected(stream="bulk", tag="mailing_test", calls=1,
                    metadata={ORGANISER: {"outbound_email_id": str(outbound.pk), "kind": "mailing_test"}})


def _mailing(esp, settings, *, mode):
    settings.MAILINGS_SEND_MODE = mode
    news = make_list()
    people = [make_supporter(f"person{i}@example.org", first_name=f"P{i}", subscribed_to=news) for i in range(AUDIENCE)]
    mailing = make_mailing(mailing_list=news)
    mailing_start(mailing_id=mailing.pk)  # the chunk tasks it queues on commit never run in a test
    assert chunk_send(mailing_id=mailing.pk).sent == AUDIENCE
    deliveries = list(Delivery.objects.filter(mailing=mailing).select_related("supporter"))
    assert [(d.status, bool(d.esp_message_id)) for d in deliveries] == [(Delivery.Status.SENT, True)] * AUDIENCE, [
        d.last_error for d in deliveries
    ]
    batched = mode == "batch" and esp.batch  # the others send one message per call whatever is asked
    return Expected(
        stream="bulk", tag="mailing", calls=1 if batched else AUDIENCE,
        metadata={d.supporter.email: {"mailing_id": str(mailing.pk), "delivery_id": str(d.pk)} for d in deliveries},
        list_unsubscribe={person.email: (person, news) for person in people},
    )


def mailing_batch(esp, settings):
    return _mailing(esp, settings, mode="batch")


def mailing_single(esp, settings):
    return _mailing(esp, settings, mode="single")


KINDS = [
    signature_confirmation, signature_reminder, signature_already_signed, signup_confirmation, preferences_link,
    data_export_ready, mailing_test_send, mailing_batch, mailing_single,
]


def _assert_one_click(header: str, person, mailing_list) -> None:
    match = re.fullmatch(r"<https://muster\.test/unsubscribe/([^/]+)/one-click>", header)
    assert match, header
    assert links.read_unsubscribe_token(match.group(1)) == (person, mailing_list)


# --- The matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=[kind.__name__ for kind in KINDS])
def test_every_kind_of_email_leaves_through_every_esp_with_what_muster_reads_back(esp_http, kind, settings):
    esp = esp_http.esp
    expected = kind(esp, settings)

    assert [urlsplit(call.url).path for call in esp_http.calls] == [esp.endpoint] * expected.calls
    sent = {each.to: each for each in esp_http.sent()}
    assert sorted(sent) == sorted(expected.metadata)
    for address, metadata in expected.metadata.items():
        message = sent[address]
        assert message.metadata.items() >= metadata.items(), message.metadata
        assert message.tags == [expected.tag]
        # Postmark's default streams; no other ESP's call carries Postmark's field.
        assert message.stream == ({"bulk": "broadcast", "transactional": "outbound"}[expected.stream]
                                  if esp.name == "postmark" else None)
        if expected.stream == "transactional":
            # Confirmation links must reach Muster unaltered; SES and Brevo have no per-message switch.
            assert message.click_tracking is (None if esp.name in ("amazon_ses", "brevo") else False)
        if address in expected.list_unsubscribe:
            _assert_one_click(message.headers["List-Unsubscribe"], *expected.list_unsubscribe[address])
            assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert message.headers["List-Id"]
        else:
            assert "List-Unsubscribe" not in message.headers


@pytest.mark.parametrize("esp_http", [esp for esp in ESPS if esp.name == "postmark"], ids=["postmark"], indirect=True)
@pytest.mark.parametrize("kind", [signature_confirmation, mailing_test_send, mailing_single],
                         ids=["transactional", "test_send", "mailing"])
def test_postmark_sends_on_the_streams_the_settings_name(esp_http, kind, settings):
    settings.MAILINGS_POSTMARK_BULK_STREAM = "newsletters"
    settings.MAILINGS_POSTMARK_TRANSACTIONAL_STREAM = "confirmations"
    expected = kind(esp_http.esp, settings)
    wanted = "newsletters" if expected.stream == "bulk" else "confirmations"
    assert [each.stream for each in esp_http.sent()] == [wanted] * len(expected.metadata)
