"""An RTSP server for the tests: GStreamer's gst-rtsp-server serving one MP4 (H.264) file.

Run with the system Python that has PyGObject (``/usr/bin/python3``), not the project's
virtual environment::

    /usr/bin/python3 rtsp_serve.py PORT CLIP.mp4

It serves ``rtsp://127.0.0.1:PORT/stream`` (RTP over TCP or UDP, paced in real time from the
start of the clip for the first client; later clients join the running stream) and prints
``ready PORT`` once it listens. Debian packages: ``gir1.2-gst-rtsp-server-1.0``,
``gstreamer1.0-plugins-good``, ``python3-gi``.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, clip = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{clip}" ! qtdemux ! rtph264pay name=pay0 pt=96 config-interval=-1 )'
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/stream", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
