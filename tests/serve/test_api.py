"""The REST API on a real uvicorn server: streams join and leave a running pipeline of real video
files, the inference interval changes, stats and health tell the truth."""

from __future__ import annotations

from pathlib import Path

from support.serving import FRAMES, ServeFactory, pipeline_config
from visionflow.config.pipeline import SourceConfig


def deepstream_message(camera_id: str, url: str, change: str) -> dict:
    """DeepStream's REST server body (nvds_rest_server's stream parser)."""
    return {
        "key": "sensor",
        "value": {
            "camera_id": camera_id,
            "camera_name": f"name-{camera_id}",
            "camera_url": url,
            "change": change,
            "metadata": {"resolution": "320x192", "codec": "h264", "framerate": 30},
        },
        "headers": {"source": "vst", "created_at": "2026-12-07T10:00:00.000Z"},
    }


def test_streams_join_and_leave_a_running_pipeline(serve: ServeFactory, clips: list[Path]) -> None:
    s = serve()
    s.wait_for(lambda: s.frames_out(0) > 0, what="the first stream's frames")

    added = s.client.post(
        "/api/v1/stream/add", json=deepstream_message("door", f"file://{clips[1]}", "camera_add")
    )
    assert added.status_code == 200, added.text
    assert added.json()["reason"] == "STREAM_ADD_SUCCESS"
    door = added.json()["source_id"]
    plain = s.client.post("/api/v1/stream/add", json={"uri": str(clips[2]), "camera_id": "yard"})
    assert plain.status_code == 200, plain.text
    yard = plain.json()["source_id"]
    assert (door, yard) == (1, 2)
    s.wait_for(lambda: s.frames_out(door) > 5 and s.frames_out(yard) > 5, what="new streams")

    info = s.client.get("/api/v1/stream/get-stream-info").json()["stream-info"]
    assert info["stream-count"] == 3
    assert {e["camera_id"] for e in info["stream-info"]} == {"0", "door", "yard"}

    removed = s.client.post(
        "/api/v1/stream/remove",
        json=deepstream_message("door", f"file://{clips[1]}", "camera_remove"),
    )
    assert removed.status_code == 200, removed.text
    body = removed.json()
    assert (body["reason"], body["flushed"], body["state"]) == (
        "STREAM_REMOVE_SUCCESS",
        True,
        "removed",
    )
    # every frame the leaving stream handed over came out (nothing of it is left in flight)
    figures = s.client.get(f"/api/v1/stream/{door}/stats").json()
    assert figures["state"] == "removed"
    assert figures["frames_in"] == figures["frames_out"] + sum(figures["drops"].values())
    frozen = figures["frames_out"]

    # ids are never reused: the next stream gets 3, not the freed 1
    again = s.client.post("/api/v1/stream/add", json={"uri": str(clips[1]), "camera_id": "door"})
    assert again.json()["source_id"] == 3
    s.wait_for(lambda: s.frames_out(3) > 0, what="the re-added stream")
    assert s.frames_out(door) == frozen
    names = {e["camera_id"] for e in s.client.get("/api/v1/stream/get-stream-info").json()[
        "stream-info"]["stream-info"]}  # fmt: skip
    assert names == {"0", "yard", "door"}

    report = s.finish()
    assert report.balanced
    assert report.num_sources == 4
    assert {r.source_id for r in report.streams} == {0, 1, 2, 3}


def test_a_stream_that_ends_is_flushed_and_reported_ended(
    serve: ServeFactory, clips: list[Path]
) -> None:
    s = serve()
    added = s.client.post("/api/v1/stream/add", json={"uri": str(clips[1]), "loop": False})
    sid = added.json()["source_id"]
    assert s.pipeline.wait_flushed(sid, 60)
    figures = s.client.get(f"/api/v1/stream/{sid}/stats").json()
    assert (figures["state"], figures["frames_in"], figures["frames_out"]) == (
        "ended",
        FRAMES,
        FRAMES,
    )
    health = s.client.get("/api/v1/health").json()
    assert health["state"] == "running"
    assert health["streams_running"] == 1
    s.finish()


def test_serve_keeps_running_with_no_stream_left(serve: ServeFactory, clips: list[Path]) -> None:
    s = serve()
    s.client.post("/api/v1/stream/remove", json={"source_id": 0})
    assert s.client.get("/api/v1/health").json()["streams_running"] == 0
    assert s.thread.is_alive()
    late = s.client.post("/api/v1/stream/add", json={"uri": str(clips[0])})
    s.wait_for(lambda: s.frames_out(late.json()["source_id"]) > 0, what="a stream after none")
    quit_ = s.client.post("/api/v1/app/quit")
    assert quit_.json()["reason"] == "QUIT_SUCCESS"
    s.thread.join(30)
    assert not s.thread.is_alive()
    assert s.result["report"].balanced
    refused = s.client.post("/api/v1/stream/add", json={"uri": str(clips[0])})
    assert refused.status_code == 409
    assert "not running" in refused.json()["reason"]


def test_max_sources_refuses_one_stream_too_many(serve: ServeFactory, clips: list[Path]) -> None:
    from visionflow.config.pipeline import ApiConfig

    s = serve(pipeline_config(clips[:1], api=ApiConfig(max_sources=2)))
    assert s.client.post("/api/v1/stream/add", json={"uri": str(clips[1])}).status_code == 200
    third = s.client.post("/api/v1/stream/add", json={"uri": str(clips[2])})
    assert third.status_code == 409
    assert "max_sources=2" in third.json()["reason"]
    s.finish()


def test_set_interval_changes_how_often_the_detector_runs(
    serve: ServeFactory, clips: list[Path]
) -> None:
    s = serve()
    infer = s.pipeline.element("infer")
    s.wait_for(lambda: infer.backend_calls > 10, what="inference")
    answer = s.client.post(
        "/api/v1/infer/set-interval", json={"stream": {"stream_id": "0", "interval": 4}}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["element"] == "infer"
    assert infer.config.interval == 4
    calls, batches = infer.backend_calls, infer._batches
    s.wait_for(lambda: infer._batches - batches >= 40, what="40 batches")
    ran = (infer.backend_calls - calls) / (infer._batches - batches)
    assert 0.15 <= ran <= 0.25  # one batch in five

    back = s.client.post("/api/v1/infer/set-interval", json={"element": "infer", "interval": 0})
    assert back.status_code == 200
    assert infer.config.interval == 0
    unknown = s.client.post("/api/v1/infer/set-interval", json={"element": "osd", "interval": 1})
    assert unknown.status_code == 404
    assert unknown.json()["reason"] == "element 'osd' has no inference interval"
    s.finish()


def test_stats_and_health_report_per_stream_figures(serve: ServeFactory, clips: list[Path]) -> None:
    s = serve(pipeline_config(clips[:2]))
    s.wait_for(lambda: s.frames_out(0) > 30 and s.frames_out(1) > 30, what="frames")
    stats = s.client.get("/api/v1/stats").json()
    assert stats["state"] == "running"
    assert stats["streams_running"] == 2
    for stream in stats["streams"]:
        assert stream["fps"] > 0
        assert 0 < stream["latency_p50_ms"] <= stream["latency_p95_ms"]
        assert stream["uri"] in {str(c) for c in clips[:2]}
    assert set(stats["queues"]) >= {"infer", "osd", "source 0", "source 1"}
    ready = s.client.get("/api/v1/health/get-dsready-state").json()
    assert ready["ds-ready-state"] is True
    s.finish()


def test_a_source_in_the_config_keeps_its_settings(serve: ServeFactory, clips: list[Path]) -> None:
    """The config's own sources are streams of the API like the added ones."""
    config = pipeline_config(clips[:1]).model_copy(
        update={"sources": [SourceConfig(uri=str(clips[0]), loop=False)]}
    )
    s = serve(config)
    assert s.pipeline.wait_flushed(0, 60)
    assert s.client.get("/api/v1/stream/0/stats").json()["state"] == "ended"
    s.finish()


def test_a_stream_that_fails_ends_alone_and_is_reported_failed(
    serve: ServeFactory, clips: list[Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_text("this is not a video\n", encoding="utf-8")
    s = serve()
    added = s.client.post("/api/v1/stream/add", json={"uri": str(broken)})
    assert added.status_code == 200  # it is opened once it runs, as DeepStream's are
    sid = added.json()["source_id"]
    assert s.pipeline.wait_flushed(sid, 30)
    assert s.client.get(f"/api/v1/stream/{sid}/stats").json()["state"] == "failed"
    before = s.frames_out(0)
    s.wait_for(lambda: s.frames_out(0) > before + 5, what="the other stream going on")
    report = s.finish()
    assert [f.source_id for f in report.source_failures] == [sid]
    assert "broken.mp4" in report.source_failures[0].uri
