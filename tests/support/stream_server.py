"""Real streaming servers on 127.0.0.1, started and stopped by the tests.

* RTSP: GStreamer's gst-rtsp-server (``rtsp_serve.py``, run by the system Python with PyGObject);
* HTTP: Python's ``http.server`` sending an MPEG-TS stream in real time (``http_serve.py``).

Each server is a process of its own, so a test can kill it (the camera goes away), stop it with
SIGSTOP (the stream stalls with the connection open), resume it and start it again on the same
port. :func:`rtsp_unavailable` tells why the RTSP server cannot run here (for ``pytest.skip``).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
"""The interpreter that has GStreamer's Python bindings (Debian's ``python3-gi``)."""
RTSP_PACKAGES = "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good python3-gi"
"""The Debian packages the RTSP server needs."""
_READY_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rtsp_unavailable() -> str | None:
    """Why the RTSP server cannot run on this machine, or None when it can."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} not found (Debian packages: {RTSP_PACKAGES})"
    check = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        "assert Gst.ElementFactory.find('qtdemux') and Gst.ElementFactory.find('rtph264pay')"
    )
    result = subprocess.run(
        [SYSTEM_PYTHON, "-c", check], capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        return f"gst-rtsp-server is not usable ({last}); Debian packages: {RTSP_PACKAGES}"
    return None


class StreamServer:
    """A streaming server process serving ``clip`` at :attr:`uri`.

    Use as a context manager (the process is always ended on exit); :meth:`kill` and
    :meth:`start` take it down and bring it back on the same port.
    """

    def __init__(self, kind: str, clip: Path, port: int | None = None) -> None:
        if kind not in ("rtsp", "http"):
            raise ValueError(f"kind must be 'rtsp' or 'http', got {kind!r}")
        self.kind = kind
        self.clip = clip
        self.port = port or free_port()
        self.uri = (
            f"rtsp://127.0.0.1:{self.port}/stream"
            if kind == "rtsp"
            else f"http://127.0.0.1:{self.port}/cam"
        )
        self._process: subprocess.Popen[str] | None = None
        self._paused = False

    def start(self) -> StreamServer:
        """Start the process and return once it listens."""
        if self._process is not None:
            raise RuntimeError("the server is already running")
        if self.kind == "rtsp":
            argv = [SYSTEM_PYTHON, str(HERE / "rtsp_serve.py"), str(self.port), str(self.clip)]
        else:
            argv = [sys.executable, str(HERE / "http_serve.py"), str(self.port), str(self.clip)]
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        self._process = process
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], _READY_S)
        line = process.stdout.readline() if ready else ""
        if not line.startswith("ready"):
            self.kill()
            raise RuntimeError(f"{self.kind} server did not start: {line.strip() or 'no answer'}")
        return self

    def kill(self) -> None:
        """End the process at once (SIGKILL), as a camera that loses power."""
        process, self._process = self._process, None
        if process is None:
            return
        if self._paused:
            process.send_signal(signal.SIGCONT)
            self._paused = False
        process.kill()
        process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): the connection stays open and no data comes."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        """Let a paused process go on (SIGCONT)."""
        if self._process is not None and self._paused:
            self._process.send_signal(signal.SIGCONT)
            self._paused = False

    def __enter__(self) -> StreamServer:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
