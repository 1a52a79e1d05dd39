"""A TCP proxy between the application and PostgreSQL or Redis that can cut the line, as a
server restart or a network blip does, for fault-injection tests:

    with BlipProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url_for_postgres("test_muster", "postgres")   # the worker's DATABASE_URL
        ...
        proxy.blip(2)   # every open connection cut now; new ones refused for 2 s

It forwards bytes unchanged, a pair of threads per connection (each blocked in recv, woken by
the kernel, so a few thousand small queries a second cost the proxy little CPU besides the
copies). blip() shuts the sockets down from the caller's thread, which wakes both pumps; they
then close the sockets themselves, so that no descriptor is closed under a thread using it.
"""

import math
import socket
import threading
import time

_CHUNK = 65536


class _Pair:
    """One proxied connection: the client's socket and ours to the server."""

    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client = client
        self.upstream = upstream
        self._pumps_left = 2
        self._lock = threading.Lock()

    def cut(self) -> None:
        """Both sides told at once (FIN both ways); the pumps wake and close the sockets."""
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone

    def pump_done(self) -> bool:
        """Whether this was the second pump to finish (which then closes the sockets)."""
        with self._lock:
            self._pumps_left -= 1
            return self._pumps_left == 0


class BlipProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1", port: int = 0):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server((host, port), backlog=512)
        self.host, self.port = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._refuse_until = 0.0  # time.monotonic() until which new connections are closed at once
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections_forwarded = 0  # connections carried to the server
        self.connections_cut = 0  # open connections closed by a blip
        self.connections_refused = 0  # connections closed at once during a blip (or with the server down)
        self.blips = 0

    # --- lifecycle ---

    def start(self) -> "BlipProxy":
        self._listener.settimeout(0.1)  # so that stop() is seen without a connection arriving
        self._thread = threading.Thread(target=self._accept_loop, name=f"blip-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.cut()

    def __enter__(self) -> "BlipProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- addresses ---

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def url_for_postgres(self, dbname: str, user: str = "postgres", password: str | None = None) -> str:
        credentials = user if password is None else f"{user}:{password}"
        return f"postgresql://{credentials}@{self.host}:{self.port}/{dbname}"

    def url_for_redis(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    # --- faults ---

    def blip(self, seconds: float) -> int:
        """Cut every open connection now, as a server restart does, and for `seconds` accept
        new ones only to close them; forwards normally afterwards. Returns at once, with the
        number of connections cut."""
        with self._lock:
            self._refuse_until = max(self._refuse_until, time.monotonic() + seconds)
            pairs = list(self._pairs)
            self._pairs.clear()  # counted as cut once, though their pumps take a moment to end
            self.blips += 1
            self.connections_cut += len(pairs)
        for pair in pairs:
            pair.cut()
        return len(pairs)

    def down(self) -> int:
        """A blip that lasts until up()."""
        return self.blip(math.inf)

    def up(self) -> None:
        """End the blip now: new connections are forwarded again."""
        with self._lock:
            self._refuse_until = 0.0

    @property
    def blipping(self) -> bool:
        return time.monotonic() < self._refuse_until

    def wait_up(self, timeout: float = 30) -> bool:
        """Whether the blip was over within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.blipping:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def stats(self) -> dict:
        with self._lock:
            return {
                "connections_forwarded": self.connections_forwarded,
                "connections_cut": self.connections_cut,
                "connections_refused": self.connections_refused,
                "open_connections": len(self._pairs),
                "blips": self.blips,
            }

    # --- forwarding ---

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break  # the listener closed
            client.settimeout(None)
            if self.blipping:
                self._refuse(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                self._refuse(client)  # the server itself is down: the client sees the same
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                # Small queries and their answers go out at once, not held for Nagle's algorithm.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, upstream)
            with self._lock:
                # Decided under the lock blip() takes: a connection is either cut by it or refused.
                refused = time.monotonic() < self._refuse_until
                if not refused:
                    self._pairs.add(pair)
                    self.connections_forwarded += 1
            if refused:
                upstream.close()
                self._refuse(client)
                continue
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(pair, source, target), daemon=True).start()

    def _refuse(self, client: socket.socket) -> None:
        with self._lock:
            self.connections_refused += 1
        client.close()

    def _pump(self, pair: _Pair, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass  # reset, or cut by blip()
        pair.cut()  # one side gone: the other goes too, as a dead server's connection does
        if pair.pump_done():
            with self._lock:
                self._pairs.discard(pair)
            pair.client.close()
            pair.upstream.close()
