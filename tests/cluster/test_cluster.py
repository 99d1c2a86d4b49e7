"""The cluster mode on a real multi-node Ray cluster on this machine (``ray.cluster_utils``):
several raylets, real worker processes killed and nodes removed mid-run, the output compared
frame by frame with a single-process run of the same pipeline."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from visionflow.app import App
from visionflow.cluster.driver import ClusterReport, ClusterRunner
from visionflow.config.pipeline import PipelineConfig
from visionflow.zoo.scenes import write_clip

ray = pytest.importorskip(
    "ray", reason="the cluster tests need Ray (pip install 'visionflow[ray]')"
)
from ray.cluster_utils import Cluster  # noqa: E402

NODE: dict[str, Any] = {"num_cpus": 1, "object_store_memory": 80 * 1024**2}  # conftest.py's

DETECTOR = Path(__file__).parents[2] / "src/visionflow/zoo/models/shapes_det.infer.yml"


def pipeline(tmp_path: Path, frames: list[int], out: str, **cluster: Any) -> PipelineConfig:
    clips = [
        write_clip(tmp_path / f"clip{i}.mp4", 320, 180, n, seed=i)
        if not (tmp_path / f"clip{i}.mp4").exists()
        else tmp_path / f"clip{i}.mp4"
        for i, n in enumerate(frames)
    ]
    return PipelineConfig.model_validate(
        {
            "sources": [{"uri": str(c)} for c in clips],
            "streammux": {"batch_size": 1},
            "infer": [{"config": str(DETECTOR), "backend": "onnxruntime"}],
            "sinks": [{"type": "jsonl", "path": str(tmp_path / out)}],
            "cluster": {"workers": 2, "restart_timeout": 10, **cluster},
        }
    )


def lines(path: Path) -> dict[tuple[int, int], dict[str, Any]]:
    """Frame → its record; fails on a frame written twice."""
    records: dict[tuple[int, int], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        key = (record["source_id"], record["frame_num"])
        assert key not in records, f"frame {key} written twice"
        records[key] = record
    return records


def single_process(config: PipelineConfig, tmp_path: Path) -> dict[tuple[int, int], Any]:
    sink = config.sinks[0].model_copy(update={"path": tmp_path / "single.jsonl"})
    report = App.from_config(config.model_copy(update={"sinks": [sink]})).run()
    assert report.outcome == "ok"
    return lines(tmp_path / "single.jsonl")


def assert_same_frames(got: dict[tuple[int, int], Any], want: dict[tuple[int, int], Any]) -> None:
    assert sorted(got) == sorted(want)  # nothing lost, nothing extra
    for key, record in want.items():
        assert got[key]["objects"] == record["objects"], key


def in_background(runner: ClusterRunner) -> tuple[threading.Thread, list[ClusterReport]]:
    out: list[ClusterReport] = []
    thread = threading.Thread(target=lambda: out.append(runner.run()), daemon=True)
    thread.start()
    return thread, out


def wait_for(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_cluster_run_writes_what_one_process_writes(cluster: Cluster, tmp_path: Path) -> None:
    config = pipeline(tmp_path, [30, 40, 50, 60], "cluster.jsonl")
    report = ClusterRunner(config).run()

    assert report.outcome == "ok"
    assert report.duplicates_dropped == 0
    assert report.frames_written == 180
    per_worker = [
        sorted(s for s, v in report.streams.items() if v["worker"] == w) for w in report.workers
    ]
    assert sorted(map(len, per_worker)) == [2, 2]  # equal costs: two streams each
    assert len({w["node"] for w in report.workers.values()}) == 2  # one worker per node
    assert_same_frames(lines(tmp_path / "cluster.jsonl"), single_process(config, tmp_path))


@pytest.mark.slow
def test_a_killed_worker_s_streams_resume_on_the_survivor(cluster: Cluster, tmp_path: Path) -> None:
    config = pipeline(tmp_path, [240, 240], "cluster.jsonl")
    runner = ClusterRunner(config)
    thread, result = in_background(runner)
    wait_for(lambda: len(runner.workers) == 2 and min(runner.progress.values()) >= 5)
    victim = next(iter(sorted(runner.workers)))
    moved = runner.workers[victim]["streams"]
    os.kill(runner.workers[victim]["pid"], signal.SIGKILL)
    thread.join(300)
    (report,) = result

    assert report.outcome == "ok", report.error
    lost = [m for m in report.moves if m.source == victim and "lost" in m.reason]
    assert [m.stream for m in lost] == moved
    # the killed worker's CPU is free again: a replacement starts and may take a stream back
    assert all(m in lost or m.reason.endswith("joined") for m in report.moves)
    for move in lost:
        assert move.resume_frame > 0  # resumed after what was written, not from the start
        assert move.recovered_s is not None
        assert move.recovered_s <= 10
    assert not report.workers[victim]["alive"]
    assert_same_frames(lines(tmp_path / "cluster.jsonl"), single_process(config, tmp_path))


@pytest.mark.slow
def test_a_removed_node_s_streams_move_and_a_joining_node_takes_its_share(
    cluster: Cluster, tmp_path: Path
) -> None:
    config = pipeline(tmp_path, [300, 300, 300, 300], "cluster.jsonl")
    runner = ClusterRunner(config)
    thread, result = in_background(runner)
    wait_for(lambda: len(runner.workers) == 2 and min(runner.progress.values()) >= 5)
    victim = sorted(runner.workers)[0]
    node_id = runner.workers[victim]["node"]
    node = next(n for n in cluster.list_all_nodes() if n.node_id == node_id)
    cluster.remove_node(node, allow_graceful=False)
    wait_for(lambda: victim not in runner.workers)
    cluster.add_node(**NODE)  # room for a replacement worker
    thread.join(300)
    (report,) = result

    assert report.outcome == "ok", report.error
    reasons = [m.reason for m in report.moves]
    assert sum(r.startswith(f"{victim} lost") for r in reasons) == 2
    joined = [m for m in report.moves if m.reason.endswith("joined")]
    assert joined, reasons  # the newcomer took streams
    # its share moves in one hand-over (removals in parallel), not one stream after another
    assert max(m.at_s for m in joined) - min(m.at_s for m in joined) < 1.0, joined
    assert len(report.workers) == 3
    assert_same_frames(lines(tmp_path / "cluster.jsonl"), single_process(config, tmp_path))


@pytest.mark.slow
def test_a_cluster_with_no_worker_left_fails_clearly(cluster: Cluster, tmp_path: Path) -> None:
    config = pipeline(tmp_path, [300], "cluster.jsonl", workers=1, restart_timeout=3)
    runner = ClusterRunner(config)
    thread, result = in_background(runner)
    wait_for(lambda: len(runner.workers) == 1 and min(runner.progress.values()) >= 5)
    (only,) = runner.workers.values()
    for node in cluster.list_all_nodes():
        if not node.head:
            cluster.remove_node(node, allow_graceful=False)  # no CPU left anywhere
    thread.join(120)
    (report,) = result

    assert report.outcome == "failed"
    assert report.error is not None
    assert "no worker left to run stream 0" in report.error
    assert 0 < report.frames_written < 300
    assert only["pid"] > 0


@pytest.mark.slow
def test_visionflow_run_ray_writes_the_metadata_and_exits_0(tmp_path: Path) -> None:
    """The command line, with a Ray started for the run (no cluster fixture)."""
    import subprocess
    import sys

    clips = [write_clip(tmp_path / f"c{i}.mp4", 160, 96, 12 + i, seed=i) for i in range(3)]
    spec = {
        "sources": [{"uri": c.name} for c in clips],
        "sinks": [{"type": "jsonl", "path": "meta.jsonl"}],
        "cluster": {"workers": 2},
    }
    (tmp_path / "pipeline.yml").write_text(json.dumps(spec))  # JSON is YAML
    done = subprocess.run(
        [sys.executable, "-m", "visionflow.cli", "run", "pipeline.yml", "--ray"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(lines(tmp_path / "meta.jsonl")) == 12 + 13 + 14
    report = json.loads(done.stdout.strip().splitlines()[-1])["cluster_report"]
    assert report["outcome"] == "ok"
    assert len(report["workers"]) == 2


@pytest.mark.slow
def test_results_come_once_per_poll_interval_and_a_dead_worker_is_noticed_at_once(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The driver keeps one poll in flight per worker, which answers ``poll_interval`` after the
    previous one; it sleeps until one answers — so one collection per interval (not one every
    other wake-up), and a killed worker's failed poll wakes it at once."""
    config = pipeline(tmp_path, [900, 900], "cluster.jsonl", poll_interval=1.5)
    runner = ClusterRunner(config)
    writes: list[float] = []
    runner.on_written = lambda frames: writes.append(time.monotonic())
    thread, result = in_background(runner)
    wait_for(lambda: len(runner.workers) == 2 and len(writes) >= 7)
    (victim, info), *_ = sorted(runner.workers.items())
    os.kill(info["pid"], signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: victim not in runner.workers, timeout=30)
    noticed = time.monotonic() - killed
    thread.join(300)
    (report,) = result

    assert report.outcome == "ok", report.error
    # two workers, each answering every 1.5 s: about 2 writes per 1.5 s (1 per 3 s before)
    span = writes[6] - writes[0]
    assert 6 / span >= 0.9 * 2 / 1.5, (span, writes[:7])
    assert noticed < 0.75, noticed  # before: at the driver's next wake-up, up to 3 s later
    assert_same_frames(lines(tmp_path / "cluster.jsonl"), single_process(config, tmp_path))


def _ray_workers(raylet_node: str) -> list[str]:
    """Titles of the worker processes (``ray::IDLE``, ``ray::PipelineWorker``…) of the raylet of
    node ``raylet_node``; its agents (``ray::DashboardAgent``…) are not workers."""
    procs: dict[int, tuple[int, str]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
                cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            parent = int(stat[stat.rfind(")") + 2 :].split()[1])
            procs[int(name)] = (parent, cmd.decode(errors="replace").strip())
    node = f"--node_id={raylet_node}"
    raylets = [pid for pid, (_, cmd) in procs.items() if "raylet" in cmd and node in cmd]
    return sorted(
        cmd for parent, cmd in procs.values() if parent in raylets and not cmd.endswith("Agent")
    )


@pytest.mark.slow
def test_a_ray_started_for_the_run_is_its_own_and_starts_no_idle_workers(tmp_path: Path) -> None:
    """Without an address the run starts its own Ray — not joining one already running on this
    machine — and Ray starts no idle worker processes ahead of need (each costs memory and CPU
    beside the pipeline); the engine-building task's process exits when done."""
    other = Cluster(initialize_head=True, head_node_args=NODE)  # a Ray running here, unused
    try:
        config = pipeline(tmp_path, [400, 400], "cluster.jsonl", workers=1)
        runner = ClusterRunner(config)  # no address: a Ray for this run
        thread, result = in_background(runner)
        wait_for(lambda: len(runner.workers) == 1 and min(runner.progress.values()) >= 5)
        (info,) = runner.workers.values()
        assert info["node"] not in {n.node_id for n in other.list_all_nodes()}

        def only_the_worker() -> bool:
            children = _ray_workers(info["node"])
            return len(children) == 1 and children[0].startswith("ray::PipelineWorker")

        wait_for(only_the_worker, timeout=20)
        thread.join(300)
        (report,) = result
        assert report.outcome == "ok", report.error
        assert report.frames_written == 800
    finally:
        other.shutdown()
