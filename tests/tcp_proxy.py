"""TCP relays on 127.0.0.1 that tests own: faults and counts seen from the wire.

`Proxy` relays bytes to a server (PostgreSQL, an S3 server), counts them both ways, and
can be killed and started again on the same port or frozen. `HttpProxy` also reads the
HTTP/1.1 exchanges going through it: it records every request and may rewrite a response,
so a test can check from the server's side what a client asked for and what it got.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import BinaryIO

CHUNK = 1 << 16


def _reset(sock: socket.socket) -> None:
    """Close with a reset (linger 0), as a crashed server's kernel does; the shutdown
    wakes the relay threads."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class Proxy:
    """A TCP relay that can crash and come back on the same port: to a client, the
    server stops (every connection reset, new ones too) and returns. It counts what it
    did, so a test can show that its fault landed."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.port = 0
        self.bytes_up = 0  # client to server
        self.bytes_down = 0  # server to client
        self.connections = 0
        self.down = False
        self.refused = 0  # connections attempted while down
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._frozen: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.down:
                self.refused += 1
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
                self.connections += 1
            self._relay(client, server)

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=self._pipe, args=(a, b, a is client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        with suppress(OSError):
            while data := source.recv(CHUNK):
                if source not in self._frozen:
                    self._count(len(data), upstream)
                    sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _count(self, size: int, upstream: bool) -> None:
        with self._lock:
            if upstream:
                self.bytes_up += size
            else:
                self.bytes_down += size

    def reset_counts(self) -> None:
        with self._lock:
            self.bytes_up = self.bytes_down = self.connections = 0

    def freeze(self) -> int:
        """Open connections stay open but carry nothing more, as when a server host
        vanishes without a reset or a firewall drops the connection's state. Returns
        how many connections were frozen."""
        with self._lock:
            self._frozen.update(self._sockets)
            return len(self._sockets) // 2

    def crash(self) -> int:
        """Reset every open connection and every new one until ``restart``; returns how
        many connections were open."""
        self.down = True
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _reset(sock)
        return len(sockets) // 2

    def restart(self) -> None:
        self.down = False

    def stop(self) -> None:
        """Close the port and reset every open connection."""
        assert self._listener is not None
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.crash()


@dataclass
class Request:
    method: str
    target: str  # as sent: a path and query, or an absolute URL through an HTTP proxy
    headers: dict[str, str]


@dataclass
class Response:
    status: int
    head: bytes  # status line and headers, as received
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


# Given the request and its whole response, the bytes to send the client instead.
Rewrite = Callable[[Request, Response], bytes]
REWRITE_LIMIT = 1 << 20  # a response to be rewritten is held in memory; larger ones never are


class HttpProxy(Proxy):
    """A relay for HTTP/1.1 (one exchange at a time per connection, as S3 clients talk):
    ``requests`` lists what reached the server; ``rewrite`` may replace responses."""

    def __init__(self, target: tuple[str, int], rewrite: Rewrite | None = None) -> None:
        super().__init__(target)
        self.requests: list[Request] = []
        self.rewrite = rewrite
        self.in_flight = 0
        self.peak_in_flight = 0  # most exchanges the server had at once

    def gets(self) -> list[Request]:
        """Object reads: GETs that are not bucket listings."""
        return [r for r in self.requests if r.method == "GET" and "list-type=" not in r.target]

    def reset_counts(self) -> None:
        super().reset_counts()
        with self._lock:
            self.requests = []
            self.peak_in_flight = self.in_flight

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        threading.Thread(target=self._exchanges, args=(client, server), daemon=True).start()

    def _exchanges(self, client: socket.socket, server: socket.socket) -> None:
        from_client = client.makefile("rb")
        from_server = server.makefile("rb")
        with suppress(OSError, ValueError):
            while True:
                head = _read_head(from_client)
                if not head:
                    break
                request = _parse_request(head)
                with self._lock:
                    self.requests.append(request)
                    self.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    self._send(server, head, upstream=True)
                    for piece in _body(from_client, request.headers, has_body=True, request=True):
                        self._send(server, piece, upstream=True)
                    self._answer(request, from_server, client)
                finally:
                    with self._lock:
                        self.in_flight -= 1
        for sock in (client, server):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _answer(self, request: Request, from_server: BinaryIO, client: socket.socket) -> None:
        head = _read_head(from_server)
        if not head:
            raise ValueError("server closed the connection")
        status, headers = _parse_response(head)
        has_body = request.method != "HEAD" and status not in (204, 304) and status >= 200
        length = int(headers.get("content-length", "-1"))
        if self.rewrite is not None and has_body and 0 <= length <= REWRITE_LIMIT:
            body = _exactly(from_server, length)
            self._send(client, self.rewrite(request, Response(status, head, body, headers)))
            return
        self._send(client, head)
        for piece in _body(from_server, headers, has_body):
            self._send(client, piece)

    def _send(self, sock: socket.socket, data: bytes, upstream: bool = False) -> None:
        self._count(len(data), upstream)
        sock.sendall(data)


def http_response(response: Response, body: bytes) -> bytes:
    """``response`` with ``body`` in place of its own (Content-Length set to match)."""
    lines = response.head.split(b"\r\n")
    kept = [line for line in lines[1:] if line and not line.lower().startswith(b"content-length:")]
    head = b"\r\n".join([lines[0], *kept, b"Content-Length: %d" % len(body)])
    return head + b"\r\n\r\n" + body


def _read_head(reader: BinaryIO) -> bytes:
    lines = []
    while line := reader.readline(CHUNK):
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)
    return b""  # the peer closed the connection


def _headers(head: bytes) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def _parse_request(head: bytes) -> Request:
    method, target, _ = head.decode("latin-1").split("\r\n", 1)[0].split(" ", 2)
    return Request(method, target, _headers(head))


def _parse_response(head: bytes) -> tuple[int, dict[str, str]]:
    return int(head.split(b" ", 2)[1]), _headers(head)


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise ValueError("connection closed inside a body")
    return data


def _body(
    reader: BinaryIO, headers: dict[str, str], has_body: bool, request: bool = False
) -> Iterator[bytes]:
    """A message body as it arrived, in pieces: by Content-Length, chunked, or (a
    response with neither) until the server closes."""
    if not has_body:
        return
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = reader.readline(CHUNK)
            yield size_line
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                yield _read_head(reader) or b"\r\n"  # trailers and the final blank line
                return
            yield _exactly(reader, size + 2)
    if "content-length" not in headers and not request:
        while piece := reader.read1(CHUNK):  # type: ignore[attr-defined]
            yield piece
        return
    left = int(headers.get("content-length", "0"))
    while left:
        piece = _exactly(reader, min(left, CHUNK))
        left -= len(piece)
        yield piece
