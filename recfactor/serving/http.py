"""The HTTP server: the standard library's, one thread a connection (HTTP/1.1 keep-alive), at
most :attr:`Limits.connections` at once, a JSON answer to everything.

Why not an ASGI app on uvicorn: an answer here is one numpy call of 0.2-1 ms that holds the
GIL for most of it, so an event loop would serve requests one after another just as these
threads do, at the cost of two more dependencies; measured in `benchmarks/bench_serve.py`
(BENCHMARKS.md), this server's p99 stays within the issue's 5 ms. More cores are used by more
worker processes on one socket (:mod:`recfactor.serving.workers`).

Hostile clients are bounded: a body over :attr:`Limits.body_bytes` is refused before it is read,
a connection silent for :attr:`Limits.timeout` seconds is closed, connections past the limit get
a 503 at once; a request the parser refuses (a bad request line, too many headers, an unknown
method) gets a 4xx JSON answer like any other.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from recfactor.serving import answers
from recfactor.serving.answers import RequestError
from recfactor.serving.limits import Limits
from recfactor.serving.metrics import Metrics
from recfactor.serving.slot import Slot

ROUTES = ("/", "/healthz", "/metrics", "/predict", "/recommend", "/similar")
# The most items one list may ask for (the answer's size is bounded by it).
MAX_N = 10_000


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a drain waits for requests in flight, not for idle connections
    request_queue_size = 128

    def __init__(self, sock: socket.socket, slot: Slot, metrics: Metrics, limits: Limits,
                 log: Any) -> None:  # fmt: skip
        super().__init__(sock.getsockname()[:2], Handler, bind_and_activate=False)
        self.socket.close()
        # Several workers wait on one socket and each is woken by a new connection: the ones
        # that lose the race must find accept() empty, not block in it (and miss a drain).
        sock.setblocking(False)
        self.socket = sock
        self.slot, self.metrics, self.limits, self.log = slot, metrics, limits, log
        self.draining = False
        self._open = threading.BoundedSemaphore(limits.connections)
        self._lock = threading.Lock()
        self._idle: dict[Any, socket.socket] = {}  # handlers between requests
        self.busy = 0

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        if not self._open.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._open.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        kind, exc = sys.exc_info()[:2]
        if kind is not None and issubclass(kind, (ConnectionError, TimeoutError)):
            return  # a client that went away
        self.log(f"serve: connection from {client_address[0]} failed: {kind.__name__}: {exc}")

    def mark(self, handler: Any, idle: bool) -> None:
        with self._lock:
            if idle:
                self._idle[handler] = handler.connection
            else:
                self._idle.pop(handler, None)
                self.busy += 1

    def done(self) -> None:
        with self._lock:
            self.busy -= 1

    def forget(self, handler: Any) -> None:
        with self._lock:
            self._idle.pop(handler, None)

    def drain(self) -> None:
        """Stop accepting, close the idle connections, let the requests in flight finish (for
        at most :attr:`Limits.drain_seconds`)."""
        self.draining = True
        self.shutdown()
        with self._lock:
            idle = list(self._idle.values())
        for conn in idle:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + self.limits.drain_seconds
        while self.busy > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.server_close()


def _refuse_busy(request: socket.socket) -> None:
    body = json.dumps({"error": "too many connections; try again"}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    try:
        request.settimeout(1.0)
        request.sendall(head.encode() + body)
    except OSError:
        pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A request line too broken to give its version is answered with a status line and
    # headers all the same (the parser's default, HTTP/0.9, sends a bare body).
    default_request_version = "HTTP/1.1"
    server_version = "recfactor"
    sys_version = ""
    server: Server

    # The head and the body leave in one write: written apart, Nagle's algorithm holds the
    # body until the client's delayed ACK of the head, 40 ms a request.
    wbufsize = 1 << 16

    def setup(self) -> None:
        self.timeout = self.server.limits.timeout
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.mark(self, idle=True)
        self._started = 0.0

    def finish(self) -> None:
        self.server.forget(self)
        super().finish()

    def parse_request(self) -> bool:
        self._started = time.perf_counter()
        self.server.mark(self, idle=False)
        self._counted = True
        try:
            return super().parse_request()
        except Exception:
            self._settle()
            raise

    def handle_one_request(self) -> None:
        self._counted = False
        try:
            super().handle_one_request()
        finally:
            if self._counted:
                self._settle()

    def _settle(self) -> None:
        if self._counted:
            self._counted = False
            self.server.done()
            self.server.mark(self, idle=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log: a line a request would cost more than some answers

    # -- methods -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_HEAD(self) -> None:
        self._refuse_method()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = do_HEAD

    def _refuse_method(self) -> None:
        self._send(405, {"error": f"method {self.command} is not allowed",
                         "hint": "GET, or POST /recommend"}, "other")  # fmt: skip

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The parser's refusals, as JSON (an unknown method is a 405, not a 501)."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code, message = 405, f"method {self.command!r} is not allowed"
        elif code >= 500:
            code = 400
        self.close_connection = True
        try:
            reason = message or HTTPStatus(code).phrase
        except ValueError:
            reason = "bad request"
        self._send(code, {"error": reason.lower() if message is None else reason}, "other")

    # -- answers -------------------------------------------------------------------------

    def _answer(self, method: str) -> None:
        url = urlsplit(self.path)
        route = url.path if url.path in ROUTES else "other"
        self._body_read = False
        served = self.server.slot.current  # the whole request answers from this model
        try:
            if route == "other":
                raise RequestError(404, f"no endpoint {url.path}",
                                   hint="endpoints: " + ", ".join(ROUTES))  # fmt: skip
            query = _query(url.query)
            if method == "POST":
                if route != "/recommend":
                    raise RequestError(
                        405, f"POST is not allowed on {route}",
                        hint="POST /recommend with a new user's ratings",
                    )  # fmt: skip
                payload = answers.recommend_new(served, self._json_body())
            else:
                payload = self._get(route, query, served)
            if isinstance(payload, tuple):  # a page or text
                return self._send(200, payload[1], route, content_type=payload[0])
            self._send(200, payload, route)
        except RequestError as exc:
            if method == "POST" and not self._body_read:
                self.close_connection = True  # its body is left unread
            self._send(exc.status, exc.payload(), route)
        except Exception as exc:  # a defect: logged, answered, the server goes on
            self.server.log(f"serve: internal error on {method} {url.path}: "
                            f"{type(exc).__name__}: {exc}")  # fmt: skip
            self._send(500, {"error": "internal error; the server's log has its cause"}, route)

    def _get(self, route: str, query: dict[str, str], served: answers.Served) -> Any:
        if route == "/":
            from recfactor.serving.page import PAGE

            _only(query, {"user", "item"})  # the page opens on that list
            return ("text/html; charset=utf-8", PAGE)
        if route == "/healthz":
            _only(query, set())
            return {"status": "ok", "model": served.describe()}
        if route == "/metrics":
            _only(query, set())
            return ("text/plain; version=0.0.4; charset=utf-8", self.server.metrics.render())
        if route == "/predict":
            _only(query, {"user", "item"})
            return answers.predict(served, _required(query, "user"), _required(query, "item"))
        if route == "/recommend":
            _only(query, {"user", "n", "exclude_seen", "min_ratings", "stability"})
            return answers.recommend(
                served, _required(query, "user"), _count(query, "n", 10, 1),
                not _boolean(query, "exclude_seen", True), _min_ratings(query),
                _boolean(query, "stability", False),
            )  # fmt: skip
        _only(query, {"item", "n", "min_ratings", "stability"})
        return answers.similar(
            served, _required(query, "item"), _count(query, "n", 10, 1), _min_ratings(query),
            _boolean(query, "stability", False),
        )  # fmt: skip

    def _json_body(self) -> Any:
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(411, "give the body with a Content-Length, not chunked")
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(411, "POST needs a Content-Length header")
        if not length.strip().isdigit():
            raise RequestError(400, f"Content-Length {length!r} is not a number")
        size = int(length)
        if size > self.server.limits.body_bytes:
            raise RequestError(413, f"the body is {size} bytes; at most "
                               f"{self.server.limits.body_bytes}")  # fmt: skip
        try:
            raw = self.rfile.read(size)
        except TimeoutError:
            raise RequestError(408, f"the body did not come within {self.server.limits.timeout:g} "
                               "s of silence") from None  # fmt: skip
        self._body_read = True
        if len(raw) < size:
            self.close_connection = True
            raise RequestError(400, "the body ended before its Content-Length")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise RequestError(400, f"the body is not JSON: {exc}") from None
        except RecursionError:
            raise RequestError(400, "the body's JSON is nested too deeply") from None

    def _send(self, status: int, payload: Any, route: str,
              content_type: str = "application/json") -> None:  # fmt: skip
        if isinstance(payload, str):
            body = payload.encode("utf-8")
        else:
            body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        if self.server.draining:
            self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        finally:
            if self._started:
                self.server.metrics.observe(route, self.command or "-", status,
                                            time.perf_counter() - self._started)  # fmt: skip
                self._started = 0.0


def _query(text: str) -> dict[str, str]:
    try:
        parsed = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text),
                          max_num_fields=32)  # fmt: skip
    except ValueError as exc:
        raise RequestError(400, f"the query string is malformed: {exc}") from None
    out = {}
    for name, values in parsed.items():
        if len(values) > 1:
            raise RequestError(400, f"'{name}' is given {len(values)} times", name)
        out[name] = values[0]
    return out


def _only(query: dict[str, str], allowed: set[str]) -> None:
    for name in query:
        if name not in allowed:
            hint = "parameters: " + ", ".join(sorted(allowed)) if allowed else "it takes none"
            raise RequestError(400, f"unknown parameter '{name}'", name, hint)


def _required(query: dict[str, str], name: str) -> str:
    value = query.get(name)
    if value is None or not value.strip():  # blanks alone: no user or item has such an ID
        raise RequestError(400, f"'{name}' is required", name)
    return value


def _count(query: dict[str, str], name: str, default: int, least: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.strip().isdigit() or not least <= int(text) <= MAX_N:
        raise RequestError(400, f"'{name}' must be a whole number from {least} to {MAX_N}, "
                           f"not {text!r}", name)  # fmt: skip
    return int(text)


def _min_ratings(query: dict[str, str]) -> int | None:
    if "min_ratings" not in query:
        return None
    return _count(query, "min_ratings", 0, 0)


def _boolean(query: dict[str, str], name: str, default: bool) -> bool:
    text = query.get(name)
    if text is None:
        return default
    value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if text.lower() not in value:
        raise RequestError(400, f"'{name}' must be true or false, not {text!r}", name)
    return value[text.lower()]
