"""The API server: uvicorn serving the FastAPI app in a thread beside the running pipeline."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from visionflow.errors import VisionflowError

log = logging.getLogger(__name__)

TOKEN_ENV = "VISIONFLOW_API_TOKEN"
"""Environment variable holding the API token (``--api-token`` overrides it)."""
_START_TIMEOUT_S = 10.0


def resolve_token(flag: str | None, configured: str | None) -> str | None:
    """The API token: the command line's, else the environment's, else the config's."""
    for token in (flag, os.environ.get(TOKEN_ENV), configured):
        if token:
            return token
    return None


def parse_address(text: str, default_port: int = 9000) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``HOST`` → (host, port); ValueError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = ("", text) if text.isdigit() else (text, str(default_port))
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"'{text}' is not HOST:PORT (a port is 0 to 65535)")
    return host, int(port)


class ApiServer:
    """Serves ``app`` on ``host:port`` from a thread of its own; a context manager.

    The socket is bound by :meth:`start`, so a port in use fails there, with a clear error;
    port 0 takes any free port (:attr:`port` then tells which). :meth:`stop` ends open
    streaming answers (live view, events) within about two seconds.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 9000) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ApiServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise VisionflowError(
                f"the API cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
            access_log=False,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="vf-api", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise VisionflowError(f"the API server did not start on {self.url}")
            time.sleep(0.01)
        log.info("API listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving; open connections get about two seconds to end."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(5)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(2)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
