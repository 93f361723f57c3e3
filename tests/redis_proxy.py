"""A TCP proxy in front of the real Redis that a test can take down, hang and bring back.

`up` forwards bytes both ways; `down` refuses: each new connection is closed at once (the client sees a
ConnectionError) and the open ones are cut; `hang` accepts and never answers (the client waits for its socket
timeout). Switching mode cuts the connections of the previous one, as a restarted or partitioned Redis would.
"""

from __future__ import annotations

import socket
import threading

UP, DOWN, HANG = "up", "down", "hang"


class RedisProxy:
    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 6379):
        self.target = (target_host, target_port)
        self.mode = UP
        self.accepted = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, db: int = 14) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def __enter__(self) -> RedisProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        self._listener.close()
        self._cut()

    def set_mode(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
        self._cut()

    def _cut(self) -> None:
        with self._lock:
            sockets, self._open = self._open, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                mode = self.mode
                self.accepted += 1
            if mode == DOWN:
                client.close()
                continue
            with self._lock:
                self._open.append(client)
            if mode == HANG:
                continue  # held open, never answered, until the mode changes or the proxy stops
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # the connect timeout must not cut an idle pooled connection later
            with self._lock:
                self._open.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
