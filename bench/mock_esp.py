"""A local mock ESP for tests and bench/mail.py: an HTTP server that speaks just enough of two
real APIs for anymail's backends to post to it unchanged.

- Mailgun shape (batch with merge data): POST /v3/<domain>/messages, a form with many `to`,
  `recipient-variables`, `v:` custom data and `h:` headers with %recipient.x% references.
  Point ANYMAIL_MAILGUN_API_URL at http://127.0.0.1:<port>/v3.
- Postmark shape (one message per call): POST /email (and /email/batch), JSON.
  Point ANYMAIL_POSTMARK_API_URL at http://127.0.0.1:<port>/.

It records every message it accepts with the delivery id from its metadata, and answers the
two lookups Muster uses to settle unknown outcomes, as the real ESPs do: Mailgun's events API
(GET /v3/<domain>/events?event=accepted&user-variables={"delivery_id": "…"}) and Postmark's
outbound message search (GET /messages/outbound?metadata_delivery_id=…).

Control (for tests): GET /_mock/stats, GET /_mock/deliveries ({delivery id: copies}),
POST /_mock/config {"delay": seconds before answering, "fail_next": n answers of 503},
POST /_mock/reset.

Run on its own: python bench/mock_esp.py --port 8025
"""

import argparse
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parseaddr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_RECIPIENT_VAR = re.compile(r"%recipient\.([^%]+)%")


@dataclass
class Call:
    """One API call: the shared parts of its messages (bodies are kept once per call)."""

    shape: str
    subject: str
    text: str
    html: str
    headers: dict
    variables: dict  # Mailgun recipient-variables


@dataclass
class Record:
    delivery_id: str
    to: str
    message_id: str
    call: Call
    headers: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def subject(self) -> str:
        return self._fill(self.call.subject)

    def text(self) -> str:
        return self._fill(self.call.text)

    def html(self) -> str:
        return self._fill(self.call.html)

    def _fill(self, template: str) -> str:
        values = self.call.variables.get(self.to, {})
        return _RECIPIENT_VAR.sub(lambda m: str(values.get(m.group(1), "")), template)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client killed mid-request (the crash test's point) is not an error here


class MockEsp:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, keep_records: bool = True):
        self.lock = threading.Lock()
        self.keep_records = keep_records
        self.reset()
        self.server = _QuietServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    # --- state ---

    def reset(self) -> None:
        with self.lock:
            self.records: list[Record] = []
            self.copies: Counter[str] = Counter()
            self.accepted_ids: dict[str, str] = {}
            self.calls = 0
            self.messages = 0
            self.delay = 0.0
            self.fail_next = 0
            self.first_at: float | None = None
            self.last_at: float | None = None

    def configure(self, *, delay: float | None = None, fail_next: int | None = None) -> None:
        with self.lock:
            if delay is not None:
                self.delay = float(delay)
            if fail_next is not None:
                self.fail_next = int(fail_next)

    def _take_failure(self) -> bool:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False

    def _accept(self, records: list[Record]) -> None:
        now = time.monotonic()
        with self.lock:
            self.calls += 1
            self.messages += len(records)
            self.first_at = self.first_at or now
            self.last_at = now
            for record in records:
                if record.delivery_id:
                    self.copies[record.delivery_id] += 1
                    self.accepted_ids.setdefault(record.delivery_id, record.message_id)
                if self.keep_records:
                    self.records.append(record)

    def copies_snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.copies)

    def records_snapshot(self) -> list[Record]:
        with self.lock:
            return list(self.records)

    def stats(self) -> dict:
        with self.lock:
            return {
                "calls": self.calls,
                "messages": self.messages,
                "deliveries": len(self.copies),
                "duplicates": sum(1 for n in self.copies.values() if n > 1),
                "first_at": self.first_at,
                "last_at": self.last_at,
            }

    # --- server ---

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "MockEsp":
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- the two API shapes ---

    def mailgun_send(self, form: dict[str, list[str]]) -> dict:
        variables = json.loads(form.get("recipient-variables", ["{}"])[0] or "{}")
        headers = {k[2:]: v[0] for k, v in form.items() if k.startswith("h:")}
        custom = {k[2:]: v[0] for k, v in form.items() if k.startswith("v:")}
        call = Call(
            shape="mailgun", subject=form.get("subject", [""])[0], text=form.get("text", [""])[0],
            html=form.get("html", [""])[0], headers=headers, variables=variables,
        )
        message_id = f"<{uuid.uuid4().hex}@mock.mailgun>"
        records = []
        for to in form.get("to", []):
            address = parseaddr(to)[1]
            values = variables.get(address, {})

            def fill(value, values=values):
                return _RECIPIENT_VAR.sub(lambda m: str(values.get(m.group(1), "")), value)

            metadata = {k: fill(v) for k, v in custom.items()}
            records.append(Record(
                delivery_id=metadata.get("delivery_id", ""), to=address, message_id=message_id, call=call,
                headers={k: fill(v) for k, v in headers.items()}, metadata=metadata,
            ))
        self._accept(records)
        return {"id": message_id, "message": "Queued. Thank you."}

    def postmark_send(self, payload: dict) -> dict:
        headers = {h["Name"]: h["Value"] for h in payload.get("Headers") or []}
        call = Call(
            shape="postmark", subject=payload.get("Subject", ""), text=payload.get("TextBody", ""),
            html=payload.get("HtmlBody", ""), headers=headers, variables={},
        )
        message_id = str(uuid.uuid4())
        metadata = payload.get("Metadata") or {}
        address = parseaddr(payload.get("To", ""))[1]
        self._accept([Record(
            delivery_id=str(metadata.get("delivery_id", "")), to=address, message_id=message_id, call=call,
            headers=headers, metadata=metadata,
        )])
        return {"To": payload.get("To", ""), "SubmittedAt": "2026-01-01T00:00:00Z", "MessageID": message_id,
                "ErrorCode": 0, "Message": "OK"}

    def lookup(self, delivery_id: str) -> str | None:
        with self.lock:
            return self.accepted_ids.get(str(delivery_id))


def _handler_for(esp: MockEsp):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # Headers and body go out in two writes: without this, Nagle's algorithm holds the
            # body until the client's delayed ACK (40 ms), which would cap one-per-call at ~25/s.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args):  # quiet
            pass

        def _answer(self, status: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self):
            path = urlsplit(self.path).path
            body = self._body()
            if path == "/_mock/config":
                esp.configure(**json.loads(body or b"{}"))
                return self._answer(200, {"ok": True})
            if path == "/_mock/reset":
                esp.reset()
                return self._answer(200, {"ok": True})
            if esp._take_failure():
                return self._answer(503, {"message": "Service unavailable (mock)"})
            if re.fullmatch(r"/v3/[^/]+/messages", path):
                answer = esp.mailgun_send(parse_qs(body.decode(), keep_blank_values=True))
            elif path == "/email":
                answer = esp.postmark_send(json.loads(body))
            elif path == "/email/batch":
                answer = [esp.postmark_send(each) for each in json.loads(body)]
            else:
                return self._answer(404, {"message": f"no such endpoint {path}"})
            # Accepted and recorded; a slow answer is what makes an outcome unknown to the sender.
            if esp.delay:
                time.sleep(esp.delay)
            self._answer(200, answer)

        def do_GET(self):
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/_mock/stats":
                return self._answer(200, esp.stats())
            if parts.path == "/_mock/deliveries":
                return self._answer(200, esp.copies_snapshot())
            if re.fullmatch(r"/v3/[^/]+/events", parts.path):
                wanted = json.loads(query.get("user-variables", ["{}"])[0]).get("delivery_id", "")
                message_id = esp.lookup(wanted)
                items = [] if message_id is None else [{
                    "event": "accepted", "user-variables": {"delivery_id": wanted},
                    "message": {"headers": {"message-id": message_id.strip("<>")}},
                }]
                return self._answer(200, {"items": items, "paging": {}})
            if parts.path == "/messages/outbound":
                wanted = query.get("metadata_delivery_id", [""])[0]
                message_id = esp.lookup(wanted)
                messages = [] if message_id is None else [{"MessageID": message_id, "Metadata": {"delivery_id": wanted}}]
                return self._answer(200, {"TotalCount": len(messages), "Messages": messages})
            return self._answer(404, {"message": "not found"})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--no-records", action="store_true", help="count only (long benchmarks)")
    args = parser.parse_args()
    esp = MockEsp(host=args.host, port=args.port, keep_records=not args.no_records)
    print(f"mock ESP on {esp.url}", flush=True)
    try:
        esp.server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
