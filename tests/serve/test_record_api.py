"""Smart record through the REST API of a running pipeline: an API call records a looped real
clip from N seconds before to M seconds after; bad requests get a 4xx."""

from __future__ import annotations

from pathlib import Path

import av

from support.serving import ServeFactory, pipeline_config
from visionflow.config.pipeline import SourceConfig


def test_an_api_call_records_the_stream(
    serve: ServeFactory, clips: list[Path], tmp_path: Path
) -> None:
    record = {"dir": str(tmp_path / "rec"), "start_time": 1, "duration": 1}
    source = SourceConfig(uri=str(clips[0]), loop=True, smart_record=record)
    s = serve(pipeline_config(clips[:1]).model_copy(update={"sources": [source]}))
    s.wait_for(lambda: s.frames_out(0) > 60, what="a pass of the clip")  # > 2 s cached

    started = s.client.post("/api/v1/record/start", json={"source_id": 0})
    assert started.status_code == 200, started.text
    path = Path(started.json()["recording"]["path"])
    assert started.json()["recording"]["reason"] == "api"

    def done() -> bool:
        listed = s.client.get("/api/v1/record").json()["recordings"]
        return bool(listed) and listed[0]["done"]

    s.wait_for(done, what="the recording to close")
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    # 1 s before to 1 s after, at 30 fps; it starts at the key frame at or before "1 s before",
    # and this clip has one key frame per 2 s pass: between 2 and 4 s in all
    assert 60 <= frames <= 125
    assert s.client.post("/api/v1/record/stop", json={"source_id": 0}).status_code == 409


def test_bad_record_requests_get_4xx(serve: ServeFactory) -> None:
    s = serve()  # no smart_record anywhere
    assert s.client.post("/api/v1/record/start", json={"source_id": 0}).status_code == 409
    assert s.client.get("/api/v1/record").status_code == 409
    bad = s.client.post("/api/v1/record/start", json={"source_id": "zero"})
    assert bad.status_code == 422
    assert "source_id" in bad.json()["reason"]
    assert s.client.post("/api/v1/record/start", content=b"{").status_code == 400
