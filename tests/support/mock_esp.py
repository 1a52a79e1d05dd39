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

With --no-records (benchmarks) it keeps only each delivery id's count of copies, and parses
no more of a call than it needs for that. Its HTTP/1.1 server is its own few lines (keep-alive,
TCP_NODELAY, one thread per connection), cheaper per call than http.server.

Control (for tests): GET /_mock/stats (calls, messages, bytes of the calls' bodies,
duplicates), GET /_mock/deliveries ({delivery id: copies}),
POST /_mock/config {"delay": seconds before answering, "fail_next": n answers of 503},
POST /_mock/reset.

Run on its own: python tests/support/mock_esp.py --port 8025
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
from urllib.parse import parse_qs, urlsplit

_RECIPIENT_VAR = re.compile(r"%recipient\.([^%]+)%")


def _fill(template: str, values: dict) -> str:
    """Mailgun's substitution of %recipient.x% from one recipient's variables."""
    return _RECIPIENT_VAR.sub(lambda m: str(values.get(m.group(1), "")), template)


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
        return _fill(template, self.call.variables.get(self.to, {}))


class _HttpServer:
    """Just enough HTTP/1.1 for anymail's requests session and urllib: keep-alive, a body by
    Content-Length, one thread per connection, TCP_NODELAY. http.server's own request parsing
    (headers through the email package) cost more CPU per call than the sends it answered,
    which made the mock, not the sender, the limit of one-per-call benchmarks."""

    def __init__(self, host: str, port: int, handle):
        self.handle = handle  # (method, target, body) -> (status, JSON-able answer)
        self.socket = socket.create_server((host, port), backlog=1024, reuse_port=False)
        self.server_address = self.socket.getsockname()
        self._stopped = threading.Event()

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        self.socket.settimeout(poll_interval)
        while not self._stopped.is_set():
            try:
                conn, _ = self.socket.accept()
            except TimeoutError:
                continue
            except OSError:
                break  # closed by shutdown()
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def shutdown(self) -> None:
        self._stopped.set()

    def server_close(self) -> None:
        self.socket.close()

    def _connection(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        # The answer's head and body go out in one write, and nothing waits for Nagle's
        # algorithm to hold a small answer until the client's delayed ACK (40 ms).
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        try:
            while True:
                end = buffer.find(b"\r\n\r\n")
                while end < 0:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                    end = buffer.find(b"\r\n\r\n")
                lines = bytes(buffer[:end]).split(b"\r\n")
                del buffer[:end + 4]
                method, target = lines[0].split(b" ")[:2]
                length, close = 0, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection":
                        close = value.strip().lower() == b"close"
                    elif name == b"transfer-encoding":
                        conn.sendall(b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        return
                while len(buffer) < length:
                    data = conn.recv(max(65536, length - len(buffer)))
                    if not data:
                        return
                    buffer += data
                body = bytes(buffer[:length])
                del buffer[:length]
                status, answer = self.handle(method.decode(), target.decode(), body)
                payload = json.dumps(answer).encode()
                conn.sendall(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                    % (status, _REASONS.get(status, b"Answer"), len(payload), b"Connection: close\r\n" if close else b"")
                    + payload
                )
                if close:
                    return
        except (OSError, ValueError):
            pass  # a client killed mid-request (the crash test's point) or a garbled request
        finally:
            conn.close()


_REASONS = {200: b"OK", 404: b"Not Found", 503: b"Service Unavailable"}


class MockEsp:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, keep_records: bool = True):
        self.lock = threading.Lock()
        self.keep_records = keep_records
        self.reset()
        self.server = _HttpServer(host, port, self.handle)
        self.thread: threading.Thread | None = None

    # --- state ---

    def reset(self) -> None:
        with self.lock:
            self.records: list[Record] = []
            self.copies: Counter[str] = Counter()
            self.accepted_ids: dict[str, str] = {}
            self.calls = 0
            self.messages = 0
            self.bytes = 0
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

    def _accept(self, records: list[Record], size: int = 0) -> None:
        self._count([record.delivery_id for record in records], records[0].message_id if records else "", size)
        with self.lock:
            self.records.extend(records)

    def _count(self, delivery_ids: list[str], message_id: str, size: int) -> None:
        now = time.monotonic()
        with self.lock:
            self.calls += 1
            self.messages += len(delivery_ids)
            self.bytes += size
            self.first_at = self.first_at or now
            self.last_at = now
            for delivery_id in delivery_ids:
                if delivery_id:
                    self.copies[delivery_id] += 1
                    self.accepted_ids.setdefault(delivery_id, message_id)

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
                "bytes": self.bytes,
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

    def mailgun_send(self, form: dict[str, list[str]], size: int = 0) -> dict:
        variables = json.loads(form.get("recipient-variables", ["{}"])[0] or "{}")
        headers = {k[2:]: v[0] for k, v in form.items() if k.startswith("h:")}
        custom = {k[2:]: v[0] for k, v in form.items() if k.startswith("v:")}
        message_id = f"<{uuid.uuid4().hex}@mock.mailgun>"
        if not self.keep_records:  # count only: each recipient's delivery id, nothing else
            delivery_id = custom.get("delivery_id", "")
            ids = [_fill(delivery_id, variables.get(parseaddr(to)[1], {})) for to in form.get("to", [])]
            self._count(ids, message_id, size)
            return {"id": message_id, "message": "Queued. Thank you."}
        call = Call(
            shape="mailgun", subject=form.get("subject", [""])[0], text=form.get("text", [""])[0],
            html=form.get("html", [""])[0], headers=headers, variables=variables,
        )
        records = []
        for to in form.get("to", []):
            address = parseaddr(to)[1]
            values = variables.get(address, {})
            metadata = {k: _fill(v, values) for k, v in custom.items()}
            records.append(Record(
                delivery_id=metadata.get("delivery_id", ""), to=address, message_id=message_id, call=call,
                headers={k: _fill(v, values) for k, v in headers.items()}, metadata=metadata,
            ))
        self._accept(records, size)
        return {"id": message_id, "message": "Queued. Thank you."}

    def postmark_send(self, payload: dict, size: int = 0) -> dict:
        message_id = str(uuid.uuid4())
        metadata = payload.get("Metadata") or {}
        answer = {"To": payload.get("To", ""), "SubmittedAt": "2026-01-01T00:00:00Z", "MessageID": message_id,
                  "ErrorCode": 0, "Message": "OK"}
        if not self.keep_records:
            self._count([str(metadata.get("delivery_id", ""))], message_id, size)
            return answer
        headers = {h["Name"]: h["Value"] for h in payload.get("Headers") or []}
        call = Call(
            shape="postmark", subject=payload.get("Subject", ""), text=payload.get("TextBody", ""),
            html=payload.get("HtmlBody", ""), headers=headers, variables={},
        )
        address = parseaddr(payload.get("To", ""))[1]
        self._accept([Record(
            delivery_id=str(metadata.get("delivery_id", "")), to=address, message_id=message_id, call=call,
            headers=headers, metadata=metadata,
        )], size)
        return answer

    def lookup(self, delivery_id: str) -> str | None:
        with self.lock:
            return self.accepted_ids.get(str(delivery_id))

    # --- requests ---

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, object]:
        """One request: (status, JSON answer)."""
        parts = urlsplit(target)
        path = parts.path
        if method == "POST":
            if path == "/_mock/config":
                self.configure(**json.loads(body or b"{}"))
                return 200, {"ok": True}
            if path == "/_mock/reset":
                self.reset()
                return 200, {"ok": True}
            if self._take_failure():
                return 503, {"message": "Service unavailable (mock)"}
            if re.fullmatch(r"/v3/[^/]+/messages", path):
                answer = self.mailgun_send(parse_qs(body.decode(), keep_blank_values=True), size=len(body))
            elif path == "/email":
                answer = self.postmark_send(json.loads(body), size=len(body))
            elif path == "/email/batch":
                payloads = json.loads(body)
                answer = [self.postmark_send(each, size=len(body) // max(len(payloads), 1)) for each in payloads]
            else:
                return 404, {"message": f"no such endpoint {path}"}
            # Accepted and recorded; a slow answer is what makes an outcome unknown to the sender.
            if self.delay:
                time.sleep(self.delay)
            return 200, answer
        query = parse_qs(parts.query)
        if path == "/_mock/stats":
            return 200, self.stats()
        if path == "/_mock/deliveries":
            return 200, self.copies_snapshot()
        if re.fullmatch(r"/v3/[^/]+/events", path):
            wanted = json.loads(query.get("user-variables", ["{}"])[0]).get("delivery_id", "")
            message_id = self.lookup(wanted)
            items = [] if message_id is None else [{
                "event": "accepted", "user-variables": {"delivery_id": wanted},
                "message": {"headers": {"message-id": message_id.strip("<>")}},
            }]
            return 200, {"items": items, "paging": {}}
        if path == "/messages/outbound":
            wanted = query.get("metadata_delivery_id", [""])[0]
            message_id = self.lookup(wanted)
            messages = [] if message_id is None else [{"MessageID": message_id, "Metadata": {"delivery_id": wanted}}]
            return 200, {"TotalCount": len(messages), "Messages": messages}
        return 404, {"message": "not found"}


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
