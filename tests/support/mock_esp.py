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

Faults, per test (constructor or configure(), or POST /_mock/config with the same names as
JSON), each decided under the lock by one random.Random seeded from `seed`, so that a run with
the same seed and settings meets the same faults in the same order of calls:

- `latency` (alias `delay`) seconds before a send call is answered, plus uniform 0..`latency_jitter`;
- `error_rate_500`, `error_rate_429`: that share of send calls refused (nothing accepted) with
  the ESP's own error body, a 429 with `Retry-After: retry_after`;
- `hang_rate`: that share accepted, then answered only after `hang_seconds` (the client's timeout
  runs out although the ESP has the message);
- `drop_connection_rate`: that share accepted, then the socket closed without an answer;
- `search_lag`: seconds after acceptance before the two lookups find a message (until then
  they answer an empty list, as a lagging search does);
- `fail_next`: the next n send calls answered 503, before any of the above.
The rates together are at most 1 (one draw per send call decides among them). Lookups and
control calls are never faulted. Postmark's search, as the real one, looks in one message stream
(`messagestream`, "outbound" when absent), which each message names in `MessageStream`.

Control (for tests): GET /_mock/stats (calls and messages accepted, send_calls received, bytes
of the accepted calls' bodies, duplicates, and `faults`: how many of each were injected),
GET /_mock/deliveries ({delivery id: copies}), POST /_mock/config {fault settings, "seed"},
POST /_mock/reset (records, counts and faults back to those the mock was started with).

Run on its own: python tests/support/mock_esp.py --port 8025 [--seed 1]
"""

import argparse
import dataclasses
import json
import random
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
    stream: str = ""  # Postmark's MessageStream ("" for Mailgun)

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
        # (method, target, body) -> (status, JSON-able answer[, extra headers]); a status of
        # None closes the connection without an answer.
        self.handle = handle
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
                result = self.handle(method.decode(), target.decode(), body)
                status, answer = result[0], result[1]
                if status is None:
                    return  # the message may be accepted; the client never hears
                extra = b""
                if len(result) > 2:  # a 429's Retry-After
                    extra = b"".join(b"%s: %s\r\n" % (k.encode(), str(v).encode()) for k, v in result[2].items())
                payload = json.dumps(answer).encode()
                conn.sendall(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s%s\r\n"
                    % (status, _REASONS.get(status, b"Answer"), len(payload), extra, b"Connection: close\r\n" if close else b"")
                    + payload
                )
                if close:
                    return
        except (OSError, ValueError):
            pass  # a client killed mid-request (the fault suite's point) or a garbled request
        finally:
            conn.close()


_REASONS = {
    200: b"OK", 400: b"Bad Request", 404: b"Not Found", 429: b"Too Many Requests", 500: b"Internal Server Error",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class Faults:
    """What goes wrong, and how often (see the module's docstring)."""

    latency: float = 0.0
    latency_jitter: float = 0.0
    error_rate_500: float = 0.0
    error_rate_429: float = 0.0
    retry_after: int = 1
    hang_rate: float = 0.0
    hang_seconds: float = 10.0
    drop_connection_rate: float = 0.0
    search_lag: float = 0.0

    def __post_init__(self):
        for name in ("latency", "latency_jitter", "hang_seconds", "search_lag", "retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        rates = self.rates()
        if any(not 0 <= rate <= 1 for _, rate in rates) or sum(rate for _, rate in rates) > 1 + 1e-9:
            raise ValueError(f"fault rates must each be in 0..1 and add up to at most 1: {dict(rates)}")

    def rates(self) -> list[tuple[str, float]]:
        """The faults one draw chooses among, in the order their shares are laid out on 0..1."""
        return [("error_500", self.error_rate_500), ("error_429", self.error_rate_429),
                ("hang", self.hang_rate), ("drop_connection", self.drop_connection_rate)]


_FAULT_FIELDS = {f.name: f.type for f in dataclasses.fields(Faults)}
# What stats()["faults"] counts: every kind always present, so a test can assert a zero.
FAULT_KINDS = ("unavailable_503", "error_500", "error_429", "hang", "drop_connection", "latency", "search_hidden")
_SEND_PATH = re.compile(r"/v3/[^/]+/messages|/email|/email/batch")


class MockEsp:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, keep_records: bool = True, seed: int = 0,
                 **faults):
        """`faults`: any of configure()'s settings, also restored by reset()."""
        self.lock = threading.Lock()
        self.keep_records = keep_records
        self._initial_seed = seed
        self._initial_faults = Faults(**self._fault_changes(faults))
        self._released = threading.Event()  # set by stop(): hung answers give up waiting
        self.reset()
        self.server = _HttpServer(host, port, self.handle)
        self.thread: threading.Thread | None = None

    # --- state ---

    def reset(self) -> None:
        with self.lock:
            self.records: list[Record] = []
            self.copies: Counter[str] = Counter()
            self.accepted_ids: dict[str, str] = {}
            # (where, delivery id) -> (message id, accepted at): what the lookups search, where
            # is "mailgun" or "postmark:<stream>".
            self.searchable: dict[tuple[str, str], tuple[str, float]] = {}
            self.calls = 0
            self.send_calls = 0
            self.messages = 0
            self.bytes = 0
            self.faults = self._initial_faults
            self.fail_next = 0
            self.seed = self._initial_seed
            self.random = random.Random(self.seed)
            self.injected: Counter[str] = Counter({kind: 0 for kind in FAULT_KINDS})
            self.first_at: float | None = None
            self.last_at: float | None = None

    def configure(self, *, seed: int | None = None, fail_next: int | None = None, **faults) -> None:
        """Change some settings, leaving the others; `seed` restarts the random draws. The
        fault settings are Faults' fields (`delay` is `latency`); unknown names raise TypeError,
        impossible values ValueError."""
        changes = self._fault_changes(faults)
        with self.lock:
            self.faults = dataclasses.replace(self.faults, **changes)
            if fail_next is not None:
                self.fail_next = int(fail_next)
            if seed is not None:
                self.seed = int(seed)
                self.random = random.Random(self.seed)

    @staticmethod
    def _fault_changes(faults: dict) -> dict:
        faults = dict(faults)
        if "delay" in faults:
            if "latency" in faults:
                raise TypeError("delay is another name for latency: give one")
            faults["latency"] = faults.pop("delay")
        unknown = set(faults) - set(_FAULT_FIELDS)
        if unknown:
            raise TypeError(f"unknown mock ESP settings: {', '.join(sorted(unknown))}")
        return {name: (int if _FAULT_FIELDS[name] in (int, "int") else float)(value) for name, value in faults.items()
                if value is not None}

    @property
    def delay(self) -> float:
        return self.faults.latency

    def _fault_draw(self) -> tuple[str | None, float, Faults]:
        """This send call's fault (None for none) and its pause before answering, decided
        under the lock so that concurrent calls take the seeded draws one at a time."""
        with self.lock:
            self.send_calls += 1
            faults = self.faults
            fault = None
            if self.fail_next > 0:
                self.fail_next -= 1
                fault = "unavailable_503"
            elif faults.error_rate_500 or faults.error_rate_429 or faults.hang_rate or faults.drop_connection_rate:
                # One draw per call, whatever the rates: the same seed gives the same faults.
                draw, edge = self.random.random(), 0.0
                for kind, rate in faults.rates():
                    edge += rate
                    if draw < edge:
                        fault = kind
                        break
            pause = faults.latency + (self.random.uniform(0, faults.latency_jitter) if faults.latency_jitter else 0.0)
            if fault:
                self.injected[fault] += 1
            if pause and fault not in ("hang", "drop_connection", "unavailable_503"):
                self.injected["latency"] += 1
            return fault, pause, faults

    def _accept(self, records: list[Record], where: str, size: int = 0) -> None:
        self._count([record.delivery_id for record in records], records[0].message_id if records else "", where, size)
        now = time.monotonic()
        with self.lock:
            self.records.extend(records)
            # Searchable by any metadata, as the real searches are (a transactional email's
            # outbound_email_id, say); delivery ids are indexed by _count.
            for record in records:
                for key, value in record.metadata.items():
                    if key != "delivery_id" and value:
                        self.searchable.setdefault((where, f"{key}={value}"), (record.message_id, now))

    def _count(self, delivery_ids: list[str], message_id: str, where: str, size: int) -> None:
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
                    self.searchable.setdefault((where, delivery_id), (message_id, now))

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
                "send_calls": self.send_calls,
                "messages": self.messages,
                "bytes": self.bytes,
                "deliveries": len(self.copies),
                "duplicates": sum(1 for n in self.copies.values() if n > 1),
                "first_at": self.first_at,
                "last_at": self.last_at,
                "seed": self.seed,
                "faults": dict(self.injected),
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
        self._released.set()
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
            self._count(ids, message_id, "mailgun", size)
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
        self._accept(records, "mailgun", size)
        return {"id": message_id, "message": "Queued. Thank you."}

    def postmark_send(self, payload: dict, size: int = 0) -> dict:
        message_id = str(uuid.uuid4())
        metadata = payload.get("Metadata") or {}
        stream = payload.get("MessageStream") or "outbound"
        answer = {"To": payload.get("To", ""), "SubmittedAt": "2026-01-01T00:00:00Z", "MessageID": message_id,
                  "ErrorCode": 0, "Message": "OK"}
        if not self.keep_records:
            self._count([str(metadata.get("delivery_id", ""))], message_id, f"postmark:{stream}", size)
            return answer
        headers = {h["Name"]: h["Value"] for h in payload.get("Headers") or []}
        call = Call(
            shape="postmark", subject=payload.get("Subject", ""), text=payload.get("TextBody", ""),
            html=payload.get("HtmlBody", ""), headers=headers, variables={},
        )
        address = parseaddr(payload.get("To", ""))[1]
        self._accept([Record(
            delivery_id=str(metadata.get("delivery_id", "")), to=address, message_id=message_id, call=call,
            headers=headers, metadata=metadata, stream=stream,
        )], f"postmark:{stream}", size)
        return answer

    def lookup(self, delivery_id: str) -> str | None:
        """The message id the mock accepted for this delivery id, in any shape or stream and
        whatever the search lag: what the ESP has, not what its search shows yet."""
        with self.lock:
            return self.accepted_ids.get(str(delivery_id))

    def search(self, where: str, delivery_id: str) -> str | None:
        """What a lookup finds: the message id, or None if never accepted there or accepted
        less than search_lag seconds ago."""
        with self.lock:
            found = self.searchable.get((where, str(delivery_id)))
            if found is None:
                return None
            message_id, accepted_at = found
            if time.monotonic() - accepted_at < self.faults.search_lag:
                self.injected["search_hidden"] += 1
                return None
            return message_id

    # --- requests ---

    def handle(self, method: str, target: str, body: bytes) -> tuple:
        """One request: (status, JSON answer[, extra headers]), or (None, None) to drop the
        connection unanswered."""
        parts = urlsplit(target)
        path = parts.path
        if method == "POST":
            if path == "/_mock/config":
                try:
                    self.configure(**json.loads(body or b"{}"))
                except (TypeError, ValueError) as error:
                    return 400, {"message": str(error)}
                return 200, {"ok": True}
            if path == "/_mock/reset":
                self.reset()
                return 200, {"ok": True}
            if _SEND_PATH.fullmatch(path):
                return self._send(path, body)
            return 404, {"message": f"no such endpoint {path}"}
        query = parse_qs(parts.query)
        if path == "/_mock/stats":
            return 200, self.stats()
        if path == "/_mock/deliveries":
            return 200, self.copies_snapshot()
        if re.fullmatch(r"/v3/[^/]+/events", path):
            wanted_variables = json.loads(query.get("user-variables", ["{}"])[0])
            key, value = next(iter(wanted_variables.items()), ("delivery_id", ""))
            message_id = self.search("mailgun", value if key == "delivery_id" else f"{key}={value}")
            items = [] if message_id is None else [{
                "event": "accepted", "user-variables": wanted_variables,
                "message": {"headers": {"message-id": message_id.strip("<>")}},
            }]
            return 200, {"items": items, "paging": {}}
        if path == "/messages/outbound":
            key, value = next(
                ((k.removeprefix("metadata_"), v[0]) for k, v in query.items() if k.startswith("metadata_")),
                ("delivery_id", ""),
            )
            stream = query.get("messagestream", ["outbound"])[0]
            message_id = self.search(f"postmark:{stream}", value if key == "delivery_id" else f"{key}={value}")
            messages = [] if message_id is None else [
                {"MessageID": message_id, "MessageStream": stream, "Metadata": {key: value}}
            ]
            return 200, {"TotalCount": len(messages), "Messages": messages}
        return 404, {"message": "not found"}

    def _send(self, path: str, body: bytes) -> tuple:
        shape = "postmark" if path.startswith("/email") else "mailgun"
        fault, pause, faults = self._fault_draw()
        if fault == "unavailable_503":
            return 503, {"message": "Service unavailable (mock)"}
        if fault in ("error_500", "error_429"):
            self._released.wait(pause)
            status = 500 if fault == "error_500" else 429
            return status, _error_body(shape, status), {"Retry-After": faults.retry_after} if status == 429 else {}
        if path == "/email":
            answer = self.postmark_send(json.loads(body), size=len(body))
        elif path == "/email/batch":
            payloads = json.loads(body)
            answer = [self.postmark_send(each, size=len(body) // max(len(payloads), 1)) for each in payloads]
        else:
            answer = self.mailgun_send(parse_qs(body.decode(), keep_blank_values=True), size=len(body))
        # Accepted and recorded; a late answer, or none, is what makes an outcome unknown to the sender.
        if fault == "hang":
            self._released.wait(faults.hang_seconds)
        elif fault == "drop_connection":
            return None, None
        elif pause:
            self._released.wait(pause)
        return 200, answer


def _error_body(shape: str, status: int) -> dict:
    """The ESPs' own error bodies: Postmark's {"ErrorCode", "Message"}, Mailgun's {"message"}."""
    message = "Rate limit exceeded, please slow down" if status == 429 else "Internal server error"
    return {"ErrorCode": status, "Message": message} if shape == "postmark" else {"message": message}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--no-records", action="store_true", help="count only (long benchmarks)")
    parser.add_argument("--seed", type=int, default=0, help="of the random fault draws")
    args = parser.parse_args()
    esp = MockEsp(host=args.host, port=args.port, keep_records=not args.no_records, seed=args.seed)
    print(f"mock ESP on {esp.url}", flush=True)
    try:
        esp.server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
