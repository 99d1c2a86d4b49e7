"""The live view: the pipeline's annotated pictures as MJPEG and its metadata as server-sent
events, on a small web page served beside the API (``/view``).

A probe after the last element keeps a reference to the newest frame of each stream (or of the
tiler's mosaic) and a summary of its objects; nothing is encoded while nobody watches. Each
viewer gets JPEGs at most :attr:`LiveView.fps` times a second. Without an OSD element in the
pipeline the view draws the boxes itself, on a copy.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame
from visionflow.core.meta import FrameMeta
from visionflow.core.stats import COMPOSED_OF
from visionflow.serve.control import Controller

BOUNDARY = "vfframe"
TILED = "tiled"
"""The view key of the tiler's mosaic."""


@dataclass
class _Latest:
    frame: Frame
    meta: FrameMeta
    seq: int


class LiveView:
    """Keeps the newest picture of each stream and serves them.

    Args:
        controller: the pipeline's controller.
        fps: most pictures a second sent to one viewer.
        quality: JPEG quality (1–100).
    """

    def __init__(self, controller: Controller, fps: float = 10.0, quality: int = 80) -> None:
        self.controller = controller
        self.fps = fps
        self.quality = quality
        self.draw_boxes = not any(e.kind == "osd" for e in controller.pipeline.elements)
        self._latest: dict[str, _Latest] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self.closed = False
        pipeline = controller.pipeline
        last = pipeline.elements[-1].name if pipeline.elements else pipeline.mux.name
        pipeline.add_probe(last, self._on_batch, where="after")

    def _on_batch(self, batch: Batch) -> None:
        with self._lock:
            for frame, meta in batch:
                self._seq += 1
                key = TILED if COMPOSED_OF in meta.user else str(frame.source_id)
                self._latest[key] = _Latest(frame, meta, self._seq)
            if self._seq % 64 == 0:
                self._forget_ended()

    def _forget_ended(self) -> None:
        states = self.controller.pipeline.stream_states()
        for key in [k for k in self._latest if k != TILED]:
            if states.get(int(key)) not in ("running", "removing"):
                del self._latest[key]

    def keys(self) -> list[str]:
        """What can be watched: ``tiled`` and/or stream ids with a picture."""
        with self._lock:
            self._forget_ended()
            return sorted(self._latest, key=lambda k: (k != TILED, int(k) if k.isdigit() else 0))

    def latest(self, key: str) -> _Latest | None:
        with self._lock:
            return self._latest.get(key)

    def jpeg(self, item: _Latest) -> bytes:
        """The picture as JPEG (boxes drawn when the pipeline has no OSD)."""
        pixels = item.frame.to_numpy()
        if self.draw_boxes and len(item.meta.detections):
            from visionflow.osd.draw import draw_detections

            pixels = draw_detections(pixels.copy(), item.meta.detections)
        ok, data = cv2.imencode(
            ".jpg",
            cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, self.quality],
        )
        return data.tobytes() if ok else b""

    def summary(self, item: _Latest) -> dict[str, Any]:
        """A frame's metadata for the events stream."""
        meta = item.meta
        dets = meta.detections
        objects = [
            {
                "label": dets.labels[i] or str(int(dets.class_id[i])),
                "confidence": round(float(dets.confidence[i]), 3),
                "box": [round(float(v), 1) for v in dets.xyxy[i]],
                **({"tracker_id": int(dets.tracker_id[i])} if dets.tracker_id[i] >= 0 else {}),
            }
            for i in range(len(dets))
        ]
        return {
            "source_id": meta.source_id,
            "frame_num": meta.frame_num,
            "width": meta.width,
            "height": meta.height,
            "objects": objects,
        }

    def close(self) -> None:
        self.closed = True

    # -- HTTP ------------------------------------------------------------------------------
    async def mjpeg(self, key: str) -> AsyncIterator[bytes]:
        last = -1
        while not self.closed:
            item = self.latest(key)
            if item is not None and item.seq != last:
                last = item.seq
                data = self.jpeg(item)
                yield (
                    (
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n"
                    ).encode()
                    + data
                    + b"\r\n"
                )
            await asyncio.sleep(1 / self.fps)

    async def events(self) -> AsyncIterator[bytes]:
        seen: dict[str, int] = {}
        while not self.closed:
            for key in self.keys():
                item = self.latest(key)
                if item is None or seen.get(key) == item.seq:
                    continue
                seen[key] = item.seq
                payload = {"view": key, **self.summary(item)}
                yield f"event: meta\ndata: {json.dumps(payload)}\n\n".encode()
            yield b": keep-alive\n\n"
            await asyncio.sleep(0.2)

    def attach(self, app: FastAPI) -> None:
        """Add ``/view`` (page), ``/view/streams``, ``/view/stream.mjpg`` and ``/view/events``."""

        @app.get("/view", response_class=HTMLResponse)
        async def page() -> HTMLResponse:
            return HTMLResponse(PAGE)

        @app.get("/view/streams")
        async def streams() -> JSONResponse:
            return JSONResponse({"views": self.keys()})

        @app.get("/view/stream.mjpg")
        async def stream(key: str = Query(TILED, description="tiled or a stream id")) -> Any:
            if key not in self.keys():
                return JSONResponse(
                    {"status": "HTTP/1.1 404 Not Found", "reason": f"no picture for '{key}'"},
                    status_code=404,
                )
            return StreamingResponse(
                self.mjpeg(key), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}"
            )

        @app.get("/view/events")
        async def events() -> StreamingResponse:
            return StreamingResponse(
                self.events(),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>visionflow live view</title>
<style>
body{font:14px system-ui,sans-serif;margin:12px;background:#111;color:#ddd}
#views{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0}figcaption{padding:2px 0}
img{max-width:100%;background:#000;display:block}
table{border-collapse:collapse;margin-top:10px}td,th{padding:2px 8px;border-bottom:1px solid #333}
</style></head>
<body><h1>visionflow</h1>
<div id="views"></div>
<table><thead><tr><th>view</th><th>stream</th><th>frame</th><th>objects</th></tr></thead>
<tbody id="meta"></tbody></table>
<script>
const token = new URLSearchParams(location.search).get("token");
const q = token ? "&token=" + encodeURIComponent(token) : "";
const shown = {};
async function refresh() {
  const r = await fetch("/view/streams" + (token ? "?token=" + encodeURIComponent(token) : ""));
  if (!r.ok) return;
  const views = (await r.json()).views;
  const box = document.getElementById("views");
  for (const key of views) {
    if (shown[key]) continue;
    const fig = document.createElement("figure");
    fig.id = "view-" + key;
    fig.innerHTML = "<img alt='" + key + "'><figcaption>" +
      (key === "tiled" ? "all streams" : "stream " + key) + "</figcaption>";
    fig.querySelector("img").src = "/view/stream.mjpg?key=" + key + q;
    box.appendChild(fig); shown[key] = fig;
  }
  for (const key of Object.keys(shown)) {
    if (!views.includes(key)) { shown[key].remove(); delete shown[key]; }
  }
}
const rows = {};
const tq = token ? "?token=" + encodeURIComponent(token) : "";
const events = new EventSource("/view/events" + tq);
events.addEventListener("meta", (e) => {
  const m = JSON.parse(e.data);
  let row = rows[m.view];
  if (!row) {
    row = document.createElement("tr"); row.dataset.view = m.view;
    document.getElementById("meta").appendChild(row); rows[m.view] = row;
  }
  const labels = m.objects.map(o => o.label).join(", ");
  row.innerHTML = "<td>" + m.view + "</td><td>" + m.source_id + "</td><td>" + m.frame_num +
    "</td><td>" + m.objects.length + (labels ? " (" + labels + ")" : "") + "</td>";
});
refresh(); setInterval(refresh, 1000);
</script></body></html>
"""
