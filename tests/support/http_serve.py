"""An HTTP live-stream server for the tests: Python's ``http.server`` sending an MPEG-TS stream.

Run as ``python http_serve.py PORT CLIP`` (any Python with PyAV): the clip is remuxed once to
MPEG-TS by FFmpeg (through PyAV), and every client of ``http://127.0.0.1:PORT/<any path>`` gets
that stream from its start, sent in real time (each packet when its timestamp is due), as a
camera would. It prints ``ready PORT`` once it listens.
"""

from __future__ import annotations

import io
import sys
import time
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av


def remux_to_ts(clip: str) -> list[tuple[float, bytes]]:
    """The clip as MPEG-TS, cut in chunks of (seconds from the start, bytes)."""
    buffer = io.BytesIO()
    chunks: list[tuple[float, bytes]] = []
    with av.open(clip) as source, av.open(buffer, "w", format="mpegts") as sink:
        video = source.streams.video[0]
        time_base = video.time_base or Fraction(1, 90_000)
        stream = sink.add_stream_from_template(video)
        sent = 0
        for packet in source.demux(video):
            if packet.dts is None:
                continue
            due = float(packet.dts * time_base)
            packet.stream = stream
            sink.mux(packet)
            data = buffer.getvalue()
            chunks.append((due, data[sent:]))
            sent = len(data)
    data = buffer.getvalue()
    if len(data) > sent:
        chunks.append((chunks[-1][0] if chunks else 0.0, data[sent:]))
    start = chunks[0][0]
    return [(due - start, chunk) for due, chunk in chunks]


def main() -> None:
    port, clip = int(sys.argv[1]), sys.argv[2]
    chunks = remux_to_ts(clip)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            started = time.monotonic()
            try:
                for due, chunk in chunks:
                    delay = started + due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except OSError:
                pass  # the client went away

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
