"""The REST API driving a cluster run: a real multi-node Ray cluster on this machine
(``ray.cluster_utils``), a real uvicorn server, httpx. Streams added over the API go to the
least-loaded worker and their frames reach the merged JSON Lines; a removed stream's frames stop
after every frame it had read was written; bad requests get 4xx; the token is required."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from visionflow.config.pipeline import PipelineConfig
from visionflow.zoo.scenes import write_clip

ray = pytest.importorskip(
    "ray", reason="the cluster tests need Ray (pip install 'visionflow[ray]')"
)
httpx = pytest.importorskip("httpx", reason="the API tests need httpx (the test extra)")
pytest.importorskip("fastapi", reason="the API needs the serve extra (fastapi, uvicorn)")
from ray.cluster_utils import Cluster  # noqa: E402

from visionflow.cluster.control import ClusterController  # noqa: E402
from visionflow.cluster.driver import ClusterReport, ClusterRunner  # noqa: E402
from visionflow.serve import ApiServer, create_app  # noqa: E402

DETECTOR = Path(__file__).parents[2] / "src/visionflow/zoo/models/shapes_det.infer.yml"
TOKEN = "cluster-secret"


def records(path: Path) -> dict[int, list[int]]:
    """Frame numbers written per stream, in file order."""
    frames: dict[int, list[int]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        frames.setdefault(record["source_id"], []).append(record["frame_num"])
    return frames


def wait_for(condition: Any, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_streams_join_the_least_loaded_worker_and_leave_over_the_api(
    cluster: Cluster, tmp_path: Path
) -> None:
    clips = [write_clip(tmp_path / f"c{i}.mp4", 160, 96, 30, seed=i) for i in range(3)]
    extra = write_clip(tmp_path / "door.mp4", 160, 96, 900, seed=7)
    out = tmp_path / "cluster.jsonl"
    config = PipelineConfig.model_validate(
        {
            "sources": [{"uri": str(c), "loop": True} for c in clips],
            "streammux": {"batch_size": 1},
            "infer": [{"config": str(DETECTOR), "backend": "onnxruntime"}],
            "sinks": [{"type": "jsonl", "path": str(out)}],
            "cluster": {"workers": 2},
        }
    )
    runner = ClusterRunner(config)
    server = ApiServer(create_app(ClusterController(runner), token=TOKEN), "127.0.0.1", 0).start()
    client = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    )
    result: list[ClusterReport] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()), daemon=True)
    thread.start()
    try:
        wait_for(
            lambda: runner.running and min(runner.progress.values()) >= 3, what="the first frames"
        )
        # the token is required, on every path
        assert httpx.get(f"{server.url}/api/v1/health").status_code == 401
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        assert httpx.get(f"{server.url}/api/v1/health?token=wrong").status_code == 401

        health = client.get("/api/v1/health").json()
        assert (health["state"], health["streams_running"]) == ("running", 3)
        assert sorted(health["workers"]) == ["worker-0", "worker-1"]
        load = Counter(s["worker"] for s in client.get("/api/v1/stats").json()["streams"])
        assert sorted(load.values()) == [1, 2]  # three equal streams on two workers
        lightest = min(load, key=load.__getitem__)

        added = client.post("/api/v1/stream/add", json={"uri": str(extra), "camera_id": "door"})
        assert added.status_code == 200, added.text
        assert added.json()["source_id"] == 3
        wait_for(lambda: runner.progress[3] >= 10, what="the added stream's frames")
        door = client.get("/api/v1/stream/3/stats").json()
        assert door["worker"] == lightest
        assert door["state"] == "running"
        assert door["frames_written"] >= 10
        info = client.get("/api/v1/stream/get-stream-info").json()["stream-info"]
        assert info["stream-count"] == 4

        # bad requests: 4xx naming what was wrong, and the run goes on
        missing = client.post("/api/v1/stream/add", json={"uri": str(tmp_path / "none.mp4")})
        assert missing.status_code == 422
        assert "none.mp4" in missing.json()["reason"]
        scheme = client.post("/api/v1/stream/add", json={"uri": "gopher://cam/1"})
        assert scheme.status_code == 422
        assert "gopher" in scheme.json()["reason"]
        twice = client.post("/api/v1/stream/add", json={"uri": str(extra), "camera_id": "door"})
        assert twice.status_code == 409
        assert "door" in twice.json()["reason"]
        assert client.post("/api/v1/stream/add", content=b"{uri").status_code == 400
        assert client.post("/api/v1/stream/remove", json={"source_id": 99}).status_code == 404
        assert client.get("/api/v1/stream/99/stats").status_code == 404
        nope = client.post("/api/v1/infer/set-interval", json={"element": "nope", "interval": 1})
        assert nope.status_code == 404
        assert "nope" in nope.json()["reason"]
        interval = client.post(
            "/api/v1/infer/set-interval", json={"stream": {"stream_id": "0", "interval": 0}}
        )
        assert interval.status_code == 200, interval.text

        removed = client.post("/api/v1/stream/remove", json={"source_id": 3})
        assert removed.status_code == 200, removed.text
        body = removed.json()
        assert (body["flushed"], body["state"]) == (True, "removed")
        written = runner.progress[3]
        assert 10 <= written < 900  # removed in the middle of the file
        figures = client.get("/api/v1/stream/3/stats").json()
        assert figures["state"] == "removed"
        # every frame that left the worker's pipeline was written; nothing of it is in flight
        assert figures["frames_out"] == figures["frames_written"] == written
        assert figures["frames_in"] == figures["frames_out"] + sum(figures["drops"].values())

        others = dict(runner.progress)
        wait_for(
            lambda: all(runner.progress[s] >= others[s] + 20 for s in range(3)),
            what="the other streams to go on",
        )
        assert runner.progress[3] == written  # its frames stopped

        def latency_of_0() -> Any:
            return client.get("/api/v1/stream/0/stats").json()["latency_p50_ms"]

        wait_for(lambda: latency_of_0() is not None, what="stream 0's latency")
        assert latency_of_0() > 0
        metrics = client.get("/metrics").text
        assert 'visionflow_frames_out_total{stream="3"}' in metrics
        assert client.post("/api/v1/app/quit").json()["reason"] == "QUIT_SUCCESS"
        thread.join(120)
    finally:
        runner.stop()
        thread.join(120)
        client.close()
        server.stop()

    (report,) = result
    assert report.outcome == "ok", report.error
    assert report.duplicates_dropped == 0
    frames = records(out)
    assert frames[3] == list(range(written))  # in order, none lost, none twice, then nothing
    for stream in range(3):  # the looped streams: every frame once, in order
        gaps = [(a, b) for a, b in pairwise(frames[stream]) if b != a + 1]
        drops = {w: v.get("drops") for w, v in report.workers.items()}
        assert frames[stream][0] == 0
        assert not gaps, (stream, gaps, report.streams[stream], drops, written)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_visionflow_run_ray_api_adds_a_stream_and_quits(tmp_path: Path) -> None:
    """The command line: ``visionflow run PIPELINE --ray --api HOST:PORT --api-token T``, with a
    Ray started for the run."""
    write_clip(tmp_path / "loop.mp4", 160, 96, 20, seed=1)
    write_clip(tmp_path / "gate.mp4", 160, 96, 25, seed=2)
    spec = {
        "sources": [{"uri": "loop.mp4", "loop": True}],
        "sinks": [{"type": "jsonl", "path": "meta.jsonl"}],
        "cluster": {"workers": 1},
    }
    (tmp_path / "pipeline.yml").write_text(json.dumps(spec))  # JSON is YAML
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "visionflow.cli", "run", "pipeline.yml", "--ray"]
    command += ["--api", f"127.0.0.1:{port}", "--api-token", TOKEN, "--no-progress"]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    client = httpx.Client(base_url=url, headers={"X-API-Token": TOKEN}, timeout=60)
    try:

        def up() -> bool:
            assert process.poll() is None, process.communicate()[1][-2000:]
            try:
                return client.get("/api/v1/health").json()["state"] == "running"
            except httpx.TransportError:
                return False

        wait_for(up, timeout=240, what="the cluster run's API")
        assert httpx.get(f"{url}/api/v1/stats").status_code == 401
        added = client.post("/api/v1/stream/add", json={"uri": str(tmp_path / "gate.mp4")})
        assert added.status_code == 200, added.text
        assert added.json()["source_id"] == 1
        wait_for(
            lambda: client.get("/api/v1/stream/1/stats").json()["state"] == "ended",
            what="the added file to end",
        )
        assert client.post("/api/v1/app/quit").status_code == 200
        stdout, stderr = process.communicate(timeout=120)
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr[-2000:]
    assert records(tmp_path / "meta.jsonl")[1] == list(range(25))
    report = json.loads(stdout.strip().splitlines()[-1])["cluster_report"]
    assert report["streams"]["1"]["frames_written"] == 25
    assert report["outcome"] == "ok"
