"""A TCP proxy in front of PostgreSQL that a test can cut, to play a database outage."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to the target; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int] | str) -> None:
        #: (host, port), or the path of a Unix socket.
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self._target, str):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self._target)
            return upstream
        return socket.create_connection(self._target)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self.cut()
        self._listener.close()


@contextlib.contextmanager
def proxied(database_url: str) -> Iterator[tuple[CuttableProxy, str]]:
    """A proxy to the database of ``database_url``, and the URL that goes through it."""
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    socket_dir = query.pop("host", [""])[0]
    port = parts.port or 5432
    target: tuple[str, int] | str = (
        f"{socket_dir}/.s.PGSQL.{port}" if socket_dir.startswith("/") else (parts.hostname or "127.0.0.1", port)
    )
    proxy = CuttableProxy(target)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
    try:
        yield proxy, urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, doseq=True)))
    finally:
        proxy.close()
